"""What the terminal UI draws, as functions of the snapshots: the roll, a lane's label, the figures lines, the
key bar, and the `Lane` widget that puts a voice's label and roll on screen. `app.py` holds the App that uses
them; nothing here reaches the engine.
"""

import math

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from livechip.tui.keys import key_rows, short_keys

LABEL = 14                     # columns of a lane's label, its "│" included
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
    t.append(f"  temp {cs['temperature']:.2f}  top-k {cs['top_k'] or 'all'}  top-p {cs['top_p']:.2f}  recall {cs['recall']:.2f}")
    if cs.get("tempo", 1.0) != 1.0:
        t.append(f"  tempo {cs['tempo']:.2f}x")
    if cs.get("key", "off") != "off":
        t.append(f"  {cs['key']} {cs['scale'].replace('_', ' ')}")
    if cs.get("density", 1.0) != 1.0:
        t.append(f"  density {cs['density']:g}")
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


def draw_keys(width, bindings):
    items = [(short_keys(keys), label) for keys, label, _ in key_rows(bindings)]
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
