"""MIDI files in and out of livechip's four NES voices (P1, P2, TR, NO).

Three kinds of MIDI file:

- **NES-MDB MIDI** (read and write, exact): the NES Music Database's format. Type 1, 22050
  ticks per beat at 120 bpm (one tick is one sample at 44.1 kHz), tracks named `p1`, `p2`,
  `tr`, `no` (noise on channel 10, its note number is the noise value 1-16), velocity is the
  2A03 volume, CC11/CC12 carry volume and timbre changes (read, then dropped: a Score has no
  dynamics), and a 1/1 time signature marks the song's end. Notes come out exactly as LakhNES's
  own converter turns these files into TX1.
- **Any other MIDI file** (read): each channel goes to a voice through a channel map (default
  1 -> P1, 2 -> P2, 3 -> TR, 4 and 10 -> NO); drum notes become noise values through a drum
  map; each voice is reduced to one note at a time (last-note priority; see `read_report`);
  notes outside a voice's range are moved by octaves into it, and counted.
- **DAW MIDI** (write): what a producer drags into a sequencer. Type 1, 960 PPQ at 120 bpm (so
  an NES frame of 735 samples is exactly 32 ticks), a conductor track, then tracks "P1 pulse 1",
  "P2 pulse 2", "TR triangle", "NO noise" on channels 1-4, the noise written as drum notes
  (`NOISE_TO_DRUM`, or your own map). Read back with the default maps, it gives the same notes.

    score = midifile.read("song.mid")                 # any of them; NES-MDB is recognised
    midifile.write("song.mid", score)                 # DAW MIDI
    midifile.write("song.mid", score, nesmdb=True)    # NES-MDB MIDI
"""

import io
from dataclasses import dataclass, field

import mido

from livechip.errors import FileFormatError
from livechip.events import PITCH_RANGE, TICKS_PER_SECOND, VOICES, NoteEvent, Score, normalize
from livechip.fileio import atomic_write

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_SECONDS = 24 * 3600  # a longer song is a corrupt or hostile file

# --- NES-MDB ------------------------------------------------------------------------------------

NESMDB_TICKS_PER_BEAT = 22050
NESMDB_TEMPO = 500000  # 120 bpm
NESMDB_TRACKS = {"p1": "P1", "p2": "P2", "tr": "TR", "no": "NO"}
NESMDB_CHANNEL = {"P1": 0, "P2": 1, "TR": 2, "NO": 9}
NESMDB_PROGRAM = {"P1": 80, "P2": 81, "TR": 38, "NO": 121}
NESMDB_VELOCITY = {"P1": 15, "P2": 15, "TR": 1, "NO": 15}  # full volume; the triangle has none

# --- ordinary MIDI in, DAW MIDI out -------------------------------------------------------------

DEFAULT_CHANNEL_MAP = {1: "P1", 2: "P2", 3: "TR", 4: "NO", 10: "NO"}  # channels counted from 1

# Noise value (1 = darkest, 16 = brightest) -> General MIDI drum note, for DAW MIDI out.
NOISE_TO_DRUM = {
    1: 35, 2: 36, 3: 41, 4: 43, 5: 45, 6: 47, 7: 48, 8: 50,   # kicks and toms, low to high
    9: 38, 10: 40, 11: 39, 12: 37,                            # snares, clap, side stick
    13: 49, 14: 51, 15: 46, 16: 42,                           # crash, ride, open and closed hi-hat
}

# General MIDI drum note (35-81) -> noise value, for MIDI in. Holds NOISE_TO_DRUM's inverse, and
# puts every other drum beside the one it sounds most like. Notes below 35 play as 1, above 81 as 16.
DRUM_TO_NOISE = {drum: noise for noise, drum in NOISE_TO_DRUM.items()}
DRUM_TO_NOISE.update({
    44: 16, 52: 13, 53: 14, 54: 15, 55: 13, 56: 12, 57: 13, 58: 11, 59: 14, 60: 8, 61: 6, 62: 8,
    63: 7, 64: 5, 65: 9, 66: 7, 67: 12, 68: 11, 69: 15, 70: 16, 71: 14, 72: 14, 73: 12, 74: 12,
    75: 13, 76: 12, 77: 10, 78: 9, 79: 9, 80: 16, 81: 15,
})

DAW_TICKS_PER_BEAT = 960
DAW_TEMPO = 500000  # 120 bpm
DAW_TRACK_NAMES = {"P1": "P1 pulse 1", "P2": "P2 pulse 2", "TR": "TR triangle", "NO": "NO noise"}
DAW_PROGRAM = {"P1": 80, "P2": 80, "TR": 38, "NO": 118}  # square lead, square lead, synth bass, synth drum
DAW_VELOCITY = 100


@dataclass
class ImportReport:
    """What reading a MIDI file did to its notes, for telling the user."""
    format: str = "midi"      # "nesmdb" or "midi"
    notes: int = 0            # notes read onto the four voices
    changed: int = 0          # notes whose pitch had to change: octave-folded, or drums off the map
    hidden: int = 0           # notes that never sounded: another note had the voice (monophony)
    ignored: int = 0          # notes on channels the channel map leaves out
    ignored_channels: list = field(default_factory=list)


def read(path, channel_map=None, drum_map=None):
    """Read any MIDI file into a Score (see `read_report` for what the reduction did)."""
    return read_report(path, channel_map, drum_map)[0]


def read_report(path, channel_map=None, drum_map=None):
    """Read a MIDI file -> (Score, ImportReport).

    NES-MDB files (tracks p1, p2, tr, no) are read exactly. Any other file goes through
    `channel_map` ({channel 1-16: voice}, default DEFAULT_CHANNEL_MAP) and, for the noise voice,
    the drum map: `drum_map` is {noise value: drum note} as for writing (its inverse is used,
    then DRUM_TO_NOISE for other notes). Each voice then plays one note at a time: the newest
    note wins; releasing it brings back the newest note still held. Of notes starting together
    the highest wins on P1 and P2, the lowest on TR, and the lowest noise value on NO. Notes
    outside a voice's range move by octaves into it.
    """
    return to_score(_open(path), path, channel_map, drum_map)


def to_score(mid, name="<midi>", channel_map=None, drum_map=None):
    """A parsed mido.MidiFile -> (Score, ImportReport), as `read_report` describes; `name` is for errors."""
    if is_nesmdb(mid):
        return _read_nesmdb(mid, name)
    return _read_general(mid, name, channel_map, drum_map)


def _open(path):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise FileFormatError(path, e.strerror or str(e)) from None
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


def is_nesmdb(mid):
    """True for a file in NES-MDB's layout: every track with notes is named p1, p2, tr or no."""
    names = [t.name for t in mid.tracks]
    return (mid.type == 1 and any(n in NESMDB_TRACKS for n in names)
            and all(n in NESMDB_TRACKS or not _has_notes(t) for t, n in zip(mid.tracks, names)))


def _has_notes(track):
    return any(m.type == "note_on" for m in track)


class _Clock:
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


def _check_length(samples, name):
    if samples > MAX_SECONDS * TICKS_PER_SECOND:
        raise FileFormatError(name, f"song longer than {MAX_SECONDS // 3600} hours (corrupt delta times?)")


def _read_nesmdb(mid, name):
    """NES-MDB MIDI -> Score, the way LakhNES's midi_to_tx1 reads it (through pretty_midi)."""
    tempos = []
    ends = []
    for tick, msg in _timed(mid.tracks[0]):
        if msg.type == "set_tempo":
            tempos.append((tick, msg.tempo))
    for track in mid.tracks:
        for tick, msg in _timed(track):
            if msg.type == "time_signature":
                ends.append(tick)
    clock = _Clock(mid, tempos, name)
    report = ImportReport(format="nesmdb")
    by_time = {}  # sample -> events, appended in voice order
    order = {v: k for k, v in enumerate(VOICES)}
    tracks = sorted((t for t in mid.tracks if t.name in NESMDB_TRACKS),
                    key=lambda t: order[NESMDB_TRACKS[t.name]])
    last_tick = 0
    for track in tracks:
        voice = NESMDB_TRACKS[track.name]
        lo, hi = PITCH_RANGE[voice]
        notes = []  # (start tick, end tick, pitch), in the order they close, as pretty_midi lists them
        opened = {}
        tick = 0
        for msg in track:
            tick += msg.time
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                opened.setdefault((msg.channel, msg.note), []).append(tick)
            elif kind == "note_off" or kind == "note_on":
                key = (msg.channel, msg.note)
                starts = opened.get(key)
                if starts is None:
                    continue
                close = [s for s in starts if s != tick]
                for s in close:
                    notes.append((s, tick, msg.note))
                keep = [s for s in starts if s == tick]
                if close and keep:
                    opened[key] = keep
                else:
                    del opened[key]
        last_tick = max(last_tick, tick)
        notes.sort(key=lambda n: n[0])
        report.notes += len(notes)
        last_end = -1
        for s, e, p in notes:
            if not lo <= p <= hi:
                raise FileFormatError(name, f"{voice} note {p} outside NES-MDB's range {lo}-{hi}",
                                      f"track {track.name!r}")
            s, e = clock.samples(s, True), clock.samples(e, True)
            if 0 <= last_end < s:
                by_time.setdefault(last_end, []).append(NoteEvent(last_end, voice, None))
            by_time.setdefault(s, []).append(NoteEvent(s, voice, p))
            last_end = e  # a note begun before the last one ended replaces it
        if notes:
            by_time.setdefault(last_end, []).append(NoteEvent(last_end, voice, None))
    events = [e for t in sorted(by_time) for e in by_time[t]]
    end = clock.samples(max(ends), True) if ends else clock.samples(last_tick, True)
    if events:
        end = max(end, events[-1].time)
    _check_length(end, name)
    return Score(events, end), report


def _timed(track):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def _fold(pitch, lo, hi):
    while pitch < lo:
        pitch += 12
    while pitch > hi:
        pitch -= 12
    return pitch


def noise_of_drum(note, drum_map=None):
    """The noise value (1-16) a drum note plays as: `drum_map`'s inverse first, then DRUM_TO_NOISE."""
    if drum_map:
        for noise, drum in drum_map.items():
            if drum == note:
                return noise
    if note in DRUM_TO_NOISE:
        return DRUM_TO_NOISE[note]
    return 1 if note < 35 else 16


def _read_general(mid, name, channel_map, drum_map):
    cmap = DEFAULT_CHANNEL_MAP if channel_map is None else channel_map
    chan_voice = [cmap.get(c + 1) for c in range(16)]
    noise = {n: noise_of_drum(n, drum_map) for n in range(128)}
    report = ImportReport(format="midi")
    ignored = set()

    msgs = []  # (tick, track, index, msg) for notes; tempo changes separately
    tempos = []
    last_tick = 0
    for ti, track in enumerate(mid.tracks):
        tick = 0
        for k, msg in enumerate(track):
            tick += msg.time
            if msg.type in ("note_on", "note_off"):
                msgs.append((tick, ti, k, msg))
            elif msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
        last_tick = max(last_tick, tick)
    msgs.sort(key=lambda m: m[:3])
    clock = _Clock(mid, tempos, name)
    end = clock.samples(last_tick)
    _check_length(end, name)

    # Each voice holds a stack of the notes whose keys are down: [key, pitch, start, sounded].
    held = {v: [] for v in VOICES}
    out = []
    i = 0
    clock._k = 0
    while i < len(msgs):
        t = clock.samples(msgs[i][0])
        before = {}
        while i < len(msgs) and clock.samples(msgs[i][0]) == t:
            msg = msgs[i][3]
            i += 1
            voice = chan_voice[msg.channel]
            if voice is None:
                if msg.type == "note_on" and msg.velocity > 0:
                    report.ignored += 1
                    ignored.add(msg.channel + 1)
                continue
            stack = held[voice]
            if voice not in before:
                before[voice] = stack[-1] if stack else None
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                if voice == "NO":
                    pitch = noise[msg.note]
                    report.changed += not 35 <= msg.note <= 81 and msg.note not in (drum_map or {}).values()
                else:
                    lo, hi = PITCH_RANGE[voice]
                    pitch = _fold(msg.note, lo, hi)
                    report.changed += pitch != msg.note
                report.notes += 1
                for n in [n for n in stack if n[0] == key]:  # a key struck again restarts
                    stack.remove(n)
                    report.hidden += not n[3]
                stack.append([key, pitch, t, False])
            else:
                # As pretty_midi: a note-off ends the notes of its key begun earlier; if the only
                # ones were begun at this instant, they are dropped (zero length).
                mine = [n for n in stack if n[0] == key]
                earlier = [n for n in mine if n[2] != t]
                for n in (earlier or mine):
                    stack.remove(n)
                    report.hidden += not n[3]
        for voice, old in before.items():
            stack = held[voice]
            new = [n for n in stack if n[2] == t]
            if len(new) > 1:  # notes begun together: the voice's favourite goes on top
                rest = stack[:len(stack) - len(new)]
                sign = 1 if voice in ("P1", "P2") else -1
                stack[:] = rest + sorted(new, key=lambda n: sign * n[1])
            top = stack[-1] if stack else None
            if top is not old:
                out.append(NoteEvent(t, voice, None if top is None else top[1]))
                if top is not None:
                    top[3] = True
    for stack in held.values():
        report.hidden += sum(not n[3] for n in stack)
    report.ignored_channels = sorted(ignored)
    out.sort(key=lambda e: (e.time, VOICES.index(e.voice)))
    return normalize(Score(out, max(end, out[-1].time if out else 0))), report


# --- writing ------------------------------------------------------------------------------------

def _voice_messages(score, voice, channel, velocity, note_of, tick_of):
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


def to_nesmdb(score):
    """A Score as a NES-MDB MIDI file (mido.MidiFile): LakhNES reads it back to the same TX1."""
    score = normalize(score)
    mid = mido.MidiFile(type=1, ticks_per_beat=NESMDB_TICKS_PER_BEAT)
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=NESMDB_TEMPO, time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        mido.MetaMessage("time_signature", numerator=1, denominator=1, time=score.end),
        mido.MetaMessage("end_of_track", time=1),
    ]))
    for name, voice in NESMDB_TRACKS.items():
        ch = NESMDB_CHANNEL[voice]
        msgs, _ = _voice_messages(score, voice, ch, NESMDB_VELOCITY[voice], int, int)
        mid.tracks.append(mido.MidiTrack(
            [mido.MetaMessage("track_name", name=name, time=0),
             mido.Message("program_change", channel=ch, program=NESMDB_PROGRAM[voice], time=0)]
            + msgs + [mido.MetaMessage("end_of_track", time=1)]))
    return mid


def to_daw(score, drum_map=None, ticks_per_beat=DAW_TICKS_PER_BEAT, tempo=DAW_TEMPO, title=None):
    """A Score as a DAW-friendly MIDI file (mido.MidiFile), P1, P2, TR, NO on channels 1-4.

    The noise voice is written as drum notes: `drum_map` {noise value: note}, default NOISE_TO_DRUM.
    """
    score = normalize(score)
    drums = dict(NOISE_TO_DRUM)
    if drum_map:
        drums.update(drum_map)
    scale = ticks_per_beat * 1_000_000

    def tick_of(samples):
        return (2 * samples * scale + tempo * TICKS_PER_SECOND) // (2 * tempo * TICKS_PER_SECOND)

    end = tick_of(score.end)
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(mido.MidiTrack(
        ([mido.MetaMessage("track_name", name=title, time=0)] if title else [])
        + [mido.MetaMessage("set_tempo", tempo=tempo, time=0),
           mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
           mido.MetaMessage("end_of_track", time=end)]))
    for ch, voice in enumerate(VOICES):
        note_of = drums.__getitem__ if voice == "NO" else int
        msgs, last = _voice_messages(score, voice, ch, DAW_VELOCITY, note_of, tick_of)
        mid.tracks.append(mido.MidiTrack(
            [mido.MetaMessage("track_name", name=DAW_TRACK_NAMES[voice], time=0),
             mido.Message("program_change", channel=ch, program=DAW_PROGRAM[voice], time=0)]
            + msgs + [mido.MetaMessage("end_of_track", time=end - last)]))
    return mid


def to_bytes(mid):
    f = io.BytesIO()
    mid.save(file=f)
    return f.getvalue()


def write(path, score, nesmdb=False, drum_map=None):
    """Write a Score as DAW MIDI (default) or NES-MDB MIDI (`nesmdb=True`); atomic."""
    mid = to_nesmdb(score) if nesmdb else to_daw(score, drum_map)
    data = to_bytes(mid)
    with atomic_write(path) as f:
        f.write(data)
