"""`livechip adapt`: ordinary band MIDI becomes several NES four-voice songs, as LakhNES prepared Lakh MIDI."""

import mido
import numpy as np
import pytest

from livechip.formats import adapt, tx1
from livechip.cli.main import main
from livechip.core.events import TICKS_PER_SECOND
from livechip.formats import midi
from livechip.model import data
from tests.train_helpers import band_midi

BEAT = TICKS_PER_SECOND // 2      # samples per beat at 120 bpm


@pytest.fixture
def band(tmp_path):
    return band_midi(tmp_path / "band.mid")


def ons(score, voice):
    return [(e.time, e.pitch) for e in score.events if e.voice == voice and e.pitch is not None]


def test_parts_are_split_by_instrument_with_exact_times(band):
    parts = adapt.read_parts(band)
    assert [(p.drum, len(p)) for p in parts] == [(False, 16), (False, 8), (False, 12), (True, 32)]
    melody = parts[0]
    assert melody.start.tolist() == [b * BEAT for b in range(16)]
    assert melody.end.tolist() == [round((b + 0.9) * BEAT) for b in range(16)]
    assert [adapt.is_monophonic(p) for p in parts[:3]] == [True, True, False]   # the pad plays chords


def test_tempo_is_followed(tmp_path):
    parts = adapt.read_parts(band_midi(tmp_path / "fast.mid", tempo=250000))   # 240 bpm
    assert parts[0].start[:3].tolist() == [0, BEAT // 2, BEAT]


def test_only_monophonic_non_duplicate_instruments_are_used(band):
    mid = mido.MidiFile(str(band))
    copy = mido.MidiTrack(m.copy(channel=4) if hasattr(m, "channel") else m.copy() for m in mid.tracks[1])
    mid.tracks.append(copy)                      # the melody again, on another channel
    mid.save(str(band))
    melodic = adapt.melodic_parts(adapt.read_parts(band))
    assert [p.name for p in melodic] == ["track 1 channel 1 program 80", "track 2 channel 2 program 33"]


def test_two_instruments_give_six_assignments_to_p1_p2_tr(band):
    scores = adapt.adapt_file(band, np.random.default_rng(0), noise="gm")
    assert len(scores) == 6
    melody = [(b * BEAT, [72, 74, 76, 77, 79, 77, 76, 74][b % 8]) for b in range(16)]
    bass = [(b * BEAT, 28 + (b // 2) % 3 * 5) for b in range(0, 16, 2)]
    layouts = set()
    for s in scores:
        who = {}
        for v in ("P1", "P2", "TR"):
            notes = ons(s, v)
            if notes == melody:
                who[v] = "melody"
            elif notes == bass:                                       # on the triangle: every note
                who[v] = "bass"
                assert v == "TR"
            elif notes == [n for n in bass if n[1] >= 33]:            # on a pulse: the 28s are dropped
                who[v] = "bass"
                assert v in ("P1", "P2")
            else:
                assert notes == []
        layouts.add(tuple(sorted(who.items())))
        assert sorted(who.values()) == ["bass", "melody"]
    assert len(layouts) == 6                     # every ordered choice, once


def test_drums_go_to_the_noise_one_hit_at_a_time(band):
    gm = adapt.adapt_file(band, np.random.default_rng(0), noise="gm")[0]
    hits = ons(gm, "NO")
    kick, snare, hat = (midi.noise_of_drum(n) for n in (36, 38, 42))
    want = sorted([(b * BEAT, kick if b % 2 == 0 else snare) for b in range(16)]
                  + [(b * BEAT + BEAT // 2, hat) for b in range(16)])
    assert hits == want
    # the random map of LakhNES: one noise value per drum sound within a song, not the same for all songs
    values = set()
    for s in adapt.adapt_file(band, np.random.default_rng(1), noise="random"):
        by_beat = ons(s, "NO")
        kicks = {p for t, p in by_beat if t % (2 * BEAT) == 0}
        assert len(kicks) == 1 and all(1 <= p <= 16 for _, p in by_beat)
        values |= kicks
    assert len(values) > 1


def test_long_songs_are_clipped_and_short_ones_skipped(band):
    rng = np.random.default_rng(0)
    clipped = adapt.adapt_file(band, rng, clip_seconds=3.0)
    for s in clipped:
        assert s.end <= 3 * TICKS_PER_SECOND
        assert all(e.time <= 3 * TICKS_PER_SECOND for e in s.events)
    assert adapt.adapt_file(band, rng, min_seconds=10.0) == []    # the band plays 8 s


def test_adapt_command_writes_training_data(tmp_path, capsys):
    src = tmp_path / "midi"
    (src / "sub").mkdir(parents=True)
    band_midi(src / "a.mid")
    band_midi(src / "sub" / "b.mid", bars=6)
    (src / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    out = tmp_path / "nes"
    assert main(["adapt", str(src), "-o", str(out), "--per-song", "4", "-q"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 8 and written[0] == "a_000.tx1.txt.gz"
    line = capsys.readouterr().out
    assert "8 NES songs from 2 of 3 MIDI files" in line and "1 unreadable" in line
    songs = data.load_songs(out)                 # what `livechip train` reads
    assert len(songs) == 8 and all(len(data.tokens(s)) > 50 for s in songs)
    assert tx1.read(out / "a_000.tx1.txt.gz").end > 7 * TICKS_PER_SECOND


def test_adapt_of_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["adapt", str(tmp_path / "nope"), "-o", str(tmp_path / "out")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_overlapping_drum_hits_keep_the_earlier_one_until_it_ends():
    lead = adapt.Part("lead", False, np.array([0]), np.array([4 * BEAT]), np.array([72]))
    # a crash (49) rings for two beats over a hi-hat and a snare; the kick at beat 2 comes after it
    drums = adapt.Part("drums", True, np.array([0, BEAT // 2, BEAT, 2 * BEAT]),
                       np.array([2 * BEAT, BEAT // 2 + 100, BEAT + 100, 2 * BEAT + 100]), np.array([49, 42, 38, 36]))
    s = adapt.adapt_parts([lead, drums], np.random.default_rng(0), noise="gm")[0]
    assert ons(s, "NO") == [(0, midi.noise_of_drum(49)), (2 * BEAT, midi.noise_of_drum(36))]
