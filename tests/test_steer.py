"""Steering at sampling time: the scale table, key names, the ban mask id by id, the density bias, how both
enter the sampler, and a Stream that follows a steering change from the next token (the real Transformer-XL of
the tiny fixture checkpoint)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from livechip.core import events as ev
from livechip.model.stream import Stream
from livechip.model import steer
from livechip.model.sampling import SamplingSettings, banned_ids, probs
from livechip.model.steer import SCALES, Steering, ban_mask, density_bias
from tests.generate_helpers import tiny_txl

NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]

# Scales spelled out by hand (independent of the table's intervals): key -> the notes of the scale.
SPELLED = [
    ("D", "major", "D E F# G A B C#"),
    ("A", "minor", "A B C D E F G"),
    ("A", "harmonic_minor", "A B C D E F G#"),
    ("D", "dorian", "D E F G A B C"),
    ("E", "phrygian", "E F G A B C D"),
    ("F", "lydian", "F G A B C D E"),
    ("G", "mixolydian", "G A B C D E F"),
    ("F#", "pentatonic_major", "F# G# A# C# D#"),
    ("A", "pentatonic_minor", "A C D E G"),
    ("E", "blues", "E G A A# B D"),
    ("C", "chromatic", "C C# D D# E F F# G G# A A# B"),
]


def parse(token):
    """(voice, pitch or None, is_note_on) of a token text; voice None for waits and <S>."""
    text = ev.token_text(token)
    if text == "<S>" or text.startswith("WT_"):
        return None, None, False
    voice, kind, *pitch = text.split("_")
    return voice, int(pitch[0]) if pitch else None, kind == "NOTEON"


TOKENS = [parse(i) for i in range(ev.N_TOKENS)]


def expected_banned(key, scale, ranges=()):
    allowed = {(key + i) % 12 for i in SCALES[scale]} if key is not None else set(range(12))
    lims = {v: (lo, hi) for v, lo, hi in ranges}
    out = []
    for voice, pitch, on in TOKENS:
        if not on:
            out.append(False)
            continue
        lo, hi = lims.get(voice, (0, 127))
        out.append((voice != "NO" and pitch % 12 not in allowed) or not lo <= pitch <= hi)
    return np.array(out)


def as_array(mask):
    return np.zeros(ev.N_TOKENS, dtype=bool) if mask is None else mask.numpy()


@pytest.mark.parametrize("key, scale, notes", SPELLED)
def test_scale_table_spells_the_scales(key, scale, notes):
    assert Steering(key=key, scale=scale).pitch_classes == {NAMES.index(n) for n in notes.split()}


def test_every_scale_starts_on_its_key_and_rises():
    for name, steps in SCALES.items():
        assert steps[0] == 0 and list(steps) == sorted(set(steps)) and steps[-1] <= 11, name


@pytest.mark.parametrize("key", range(12))
@pytest.mark.parametrize("scale", list(SCALES))
def test_mask_bans_exactly_the_out_of_key_note_ons(key, scale):
    got = as_array(ban_mask(Steering(key=key, scale=scale)))
    want = expected_banned(key, scale)
    assert (got == want).all(), [ev.token_text(i) for i in np.flatnonzero(got != want)]
    assert got.any() == (scale != "chromatic")


def test_the_mask_never_touches_waits_note_offs_start_or_noise():
    got = as_array(ban_mask(Steering(key="C#", scale="blues", ranges={"P1": (60, 72), "TR": (40, 50)})))
    for i, (voice, pitch, on) in enumerate(TOKENS):
        if not on or voice == "NO":
            assert not got[i], ev.token_text(i)


@settings(max_examples=60, deadline=None)
@given(key=st.one_of(st.none(), st.integers(0, 11)), scale=st.sampled_from(list(SCALES)),
       voice=st.sampled_from(ev.VOICES), a=st.integers(0, 127), b=st.integers(0, 127))
def test_ranges_and_key_together(key, scale, voice, a, b):
    low, high = min(a, b), max(a, b)
    lo, hi = ev.PITCH_RANGE[voice]
    if high < lo or low > hi:
        with pytest.raises(ValueError, match="holds none of its notes"):
            Steering(key=key, scale=scale, ranges={voice: (low, high)})
        return
    s = Steering(key=key, scale=scale, ranges={voice: (low, high)})
    want = expected_banned(key, scale, [(voice, low, high)])
    assert (as_array(ban_mask(s)) == want).all()
    for i, (v, pitch, on) in enumerate(TOKENS):
        if on:
            assert s.allowed(v, pitch) == (not want[i])


def test_key_names_sharps_flats_and_cases():
    assert [steer.parse_key(n) for n in NAMES] == list(range(12))
    for sharp, flat in [("C#", "Db"), ("D#", "Eb"), ("F#", "Gb"), ("G#", "Ab"), ("A#", "Bb")]:
        assert steer.parse_key(sharp) == steer.parse_key(flat)
    assert steer.parse_key("bb") == steer.parse_key("Bb") == 10 and steer.parse_key(" f# ") == 6
    assert steer.parse_key("Cb") == 11 and steer.parse_key("E#") == 5
    assert steer.parse_key("off") is None and steer.parse_key(None) is None and steer.parse_key(7) == 7


@pytest.mark.parametrize("bad", ["H", "C##", "Do", "", "12", 12, -1, True, 2.0])
def test_bad_key_names_list_the_good_ones(bad):
    with pytest.raises(ValueError, match=r"key.*C, C#, Db, D.*Bb, B"):
        Steering(key=bad)


@pytest.mark.parametrize("bad", ["ionian", "", "major7", None, 3])
def test_bad_scale_names_list_the_good_ones(bad):
    with pytest.raises(ValueError, match="chromatic, major, minor, harmonic_minor, dorian.*blues"):
        Steering(scale=bad)


def test_scale_names_forgive_case_and_separators():
    assert Steering(key="A", scale="Harmonic minor").scale == "harmonic_minor"
    assert Steering(key="A", scale="pentatonic-MAJOR").scale == "pentatonic_major"


@pytest.mark.parametrize("bad", [0.2, 4.01, 0, -1, math.nan, math.inf, "2", True, None])
def test_density_outside_its_range_is_refused(bad):
    with pytest.raises(ValueError, match=r"density must be a number 0.25..4"):
        Steering(density=bad)


@pytest.mark.parametrize("ranges, message", [
    ({"P5": (60, 72)}, "unknown voice 'P5'; voices are P1, P2, TR, NO"),
    ({"P1": (72, 60)}, "P1 low 72 is above its high 60"),
    ({"P1": (128, None)}, "P1 low must be a MIDI note 0-127"),
    ({"TR": (None, 60.5)}, "TR high must be a MIDI note 0-127"),
    ({"NO": (20, 30)}, r"NO range 20-30 holds none of its notes \(1-16\)"),
    ({"P1": 60}, r"P1 range must be \(low, high\), got 60"),
])
def test_bad_ranges_say_what_is_wrong(ranges, message):
    with pytest.raises(ValueError, match=message):
        Steering(ranges=ranges)


def test_equal_settings_are_equal_values_with_the_same_cached_tensors():
    a = Steering(key="Db", scale="Major", density=2, ranges={"p1": (60, 72), "P2": (33, 108)})
    b = Steering(key=1, density=2.0).with_range("P1", low=60).with_range("P1", high=72)
    assert a == b and hash(a) == hash(b) and a.ranges == (("P1", 60, 72),)
    assert ban_mask(a) is ban_mask(b) and density_bias(a) is density_bias(b)
    assert Steering(ranges={"P1": (33, 108)}) == Steering()
    assert a.range_of("P2") == ev.PITCH_RANGE["P2"] and a.range_of("p1") == (60, 72)


def test_neutral_steering_has_no_tensors():
    assert ban_mask(Steering()) is None and density_bias(Steering()) is None
    assert ban_mask(Steering(key=None, scale="minor")) is None   # no key: no mask, whatever the scale
    assert ban_mask(Steering(key="D", scale="chromatic")) is None


def test_silent_voices_are_named():
    assert Steering(key="C", ranges={"P1": (61, 61)}).silent_voices() == ("P1",)
    assert Steering(key="C", ranges={"P1": (60, 60)}).silent_voices() == ()


@pytest.mark.parametrize("density", [0.25, 0.5, 2, 4])
def test_density_bias_lies_on_note_ons_only(density):
    bias = density_bias(Steering(density=density)).numpy()
    for i, (voice, pitch, on) in enumerate(TOKENS):
        assert bias[i] == pytest.approx(steer.DENSITY_GAIN * math.log(density) if on else 0.0), ev.token_text(i)


def test_bias_multiplies_the_note_on_odds_and_never_revives_a_banned_id():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(ev.N_TOKENS, generator=g) * 2
    s = Steering(key="D", density=3)
    banned = banned_ids(ev.N_TOKENS, ban_mask(s))
    bias = density_bias(s)
    on = torch.from_numpy(np.array([t[2] for t in TOKENS]))
    plain = probs(logits, 1.0, 0, 1.0, banned)
    steered = probs(logits, 1.0, 0, 1.0, banned, bias)
    assert (steered[banned] == 0).all() and (plain[banned] == 0).all()
    odds = lambda p: p[on].sum() / p[~on].sum()   # noqa: E731
    assert float(odds(steered) / odds(plain)) == pytest.approx(math.exp(float(bias.max())), rel=1e-4)
    # the other tokens keep their ratios among themselves
    rest = ~on & ~banned
    torch.testing.assert_close(steered[rest] / steered[rest].sum(), plain[rest] / plain[rest].sum())


@pytest.fixture(scope="module")
def model(shared):
    return tiny_txl(shared)


def test_stream_follows_a_steering_change_from_the_next_token(model):
    torch.set_num_threads(1)
    with torch.inference_mode():
        stream = Stream(model, SamplingSettings(seed=3))
        free = stream.generate_until(ev.TICKS_PER_SECOND * 2)
        assert stream.steering == Steering()
        s = Steering(key="D", scale="major", ranges={"P1": (60, 72)})
        stream.steering = s
        p = stream.next_probs()
        assert (p[torch.from_numpy(expected_banned(2, "major", [("P1", 60, 72)]))] == 0).all()
        steered = stream.generate_until(stream.frontier + ev.TICKS_PER_SECOND * 4)
        notes = [e for e in steered if e.pitch is not None]
        assert notes and all(s.allowed(e.voice, e.pitch) for e in notes)
        assert any(not s.allowed(e.voice, e.pitch) for e in free if e.pitch is not None)   # the mask did the work
        stream.steering = Steering()
        assert stream.next_probs()[ev.note_token("P1", 40)] >= 0 and stream.bias is None
        with pytest.raises(TypeError, match="steering must be a Steering"):
            stream.steering = {"key": "D"}


def test_stream_steering_from_the_constructor_combines_with_voice_masks(model):
    with torch.inference_mode():
        stream = Stream(model, SamplingSettings(seed=0), masked_voices=("TR",),
                        steering=Steering(key="A", scale="minor", density=2))
        banned = stream.banned.numpy()
        assert banned[[ev.note_token("TR", p) for p in range(21, 109)]].all()   # the voice mask is kept
        assert banned[ev.note_token("P1", 61)] and not banned[ev.note_token("P1", 60)] and banned[ev.START]
        assert stream.bias is density_bias(Steering(key="A", scale="minor", density=2))
