"""Stopping the instrument never leaves a note hanging in the DAW: SIGTERM in the middle of a note releases
every sounding note and still writes the recording. On a real JACK server (dummy driver) with a python-rtmidi
test DAW."""

import signal
import time

import pytest

from tests.jack_helpers import jackd_available, left_sounding, note_happy_model, play_with_daw

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


def test_sigterm_mid_note_releases_every_note_and_writes_the_recording(model, tmp_path):
    def sigterm_mid_note(proc, daw):
        while not left_sounding(daw.messages):     # a note is sounding right now
            time.sleep(0.001)
        sounding, t = left_sounding(daw.messages), time.monotonic()
        proc.send_signal(signal.SIGTERM)
        return sounding, t

    rc, err, messages, (sounding, t) = play_with_daw("--record", str(tmp_path), "--seed", "2", model=model,
                                                     notes=20, during=sigterm_mid_note)
    assert rc == 0, err
    assert left_sounding(messages) == set()
    released = {(m[0] & 0x0F, m[1]) for tm, m in messages
                if tm >= t - 0.01 and (m[0] & 0xF0 == 0x80 or (m[0] & 0xF0 == 0x90 and m[2] == 0))}
    assert sounding <= released
    assert len(list(tmp_path.glob("*.mid"))) == 1 and len(list(tmp_path.glob("*.wav"))) == 1


def test_a_process_stopped_for_two_seconds_plays_on_then_stops_and_writes_the_recording(model, tmp_path):
    # Ctrl-Z, `fg`: while the process is stopped the JACK server's requests to it time out, and its channel to
    # the process can fall out of step; PortAudio's stream stop then waits for an answer that never comes (ten
    # minutes). The instrument must still stop, release every note and write the recording.
    def stop_for_two_seconds(proc, daw):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(2.0)
        proc.send_signal(signal.SIGCONT)
        return time.monotonic()

    rc, err, messages, resumed = play_with_daw("--duration", "8", "--record", str(tmp_path), "--seed", "2",
                                               model=model, notes=10, during=stop_for_two_seconds)
    assert rc == 0, err
    assert any(tm > resumed + 0.5 for tm, _ in messages), "no MIDI after the process went on"
    assert left_sounding(messages) == set()
    for ext in (".mid", ".tx1.txt", ".wav", ".vgm"):
        assert len(list(tmp_path.glob(f"*{ext}"))) == 1, (ext, err)
