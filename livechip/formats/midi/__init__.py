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

    from livechip.formats import midi

    score = midi.read("song.mid")                 # any of them; NES-MDB is recognised
    midi.write("song.mid", score)                 # DAW MIDI
    midi.write("song.mid", score, nesmdb=True)    # NES-MDB MIDI

One module each: `nesmdb.py`, `general.py` (any MIDI in), `daw.py` (DAW MIDI out, `write`), and `smf.py`, the
file layer they share (parsing with limits, tempo maps, the import report). Only mido is imported here.
"""

from livechip.formats.midi.daw import DAW_PROGRAM, to_daw, write
from livechip.formats.midi.general import DEFAULT_CHANNEL_MAP, DRUM_TO_NOISE, NOISE_TO_DRUM, noise_of_drum, read, read_report, to_score
from livechip.formats.midi.nesmdb import is_nesmdb, to_nesmdb
from livechip.formats.midi.smf import ImportReport, parse, to_bytes

__all__ = ["DAW_PROGRAM", "DEFAULT_CHANNEL_MAP", "DRUM_TO_NOISE", "ImportReport", "NOISE_TO_DRUM", "is_nesmdb",
           "noise_of_drum", "parse", "read", "read_report", "to_bytes", "to_daw", "to_nesmdb", "to_score", "write"]
