"""Helpers for the terminal UI tests: a scripted player that feeds a real Monitor, and screen captures.

The player is not a mock of the UI's inputs: it pushes notes through the same `Monitor` methods the engine
calls (`note`, `now`, `stats`), replaying a TX1 song the tests write themselves (`write_song`: a tune, an arpeggio,
a bass and a beat), so the UI is driven exactly as in a session and a clone of the project alone runs the tests.
It is for widget tests; what the engine itself feeds a Monitor is tested on `livechip play` (tests/test_tui_live.py).
"""

import asyncio
import io
from pathlib import Path

from rich.console import Console

from livechip.formats import tx1
from livechip.core.events import TICKS_PER_SECOND, NoteEvent, Score, normalize
from livechip.control.monitor import Monitor

SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__"
STEP = TICKS_PER_SECOND // 8                     # an eighth of a second
# One two-second bar per voice: (pitch or None for a rest, length in steps), 16 steps each.
BAR = {
    "P1": [(69, 2), (72, 2), (76, 1), (74, 1), (72, 2), (71, 3), (None, 1), (74, 2), (79, 2)],
    "P2": [(62, 1), (66, 1), (69, 1), (74, 1)] * 3 + [(None, 2), (74, 1), (69, 1)],
    "TR": [(45, 4), (45, 2), (52, 2), (43, 4), (None, 2), (50, 2)],
    "NO": [(16, 1), (None, 1), (13, 1), (None, 1), (16, 1), (16, 1), (13, 1), (10, 1)] * 2,
}
SHIFTS = (0, 5, 7, 0, -2, 0)                      # the bars' transpositions (the noise keeps its pitches)


def write_song(path):
    """A twelve-second four-voice song as TX1 text at `path`; returns the path."""
    events = []
    for bar, shift in enumerate(SHIFTS):
        for voice, notes in BAR.items():
            t = bar * 16 * STEP
            for pitch, steps in notes:
                if pitch is not None:
                    events.append(NoteEvent(t, voice, pitch + (0 if voice == "NO" else shift)))
                    events.append(NoteEvent(t + steps * STEP - STEP // 4, voice, None))
                t += steps * STEP
    tx1.write(path, normalize(Score(events, len(SHIFTS) * 16 * STEP).sort()))
    return path


def song(folder):
    """The test song, written into `folder` and read back as a Score."""
    return tx1.read(write_song(folder / "song.tx1.txt"))


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


def session_monitor(folder, seconds=8.0, human=("P1",)):
    """A Monitor as it stands `seconds` into a session: the song (written into `folder`) heard so far, one second
    generated ahead, the player on P1, and the engine's figures."""
    m = Monitor()
    play_into(m, song(folder), round(seconds * TICKS_PER_SECOND), TICKS_PER_SECOND, human=human)
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
