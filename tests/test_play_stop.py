"""Ctrl-C while the model is still loading ends `livechip play` at once.

The first start after an install compiles the int8 kernels (about a minute on this machine); an empty
NUMBA_CACHE_DIR gives the same cold start here, so the model process is surely still loading when the
signal comes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.jack_helpers import note_happy_model

ROOT = Path(__file__).resolve().parents[1]


def test_ctrl_c_while_the_model_loads_quits_within_seconds(tmp_path):
    model = note_happy_model(tmp_path / "model")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cold"), "JACK_DEFAULT_SERVER": f"none{os.getpid()}"}
    proc = subprocess.Popen([sys.executable, "-m", "livechip", "play", "--no-tui", "--no-osc", "--int8",
                             "--model", str(model)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:                        # the devices are reported before the model starts
            if "MIDI out:" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        err = proc.communicate(timeout=20)[1]
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "model:" not in err, f"the model had finished loading, so this tested nothing:\n{err}"
    assert proc.returncode == 0, err
    assert "stopped while the model was loading" in err
    assert "Traceback" not in err
    assert took < 5.0, f"{took:.1f} s from Ctrl-C to exit"
