"""The terminal UI: four channel lanes as a scrolling piano roll, the instrument's figures, keys to steer it.

    run_tui(control, monitor)        # under `livechip play`; returns when the player quits

`run_tui` draws in a second process (`_run_in_process`): this one only answers its requests for snapshots and
its keys' set/act over a socket pair, so the drawing never holds the instrument's GIL.

The app reads two things, each as a snapshot at a bounded rate (`fps`, 15 a second by default): the settings
from a `Control` (`control.snapshot()`) and what the engine played and plans from a `Monitor`
(`monitor.snapshot(...)`). It never calls into the engine: keys become `control.set(...)` / `control.act(...)`,
exactly what an OSC client does. A slow terminal only makes the screen lag; the engine never waits for it.
Attached to a daemon over OSC (`livechip tui --connect`), `livechip.tui.client` provides the same two faces.

The screen, top to bottom: the transport line (recording, model, sampling settings), the figures line
(tokens/s, how far ahead the schedule is, reaction latency, xruns, audio and MIDI ports), one lane per voice
(mode, mute/solo, level meter, current note, volume; then the roll, time flowing right to left past the "now"
line, the speculative part ahead of it dimmed), and the key line.
"""

import gc
import math
import sys
import time
from multiprocessing.connection import Connection

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from livechip.control import presets
from livechip.core.errors import LivechipError
from livechip.core.events import TICKS_PER_SECOND, VOICES
from livechip.control.settings import ACTION, ROW, VOICE_MODES
from livechip.model.steer import KEYS as PITCH_CLASS
from livechip.tui.draw import ASCII, LABEL, UNICODE, Lane, draw_keys, draw_stats, draw_top, figures
from livechip.tui.keys import help_lines, key_rows, setting_keys  # noqa: F401 - key_rows: read by the docs' key table
from livechip.tui.link import LinkedControl, LinkedMonitor, _Link, _run_in_process
from livechip.tui.screens import HelpScreen, PresetScreen

FPS = 15
SWITCH_INTERVAL = 0.0005      # seconds: how soon a waiting thread gets the GIL back from the UI
TOP_K_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 0)   # 0 = no limit, the top of the scale
DENSITY_STEPS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
ZOOMS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)          # seconds per column
ZOOM_HELP = "zoom out / in: more / less time on screen"


# --- the app -----------------------------------------------------------------------------------------

class LivechipApp(App):
    """The instrument's face. `control`: a Control (or a client with its get/set/act/snapshot); `monitor`: a
    Monitor (or anything with its `snapshot(past_ticks, ahead_ticks)`).

    `quit_stops`: on quit, release all notes and stop the engine (in-process); attached over OSC, quitting only
    detaches. `stopped`: a callable, True once the engine has stopped by itself (the app then closes).
    `fps`: screen refreshes a second (0: only on keys, as the snapshot tests do)."""

    CSS_PATH = "app.tcss"
    TITLE = "livechip"
    ENABLE_COMMAND_PALETTE = False
    # the one source of key help: the key bar shows each description, the help screen each tooltip
    BINDINGS = [
        Binding("question_mark,f1", "help", "help", show=False, key_display="?", tooltip="this help"),
        *setting_keys("voice/<v>/mode"), *setting_keys("voice/<v>/volume"),
        *setting_keys("temperature"), *setting_keys("top_k"), *setting_keys("top_p"),
        Binding("x", "panic", "panic", show=False, tooltip=f"panic: {ACTION['panic'].help}"),
        Binding("ctrl+q,ctrl+c", "quit", "quit", show=False, priority=True, key_display="ctrl+q",
                tooltip="quit (all notes off); ctrl+c too"),
        Binding("C", "reset", "clear", show=False, tooltip=ACTION["reset"].help),
        Binding("ctrl+r", "record", "rec", show=False, priority=True, tooltip="record: start / stop"),
        Binding("l", "presets", "preset", show=False, tooltip="load a preset"),
        Binding("minus", "zoom(1)", "zoom", show=False, key_display="-", tooltip=ZOOM_HELP),
        Binding("plus,equals_sign", "zoom(-1)", "zoom", show=False, key_display="+", tooltip=ZOOM_HELP),
        *setting_keys("key"), *setting_keys("scale"), *setting_keys("density"), *setting_keys("recall"),
    ]
    # the screen's own state; a change redraws it (the watchers below)
    zoom = reactive(1, init=False)           # index into ZOOMS
    message = reactive(None, init=False)     # a line shown on the key line for a few seconds, or None

    def __init__(self, control, monitor, fps=FPS, quit_stops=True, stopped=None, ascii=False, zoom=1):
        super().__init__()
        self.control = control
        self.monitor = monitor
        self.fps = fps
        self.quit_stops = quit_stops
        self.stopped = stopped
        self.glyphs = ASCII if ascii else UNICODE
        self.set_reactive(LivechipApp.zoom, zoom)
        self.solo = None                 # the soloed voice, if any
        self.saved = {}                  # voice -> volume before mute/solo
        self.csnap = control.snapshot()
        self.msnap = None
        self.lines = {}
        self.lanes = []
        self._message_timer = None
        self._shown = {}
        self._tokens = None              # (time, tokens) for tokens/s when the engine reports only a count

    # --- layout and refresh ---

    def compose(self) -> ComposeResult:
        yield Static(id="top")
        yield Static(id="stats")
        with Vertical(id="lanes"):
            for v in VOICES:
                yield Lane(v)
        yield Static(id="keys")

    def on_mount(self):
        self.lines = {name: self.query_one(f"#{name}", Static) for name in ("top", "stats", "keys")}
        self.lanes = list(self.query(Lane))
        self.begin_capture_print(self, stdout=True, stderr=True)
        self.refresh_view()
        if self.fps:
            self.set_interval(1 / self.fps, self.refresh_view)

    def validate_zoom(self, zoom):
        return max(0, min(len(ZOOMS) - 1, zoom))

    def watch_zoom(self):
        self.refresh_view()

    def watch_message(self):
        self.refresh_view()

    @property
    def spc(self):
        return ZOOMS[self.zoom] * TICKS_PER_SECOND

    def ahead_cols(self, roll_w):
        """Columns right of "now": the whole horizon (in score time, at the tempo), within a third of the roll."""
        ahead = self.csnap.get("horizon", 1.0) * self.csnap.get("tempo", 1.0) * TICKS_PER_SECOND * 1.25
        return max(2, min(roll_w // 3, math.ceil(ahead / self.spc)))

    def now_col(self, roll_w):
        return roll_w - 1 - self.ahead_cols(roll_w)

    def refresh_view(self):
        """Take fresh snapshots and redraw (the interval timer calls this `fps` times a second)."""
        if self.stopped is not None and self.stopped():
            self.exit()
            return
        if not self.lines:
            return
        self.csnap = self.control.snapshot()
        said = getattr(self.control, "pop_messages", list)()   # a daemon's refusals, when attached over OSC
        if said:
            self.say(said[-1])
            return
        roll_w = max(1, self.size.width - LABEL)
        nc = self.now_col(roll_w)
        self.msnap = self.monitor.snapshot(past_ticks=(nc + 1) * self.spc, ahead_ticks=(roll_w - nc) * self.spc)
        f = figures(self.csnap, self.msnap)
        if "tokens_per_s" not in f and "tokens" in f:
            f["tokens_per_s"] = self._rate(f["tokens"])
        w = self.size.width
        self._show("top", draw_top(self.csnap, f, self.glyphs))
        self._show("stats", draw_stats(f, w, self.glyphs))
        self._show("keys", Text(self.message, style="bold #ffd700", no_wrap=True, overflow=self.glyphs["more"])
                   if self.message else draw_keys(w, self.BINDINGS))
        for lane in self.lanes:
            lane.redraw()

    def _show(self, where, text):
        """Update a line only when it changed (the figures rarely do 15 times a second)."""
        key = (text.plain, tuple(text.spans))
        if self._shown.get(where) != key:
            self._shown[where] = key
            self.lines[where].update(text)

    def _rate(self, tokens):
        """Tokens a second from the engine's running count, over half-second steps, smoothed."""
        now = time.monotonic()
        if self._tokens is None:
            self._tokens = (now, tokens, None)
            return None
        t0, n0, rate = self._tokens
        if now - t0 >= 0.5:
            r = (tokens - n0) / (now - t0)
            rate = r if rate is None else 0.7 * rate + 0.3 * r
            self._tokens = (now, tokens, rate)
        return rate

    def say(self, message, seconds=5.0):
        """Show a one-line message on the key line for a few seconds."""
        if self._message_timer is not None:
            self._message_timer.stop()
        self._message_timer = self.set_timer(seconds, self._clear_message)
        self.message = message.splitlines()[0] if message else None

    def _clear_message(self):
        self.message = None

    def on_print(self, event):
        line = event.text.strip()
        if line:
            self.say(line.removeprefix("livechip: "))

    # --- doing things through the control surface ---

    def _set(self, *items):
        try:
            self.control.set_many(list(items)) if len(items) > 1 else self.control.set(*items[0])
        except LivechipError as e:
            self.say(str(e))
            return False
        self.refresh_view()
        return True

    def _act(self, name, *args, done=None):
        try:
            self.control.act(name, *args)
        except Exception as e:      # LivechipError, or an engine handler's own failure: say it, keep playing
            self.say(str(e) if isinstance(e, LivechipError) else f"{name} failed: {type(e).__name__}: {e}")
            return False
        if done:
            self.say(done)
        else:
            self.refresh_view()
        return True

    def action_mode(self, voice):
        mode = self.csnap["voices"][voice]["mode"]
        self._set((f"voice/{voice.lower()}/mode", VOICE_MODES[(VOICE_MODES.index(mode) + 1) % len(VOICE_MODES)]))

    def action_mute(self, voice):
        vol = self.csnap["voices"][voice]["volume"]
        if vol > 0:
            self.saved[voice] = vol
            self._set((f"voice/{voice.lower()}/volume", 0.0))
        else:
            if self.solo is not None and self.solo != voice:
                self.solo = None
            self._set((f"voice/{voice.lower()}/volume", self.saved.pop(voice, 1.0) or 1.0))

    def action_solo(self, voice):
        vols = {v: self.csnap["voices"][v]["volume"] for v in VOICES}
        if self.solo == voice:          # unsolo: everything back as it was
            items = [(f"voice/{v.lower()}/volume", self.saved.pop(v, 1.0) or 1.0) for v in VOICES if vols[v] <= 0]
            self.solo = None
            if items:
                self._set(*items)
            else:
                self.refresh_view()
            return
        if self.solo is not None:       # solo moves to another voice: restore first
            for v in VOICES:
                if vols[v] <= 0 and v in self.saved:
                    vols[v] = self.saved.pop(v)
        items = []
        for v in VOICES:
            if v == voice:
                items.append((f"voice/{v.lower()}/volume", vols[v] if vols[v] > 0 else self.saved.pop(v, 1.0)))
            elif vols[v] > 0:
                self.saved[v] = vols[v]
                items.append((f"voice/{v.lower()}/volume", 0.0))
            else:
                items.append((f"voice/{v.lower()}/volume", 0.0))
        self.solo = voice
        self._set(*items)

    def action_nudge(self, name, step):
        v = self.csnap[name]
        if name == "top_k":
            k = TOP_K_STEPS.index(min(TOP_K_STEPS[:-1], key=lambda s: abs(s - v))) if v else len(TOP_K_STEPS) - 1
            if v and step > 0 and TOP_K_STEPS[k] <= v:
                k += 1
            elif v and step < 0 and TOP_K_STEPS[k] >= v:
                k -= 1
            elif not v:
                k += step if step < 0 else 0
            value = TOP_K_STEPS[max(0, min(len(TOP_K_STEPS) - 1, k))]
        else:
            value = round(min(v + 0.05 * step, ROW[name].range[1]), 2)
            value = max(value, 0.05 if ROW[name].low_open else ROW[name].range[0])
        self._set((name, value))

    def action_step(self, name, step):
        """The key (off, C .. B) and the scale go round; the density moves along DENSITY_STEPS."""
        v = self.csnap[name]
        if name == "density":
            value = (min if step > 0 else max)((d for d in DENSITY_STEPS if (d - v) * step > 0), default=v)
        elif name == "key":
            words = ("off", *ROW["key"].range)
            value = words[((0 if v == "off" else 1 + PITCH_CLASS[v]) + step) % len(words)]
        else:
            words = ROW[name].range
            value = words[(words.index(v) + step) % len(words)]
        self._set((name, value))

    def action_panic(self):
        self._act("panic", done="panic: all notes off")

    def action_reset(self):
        self._act("reset", done="memory cleared: a new song starts")

    def action_record(self):
        if self.csnap.get("recording"):
            self._act("record_stop", done="recording stopped")
        else:
            self._act("record_start", done="recording")

    def action_presets(self):
        names = presets.list_presets()
        if not names:
            self.say("no presets found")
            return
        self.push_screen(PresetScreen(names))

    def load_preset(self, name):
        self.solo = None
        self.saved.clear()
        self._act("preset_load", name, done=f"preset {name} loaded")

    def action_zoom(self, step):
        """step +1: more seconds per column (zoom out), -1: fewer (zoom in)."""
        self.zoom += step

    def action_help(self):
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self):
        if self.quit_stops:
            for name in ("panic", "quit"):
                try:
                    self.control.act(name)
                except Exception:   # noqa: BLE001 - no engine to ask: nothing is sounding
                    pass
        self.exit()


# (keys, what they do): the help screen's lines, from the app's BINDINGS
KEYS = help_lines(LivechipApp.BINDINGS)


def run_tui(control, monitor, duration=None, stopped=None, quit_stops=True, ascii=False, fps=FPS, process=True):
    """Show the UI in this terminal until the player quits, `duration` seconds pass, or `stopped()` is True.

    For `livechip play`: start the engine (its own threads), call this from the main thread instead of waiting
    on the engine, then stop the engine as usual. On quit it calls `control.act("panic")` and
    `control.act("quit")` (when `quit_stops`).

    `process` (the default): the UI runs in a process of its own, so its drawing never holds this process's
    GIL; this thread answers its requests (a snapshot of the Control and of the Monitor per frame, each key's
    set/act) over a pipe, and lines printed here meanwhile go to the UI's message line. Otherwise the app runs
    in this thread, with the GIL handed over every 0.5 ms instead of 5 ms (see bench/bench_tui.py)."""
    end = None if duration is None else time.monotonic() + duration

    def done():
        return (stopped is not None and stopped()) or (end is not None and time.monotonic() >= end)

    if process:
        return _run_in_process(control, monitor, done, quit_stops, ascii, fps)
    app = LivechipApp(control, monitor, fps=fps, quit_stops=quit_stops, stopped=done, ascii=ascii)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
    gc.freeze()     # what exists now lives on: the UI's garbage collections need not walk it, holding the GIL
    try:
        app.run()
    finally:
        sys.setswitchinterval(switch)
    return app


def _ui_process(fd, quit_stops, ascii, fps, headless=False):
    """The UI process: `fd` is its end of the socket pair to the instrument's process (`headless`: draw
    without a terminal, for bench/bench_tui.py)."""
    link = _Link(Connection(fd))
    LivechipApp(LinkedControl(link), LinkedMonitor(link), fps=fps, quit_stops=quit_stops, stopped=link.stopped,
                ascii=ascii).run(headless=headless)
