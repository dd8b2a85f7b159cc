"""Stopping the instrument never leaves a note hanging in the DAW: SIGTERM in the middle of a note releases
every sounding note and still writes the recording. On a real JACK server (dummy driver) with a python-rtmidi
test DAW."""

import signal
import time

import pytest

from tests.jack_helpers import (JackServer, MidiRecorder, jackd_available, left_sounding, note_happy_model, start_play,
                                wait_for_notes)

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


def test_sigterm_mid_note_releases_every_note_and_writes_the_recording(model, tmp_path):
    with JackServer() as jack:
        daw = MidiRecorder()
        proc = start_play(jack, "--record", str(tmp_path), "--seed", "2", model=model)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            wait_for_notes(daw, 20, proc)
            while not left_sounding(daw.messages):     # a note is sounding right now
                time.sleep(0.001)
            sounding = left_sounding(daw.messages)
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.1)
        daw.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert left_sounding(daw.messages) == set()
    released = {(m[0] & 0x0F, m[1]) for tm, m in daw.messages
                if tm >= t - 0.01 and (m[0] & 0xF0 == 0x80 or (m[0] & 0xF0 == 0x90 and m[2] == 0))}
    assert sounding <= released
    assert len(list(tmp_path.glob("*.mid"))) == 1 and len(list(tmp_path.glob("*.wav"))) == 1


def test_a_process_stopped_for_two_seconds_plays_on_then_stops_and_writes_the_recording(model, tmp_path):
    # Ctrl-Z, `fg`: while the process is stopped the JACK server's requests to it time out, and its channel to
    # the process can fall out of step; PortAudio's stream stop then waits for an answer that never comes (ten
    # minutes). The instrument must still stop, release every note and write the recording.
    with JackServer() as jack:
        daw = MidiRecorder()
        proc = start_play(jack, "--duration", "8", "--record", str(tmp_path), "--seed", "2", model=model)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            wait_for_notes(daw, 10, proc)
            proc.send_signal(signal.SIGSTOP)
            time.sleep(2.0)
            proc.send_signal(signal.SIGCONT)
            resumed = time.monotonic()
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.1)
        daw.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert any(tm > resumed + 0.5 for tm, _ in daw.messages), "no MIDI after the process went on"
    assert left_sounding(daw.messages) == set()
    for ext in (".mid", ".tx1.txt", ".wav", ".vgm"):
        assert len(list(tmp_path.glob(f"*{ext}"))) == 1, (ext, err)
