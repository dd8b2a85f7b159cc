"""Helpers for the terminal UI tests: a scripted player that feeds a real Monitor, and screen captures.

The player is not a mock of the UI's inputs: it pushes notes through the same `Monitor` methods the engine
calls (`note`, `now`, `stats`), replaying a real TX1 example song, so the UI is driven exactly as in a session.
"""

import asyncio
import io
from pathlib import Path

from rich.console import Console

from livechip import tx1
from livechip.events import TICKS_PER_SECOND
from livechip.monitor import Monitor

SONG = "045_Castlevania_01_02VampireKiller.tx1.txt"
SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__"


def song(shared, name=SONG):
    return tx1.read(shared / "data" / "examples" / name)


def play_into(monitor, score, until, ahead, human=(), start=0):
    """Push the score's events from tick `start` up to `until + ahead` into `monitor` as the engine would:
    events after `until` are speculative (generated, not heard yet), voices in `human` come from the player
    (never speculative, only up to `until`). Then "now" is `until`."""
    for e in score.events:
        if e.time < start:
            continue
        if e.voice in human:
            if e.time <= until:
                monitor.note(e.voice, e.pitch, e.time, None, source="human")
        elif e.time <= until + ahead:
            monitor.note(e.voice, e.pitch, e.time, None, source="model", speculative=e.time > until)
    monitor.now(until)
    return monitor


def session_monitor(shared, seconds=8.0, human=("P1",)):
    """A Monitor as it stands `seconds` into a session: the song heard so far, one second generated ahead,
    the player on P1, and the engine's figures."""
    m = Monitor()
    play_into(m, song(shared), round(seconds * TICKS_PER_SECOND), TICKS_PER_SECOND, human=human)
    m.stats(tokens_per_s=512.0, lead_s=0.98, latency_ms=11.0, xruns=0, audio="JACK 48000 Hz/256",
            midi_out="livechip", midi_in="livechip in", model_name="default")
    return m


def screen_text(app):
    """The app's current screen as plain text (what a terminal shows, without colours)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def screen_svg(app):
    return app.export_screenshot()


def run(coro):
    return asyncio.run(coro)
