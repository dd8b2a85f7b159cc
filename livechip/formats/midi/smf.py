"""The Standard MIDI File layer the three kinds of MIDI file share: parsing with limits, tempo maps in exact
integer samples, one voice as messages, and the report of what reading did to the notes."""

import io
from dataclasses import dataclass, field

import mido

from livechip.core.errors import FileFormatError
from livechip.core.events import TICKS_PER_SECOND
from livechip.core.fileio import read_limited

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_SECONDS = 24 * 3600  # a longer song is a corrupt or hostile file


@dataclass
class ImportReport:
    """What reading a MIDI file did to its notes, for telling the user."""
    format: str = "midi"      # "nesmdb" or "midi"
    notes: int = 0            # notes read onto the four voices
    changed: int = 0          # notes whose pitch had to change: octave-folded, or drums off the map
    hidden: int = 0           # notes that never sounded: another note had the voice (monophony)
    ignored: int = 0          # notes on channels the channel map leaves out
    ignored_channels: list = field(default_factory=list)


def open_file(path):
    data = read_limited(path, MAX_FILE_BYTES)
    if len(data) > MAX_FILE_BYTES:
        raise FileFormatError(path, f"larger than {MAX_FILE_BYTES >> 20} MiB")
    return parse(data, path)


def parse(data, name="<bytes>"):
    """Parse MIDI file bytes with mido; any problem becomes a FileFormatError naming `name`."""
    if not data:
        raise FileFormatError(name, "empty file")
    if data[:4] != b"MThd":
        raise FileFormatError(name, "not a MIDI file (no MThd header)", "byte 0")
    f = io.BytesIO(data)
    try:
        mid = mido.MidiFile(file=f)
    except EOFError:
        raise FileFormatError(name, "truncated MIDI file", f"byte {len(data)}") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, OverflowError) as e:
        reason = str(e) or type(e).__name__
        raise FileFormatError(name, f"corrupt MIDI data: {reason}", f"near byte {f.tell()}") from None
    declared = int.from_bytes(data[10:12], "big")
    if declared != len(mid.tracks):
        raise FileFormatError(name, f"header claims {declared} tracks, the file has {len(mid.tracks)}",
                              "byte 10")
    if mid.type not in (0, 1, 2):
        raise FileFormatError(name, f"unknown MIDI file type {mid.type}", "byte 8")
    if mid.ticks_per_beat == 0:
        raise FileFormatError(name, "zero ticks per beat", "byte 12")
    return mid


def has_notes(track):
    return any(m.type == "note_on" for m in track)


class Clock:
    """Ticks -> samples through the file's tempo changes, in exact integer arithmetic."""

    def __init__(self, mid, tempos, name):
        self.name = name
        tpb = mid.ticks_per_beat
        if tpb > 0:
            self.den = tpb * 1_000_000  # samples = sum(ticks * tempo) * 44100 / den
            self.smpte = False
        else:  # SMPTE division: frames per second and ticks per frame
            u = tpb & 0xFFFF
            fps, tpf = 256 - (u >> 8), u & 0xFF
            if tpf == 0:
                raise FileFormatError(name, "SMPTE division with zero ticks per frame", "byte 12")
            self.den = fps * tpf * 1_000_000
            self.smpte = True
        # tempo segments: (start tick, accumulated tick*tempo at that tick, tempo)
        self.segments = [(0, 0, 1_000_000 if self.smpte else 500000)]
        for tick, tempo in sorted(tempos):
            t0, acc0, tempo0 = self.segments[-1]
            if self.smpte:
                continue
            acc = acc0 + (tick - t0) * tempo0
            if tick == t0:
                self.segments[-1] = (t0, acc0, tempo)
            else:
                self.segments.append((tick, acc, tempo))
        self.identity = (not self.smpte and len(self.segments) == 1
                         and self.segments[0][2] * TICKS_PER_SECOND == self.den)
        self._k = 0

    def samples(self, tick, floor=False):
        """Sample time of `tick` (ticks must be asked in ascending order for speed)."""
        if self.identity:
            return tick
        segs = self.segments
        k = self._k if self._k < len(segs) and segs[self._k][0] <= tick else 0
        while k + 1 < len(segs) and segs[k + 1][0] <= tick:
            k += 1
        self._k = k
        t0, acc0, tempo = segs[k]
        num = (acc0 + (tick - t0) * tempo) * TICKS_PER_SECOND
        return num // self.den if floor else (2 * num + self.den) // (2 * self.den)


def check_length(samples, name):
    if samples > MAX_SECONDS * TICKS_PER_SECOND:
        raise FileFormatError(name, f"song longer than {MAX_SECONDS // 3600} hours (corrupt delta times?)")


def timed(track):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def voice_messages(score, voice, channel, velocity, note_of, tick_of):
    """One voice's notes (of a normalized score) as mido messages with delta times.

    Each note ends before the next one begins, at the same tick, so every reader sees one note at a time.
    """
    msgs = []
    last = 0
    sounding = None
    for e in score.events:
        if e.voice != voice:
            continue
        t = tick_of(e.time)
        if sounding is not None:
            msgs.append(mido.Message("note_on", channel=channel, note=sounding, velocity=0, time=t - last))
            last = t
            sounding = None
        if e.pitch is not None:
            sounding = note_of(e.pitch)
            msgs.append(mido.Message("note_on", channel=channel, note=sounding, velocity=velocity,
                                     time=t - last))
            last = t
    return msgs, last


def to_bytes(mid):
    f = io.BytesIO()
    mid.save(file=f)
    return f.getvalue()
