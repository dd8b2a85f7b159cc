"""Music metrics (`livechip eval --music`): key, groove, density and silence, on scores with known answers."""

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

from livechip.formats import tx1
from livechip.cli.main import main
from livechip.core.events import TICKS_PER_SECOND as TPS
from livechip.core.events import NoteEvent, Score, event_order
from livechip.model.music import cosine, notes, onset_intervals, pitch_classes, pooled, scaled, take_stats
from tests.checkpoint_helpers import run_cli
from tests.conftest import ROOT

torch.set_num_threads(1)

MODEL = ROOT / "models" / "default"     # the shipped model, run in its int8 form
C_MAJOR = (60, 62, 64, 65, 67, 69, 71)
F_SHARP_MAJOR = (66, 68, 70, 71, 73, 75, 77)
C_FOUR = (60, 62, 64, 67)               # pitch classes 0 2 4 7
F_SHARP_FOUR = (66, 68, 70, 73)         # pitch classes 6 8 10 1: none in common with C_FOUR


def line(pitches, step, start, end, voice="P1"):
    """Notes of `pitches` in turn, one every `step` seconds from `start` to `end`, legato."""
    n = round((end - start) / step)
    return [NoteEvent(round((start + k * step) * TPS), voice, pitches[k % len(pitches)]) for k in range(n)]


def song(*parts, end):
    return Score(sorted((e for p in parts for e in p), key=event_order), round(end * TPS))


def windows(score, hist, split=10):
    """hist of the prime [0, split s) and of the rest."""
    nts = notes(score)
    return hist(nts, 0, split * TPS), hist(nts, split * TPS, score.end)


def test_a_c_major_continuation_of_a_c_major_prime_keeps_the_key_an_f_sharp_major_one_does_not():
    prime = line(C_MAJOR, 0.25, 0, 10)
    same = windows(song(prime, line(C_MAJOR[::-1], 0.2, 10, 20), end=20), pitch_classes)
    other = windows(song(prime, line(F_SHARP_MAJOR, 0.2, 10, 20), end=20), pitch_classes)
    assert cosine(*same) > 0.95
    assert cosine(*other) < 0.5
    # the noise voice has no key: drums over the continuation change nothing
    drums = line((1, 9), 0.1, 10, 20, voice="NO")
    assert cosine(*windows(song(prime, line(C_MAJOR[::-1], 0.2, 10, 20), drums, end=20), pitch_classes)) == \
        pytest.approx(cosine(*same))


def test_pitch_classes_are_weighted_by_how_long_each_note_sounds():
    # C4 for 3 s, then G5 for 1 s, then a NOTEOFF and 1 s of silence
    s = Score([NoteEvent(0, "P1", 60), NoteEvent(3 * TPS, "P1", 79), NoteEvent(4 * TPS, "P1", None)], 5 * TPS)
    h = pitch_classes(notes(s), 0, s.end)
    assert h[0] == 3 * TPS and h[7] == TPS and h.sum() == 4 * TPS
    assert pitch_classes(notes(s), 2 * TPS, 4 * TPS)[[0, 7]].tolist() == [TPS, TPS]   # clipped to the window


def test_the_same_groove_in_other_notes_is_1_and_a_different_one_is_lower():
    prime = line(C_MAJOR, 0.25, 0, 10) + line((1, 9), 0.5, 0, 10, voice="NO")
    same = song(prime, line(F_SHARP_MAJOR, 0.25, 10, 20), line((3, 12), 0.5, 10, 20, voice="NO"), end=20)
    assert cosine(*windows(same, onset_intervals)) == pytest.approx(1.0)
    # notes every 0.13 s and drums every 0.39 s, 50 ms after them: no interval of 0 or 0.25 s in common
    faster = song(prime, line(C_MAJOR, 0.13, 10, 20), line((1, 9), 0.39, 10.05, 20, voice="NO"), end=20)
    assert cosine(*windows(faster, onset_intervals)) == 0.0


def test_onset_intervals_are_between_the_note_ons_of_all_voices_in_10_ms_bins_up_to_1_s():
    s = song(line((60,), 0.25, 0, 2), line((40,), 0.5, 0, 2, voice="TR"), line((5,), 1.5, 0, 3, voice="NO"), end=3)
    h = onset_intervals(notes(s), 0, s.end)
    # note-ons at 0 (x3), 0.25, 0.5 (x2), 0.75, 1 (x2), 1.25, 1.5 (x3), 1.75: 6 intervals of 0, 7 of 0.25 s
    assert h[0] == 6 and h[25] == 7 and h.sum() == 13
    gap = song(line((60,), 1.5, 0, 3), end=3)                      # 1.5 s apart: out of the histogram
    assert onset_intervals(notes(gap), 0, gap.end).sum() == 0


def test_cosine_and_the_scale():
    assert cosine(np.array([1.0, 0, 0]), np.array([2.0, 0, 0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0]), np.array([0, 3.0])) == 0.0
    assert cosine(np.zeros(3), np.ones(3)) == 0.0            # silence is like nothing
    assert scaled(0.84, 0.84, 0.50) == 1.0 and scaled(0.50, 0.84, 0.50) == 0.0
    assert scaled(0.52, 0.84, 0.50) == pytest.approx(0.02 / 0.34)
    assert scaled(0.4, 0.84, 0.50) < 0
    assert scaled(0.7, 0.6, 0.6) is None


def test_density_sounding_silence_and_short_notes():
    # P1: four notes of 0.5 s then silence to 4 s; NO: a 10 ms hit at 3 s; TR holds 0..1 s (overlaps P1)
    s = Score(sorted(line((60, 62), 0.5, 0, 2) + [NoteEvent(2 * TPS, "P1", None),
                     NoteEvent(3 * TPS, "NO", 5), NoteEvent(3 * TPS + TPS // 100, "NO", None),
                     NoteEvent(0, "TR", 40), NoteEvent(TPS, "TR", None)], key=event_order), 4 * TPS)
    st = take_stats(notes(s), 0, s.end)
    assert st["notes"] == {"P1": 4, "P2": 0, "TR": 1, "NO": 1}
    assert st["sounding"] == 2 * TPS + TPS // 100
    assert st["short"] == 1 and st["whole"] == 6
    p = pooled([st, take_stats([], 0, 4 * TPS)])               # and a silent take as long
    assert p["notes_per_second"]["P1"] == 0.5
    assert p["sounding"] == pytest.approx((2 + 0.01) / 8) and p["silent"] == pytest.approx(1 - (2 + 0.01) / 8)
    assert p["short_notes"] == pytest.approx(1 / 6)


def test_a_note_cut_by_the_window_is_not_counted_as_short():
    s = Score([NoteEvent(TPS - 100, "P1", 60)], 2 * TPS)
    st = take_stats(notes(s), 0, TPS)
    assert st["notes"]["P1"] == 1 and st["whole"] == 0 and st["short"] == 0


# --- livechip eval --music, end to end ----------------------------------------------------------

@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Two songs of 4 s that repeat every second, whose keys and grooves share nothing: C D E G with a note every
    0.25 s over a bass every 0.5 s, and F# G# A# C# with a note every 0.125 s."""
    d = tmp_path_factory.mktemp("split")
    tx1.write(d / "a.tx1.txt.gz", song(line(C_FOUR, 0.25, 0, 4), line((40, 43), 0.5, 0, 4, voice="TR"), end=4))
    tx1.write(d / "b.tx1.txt", song(line(F_SHARP_FOUR, 0.125, 0, 4), end=4))
    return d


def music(split, *extra):
    """stdout of a small `livechip eval --music` (2 songs, 2 s + 2 s; 2 takes of 3 s) through the entry point."""
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main([str(a) for a in ("eval", "--music", "--model", MODEL, split, "--songs", 2, "--prime-seconds", 2,
                                    "--continue-seconds", 2, "--takes", 2, "--take-seconds", 3, "--int8",
                                    "--seed", 7, *extra)])
    assert rc == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def first(split):
    return json.loads(music(split, "--json"))


def test_eval_music_json_gives_every_figure_against_known_references(first, split):
    r = first
    c = r["continuation"]
    assert c["songs"] == ["a.tx1.txt.gz", "b.tx1.txt"]
    for key in ("key", "groove"):     # each song goes on as it began; the other song shares nothing with it
        assert c[key]["real"] == pytest.approx(1.0) and c[key]["unrelated"] == 0.0
        assert c[key]["scaled"] == pytest.approx(c[key]["model"])
        assert 0 <= c[key]["model"] <= 1 and len(c[key]["per_song"]) == 2
    # song a's 2..4 s: P1 4 notes/s and TR 2; song b's: 8; each is the other's unrelated one
    assert c["density"]["real"] == pytest.approx(7.0) and c["density"]["unrelated"] == pytest.approx(7.0)
    assert c["density"]["model"] > 0 and c["density"]["ratio"] == pytest.approx(c["density"]["model"] / 7.0)
    u = r["unprimed"]
    # the split: P1 plays 4 + 8 notes/s over 4 s each, TR 2 notes/s in one song, nobody rests
    assert u["notes_per_second"]["P1"]["test"] == pytest.approx(6.0)
    assert u["notes_per_second"]["TR"]["test"] == pytest.approx(1.0)
    assert u["notes_per_second"]["NO"]["test"] == 0 and u["notes_per_second"]["NO"]["ratio"] is None
    d = u["notes_per_second"]["P1"]
    assert d["ratio"] == pytest.approx(d["model"] / 6.0)
    assert u["sounding"]["test"] == 1.0 and u["silent"]["test"] == 0.0 and u["short_notes"]["test"] == 0.0
    assert len(u["silent"]["per_take"]) == 2 and u["silent"]["worst"] == max(u["silent"]["per_take"])
    assert u["silent"]["model"] == pytest.approx(1 - u["sounding"]["model"])
    config = json.loads((MODEL / "config.json").read_text())
    assert r["settings"]["mem_len"] == config.get("generation", {}).get("mem_len", 512)
    assert r["settings"]["wait_temperature"] == config.get("generation", {}).get("wait_temperature", 1.0)
    assert f"--wait-temperature {r['settings']['wait_temperature']:g} " in r["command"]
    assert r["settings"]["seed"] == 7 and r["int8"] is True
    assert r["command"].startswith(f"livechip eval --music --model {MODEL} {split} --songs 2 --prime-seconds 2 ")


def test_eval_music_is_the_same_twice_and_changes_with_the_seed(first, split):
    a = first
    assert json.loads(music(split, "--json")) == a
    b = json.loads(music(split, "--json", "--seed", 8))
    assert b["continuation"] != a["continuation"] or b["unprimed"] != a["unprimed"]
    table = music(split, "-q")
    assert table.splitlines()[0] == a["command"]
    assert "key (pitch classes, P1 P2 TR)" in table and "notes/s TR" in table and "worst take silent" in table


@pytest.mark.parametrize("args, message", [
    (("--songs", 1), "--songs must be 0 or at least 2"),
    (("--songs", 3), "only 2 songs"),
    (("--temperature", -1), "temperature"),
    (("--songs", 0, "--takes", 0), "nothing to measure"),
    (("--wait-temperature", 0), "--wait-temperature must be in"),
])
def test_eval_music_bad_settings_are_clear_errors(capsys, split, args, message):
    rc, out, err = run_cli(capsys, "eval", "--music", "--model", MODEL, split, "--continue-seconds", 2,
                           "--prime-seconds", 2, *args)
    assert rc == 2 and message in err and out == ""


def test_music_options_without_music_are_an_error(capsys, split):
    rc, out, err = run_cli(capsys, "eval", "--model", MODEL, split, "--songs", 4)
    assert rc == 2 and "--songs goes with --music" in err


def test_perplexity_keeps_the_paper_memory_when_mem_len_is_not_given(capsys, split):
    rc, out, err = run_cli(capsys, "eval", "--model", MODEL, split, "--batch-size", 1, "--tgt-len", 16, "--json")
    assert rc == 0, err
    assert json.loads(out)["mem_len"] == 896
