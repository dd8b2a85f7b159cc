"""Shared test fixtures: where the shared data lives, and a real JACK server per test that needs one."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVECHIP_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared():
    """The shared data and fixtures folder (../shared); tests that need it skip without it."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set LIVECHIP_SHARED)")
    return SHARED
