"""`livechip play --sync midi` follows a DAW's MIDI clock through JACK (dummy driver, 256-frame periods): see
tests/sync_helpers.py for the session.

Checked here: free at its own tempo, the model's note-ons land on the 16th notes; following, /livechip/bpm is
within 5 % of the source at each tempo (not following, it would show 120), the model's note-ons land on the
source's 16th notes, no model note from 0.5 s after Stop, model notes again after Start. How closely at
64-frame periods (the targets: within 0.5 bpm, 90 % of note-ons within 4 ms) is measured by
bench/bench_sync_play.py, on a quiet machine (a JACK period missed under load delays what it carries).
"""

import numpy as np
import pytest

from tests.jack_helpers import (JackServer, MidiRecorder, jackd_available, note_happy_model, start_play,
                                unless)
from tests.sync_helpers import AGAIN, PART, PPQN, grid_errors, model_note_ons, run_session, segments

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


PERIOD = 256    # frames: a period this machine's JACK keeps (64, the acceptance target's, is bench_sync_play's)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return run_session(note_happy_model(tmp_path_factory.mktemp("model")), period=PERIOD)


def test_play_follows_the_clock_and_exits_cleanly(session):
    assert session["rc"] == 0, session["err"]
    assert "Traceback" not in session["err"]
    assert "sync: following MIDI clock" in session["err"]


def test_bpm_follows_the_source(session):
    asked = session["asked"]
    assert [bpm for bpm, _ in asked] == [132.0, 100.0, 132.0]
    for bpm, reply in asked:
        assert isinstance(reply, float), (bpm, reply)
        with unless(session["excuse"]):
            assert abs(reply - bpm) <= 0.05 * bpm, (bpm, reply)


def test_model_notes_land_on_the_source_s_16th_notes(session):
    """From two bars into each tempo, the model's note-ons as the DAW got them lie on the source's 16th notes:
    the median one within 14 ms and 40 % within a JACK period (how finely JACK times MIDI) plus 1 ms; on a
    quiet machine p50 2.8 ms, p90 5.9 ms. Not placed, they would spread evenly: median 28 ms at 132 bpm, 11 %
    within 6.3 ms."""
    runs = segments(session["daw"], [PART, [AGAIN]])
    onsets = model_note_ons(session["daw"])
    parts = [(runs[0], 0, PART[0][1]), (runs[0], PART[0][1] * PPQN, PART[1][1]), (runs[1], 0, AGAIN[1])]
    for (run, first, beats), want in zip(parts, [PART[0][0], PART[1][0], AGAIN[0]]):
        err, _, bpm = grid_errors(run, first, beats, onsets)
        if abs(bpm - want) >= 0.5:      # the test's own clock source did not keep its tempo: nothing to measure
            pytest.skip(f"the clock source fell behind under this machine's load: the recorder saw {bpm:.2f} bpm "
                        f"where it played {want:g} (the grid is measured against a steady source)")
        assert len(err) >= 10, f"{want} bpm: only {len(err)} model notes"
        print(f"{want:g} bpm: {len(err)} note-ons, error p50 {np.median(err) * 1e3:.2f} ms, p90 "
              f"{np.percentile(err, 90) * 1e3:.2f} ms; {session['xruns']} xruns")
        with unless(session["excuse"]):
            assert np.median(err) <= 0.014 and np.mean(err <= PERIOD / 48000 + 0.001) >= 0.4


def test_the_model_stops_with_the_band_and_starts_again(session):
    runs = segments(session["daw"], [PART, [AGAIN]])
    onsets = model_note_ons(session["daw"])
    stopped, again = runs[0][0][-1], runs[1][0][0]    # the last tick before Stop, the first after the second Start
    assert not np.any((onsets > stopped + 0.5) & (onsets < again)), "model notes after Stop"
    assert np.sum(onsets > again) >= 10, "no model notes after Start"


def test_free_at_its_own_bpm_every_note_on_lands_on_a_16th(tmp_path):
    """`--bpm 132 --quantize 1/16`, no band: what a DAW records of the model's note-ons lies on one 16th-note
    grid of 132 bpm: 80 % within a JACK period (which is how finely JACK times MIDI) plus 1 ms, on a quiet machine
    all of them (a period missed under the full suite's load delays what it carries by a period). Without the
    grid the same model's notes fall anywhere between 16ths: 11 % within 6.3 ms."""
    model = note_happy_model(tmp_path / "model")
    with JackServer(period=PERIOD, watch=True) as jack:
        daw = MidiRecorder()
        proc = start_play(jack, "--duration", "8", "--no-osc", "--bpm", "132", "--quantize", "1/16", model=model)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        daw.close()
        excuse = jack.excuse("testdaw")
    assert proc.returncode == 0, err
    on = model_note_ons(daw.messages)
    on = on[on > on[0] + 1.0]
    step = 60.0 / 132 / 4
    phase = np.angle(np.mean(np.exp(2j * np.pi * on / step))) * step / (2 * np.pi)     # the grid's offset
    off = np.abs((on - phase) / step - np.round((on - phase) / step)) * step
    print(f"{len(on)} note-ons; off the grid: p50 {np.median(off) * 1e3:.2f} ms, max {off.max() * 1e3:.2f} ms")
    assert len(on) >= 30
    with unless(excuse):
        assert np.mean(off <= PERIOD / 48000 + 0.001) >= 0.8
