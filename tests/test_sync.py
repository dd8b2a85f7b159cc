"""The engine's sync (livechip.engine.sync): the model's tempo told from its notes, events placed on the grid,
the band's transport followed from MIDI clock."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from livechip.core.errors import DeviceError
from livechip.engine.sync import Sync, match_tempo
from livechip.realtime.beat import GRIDS

RATE = 48000


def grid_onsets(bpm, n=48, seed=0, jitter=0.002):
    """Onsets (s) on some 16th notes of `bpm`, slightly off, as a model plays them."""
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.choice(4 * 16, size=n, replace=False))
    return steps * 60.0 / bpm / 4 + rng.uniform(-jitter, jitter, n)


@pytest.mark.parametrize("model_bpm,band_bpm", [(150, 132), (120, 120), (100, 132), (180, 100)])
def test_the_model_s_grid_is_matched_to_the_band_s(model_bpm, band_bpm):
    scale = match_tempo(grid_onsets(model_bpm), 60.0 / band_bpm / 4)
    # its 16th (or an octave of it: 8ths, 32nds) lasts the band's 16th at this scale
    want = band_bpm / model_bpm * 2.0 ** np.round(np.log2(model_bpm / band_bpm))
    assert scale == pytest.approx(want, rel=0.01)
    assert 2 ** -0.5 <= scale <= 2 ** 0.5


def test_no_tempo_from_too_few_or_unrhythmic_notes():
    step = 60.0 / 120 / 4
    assert match_tempo(grid_onsets(120, n=8), step) is None
    rng = np.random.default_rng(1)
    assert match_tempo(np.sort(rng.uniform(0, 8, 60)), step) is None


def free(bpm=120.0, grid="1/16"):
    s = Sync("free", RATE, bpm)
    s.begin(0)
    s.step = GRIDS[grid]
    return s


def test_note_ons_go_to_the_nearest_16th_and_note_offs_stay():
    s = free()      # a 16th at 120 bpm: 6000 frames
    assert s.place(6100, 0, True, 0) == 6000
    assert s.place(8900, 1, True, 6000) == 6000
    assert s.place(9100, 2, True, 6000) == 12000
    assert s.place(12500, 0, False, 12000) == 12500      # a note-off where it falls
    assert s.place(11000, 2, False, 12000) == 12001      # ... but after its own note-on
    assert s.place(12100, 3, True, 14000) == 18000       # never before what was heard: the next 16th


def test_placing_keeps_time_order_and_off_leaves_events_alone():
    rng = np.random.default_rng(2)
    s = free(97.0, "1/8t")
    floor, out = 0, []
    for f in np.sort(rng.integers(0, 10 * RATE, 400)):
        floor = s.place(int(f), int(rng.integers(4)), bool(rng.integers(2)), floor)
        out.append(floor)
    assert np.all(np.diff(out) >= 0)
    s.step = None
    assert s.place(12345, 0, True, 100) == 12345 and s.place(50, 0, True, 100) == 100


def test_midi_clock_starts_and_stops_the_band():
    s = Sync("midi", RATE)
    assert s.poll(0) is None and not s.running        # waits for the band
    period = RATE * 60 / (132 * 24)
    assert s.feed(0, [0xFA]) and s.feed(10, [0xF8])
    for k in range(1, 48):
        s.feed(10 + k * period, [0xF8])
    assert s.poll(10 + 47 * period) == "start"
    assert s.figures(10 + 47 * period)["bpm"] == pytest.approx(132, abs=0.1)
    assert s.figures(10 + 47 * period)["beat"] == pytest.approx(47 / 24, abs=0.01)
    assert not s.feed(0, [0x90, 60, 100])             # notes are not the clock's
    assert s.poll(10 + 47 * period + 0.3 * RATE) == "stop"   # a quarter second without clock


def test_jack_or_link_missing_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("JACK_DEFAULT_SERVER", raising=False)
    if importlib.util.find_spec("link") is None:
        with pytest.raises(DeviceError, match=r"pip install 'livechip\[link\]'"):
            Sync("link", RATE).open()
    with pytest.raises(ValueError, match="sync must be one of"):
        Sync("ableton", RATE)


@pytest.mark.parametrize("source,says", [("link", "pip install 'livechip[link]'"), ("jack", "no JACK server")])
def test_play_with_a_sync_source_that_is_not_there_says_so(source, says, tmp_path):
    """`livechip play --sync link` without the extra, `--sync jack` without a JACK server: one clear line,
    exit status 2 (as every error livechip names), before anything plays."""
    if source == "link" and importlib.util.find_spec("link") is not None:
        pytest.skip("Ableton Link is installed here")
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    env["JACK_DEFAULT_SERVER"] = f"livechip-none-{os.getpid()}"     # a server that surely does not run
    r = subprocess.run([sys.executable, "-m", "livechip", "play", "--no-tui", "--no-osc", "--duration", "1",
                        "--sync", source], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
