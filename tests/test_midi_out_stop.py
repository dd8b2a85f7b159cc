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
