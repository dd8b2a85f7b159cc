"""The model process dying in the middle of the music: the engine reports it, releases every note, restarts
the model (primed with what was just played) and plays on; nothing is left sounding. On a real JACK server
(dummy driver) with a python-rtmidi test DAW."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.jack_helpers import jackd_available, left_sounding, note_happy_model, play_with_daw

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


def children(ppid):
    """(pid, command line) of each child of `ppid`, from /proc (no `ps` needed)."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            stat = (d / "stat").read_text()
            args = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue                                   # gone meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            found.append((int(d.name), args))
    return found


def test_model_process_killed_mid_stream_is_reported_notes_released_and_music_resumes(model):
    def kill_the_model_process(proc, daw):
        worker = [pid for pid, args in children(proc.pid) if "spawn_main" in args]
        assert len(worker) == 1, children(proc.pid)
        t = time.monotonic()
        os.kill(worker[0], signal.SIGKILL)
        return t

    rc, err, messages, t = play_with_daw("--duration", "16", "--seed", "3", model=model, notes=20,
                                         during=kill_the_model_process, timeout=120)
    assert rc == 0, err
    assert "model process died (exit code -9); all notes off" in err
    assert "model process restarted" in err
    after = [(tm, m) for tm, m in messages if tm >= t]
    panic = [tm for tm, m in after if m[0] & 0xF0 == 0xB0 and m[1] == 123]
    assert panic, "no All Notes Off after the model process died"
    assert [m for tm, m in after if tm > panic[0] + 0.05 and m[0] & 0xF0 == 0x90 and m[2] > 0], \
        "no notes after the restart"
    assert left_sounding(messages) == set(), (err, [(round(tm - t, 3), m) for tm, m in messages][-40:])
