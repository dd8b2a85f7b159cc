"""NES-MDB MIDI, read and written exactly: the NES Music Database's format (see the package's docstring)."""

import mido

from livechip.core.errors import FileFormatError
from livechip.core.events import PITCH_RANGE, VOICES, NoteEvent, Score, normalize
from livechip.formats.midi.smf import Clock, ImportReport, check_length, has_notes, timed, voice_messages

NESMDB_TICKS_PER_BEAT = 22050
NESMDB_TEMPO = 500000  # 120 bpm
NESMDB_TRACKS = {"p1": "P1", "p2": "P2", "tr": "TR", "no": "NO"}
NESMDB_CHANNEL = {"P1": 0, "P2": 1, "TR": 2, "NO": 9}
NESMDB_PROGRAM = {"P1": 80, "P2": 81, "TR": 38, "NO": 121}
NESMDB_VELOCITY = {"P1": 15, "P2": 15, "TR": 1, "NO": 15}  # full volume; the triangle has none


def is_nesmdb(mid):
    """True for a file in NES-MDB's layout: every track with notes is named p1, p2, tr or no."""
    names = [t.name for t in mid.tracks]
    return (mid.type == 1 and any(n in NESMDB_TRACKS for n in names)
            and all(n in NESMDB_TRACKS or not has_notes(t) for t, n in zip(mid.tracks, names)))


def read_nesmdb(mid, name):
    """NES-MDB MIDI -> Score, the way LakhNES's midi_to_tx1 reads it (through pretty_midi)."""
    tempos = [(tick, msg.tempo) for tick, msg in timed(mid.tracks[0]) if msg.type == "set_tempo"]
    ends = [tick for track in mid.tracks for tick, msg in timed(track) if msg.type == "time_signature"]
    clock = Clock(mid, tempos, name)
    report = ImportReport(format="nesmdb")
    by_time = {}  # sample -> events, appended in voice order
    order = {v: k for k, v in enumerate(VOICES)}
    tracks = sorted((t for t in mid.tracks if t.name in NESMDB_TRACKS),
                    key=lambda t: order[NESMDB_TRACKS[t.name]])
    last_tick = 0
    for track in tracks:
        notes, tick = _notes(track)
        last_tick = max(last_tick, tick)
        report.notes += len(notes)
        _place(by_time, NESMDB_TRACKS[track.name], notes, clock, name, track.name)
    events = [e for t in sorted(by_time) for e in by_time[t]]
    end = clock.samples(max(ends), True) if ends else clock.samples(last_tick, True)
    if events:
        end = max(end, events[-1].time)
    check_length(end, name)
    return Score(events, end), report


def _notes(track):
    """([(start tick, end tick, pitch)] by start, last tick) of a track, paired as pretty_midi pairs them."""
    notes = []  # in the order they close, as pretty_midi lists them
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
    notes.sort(key=lambda n: n[0])
    return notes, tick


def _place(by_time, voice, notes, clock, name, track):
    """Add one voice's notes to `by_time` (sample -> events) as note events, each note ending the one before."""
    lo, hi = PITCH_RANGE[voice]
    last_end = -1
    for s, e, p in notes:
        if not lo <= p <= hi:
            raise FileFormatError(name, f"{voice} note {p} outside NES-MDB's range {lo}-{hi}", f"track {track!r}")
        s, e = clock.samples(s, True), clock.samples(e, True)
        if 0 <= last_end < s:
            by_time.setdefault(last_end, []).append(NoteEvent(last_end, voice, None))
        by_time.setdefault(s, []).append(NoteEvent(s, voice, p))
        last_end = e  # a note begun before the last one ended replaces it
    if notes:
        by_time.setdefault(last_end, []).append(NoteEvent(last_end, voice, None))


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
        msgs, _ = voice_messages(score, voice, ch, NESMDB_VELOCITY[voice], int, int)
        mid.tracks.append(mido.MidiTrack(
            [mido.MetaMessage("track_name", name=name, time=0),
             mido.Message("program_change", channel=ch, program=NESMDB_PROGRAM[voice], time=0)]
            + msgs + [mido.MetaMessage("end_of_track", time=1)]))
    return mid
