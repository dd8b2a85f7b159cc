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
from types import MappingProxyType

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import OptionList, Static

from livechip.control import VOICE_MODES
from livechip.errors import LivechipError
from livechip.events import TICKS_PER_SECOND, VOICES

FPS = 15
SWITCH_INTERVAL = 0.0005      # seconds: how soon a waiting thread gets the GIL back from the UI
LABEL = 14                     # columns of a lane's label, its "│" included
TOP_K_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 0)   # 0 = no limit, the top of the scale
ZOOMS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)          # seconds per column
VOICE_COLOURS = {"P1": "#5fafff", "P2": "#87d75f", "TR": "#d787ff", "NO": "#d0d0d0"}
HUMAN = "#ffaf00"              # the player's notes, whatever the voice
MODE_COLOURS = {"model": "#5fafff", "human": HUMAN, "off": "#ff5f5f"}
HOLDERS = {False: ("auto:mdl", MODE_COLOURS["model"]), True: ("auto:you", HUMAN)}   # an auto voice: who has it
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# what a cell of the roll shows: the model's notes, the player's, the speculative part, "now", empty
UNICODE = {"model": ("●", "━"), "human": ("◆", "═"), "ahead": ("○", "╌"), "now": "│", "empty": " ",
           "meter": ("▮", "▯"), "play": "▶", "stop": "■", "rec": "●", "more": "ellipsis"}
ASCII = {"model": ("o", "-"), "human": ("#", "="), "ahead": (".", "."), "now": "|", "empty": " ",
         "meter": ("#", "."), "play": ">", "stop": "#", "rec": "*", "more": "crop"}

KEYS = (   # (keys, what they do): the help screen, in this order
    ("1 2 3 4", "cycle the mode of P1 P2 TR NO: model -> human -> off -> auto"),
    ("q w e r", "mute / unmute P1 P2 TR NO (volume 0; the model still plays the voice in its head)"),
    ("a s d f", "solo P1 P2 TR NO (again: unsolo)"),
    ("t / T", "temperature down / up (0.05)"),
    ("k / K", "top-k down / up (1 2 4 ... 256, all)"),
    ("p / P", "top-p down / up (0.05)"),
    ("x", "panic: all notes off now (the model keeps its memory)"),
    ("C", "clear the model's memory (start a new song)"),
    ("ctrl+r", "record: start / stop"),
    ("l", "load a preset"),
    ("- / +", "zoom out / in: more / less time on screen"),
    ("?", "this help"),
    ("ctrl+q", "quit (all notes off); ctrl+c too"),
)


def note_name(voice, pitch):
    if pitch is None:
        return "--"
    if voice == "NO":
        return f"n{pitch}"
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


# --- drawing (plain functions of a snapshot: what the tests and the lanes share) ------------------------

def pitch_rows(notes, voice, height):
    """A function pitch -> row (0 = top) fitting the lane's visible notes into `height` rows."""
    if voice == "NO":
        lo, hi = 1, 16
    elif notes:
        lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
    else:
        lo, hi = 60, 72
    if hi - lo < height - 1:
        pad = height - 1 - (hi - lo)
        hi += pad // 2
        lo = hi - (height - 1)
    span = hi - lo
    if span <= 0 or height <= 1:
        return lambda p: 0
    return lambda p: min(height - 1, max(0, round((hi - p) * (height - 1) / span)))


def draw_roll(snap, voice, width, height, spc, now_col, glyphs=UNICODE):
    """The roll of one voice: `height` Text lines of `width` cells; column `now_col` is "now", each column
    `spc` ticks. The player's notes in amber with their own glyph, the model's in the voice's colour, everything
    right of "now" (not heard yet: speculation) dimmed."""
    notes = [n for n in snap.notes if n.voice == voice]
    row_of = pitch_rows(notes, voice, height)
    colour = VOICE_COLOURS[voice]
    cells = [[glyphs["empty"]] * width for _ in range(height)]
    kinds = [[None] * width for _ in range(height)]
    for r in range(height):
        if 0 <= now_col < width:
            cells[r][now_col] = glyphs["now"]
            kinds[r][now_col] = "now"
    for n in notes:
        c0 = now_col + math.floor((n.start - snap.now) / spc)
        end = n.end if n.end is not None else max(snap.now, n.start + spc)
        c1 = max(c0 + 1, now_col + math.ceil((end - snap.now) / spc))
        r = row_of(n.pitch)
        for c in range(max(c0, 0), min(c1, width)):
            ahead = c > now_col and n.source != "human"
            kind = "human" if n.source == "human" else ("ahead" if ahead else "model")
            onset, body = glyphs[kind]
            if c == c0:
                cells[r][c], kinds[r][c] = onset, kind + "*"
            elif kinds[r][c] is None or not kinds[r][c].endswith("*"):
                cells[r][c], kinds[r][c] = body, kind
    styles = {"now": "bold #808080", "model": f"bold {colour}", "human": f"bold {HUMAN}",
              "ahead": f"dim {colour}", None: ""}
    lines = []
    for r in range(height):
        t = Text(no_wrap=True, overflow="crop")
        run, style = "", None
        for c in range(width):
            k = kinds[r][c]
            s = styles[k.rstrip("*") if k else None]
            if c > now_col and not k:
                s = "on #1c1c1c"
            if s != style and run:
                t.append(run, style)
                run = ""
            style = s
            run += cells[r][c]
        if run:
            t.append(run, style)
        lines.append(t)
    return lines


def draw_label(voice, vs, level, sounding, height, solo, glyphs=UNICODE, yours=False):
    """A lane's label: voice and mode (M muted, S solo; an auto voice says whether the model has it or the
    player, `yours`), level meter, current note, volume."""
    colour = VOICE_COLOURS[voice]
    mode = vs["mode"]
    flag = "S" if solo == voice else ("M" if vs["volume"] <= 0 else "")
    rows = []
    t = Text(no_wrap=True, overflow="crop")
    t.append(f"{voice:<3}", f"bold {colour}")
    shown, style = HOLDERS[yours] if mode == "auto" else (mode, MODE_COLOURS[mode])
    t.append(f"{shown:<6}", f"bold {style}")
    t.append(f"{flag:>{3 if len(shown) <= 6 else 2}}", "bold reverse #ff5f5f" if flag == "M" else "bold reverse #ffd700" if flag else "")
    rows.append(t)
    n = round(max(0.0, min(1.0, level)) * 8)
    on, off = glyphs["meter"]
    t = Text(no_wrap=True, overflow="crop")
    t.append(on * n, colour)
    t.append(off * (8 - n), "#444444")
    rows.append(t)
    rows.append(Text(f"note {note_name(voice, sounding.pitch) if sounding else '--':<4}",
                     style=HUMAN if sounding is not None and sounding.source == "human" else ""))
    rows.append(Text(f"vol {round(vs['volume'] * 100):>3}%", style="#808080"))
    out = []
    for r in range(height):
        t = rows[r].copy() if r < len(rows) else Text()
        t.truncate(LABEL - 1, pad=True)
        t.append(glyphs["now"] if glyphs is ASCII else "│", "#444444")
        out.append(t)
    return out


def figures(control_snap, monitor_snap):
    """The engine's figures from both sources: the Monitor's stats win over what it reported to Control."""
    f = dict(control_snap.get("info", {}))
    if "ahead" in f and "lead_s" not in f:
        f["lead_s"] = f["ahead"]
    if "model" in f and "model_name" not in f:
        f["model_name"] = f["model"]
    f.update(monitor_snap.stats)
    return f


def _port(v, short):
    """A port's status: its description, or on/off when the line is short; "--" when nothing was said."""
    if v is None:
        return "--", False
    if v is False or str(v).lower() in ("", "off", "none", "no"):
        return "off", True
    if v is True or short:
        return "on", False
    return str(v), False


def draw_top(cs, f, glyphs=UNICODE):
    t = Text(no_wrap=True, overflow=glyphs["more"])
    t.append(" livechip ", "bold reverse #5fafff")
    t.append(f" {glyphs['play']} play " if cs.get("playing", True) else f" {glyphs['stop']} stop ", "bold")
    if cs.get("recording") or f.get("recording") not in (None, False, "", "off"):
        t.append(f" {glyphs['rec']} REC ", "bold reverse #ff5f5f")
    t.append(f" {f.get('model_name', '--')}", "bold")
    t.append(f"  temp {cs['temperature']:.2f}  top-k {cs['top_k'] or 'all'}  top-p {cs['top_p']:.2f}")
    if cs.get("tempo", 1.0) != 1.0:
        t.append(f"  tempo {cs['tempo']:.2f}x")
    return t


def draw_stats(f, width, glyphs=UNICODE):
    t = Text(no_wrap=True, overflow=glyphs["more"])
    short = width < 120

    def item(name, value, bad=False):
        t.append(f" {name} ", "#808080")
        t.append(value, "bold #ff5f5f" if bad else "bold")
        t.append(" ")

    tps = f.get("tokens_per_s")
    item("tok/s", "--" if tps is None else f"{tps:.0f}")
    lead = f.get("lead_s")
    item("ahead", "--" if lead is None else f"{lead:.2f}s", bad=lead is not None and lead < 0.05)
    lat = f.get("latency_ms")
    item("react", "--" if lat is None else f"{lat:.0f}ms")
    x = f.get("xruns")
    item("xruns", "--" if x is None else str(x), bad=bool(x))
    for name, key in (("audio", "audio"), ("midi out", "midi_out"), ("in", "midi_in")):
        item(name, *_port(f.get(key), short))
    return t


def draw_keys(width):
    items = [("?", "help"), ("1-4", "mode"), ("qwer", "mute"), ("asdf", "solo"), ("t/T", "temp"),
             ("k/K", "top-k"), ("p/P", "top-p"), ("x", "panic"), ("^q", "quit"), ("C", "clear"),
             ("^r", "rec"), ("l", "preset"), ("-/+", "zoom")]
    t = Text(no_wrap=True, overflow="crop")
    for k, what in items:
        if t.cell_len + len(k) + len(what) + 2 > width:
            break
        t.append(f" {k}", "bold reverse")
        t.append(f" {what}")
    return t


# --- widgets -----------------------------------------------------------------------------------------

class Lane(Widget):
    """One voice: its label, then its roll. `redraw()` draws from the app's latest snapshots; the lines are
    handed to Textual as ready-made strips (its line API), the cheapest way to repaint a whole lane."""

    def __init__(self, voice):
        super().__init__(id=f"lane-{voice.lower()}", classes="lane")
        self.voice = voice
        self.strips = []
        self._styles = {}
        self._base = None

    def redraw(self):
        app = self.app
        w, h = self.size.width, self.size.height
        if app.msnap is None or w <= 0 or h <= 0:
            return
        roll_w = max(1, w - LABEL)
        vs = app.csnap["voices"][self.voice]
        snap = app.msnap
        level = snap.levels.get(self.voice)
        sounding = snap.sounding(self.voice)
        if level is None:
            level = vs["volume"] if sounding is not None and vs["mode"] != "off" else 0.0
        yours = self.voice in str(figures(app.csnap, snap).get("players", "")).split()
        left = draw_label(self.voice, vs, level, sounding, h, app.solo, app.glyphs, yours)
        right = draw_roll(snap, self.voice, roll_w, h, app.spc, app.now_col(roll_w), app.glyphs)
        base = self.rich_style
        self.strips = [self._strip(a + b, base) for a, b in zip(left, right)]
        self.refresh()

    def _strip(self, text, base):
        if base != self._base:
            self._base, self._styles = base, {}
        plain, segments, pos = text.plain, [], 0
        for span in text.spans:         # the drawing functions only append: spans are in order, apart
            if span.start > pos:
                segments.append(Segment(plain[pos:span.start], base))
            style = self._styles.get(span.style)
            if style is None:
                style = self._styles[span.style] = base + Style.parse(span.style)
            segments.append(Segment(plain[span.start:span.end], style))
            pos = span.end
        if pos < len(plain):
            segments.append(Segment(plain[pos:], base))
        return Strip(segments, len(plain))

    def render_line(self, y):
        if y < len(self.strips):
            return self.strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def on_resize(self):
        self.redraw()


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q,enter,space", "app.pop_screen", "close")]

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("livechip: keys\n\n", "bold")
        for keys, what in KEYS:
            t.append(f"  {keys:<9}", "bold #ffd700")
            t.append(f"{what}\n")
        t.append("\nRoll: time flows right to left past the | line (now). ", "#808080")
        t.append("●━ model", f"bold {VOICE_COLOURS['P1']}")
        t.append("  ")
        t.append("◆═ you", f"bold {HUMAN}")
        t.append("  ")
        t.append("○╌ ahead (not heard yet)", f"dim {VOICE_COLOURS['P1']}")
        t.append("\nEsc closes this help.", "#808080")
        yield Static(t, id="help")


class PresetScreen(ModalScreen):
    """A small picker of the presets found (user presets, then shipped ones)."""
    BINDINGS = [Binding("escape,l", "app.pop_screen", "cancel")]

    def __init__(self, names):
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="presets"):
            yield Static("Load a preset (Enter loads, Esc cancels)", id="presets-title")
            yield OptionList(*self.names, id="preset-list")

    def on_option_list_option_selected(self, event):
        self.app.pop_screen()
        self.app.load_preset(self.names[event.option_index])


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
    BINDINGS = (
        [Binding(str(i + 1), f"mode('{v}')", show=False) for i, v in enumerate(VOICES)]
        + [Binding(k, f"mute('{v}')", show=False) for k, v in zip("qwer", VOICES)]
        + [Binding(k, f"solo('{v}')", show=False) for k, v in zip("asdf", VOICES)]
        + [Binding("t", "nudge('temperature', -1)", show=False), Binding("T", "nudge('temperature', 1)", show=False),
           Binding("k", "nudge('top_k', -1)", show=False), Binding("K", "nudge('top_k', 1)", show=False),
           Binding("p", "nudge('top_p', -1)", show=False), Binding("P", "nudge('top_p', 1)", show=False),
           Binding("x", "panic", show=False), Binding("C", "reset", show=False),
           Binding("ctrl+r", "record", show=False, priority=True), Binding("l", "presets", show=False),
           Binding("minus", "zoom(1)", show=False), Binding("plus,equals_sign", "zoom(-1)", show=False),
           Binding("question_mark,f1", "help", show=False),
           Binding("ctrl+q,ctrl+c", "quit", show=False, priority=True)]
    )

    def __init__(self, control, monitor, fps=FPS, quit_stops=True, stopped=None, ascii=False, zoom=1):
        super().__init__()
        self.control = control
        self.monitor = monitor
        self.fps = fps
        self.quit_stops = quit_stops
        self.stopped = stopped
        self.glyphs = ASCII if ascii else UNICODE
        self.zoom = zoom                 # index into ZOOMS
        self.solo = None                 # the soloed voice, if any
        self.saved = {}                  # voice -> volume before mute/solo
        self.csnap = control.snapshot()
        self.msnap = None
        self.lines = {}
        self.lanes = []
        self.message = None
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
                   if self.message else draw_keys(w))
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
        self.message = message.splitlines()[0] if message else None
        if self._message_timer is not None:
            self._message_timer.stop()
        self._message_timer = self.set_timer(seconds, self._clear_message)
        self.refresh_view()

    def _clear_message(self):
        self.message = None
        self.refresh_view()

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
            value = round(min(v + 0.05 * step, 5.0 if name == "temperature" else 1.0), 2)
            value = max(value, 0.05)
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
        from livechip import presets
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
        self.zoom = max(0, min(len(ZOOMS) - 1, self.zoom + step))
        self.refresh_view()

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


# --- the UI in a process of its own, linked to this one's Control and Monitor by a pipe -----------------

class _Lines:
    """A stand-in for stdout/stderr while the UI owns the terminal: complete lines become UI messages."""

    def __init__(self, out):
        self.out, self.part = out, ""

    def write(self, text):
        self.part += text
        *lines, self.part = self.part.split("\n")
        self.out.extend(line for line in lines if line.strip())
        return len(text)

    def flush(self):
        pass


def _run_in_process(control, monitor, done, quit_stops, ascii, fps, headless=False):
    import collections
    import socket
    import subprocess
    from multiprocessing.connection import Connection
    here, there = socket.socketpair()
    code = (f"from livechip.tui.app import _ui_process; "
            f"_ui_process({there.fileno()}, {quit_stops!r}, {ascii!r}, {fps!r}, {headless!r})")
    ui = subprocess.Popen([sys.executable, "-c", code], pass_fds=[there.fileno()])
    there.close()
    link = Connection(here.detach())
    messages = collections.deque(maxlen=16)
    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _Lines(messages)
    try:
        while ui.poll() is None:
            if link.poll(0.05):
                try:
                    msg = link.recv()
                except EOFError:
                    break
                link.send(_answer(msg, control, monitor, done, messages))
    finally:
        sys.stdout, sys.stderr = out, err
        link.close()
        try:
            ui.wait(2.0)
        except subprocess.TimeoutExpired:
            ui.terminate()
            ui.wait(2.0)
        for line in messages:
            print(line, file=sys.stderr)


def _answer(msg, control, monitor, done, messages):
    """(True, result) or (False, reason) for one request of the UI process."""
    kind = msg[0]
    try:
        if kind == "control":
            return True, control.snapshot()
        if kind == "monitor":
            snap = monitor.snapshot(msg[1], msg[2])
            notes = [(n.voice, n.pitch, n.start, n.end, n.source, n.speculative) for n in snap.notes]
            return True, (snap.now, snap.start, snap.end, notes, dict(snap.stats), dict(snap.levels))
        if kind == "set":
            return True, control.set_many(msg[1])
        if kind == "act":
            return True, control.act(msg[1], *msg[2])
        if kind == "messages":
            said = list(messages)
            messages.clear()
            return True, said
        if kind == "stopped":
            return True, done()
        return False, f"unknown request {kind!r}"
    except LivechipError as e:
        return False, str(e)
    except Exception as e:      # noqa: BLE001 - an engine handler's failure is the UI's message, not a crash
        return False, f"{kind} failed: {type(e).__name__}: {e}"


class _Link:
    """The UI process's end of the pipe: one request, one answer."""

    def __init__(self, conn):
        self.conn = conn
        self.broken = False

    def call(self, *msg):
        try:
            self.conn.send(msg)
            ok, value = self.conn.recv()
        except (EOFError, OSError):
            self.broken = True
            raise LivechipError("the instrument is gone") from None
        if not ok:
            raise LivechipError(value)
        return value

    def stopped(self):
        try:
            return self.call("stopped")
        except LivechipError:
            return True


class LinkedControl:
    """Control's face for the UI process."""

    def __init__(self, link):
        self.link = link

    def snapshot(self):
        return self.link.call("control")

    def set(self, path, value):
        return self.set_many([(path, value)])[0]

    def set_many(self, items):
        return self.link.call("set", list(items))

    def act(self, name, *args):
        return self.link.call("act", name, args)

    def pop_messages(self):
        return self.link.call("messages")


class LinkedMonitor:
    """Monitor's face for the UI process."""

    def __init__(self, link):
        self.link = link

    def snapshot(self, past_ticks, ahead_ticks):
        from livechip.monitor import Note, Snapshot
        now, start, end, notes, stats, levels = self.link.call("monitor", past_ticks, ahead_ticks)
        return Snapshot(now, start, end, tuple(Note(*n) for n in notes), MappingProxyType(stats),
                        MappingProxyType(levels))


def _ui_process(fd, quit_stops, ascii, fps, headless=False):
    """The UI process: `fd` is its end of the socket pair to the instrument's process (`headless`: draw
    without a terminal, for bench/bench_tui.py)."""
    from multiprocessing.connection import Connection
    link = _Link(Connection(fd))
    LivechipApp(LinkedControl(link), LinkedMonitor(link), fps=fps, quit_stops=quit_stops, stopped=link.stopped,
                ascii=ascii).run(headless=headless)
