"""Offline generation as a function: length, seeds, primers, kept rhythm voices, stopping early.

Runs on `ToyModel` (a stand-in with the model's incremental API, see tests/generate_helpers.py); the command
line and the real network are in tests/test_generate_cli.py.
"""

import pytest
import torch

from livechip.core import events as ev
from livechip.model.generate import generate
from livechip.model.sampling import SamplingSettings
from tests.generate_helpers import ToyModel

torch.set_num_threads(1)
SEC = ev.TICKS_PER_SECOND


def N(time, voice, pitch):
    return ev.NoteEvent(time, voice, pitch)


def by_voice(events, voice):
    return [e for e in events if e.voice == voice]


def is_sorted(events):
    keys = [(e.time, ev.VOICES.index(e.voice)) for e in events]
    return keys == sorted(keys)


def test_seconds_sets_the_length():
    g = generate(ToyModel(), SamplingSettings(seed=1), seconds=5)
    assert g.score.end == 5 * SEC
    assert g.generated == len(g.score.events) > 0
    assert all(0 <= e.time < 5 * SEC for e in g.score.events)
    assert is_sorted(g.score.events)
    assert not g.interrupted


def test_events_sets_the_count():
    g = generate(ToyModel(), SamplingSettings(seed=2), n_events=37)
    assert g.generated == 37 and len(g.score.events) == 37
    assert g.score.end >= g.score.events[-1].time


def test_fixed_seed_reproducible_and_seed_matters():
    a = generate(ToyModel(), SamplingSettings(seed=11), seconds=4)
    b = generate(ToyModel(), SamplingSettings(seed=11), seconds=4)
    c = generate(ToyModel(), SamplingSettings(seed=12), seconds=4)
    assert a.score == b.score
    assert a.score.events != c.score.events


def test_primer_comes_first_and_is_continued():
    primer = ev.Score([N(0, "P1", 60), N(0, "TR", 36), N(11025, "P1", None), N(22050, "P1", 64),
                       N(33075, "NO", 5)], end=40000)
    g = generate(ToyModel(), SamplingSettings(seed=3), seconds=3, primer=primer)
    assert g.score.events[:len(primer.events)] == primer.events
    assert all(e.time >= primer.end for e in g.score.events[len(primer.events):])
    assert g.score.end == primer.end + 3 * SEC
    assert g.generated == len(g.score.events) - len(primer.events) > 0


def test_primer_ending_on_a_note_keeps_each_voice_in_order():
    """Notes the model writes at the primer's last tick may sort between the primer's own notes of other
    voices at that tick; each voice's events still begin with the primer's, in order."""
    primer = ev.Score([N(0, "P2", 60), N(5000, "P2", None), N(5000, "NO", 2)], end=5000)
    g = generate(ToyModel(), SamplingSettings(seed=4), seconds=2, primer=primer)
    for v in ev.VOICES:
        assert by_voice(g.score.events, v)[:len(by_voice(primer.events, v))] == by_voice(primer.events, v)
    assert all(e in g.score.events for e in primer.events)
    assert is_sorted(g.score.events)


def test_rhythm_voices_are_kept_exactly_and_never_written_by_the_model():
    drums = [N(t, "NO", 1 + (t // 7000) % 16) for t in range(0, 6 * SEC, 7000)]
    drums += [N(t + 3000, "NO", None) for t in range(0, 6 * SEC, 7000)]
    bass = [N(t, "TR", 40 + (t // 11025) % 12) for t in range(0, 6 * SEC, 11025)]
    other = [N(500, "P1", 70)]            # not kept: dropped
    rhythm = ev.Score(sorted(drums + bass + other, key=lambda e: (e.time, ev.VOICES.index(e.voice))),
                      end=6 * SEC)
    g = generate(ToyModel(), SamplingSettings(seed=5), rhythm=rhythm, keep=("NO", "TR"))
    out = g.score.events
    assert g.score.end == 6 * SEC
    assert by_voice(out, "NO") == by_voice(rhythm.events, "NO")
    assert by_voice(out, "TR") == by_voice(rhythm.events, "TR")
    assert N(500, "P1", 70) not in out
    assert g.generated == len(by_voice(out, "P1")) + len(by_voice(out, "P2")) > 0
    assert is_sorted(out)


def test_rhythm_with_events_count():
    drums = [N(t, "NO", 3) for t in range(0, 20 * SEC, 4410)]
    g = generate(ToyModel(), SamplingSettings(seed=6), n_events=25, rhythm=ev.Score(drums, 20 * SEC), keep=["NO"])
    assert g.generated == 25
    assert len([e for e in g.score.events if e.voice != "NO"]) == 25
    assert by_voice(g.score.events, "NO") == [e for e in drums if e.time <= g.score.end]


def test_should_stop_returns_what_exists_so_far():
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 5

    g = generate(ToyModel(), SamplingSettings(seed=7), seconds=60, should_stop=stop)
    assert g.interrupted
    assert 0 < g.score.end < 60 * SEC
    assert all(e.time <= g.score.end for e in g.score.events)


def test_progress_is_reported_up_to_the_total():
    seen = []
    generate(ToyModel(), SamplingSettings(seed=8), seconds=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2 * SEC, 2 * SEC)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("kw", [dict(seconds=0), dict(n_events=0), dict(seconds=1, n_events=3),
                                dict(keep=("NO",)), dict(n_events=3, rhythm=ev.Score([], 10), keep=ev.VOICES)])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        generate(ToyModel(), SamplingSettings(seed=0), **kw)
