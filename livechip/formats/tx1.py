"""LakhNES TX1 text files (.tx1.txt, and gzip-compressed .tx1.txt.gz).

One event per line, no header, no trailing newline:

    WT_243
    P1_NOTEON_67
    WT_4
    P1_NOTEOFF

`WT_n` waits n ticks (samples at 44.1 kHz). Waits in a file are raw: any length, not snapped to
the model's vocabulary. Reading gives a `Score` with exact times; writing it back gives the same
bytes.

    score = tx1.read("song.tx1.txt")
    tx1.write("copy.tx1.txt.gz", score)
"""

import gzip
from pathlib import Path

from livechip.core.errors import FileFormatError, LivechipError
from livechip.core.events import PITCH_RANGE, TICKS_PER_SECOND, VOICES, NoteEvent, Score, event_order
from livechip.core.fileio import atomic_write, gunzip_limited, read_limited

MAX_TEXT_BYTES = 256 * 1024 * 1024  # far above the longest song (1.5 MB); stops gzip bombs
MAX_TICKS = 24 * 3600 * TICKS_PER_SECOND  # a longer song is a corrupt or hostile file
PATTERNS = ("*.tx1.txt", "*.tx1.txt.gz")

# Every note line and what it means, so parsing a line is one dict lookup.
_NOTE_LINES = {}
for _v in VOICES:
    _NOTE_LINES[f"{_v}_NOTEOFF"] = (_v, None)
    _lo, _hi = PITCH_RANGE[_v]
    for _p in range(_lo, _hi + 1):
        _NOTE_LINES[f"{_v}_NOTEON_{_p}"] = (_v, _p)
_NOTE_TEXT = {key: text for text, key in _NOTE_LINES.items()}


def is_gzip_name(path):
    return str(path).lower().endswith(".gz")


def find_files(inputs):
    """The TX1 files named by `inputs` (files, or folders searched for *.tx1.txt(.gz)), sorted, each once."""
    found = set()
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            found.update(q for pat in PATTERNS for q in p.glob(pat) if q.is_file())
        elif p.is_file():
            found.add(p)
        else:
            raise LivechipError(f"{p}: no such file or folder")
    if not found:
        raise LivechipError(f"no .tx1.txt or .tx1.txt.gz files in {', '.join(map(str, inputs))}")
    return sorted(found, key=str)


def read(path):
    """Read a .tx1.txt or .tx1.txt.gz file into a Score. Bad input raises FileFormatError."""
    data = read_limited(path, MAX_TEXT_BYTES)
    if data[:2] == b"\x1f\x8b":
        data = gunzip_limited(data, MAX_TEXT_BYTES, path)
    elif is_gzip_name(path):
        raise FileFormatError(path, "not a gzip file (name ends in .gz)", "byte 0")
    if len(data) > MAX_TEXT_BYTES:
        raise FileFormatError(path, f"more than {MAX_TEXT_BYTES >> 20} MiB of text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileFormatError(path, "binary data, not TX1 text", f"byte {e.start}") from None
    return loads(text, path)


def loads(text, name="<text>"):
    """Parse TX1 text into a Score. `name` is used in error messages.

    Blank lines and a trailing newline are allowed; anything else that is not a TX1 event is an
    error naming the line. Events at one instant are put in voice order (P1, P2, TR, NO).
    """
    events = []
    t = 0
    note_lines = _NOTE_LINES
    ordered = True
    last = (0, -1)
    for n, line in enumerate(text.split("\n"), 1):
        ev = note_lines.get(line)
        if ev is not None:
            events.append(NoteEvent(t, ev[0], ev[1]))
            continue
        line = line.strip()
        if line.startswith("WT_") and line[3:].isdigit() and line[3:].isascii():
            t += int(line[3:])
            continue
        ev = note_lines.get(line)
        if ev is not None:
            events.append(NoteEvent(t, ev[0], ev[1]))
        elif line:
            raise FileFormatError(name, f"not a TX1 event: {_show(line)}", f"line {n}")
    if not events and t == 0:
        raise FileFormatError(name, "empty: no TX1 events")
    if t > MAX_TICKS:
        raise FileFormatError(name, f"song longer than {MAX_TICKS // TICKS_PER_SECOND // 3600} hours")
    for e in events:
        key = event_order(e)
        if key < last:
            ordered = False
            break
        last = key
    score = Score(events, t)
    return score if ordered else score.sort()


def _show(line, limit=40):
    s = repr(line[:limit])
    return s + ("..." if len(line) > limit else "")


def dumps(score):
    """The TX1 text of a Score (events in voice order, exact waits, no trailing newline)."""
    lines = []
    t = 0
    for e in sorted(score.events, key=event_order):
        if e.time > t:
            lines.append(f"WT_{e.time - t}")
            t = e.time
        elif e.time < t:
            raise ValueError(f"event at negative time: {e}")
        text = _NOTE_TEXT.get((e.voice, e.pitch))
        if text is None:
            raise ValueError(f"no TX1 event for {e.voice} pitch {e.pitch}")
        lines.append(text)
    if score.end > t:
        lines.append(f"WT_{score.end - t}")
    return "\n".join(lines)


def write(path, score):
    """Write a Score as TX1 text, gzip-compressed if the name ends in .gz; atomic."""
    data = dumps(score).encode("ascii")
    if is_gzip_name(path):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    with atomic_write(path) as f:
        f.write(data)
