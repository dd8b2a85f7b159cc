"""Helpers for the checkpoint and evaluation tests: fixture paths, reference arrays, running the CLI."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = ("tiny_txl", "tiny_txl_b")
CONTAINERS = ("model.pt", "model_zip.pt", "model_torch1_0_layout.pt")
MARKER = Path("/tmp/livechip_pwned")   # what the hostile fixtures' payload creates (fixtures README section 9)
ROOT = Path(__file__).resolve().parents[1]


def fixtures(shared):
    return shared / "fixtures"


def reference(shared, name):
    with np.load(fixtures(shared) / name / "reference.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def livechip(*args, timeout=120):
    """Run the real `livechip` command line in a fresh interpreter; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "livechip", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def run_cli(capsys, *args):
    """Run `livechip ARGS` in this process through the real entry point; returns (exit status, stdout, stderr)."""
    from livechip.cli.main import main
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def no_marker():
    """Asserts that the hostile payload's marker file does not exist before and after the test."""
    if MARKER.exists():
        pytest.skip(f"{MARKER} already exists (left by something else), so its absence cannot be checked")
    yield MARKER
    assert not MARKER.exists(), f"{MARKER} was created: pickled code ran"
