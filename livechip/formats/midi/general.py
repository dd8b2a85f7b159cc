"""Any MIDI file in: NES-MDB files are recognised and read exactly (nesmdb.py); any other goes to the four
voices through a channel map and, for the noise, a drum map, one note at a time per voice."""

import itertools

from livechip.core.events import PITCH_RANGE, VOICES, NoteEvent, Score, normalize
from livechip.formats.midi.nesmdb import is_nesmdb, read_nesmdb
from livechip.formats.midi.smf import Clock, ImportReport, check_length, open_file

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
    return to_score(open_file(path), path, channel_map, drum_map)


def to_score(mid, name="<midi>", channel_map=None, drum_map=None):
    """A parsed mido.MidiFile -> (Score, ImportReport), as `read_report` describes; `name` is for errors."""
    if is_nesmdb(mid):
        return read_nesmdb(mid, name)
    return read_general(mid, name, channel_map, drum_map)


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


def read_general(mid, name, channel_map, drum_map):
    cmap = DEFAULT_CHANNEL_MAP if channel_map is None else channel_map
    notes, tempos, last_tick = _notes_and_tempos(mid)
    clock = Clock(mid, tempos, name)
    end = clock.samples(last_tick)
    check_length(end, name)
    clock._k = 0
    voices = _Voices([cmap.get(c + 1) for c in range(16)], drum_map)
    for t, group in itertools.groupby(notes, key=lambda m: clock.samples(m[0])):
        voices.play(t, [m[3] for m in group])
    return voices.score(end)


def _notes_and_tempos(mid):
    """([(tick, track, index, msg) of the note messages, in time order], [(tick, tempo)], last tick)."""
    notes = []
    tempos = []
    last_tick = 0
    for ti, track in enumerate(mid.tracks):
        tick = 0
        for k, msg in enumerate(track):
            tick += msg.time
            if msg.type in ("note_on", "note_off"):
                notes.append((tick, ti, k, msg))
            elif msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
        last_tick = max(last_tick, tick)
    notes.sort(key=lambda m: m[:3])
    return notes, tempos, last_tick


class _Voices:
    """The four voices playing a MIDI file one note at a time. Each holds a stack of the notes whose keys are
    down, [key, pitch, start, sounded], and sounds the one on top."""

    def __init__(self, chan_voice, drum_map):
        self.chan_voice = chan_voice
        self.drum_map = drum_map
        self.noise = {n: noise_of_drum(n, drum_map) for n in range(128)}
        self.held = {v: [] for v in VOICES}
        self.out = []
        self.report = ImportReport(format="midi")
        self.ignored = set()

    def play(self, t, msgs):
        """The note messages at sample `t`, then a note event for each voice whose top note changed."""
        before = {}
        for msg in msgs:
            voice = self.chan_voice[msg.channel]
            on = msg.type == "note_on" and msg.velocity > 0
            if voice is None:
                if on:
                    self.report.ignored += 1
                    self.ignored.add(msg.channel + 1)
                continue
            stack = self.held[voice]
            if voice not in before:
                before[voice] = stack[-1] if stack else None
            if on:
                self._strike(stack, voice, msg, t)
            else:
                self._release(stack, (msg.channel, msg.note), t)
        for voice, old in before.items():
            self._sound(voice, old, t)

    def _strike(self, stack, voice, msg, t):
        key = (msg.channel, msg.note)
        if voice == "NO":
            pitch = self.noise[msg.note]
            self.report.changed += not 35 <= msg.note <= 81 and msg.note not in (self.drum_map or {}).values()
        else:
            lo, hi = PITCH_RANGE[voice]
            pitch = _fold(msg.note, lo, hi)
            self.report.changed += pitch != msg.note
        self.report.notes += 1
        for n in [n for n in stack if n[0] == key]:  # a key struck again restarts
            stack.remove(n)
            self.report.hidden += not n[3]
        stack.append([key, pitch, t, False])

    def _release(self, stack, key, t):
        # As pretty_midi: a note-off ends the notes of its key begun earlier; if the only
        # ones were begun at this instant, they are dropped (zero length).
        mine = [n for n in stack if n[0] == key]
        earlier = [n for n in mine if n[2] != t]
        for n in (earlier or mine):
            stack.remove(n)
            self.report.hidden += not n[3]

    def _sound(self, voice, old, t):
        stack = self.held[voice]
        new = [n for n in stack if n[2] == t]
        if len(new) > 1:  # notes begun together: the voice's favourite goes on top
            rest = stack[:len(stack) - len(new)]
            sign = 1 if voice in ("P1", "P2") else -1
            stack[:] = rest + sorted(new, key=lambda n: sign * n[1])
        top = stack[-1] if stack else None
        if top is not old:
            self.out.append(NoteEvent(t, voice, None if top is None else top[1]))
            if top is not None:
                top[3] = True

    def score(self, end):
        """(Score, ImportReport) of what was played; notes still held that never sounded count as hidden."""
        for stack in self.held.values():
            self.report.hidden += sum(not n[3] for n in stack)
        self.report.ignored_channels = sorted(self.ignored)
        out = sorted(self.out, key=lambda e: (e.time, VOICES.index(e.voice)))
        return normalize(Score(out, max(end, out[-1].time if out else 0))), self.report
