"""`livechip play --human P1` on a real JACK server (dummy driver): a test keyboard plays a melody into
`livechip in`, a test DAW records `livechip`, a capture client records the daemon's audio port. The player's
notes come out on channel 1 and in the session file, and nothing is left sounding. (When the APU plays each
player's note relative to its arrival is checked on the engine's own tape in test_jam_engine.py.)"""

import pytest

from livechip.formats import tx1
from tests.jack_helpers import (AudioCapture, JackServer, MidiRecorder, jackd_available, left_sounding,
                                note_happy_model, start_play, wait_for_notes)
from tests.jam_helpers import LIVECHIP_IN, Keyboard, melody, play

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")

RATE, BLOCK = 48000, 256


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return run_session(tmp_path_factory)


def note_ons_on_channel_one(messages):
    return [m[1] for _, m in messages if len(m) == 3 and m[0] == 0x90 and m[2] > 0]


def run_session(tmp_path_factory):
    model = note_happy_model(tmp_path_factory.mktemp("model"))
    out = tmp_path_factory.mktemp("session")
    tune = melody(12, start=64)
    with JackServer(period=BLOCK, rate=RATE) as jack:
        daw = MidiRecorder()
        cap = AudioCapture(rate=RATE)
        cap.start()
        proc = start_play(jack, "--duration", "12", "--record", str(out), "--seed", "1", "--human", "P1",
                          model=model)
        kbd = Keyboard()
        try:
            jack.wait_for_port("livechip:livechip")
            jack.wait_for_port("livechip-audio:out_0")
            jack.wait_for_port(LIVECHIP_IN)
            jack.connect("livechip:livechip", daw.port)
            jack.connect("livechip-audio:out_0", f"{cap.name}:in_0")
            jack.connect(kbd.port, LIVECHIP_IN)
            wait_for_notes(daw, 2, proc)                  # the instrument is playing (the model has loaded)
            play(kbd, tune)
            _, err = proc.communicate(timeout=150)
        finally:
            kbd.close()
            if proc.poll() is None:
                proc.kill()
        cap.stop()
        daw.close()
        jack_log = jack.log()
    stem = next(out.glob("*.tx1.txt")).name[:-len(".tx1.txt")]
    return {"rc": proc.returncode, "err": err, "daw": daw.messages, "audio": cap.audio(), "jack_log": jack_log,
            "score": tx1.read(out / f"{stem}.tx1.txt"), "keys": [m[1] for _, m in tune if m[0] == 0x90],
            "why": f"livechip said:\n{err}\njackd said:\n{jack_log[-3000:]}"}


def test_play_listens_on_livechip_in(session):
    assert session["rc"] == 0, session["err"]
    assert "MIDI in: virtual port 'livechip in' (JACK); human voices: P1" in session["err"]


def test_channel_one_and_the_session_carry_exactly_the_players_melody(session):
    ch1 = note_ons_on_channel_one(session["daw"])
    p1 = [e.pitch for e in session["score"].events if e.voice == "P1" and e.pitch is not None]
    assert ch1 == session["keys"], f"session P1: {p1}\n{session['why']}"
    assert p1 == session["keys"], session["why"]
    assert left_sounding(session["daw"]) == set()
    assert abs(session["audio"]).max() > 0.01, "the daemon's audio port carried no sound"
