"""The keys of `livechip play`'s own UI that need the engine (panic, clear, record, quit), pressed in a real
terminal (tmux) on the real instrument: the model in its own process, a JACK server with the dummy driver and a
test DAW recording MIDI out. (A file of its own: one JACK server per test process at a time.)"""

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.jack_helpers import JackServer, MidiRecorder, jackd_available, left_sounding, note_happy_model
from tests.test_live_actions import model_notes, wait_until

needs_jack = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


SOCKET = f"livechip-keys-{os.getpid()}"      # a tmux server of this test's own


def tmux(*args):
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)


def wait_screen(check, timeout, what):
    end = time.monotonic() + timeout
    text = tmux("capture-pane", "-p", "-t", "play").stdout
    while not check(text):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}; the terminal shows:\n{text}")
        time.sleep(0.1)
        text = tmux("capture-pane", "-p", "-t", "play").stdout
    return text


@needs_jack
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_play_ui_s_clear_record_and_quit_keys_work_on_the_engine(model, tmp_path):
    """`livechip play` with its UI in a terminal (tmux): x is a panic, C clears the memory, ctrl+r twice
    records a take, ctrl+q ends the session long before its --duration."""
    takes = tmp_path / "takes"
    with JackServer() as jack:
        daw = MidiRecorder()
        env = f"env JACK_DEFAULT_SERVER={jack.name} JACK_NO_AUDIO_RESERVATION=1 TERM=xterm-256color"
        cmd = (f"{env} {shlex.quote(sys.executable)} -m livechip play --model {shlex.quote(str(model))} "
               f"--duration 120 --seed 3 --no-osc --record {shlex.quote(str(takes))}; echo EXIT=$?; sleep 60")
        r = tmux("new-session", "-d", "-s", "play", "-x", "100", "-y", "30", "-c", str(Path(__file__).parents[1]),
                 cmd)
        assert r.returncode == 0, r.stderr
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            wait_screen(lambda t: "? help" in t, 60, "the UI")
            wait_until(lambda: model_notes(daw, 0), 60, "model notes")
            t = time.monotonic()
            tmux("send-keys", "-t", "play", "x")
            wait_screen(lambda t: "panic: all notes off" in t, 5, "the panic message")
            wait_until(lambda: [m for t0, m in daw.messages if t0 >= t and m[0] & 0xF0 == 0xB0 and m[1] == 123],
                       2.0, "All Notes Off after x")
            tmux("send-keys", "-t", "play", "C")
            wait_screen(lambda t: "a new song" in t or "memory cleared" in t, 5, "the memory cleared")
            tmux("send-keys", "-t", "play", "C-r")
            wait_screen(lambda t: "REC" in t.splitlines()[0], 5, "REC on the top line")
            time.sleep(1.5)
            tmux("send-keys", "-t", "play", "C-r")
            wait_until(lambda: list(takes.glob("take-*.vgm")), 10, "the take's files")
            t = time.monotonic()
            wait_until(lambda: model_notes(daw, t), 2.0, "model notes after the take")
            tmux("send-keys", "-t", "play", "C-q")
            text = wait_screen(lambda t: "EXIT=" in t, 30, "livechip to end")
            quit_after = time.monotonic() - t
        finally:
            tmux("kill-server")
            time.sleep(0.2)
            daw.close()
    assert "EXIT=0" in text, text
    assert quit_after < 30, quit_after                   # quit, not --duration
    stem = list(takes.glob("take-*.vgm"))[0].with_suffix("")
    assert all(stem.with_name(stem.name + ext).stat().st_size > 0 for ext in (".mid", ".tx1.txt", ".wav"))
    assert list(takes.glob("session-*.wav")), "the session's --record files were not written at quit"
    assert left_sounding(daw.messages) == set()
