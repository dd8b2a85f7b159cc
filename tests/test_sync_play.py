"""`livechip play --sync midi` follows a DAW's MIDI clock through JACK (dummy driver, 64-frame periods): see
tests/sync_helpers.py for the session.

Checked here, as behaviour: livechip follows the clock (/livechip/bpm within 2 % of the source at each tempo),
the model's note-ons are on the source's 16th notes (the median one within 14 ms, at least 15 % within 4 ms;
not placed on the beat, they spread evenly: median 28 ms at 132 bpm, 7 % within 4 ms), no model note from
0.5 s after Stop, model notes again after Start. How close they come (the targets: within 0.5 bpm, 90 % within
4 ms) depends on the machine's real-time behaviour and is measured by bench/bench_sync_play.py.
"""

import numpy as np
import pytest

from tests.jack_helpers import jackd_available, note_happy_model
from tests.sync_helpers import AGAIN, PART, PPQN, grid_errors, model_note_ons, run_session, segments

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return run_session(note_happy_model(tmp_path_factory.mktemp("model")))


def test_play_follows_the_clock_and_exits_cleanly(session):
    assert session["rc"] == 0, session["err"]
    assert "Traceback" not in session["err"]
    assert "sync: following MIDI clock" in session["err"]


def test_bpm_follows_the_source(session):
    asked = session["asked"]
    assert [bpm for bpm, _ in asked] == [132.0, 100.0, 132.0]
    for bpm, reply in asked:
        assert isinstance(reply, float) and abs(reply - bpm) <= 0.02 * bpm, (bpm, reply)


def test_model_notes_land_on_the_source_s_16th_notes(session):
    """The model's note-ons lie on the source's 16th notes (see the module's docstring for how closely)."""
    runs = segments(session["daw"], [PART, [AGAIN]])
    onsets = model_note_ons(session["daw"])
    assert len(runs) == 2
    parts = [(runs[0], 0, PART[0][1]), (runs[0], PART[0][1] * PPQN, PART[1][1]), (runs[1], 0, AGAIN[1])]
    for (run, first, beats), want in zip(parts, [PART[0][0], PART[1][0], AGAIN[0]]):
        err, _, bpm = grid_errors(run, first, beats, onsets)
        assert abs(bpm - want) < 0.5     # the source kept its tempo as the recorder saw it
        assert len(err) >= 10, f"{want} bpm: only {len(err)} model notes"
        print(f"{want:g} bpm: {len(err)} note-ons, {np.mean(err <= 0.004):.0%} within 4 ms of a 16th, error p50 "
              f"{np.median(err) * 1e3:.2f} ms; {session['xruns']} xruns")
        assert np.median(err) <= 0.014 and np.mean(err <= 0.004) >= 0.15


def test_the_model_stops_with_the_band_and_starts_again(session):
    runs = segments(session["daw"], [PART, [AGAIN]])
    onsets = model_note_ons(session["daw"])
    stopped, again = runs[0][0][-1], runs[1][0][0]    # the last tick before Stop, the first after the second Start
    assert not np.any((onsets > stopped + 0.5) & (onsets < again)), "model notes after Stop"
    assert np.sum(onsets > again) >= 10, "no model notes after Start"
