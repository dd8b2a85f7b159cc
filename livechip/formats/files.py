"""Music files by name: read and write a Score whatever the format (`livechip convert` and `info` use it).

The extension picks the format:

    .tx1.txt, .txt             LakhNES TX1 text
    .tx1.txt.gz, .txt.gz       the same, gzip-compressed
    .mid, .midi                MIDI: read any (NES-MDB recognised); write DAW MIDI, or NES-MDB MIDI
                               for a name ending in .nesmdb.mid or with nesmdb=True
"""

import json
from pathlib import Path

from livechip.formats import tx1
from livechip.core.errors import FileFormatError, LivechipError
from livechip.core.events import PITCH_RANGE, TICKS_PER_SECOND, VOICES
from livechip.formats import midi

TX1_SUFFIXES = (".tx1.txt", ".txt", ".tx1.txt.gz", ".txt.gz")
MIDI_SUFFIXES = (".mid", ".midi")


def kind_of(path):
    """'tx1' or 'midi' from a file name; LivechipError for anything else."""
    name = Path(path).name.lower()
    if name.endswith(TX1_SUFFIXES):
        return "tx1"
    if name.endswith(MIDI_SUFFIXES):
        return "midi"
    raise LivechipError(f"{path}: unknown file type (use .tx1.txt, .tx1.txt.gz or .mid)")


def read_score_report(path, channel_map=None, drum_map=None):
    """(Score, ImportReport or None): the report says what reading an ordinary MIDI file changed."""
    kind = kind_of(path)
    if not Path(path).exists():
        raise FileFormatError(path, "no such file")
    if kind == "tx1":
        return tx1.read(path), None
    return midi.read_report(path, channel_map, drum_map)


def read_score(path, channel_map=None, drum_map=None):
    """Read .tx1.txt, .tx1.txt.gz or .mid into a Score."""
    return read_score_report(path, channel_map, drum_map)[0]


def write_score(path, score, nesmdb=None, drum_map=None):
    """Write a Score; the name picks the format. MIDI is DAW MIDI unless `nesmdb` (or .nesmdb.mid)."""
    if kind_of(path) == "tx1":
        tx1.write(path, score)
    else:
        if nesmdb is None:
            nesmdb = Path(path).name.lower().endswith((".nesmdb.mid", ".nesmdb.midi"))
        midi.write(path, score, nesmdb=nesmdb, drum_map=drum_map)


# --- what is in a score -------------------------------------------------------------------------

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch):
    """MIDI note number -> name, middle C (60) = C4."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def describe(score):
    """Plain facts about a score: length, TX1 event count, and per voice notes and range."""
    t = 0
    waits = 0
    voices = {v: {"notes": 0, "noteoffs": 0, "lowest": None, "highest": None} for v in VOICES}
    for e in score.events:
        if e.time > t:
            waits += 1
            t = e.time
        d = voices[e.voice]
        if e.pitch is None:
            d["noteoffs"] += 1
        else:
            d["notes"] += 1
            if d["lowest"] is None or e.pitch < d["lowest"]:
                d["lowest"] = e.pitch
            if d["highest"] is None or e.pitch > d["highest"]:
                d["highest"] = e.pitch
    if score.end > t:
        waits += 1
    seconds = score.end / TICKS_PER_SECOND
    events = len(score.events) + waits
    return {
        "seconds": round(seconds, 4),
        "samples": score.end,
        "events": events,
        "wait_events": waits,
        "note_events": len(score.events),
        "events_per_second": round(events / seconds, 2) if seconds else 0.0,
        "voices": voices,
    }


# --- the commands -------------------------------------------------------------------------------

def parse_channel_map(text):
    """'1=P1,2=P2,3=TR,10=NO' -> {1: 'P1', ...}; a channel left out is ignored."""
    cmap = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ch, _, voice = part.partition("=")
        voice = voice.strip().upper()
        if not ch.strip().isdigit() or not 1 <= int(ch) <= 16 or voice not in VOICES:
            raise LivechipError(f"bad channel map entry {part!r}: want CHANNEL=VOICE, channel 1-16, "
                                f"voice one of {', '.join(VOICES)}")
        cmap[int(ch)] = voice
    return cmap


def parse_drum_map(text):
    """'1=35,9=38' or a .json file {"1": 35, ...} -> {noise value: MIDI note}."""
    if text.lower().endswith(".json"):
        try:
            pairs = json.loads(Path(text).read_text()).items()
        except (OSError, ValueError, AttributeError) as e:
            raise LivechipError(f"{text}: not a drum map ({e})") from None
    else:
        pairs = [p.partition("=")[::2] for p in text.split(",") if p.strip()]
    drums = {}
    lo, hi = PITCH_RANGE["NO"]
    for noise, note in pairs:
        try:
            noise, note = int(noise), int(note)
        except (TypeError, ValueError):
            raise LivechipError(f"bad drum map entry {noise}={note}: want NOISE=NOTE") from None
        if not lo <= noise <= hi or not 0 <= note <= 127:
            raise LivechipError(f"bad drum map entry {noise}={note}: noise {lo}-{hi}, note 0-127")
        drums[noise] = note
    return drums
