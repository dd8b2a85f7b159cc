"""Warm primes: the model starts `play` from a few seconds of its own music that it hears and never plays.

Written by the shipped model itself (`livechip generate --write-primes`) into a copy of its folder; `play` picks
one, primes the model with it and plays the model's continuation from the first block; `--cold-start` and a
folder without primes start from nothing.
"""

import shutil
from pathlib import Path

import pytest

from livechip.core import events as ev
from livechip.core import places
from livechip.engine.worker import _ready, _runner
from livechip.formats import tx1
from livechip.model.music import notes
from livechip.model.primes import KEEP, cut, good
from tests.jack_helpers import note_happy_model
from tests.test_play_cli import livechip

ROOT = Path(__file__).resolve().parents[1]
TPS = ev.TICKS_PER_SECOND


def test_cut_starts_the_notes_sounding_at_its_start_and_ends_those_sounding_at_its_end():
    score = ev.Score([ev.NoteEvent(0, "P1", 60), ev.NoteEvent(100, "P1", 62), ev.NoteEvent(150, "TR", 40),
                      ev.NoteEvent(300, "P1", None), ev.NoteEvent(400, "TR", None)], 500)
    out = cut(score, 50, 350)
    assert out.end == 300
    assert [(e.time, e.voice, e.pitch) for e in out.events] == [
        (0, "P1", 60), (50, "P1", 62), (100, "TR", 40), (250, "P1", None), (300, "TR", None)]
    # the note the next one replaces gets no note-off of its own


def test_good_wants_every_melodic_voice_busy_and_no_silence():
    t = round(TPS)
    busy = [ev.NoteEvent(k * t // 4, v, 60 + k % 5) for k in range(40) for v in ("P1", "P2", "TR")]
    score = ev.Score(sorted(busy, key=ev.event_order), 10 * t)
    assert good(score, 0, 10 * t)
    assert not good(ev.Score([e for e in score.events if e.voice != "TR"], 10 * t), 0, 10 * t)
    gap = [e for e in score.events if not 4 * t <= e.time < 6 * t] + [ev.NoteEvent(4 * t, v, None)
                                                                      for v in ("P1", "P2", "TR")]
    assert not good(ev.Score(sorted(gap, key=ev.event_order), 10 * t), 0, 10 * t)


def test_a_primed_runner_starts_its_music_at_the_engine_s_tick_0(tmp_path):
    model = note_happy_model(tmp_path)
    primer = ev.Score([ev.NoteEvent(0, "P1", 60), ev.NoteEvent(20000, "P2", 64)], 44100)
    runner = _runner(_ready(str(model), False, 1), None, (), 2048, primer)
    assert runner.frontier == 0
    events = []
    while runner.frontier < TPS:
        events += runner.generate(TPS)
    assert events and min(e.time for e in events) >= 0
    assert min(e.time for e in events) < TPS // 2       # the music goes on at once, not after the primer's length


@pytest.fixture(scope="module")
def primed_model(tmp_path_factory):
    """A copy of the shipped model folder with two warm primes the model wrote."""
    folder = tmp_path_factory.mktemp("models") / "warm"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(ROOT / "models" / "default" / name, folder / name)
    r = livechip("generate", "--model", str(folder), "--write-primes", "2", "--seed", "0", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "2 warm primes" in r.stdout
    return folder


def test_write_primes_keeps_full_stretches_of_the_model_s_own_music(primed_model):
    paths = places.warm_primes(primed_model)
    assert [p.name for p in paths] == ["00.tx1.txt", "01.tx1.txt"]
    for p in paths:
        score = tx1.read(p)
        assert score.end == round(KEEP * TPS)
        assert good(score, 0, score.end)
        assert {v for v, *_ in notes(score)} >= {"P1", "P2", "TR"}


def test_play_starts_from_a_warm_prime_and_plays_from_the_start(primed_model, tmp_path):
    r = livechip("play", "--no-tui", "--duration", "4", "--record", str(tmp_path), "--model", str(primed_model),
                 "--seed", "1")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "the model starts from its own music" in r.stderr
    score = tx1.read(next(tmp_path.glob("*.tx1.txt")))
    onsets = [e.time for e in score.events if e.pitch is not None]
    assert onsets and onsets[0] < TPS // 2          # music within the first half second, not a song's opening


def test_cold_start_and_a_folder_without_primes_start_from_nothing(primed_model, tmp_path):
    r = livechip("play", "--no-tui", "--duration", "2", "--model", str(primed_model), "--cold-start")
    assert r.returncode == 0 and "own music" not in r.stderr, r.stderr
    bare = note_happy_model(tmp_path / "bare")
    r = livechip("play", "--no-tui", "--duration", "2", "--model", str(bare))
    assert r.returncode == 0 and "own music" not in r.stderr, r.stderr


def test_write_primes_needs_a_count_of_at_least_one(primed_model):
    r = livechip("generate", "--model", str(primed_model), "--write-primes", "0")
    assert r.returncode != 0 and "--write-primes must be at least 1" in r.stderr
    assert len(places.warm_primes(primed_model)) == 2       # nothing was removed
