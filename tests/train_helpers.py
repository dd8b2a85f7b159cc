"""Helpers for the training, data and adapt tests: small real files written with mido."""

from pathlib import Path

import mido


def band_midi(path: Path, tpb=480, tempo=500000, bars=4):
    """A small band as an ordinary MIDI file, 120 bpm by default:
    - a monophonic melody (program 80, channel 1), one note per beat, pitches 72-79;
    - a monophonic bass (program 33, channel 2), every 2 beats, pitches 28, 33, 38 (28 is below the pulses);
    - a chord pad (program 0, channel 3), polyphonic;
    - drums (channel 10): kick 36 and snare 38 on alternate beats, closed hi-hat 42 on the off-beats."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    mid.tracks.append(conductor)

    def track(channel, program, notes):
        """notes: (start beat, length in beats, pitch) -> a track with delta times."""
        msgs = [(round(s * tpb), 1, mido.Message("note_on", channel=channel, note=p, velocity=100))
                for s, d, p in notes]
        msgs += [(round((s + d) * tpb), 0, mido.Message("note_off", channel=channel, note=p, velocity=0))
                 for s, d, p in notes]
        msgs.sort(key=lambda m: (m[0], m[1]))
        t = mido.MidiTrack([mido.Message("program_change", channel=channel, program=program, time=0)])
        last = 0
        for tick, _, m in msgs:
            t.append(m.copy(time=tick - last))
            last = tick
        mid.tracks.append(t)

    beats = 4 * bars
    melody = [72, 74, 76, 77, 79, 77, 76, 74]
    track(0, 80, [(b, 0.9, melody[b % 8]) for b in range(beats)])
    track(1, 33, [(b, 1.8, 28 + (b // 2) % 3 * 5) for b in range(0, beats, 2)])
    track(2, 0, [(b, 3.5, p) for b in range(0, beats, 4) for p in (60, 64, 67)])
    drums = [(b, 0.1, 36 if b % 2 == 0 else 38) for b in range(beats)] + \
            [(b + 0.5, 0.1, 42) for b in range(beats)]
    track(9, 0, drums)
    mid.save(str(path))
    return path
