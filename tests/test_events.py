"""The TX1 event language: LakhNES's vocabulary, its wait quantization, and tokens <-> scores."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechip.core import events as ev
from livechip.core.events import NoteEvent, Score
from tests.files_helpers import canonical_tokens, token_lists


def test_vocabulary_is_lakhnes_token_for_token(shared):
    lines = (shared / "fixtures" / "tx1_vocab.txt").read_text().split("\n")
    assert len(lines) == 630
    assert ev.VOCAB == ("<S>", *lines)
    assert ev.START == 0 and ev.token_text(0) == "<S>"
    assert len(ev.WAIT_VALUES) == 370 and list(ev.WAIT_VALUES) == sorted(ev.WAIT_VALUES)
    assert [ev.token_text(i) for i in range(1, 371)] == [f"WT_{n}" for n in ev.WAIT_VALUES]


def test_token_ids_of_the_readme_layout():
    assert ev.token_id("WT_1") == 1 and ev.token_id("WT_100000") == 370
    assert ev.note_token("P1", None) == 371 and ev.note_token("P1", 33) == 372
    assert ev.note_token("P2", None) == 448 and ev.note_token("TR", 21) == 526
    assert ev.note_token("NO", None) == 614 and ev.note_token("NO", 16) == 630
    for i in range(371, 631):
        text = ev.token_text(i)
        assert ev.voice_of(i) == text[:2]
        assert ev.pitch_of(i) == (int(text.split("_")[2]) if "NOTEON" in text else None)
        assert ev.note_token(ev.voice_of(i), ev.pitch_of(i)) == i
        assert not ev.is_wait(i) and ev.wait_ticks(i) == 0
    assert ev.voice_of(0) is None and ev.voice_of(5) is None and ev.wait_ticks(0) == 0
    assert ev.is_wait(370) and ev.wait_ticks(200) == 2000


@pytest.mark.parametrize("voice,pitch", [("P1", 32), ("P2", 109), ("TR", 20), ("NO", 0), ("NO", 17), ("XX", 60)])
def test_note_token_refuses_what_the_vocabulary_lacks(voice, pitch):
    with pytest.raises(ValueError):
        ev.note_token(voice, pitch)


def test_unknown_text_is_an_error():
    for text in ("P1_NOTEON_20", "WT_-3", "wt_5", "<E>", ""):
        with pytest.raises(ValueError):
            ev.token_id(text)


def test_wait_quantization_matches_lakhnes_ties_included(shared):
    q = json.loads((shared / "fixtures" / "tx1_wait_quantization.json").read_text())
    assert list(ev.WAIT_VALUES) == q["vocab_waits_sorted"]
    ups = 0
    for wait, lower, upper, chosen in q["exact_midpoints"]["rows"]:
        assert ev.token_text(ev.quantize_wait(wait)[0]) == f"WT_{chosen}", wait
        ups += chosen == upper
    assert ups == q["n_midpoints_to_upper"] == 52
    for wait, text in q["probes"].items():
        assert ev.token_text(ev.token_id(f"WT_{wait}")) == text
        if int(wait) > 0:
            assert ev.token_text(ev.quantize_wait(int(wait))[0]) == text


def test_wait_quantization_is_the_nearest_vocabulary_wait():
    waits = np.array(ev.WAIT_VALUES)
    for n in range(1, 101000, 37):
        got = ev.wait_ticks(ev.quantize_wait(n)[0])
        assert abs(got - n) == np.abs(waits - n).min(), n


def test_long_and_zero_waits():
    assert ev.quantize_wait(0) == []
    assert ev.quantize_wait(919517) == [370]  # LakhNES clamps
    assert [ev.wait_ticks(i) for i in ev.quantize_wait(250001, split=True)] == [100000, 100000, 50000]
    assert [ev.wait_ticks(i) for i in ev.quantize_wait(200000, split=True)] == [100000, 100000]
    with pytest.raises(ValueError):
        ev.quantize_wait(-1)


def test_voice_token_mask():
    m = ev.voice_token_mask(["TR", "NO"])
    assert m.dtype == bool and m.shape == (631,)
    assert m.sum() == 89 + 17
    assert m[ev.note_token("TR", None)] and m[ev.note_token("NO", 5)] and not m[ev.note_token("P2", 60)]
    assert ev.voice_token_mask("P1").sum() == 77 and not ev.voice_token_mask([]).any()


def test_tokens_to_score_puts_simultaneous_events_in_voice_order():
    ids = [ev.START, ev.token_id("WT_10"), ev.note_token("NO", 3), ev.note_token("P1", 60),
           ev.note_token("TR", 40), ev.note_token("P1", 62), ev.token_id("WT_5"), ev.START]
    score = ev.tokens_to_score(ids)
    assert score.events == [NoteEvent(10, "P1", 60), NoteEvent(10, "P1", 62), NoteEvent(10, "TR", 40),
                            NoteEvent(10, "NO", 3)]
    assert score.end == 15
    assert ev.score_to_tokens(score, framed=True) == [
        0, ev.token_id("WT_10"), ev.note_token("P1", 60), ev.note_token("P1", 62), ev.note_token("TR", 40),
        ev.note_token("NO", 3), ev.token_id("WT_5"), 0]


def test_score_to_tokens_quantizes_each_gap():
    score = Score([NoteEvent(105, "P2", 50), NoteEvent(105 + 2050, "P2", None)], 105 + 2050 + 250000)
    assert [ev.token_text(i) for i in ev.score_to_tokens(score)] == [
        "WT_100", "P2_NOTEON_50", "WT_2100", "P2_NOTEOFF", "WT_100000"]


def test_normalize_keeps_the_last_event_per_voice_and_instant():
    score = Score([NoteEvent(0, "P1", 60), NoteEvent(0, "P1", 64), NoteEvent(0, "TR", None),
                   NoteEvent(5, "P1", 67), NoteEvent(5, "P1", None), NoteEvent(9, "NO", 4)], 9)
    # the noise note begins at the very end: it has no length, so it goes
    assert ev.normalize(score) == Score([NoteEvent(0, "P1", 64), NoteEvent(5, "P1", None)], 9)
    # a note still sounding at the end is ended there
    assert ev.normalize(Score([NoteEvent(0, "TR", 30)], 7)).events == [NoteEvent(0, "TR", 30),
                                                                       NoteEvent(7, "TR", None)]


@settings(max_examples=300, deadline=None)
@given(token_lists())
def test_tokens_score_tokens_is_identity_after_quantization(ids):
    score = ev.tokens_to_score(ids)
    keys = [ev.event_order(e) for e in score.events]
    assert keys == sorted(keys)  # ordering rule
    assert score.end == sum(ev.wait_ticks(i) for i in ids)
    canon = canonical_tokens(ids)
    assert ev.score_to_tokens(score) == canon
    assert ev.score_to_tokens(ev.tokens_to_score(canon)) == canon


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**7))
def test_split_waits_keep_long_silences(n):
    ids = ev.quantize_wait(n, split=True)
    full, rest = divmod(n, 100000)
    assert ids[:full] == [370] * full and len(ids) == full + (rest > 0)
    assert abs(sum(ev.wait_ticks(i) for i in ids) - n) <= 500  # the remainder snaps to within half a step
