"""`livechip play` with its terminal UI, end to end: a real terminal (tmux), a real JACK server (dummy driver),
a test "DAW" recording the `livechip` MIDI port. Keys go in with tmux send-keys, the screen comes back with
capture-pane.

The model is a small random network saved as a model folder (tests/test_osc_engine.py's busy_model: it plays
many notes on every voice), so the test needs no trained model.
"""

import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from tests.jack_helpers import JackServer, MidiRecorder, jackd_available

pytestmark = [pytest.mark.jack, pytest.mark.slow,
              pytest.mark.skipif(not jackd_available() or shutil.which("tmux") is None,
                                 reason="needs jackd and tmux")]

NOTE_GLYPHS = "●○◆━╌═"
WIDTH, HEIGHT = 100, 30


SOCKET = f"livechip-tui-test-{time.monotonic_ns() % 10**9}"   # a tmux server of the test's own


def tmux(*args):
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)


def screen(session):
    return tmux("capture-pane", "-p", "-t", session).stdout


def lane(text, voice):
    return next((l for l in text.splitlines() if l.startswith(voice + " ")), "")


def lanes_with_notes(text):
    rows = text.splitlines()[2:-1]
    return any(ch in r[14:] for r in rows for ch in NOTE_GLYPHS)


def wait_screen(session, check, timeout):
    end = time.monotonic() + timeout
    text = screen(session)
    while not check(text) and time.monotonic() < end:
        time.sleep(0.2)
        text = screen(session)
    return text


@pytest.fixture
def model_dir(tmp_path):
    from livechip.model.checkpoint import save_model
    from tests.test_osc_engine import busy_model
    save_model(busy_model(), tmp_path / "model")
    return tmp_path / "model"


def engine_feeds_a_monitor():
    import inspect

    from livechip.engine.engine import Engine
    return "monitor" in inspect.signature(Engine).parameters


@pytest.mark.skipif(not engine_feeds_a_monitor(), reason="the live engine does not feed a Monitor yet, so "
                    "`livechip play` has no UI to show")
def test_play_shows_the_lanes_and_a_mode_change_reaches_screen_and_midi(model_dir, tmp_path):
    session = "play"
    with JackServer(period=256) as jack:
        daw = MidiRecorder()
        env = (f"env PATH={shlex.quote(os.environ['PATH'])} JACK_DEFAULT_SERVER={jack.name} "
               f"JACK_NO_AUDIO_RESERVATION=1 TERM=xterm-256color")
        # this Python's livechip (the .venv's), not a `livechip` that happens to be on PATH
        livechip = f"{shlex.quote(sys.executable)} -m livechip"
        cmd = (f"{env} {livechip} play --model {shlex.quote(str(model_dir))} --duration 10 --seed 1 "
               f"--worker thread; echo EXIT=$?; sleep 60")
        r = tmux("new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), cmd)
        assert r.returncode == 0, r.stderr
        try:
            jack.wait_for_port("livechip:livechip", timeout=60)
            jack.connect("livechip:livechip", daw.port)
            # the lanes fill with notes
            text = wait_screen(session, lambda t: lanes_with_notes(t) and lane(t, "P2"), timeout=30)
            assert "? help" in text, f"`livechip play` shows no terminal UI; the terminal shows:\n{text}"
            assert lane(text, "P2").startswith("P2 auto:mdl"), text
            assert lanes_with_notes(text), text
            time.sleep(1.0)
            # P2: auto -> model -> human -> off, three presses of "2"
            for _ in range(2):
                tmux("send-keys", "-t", session, "2")
                time.sleep(0.3)
            tmux("send-keys", "-t", session, "2")
            pressed = time.monotonic()
            text = wait_screen(session, lambda t: lane(t, "P2").startswith("P2 off"), timeout=3)
            assert lane(text, "P2").startswith("P2 off"), text
            text = wait_screen(session, lambda t: "EXIT=" in t, timeout=30)
            assert "EXIT=0" in text, text
        except TimeoutError:
            raise AssertionError(f"no livechip MIDI port; the terminal shows:\n{screen(session)}") from None
        finally:
            tmux("kill-server")
            time.sleep(0.2)
            daw.close()

    notes = [(t, m[0] & 0x0F, m[1]) for t, m in daw.messages if m[0] & 0xF0 == 0x90 and m[2] > 0]
    p2 = [t for t, ch, _ in notes if ch == 1]
    assert any(t < pressed for t in p2), "P2 played before its mode changed"
    late = [t - pressed for t in p2 if t > pressed + 1.0]   # what was already scheduled (the horizon) may play
    assert not late, f"P2 note-ons {late} s after it was set off"
    assert any(ch != 1 and t > pressed + 1.0 for t, ch, _ in notes), "the other voices played on"
    # nothing left sounding on MIDI out after exit: every note-on is followed by its note-off (or all notes off)
    sounding = {}
    for _, m in daw.messages:
        kind, ch = m[0] & 0xF0, m[0] & 0x0F
        if kind == 0x90 and m[2] > 0:
            sounding[(ch, m[1])] = True
        elif kind == 0x80 or (kind == 0x90 and m[2] == 0):
            sounding.pop((ch, m[1]), None)
        elif kind == 0xB0 and m[1] in (120, 123):
            for key in [k for k in sounding if k[0] == ch]:
                sounding.pop(key)
    assert not sounding, f"notes left on: {sorted(sounding)}"
