"""DAW MIDI out: what a producer drags into a sequencer (see the package's docstring), and `write`."""

import mido

from livechip.core.events import TICKS_PER_SECOND, VOICES, normalize
from livechip.core.fileio import atomic_write
from livechip.formats.midi.general import NOISE_TO_DRUM
from livechip.formats.midi.nesmdb import to_nesmdb
from livechip.formats.midi.smf import to_bytes, voice_messages

DAW_TICKS_PER_BEAT = 960
DAW_TEMPO = 500000  # 120 bpm
DAW_TRACK_NAMES = {"P1": "P1 pulse 1", "P2": "P2 pulse 2", "TR": "TR triangle", "NO": "NO noise"}
DAW_PROGRAM = {"P1": 80, "P2": 80, "TR": 38, "NO": 118}  # square lead, square lead, synth bass, synth drum
DAW_VELOCITY = 100


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
        msgs, last = voice_messages(score, voice, ch, DAW_VELOCITY, note_of, tick_of)
        mid.tracks.append(mido.MidiTrack(
            [mido.MetaMessage("track_name", name=DAW_TRACK_NAMES[voice], time=0),
             mido.Message("program_change", channel=ch, program=DAW_PROGRAM[voice], time=0)]
            + msgs + [mido.MetaMessage("end_of_track", time=end - last)]))
    return mid


def write(path, score, nesmdb=False, drum_map=None):
    """Write a Score as DAW MIDI (default) or NES-MDB MIDI (`nesmdb=True`); atomic."""
    mid = to_nesmdb(score) if nesmdb else to_daw(score, drum_map)
    data = to_bytes(mid)
    with atomic_write(path) as f:
        f.write(data)
