"""MIDI files: NES-MDB exactly, any General MIDI song onto four voices, and DAW MIDI out."""

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechip.core import events as ev
from livechip.formats import tx1
from livechip.core.events import NoteEvent, Score
from livechip.formats import midi
from tests.files_helpers import midi_bytes, off, on, token_lists


def _reread(mid, **kw):
    """Save a mido.MidiFile to bytes and read it back: (Score, ImportReport)."""
    return midi.to_score(midi.parse(midi.to_bytes(mid)), **kw)


def _round_trip(score, nesmdb=True, drum_map=None):
    if nesmdb:
        return _reread(midi.to_nesmdb(score))
    return _reread(midi.to_daw(score, drum_map=drum_map), drum_map=drum_map)


def test_nesmdb_examples_read_as_lakhnes_reads_them(shared):
    ex = shared / "data" / "examples"
    for mid in sorted(ex.glob("*.mid")):
        score, report = midi.read_report(mid)
        assert report.format == "nesmdb"
        assert tx1.dumps(score) == (ex / (mid.stem + ".tx1.txt")).read_text(), mid.name


def test_nesmdb_file_layout(shared):
    score = tx1.read(shared / "data" / "examples" / "202_LawnMower_02_03LevelClear.tx1.txt")
    mid = midi.to_nesmdb(score)
    assert mid.type == 1 and mid.ticks_per_beat == 22050
    assert [t.name for t in mid.tracks] == ["", "p1", "p2", "tr", "no"]
    conductor = list(mid.tracks[0])
    assert conductor[0].type == "set_tempo" and conductor[0].tempo == 500000
    sigs = [m for m in conductor if m.type == "time_signature"]
    assert (sigs[-1].numerator, sigs[-1].denominator) == (1, 1)
    assert sum(m.time for m in conductor[:3]) == score.end  # the end mark sits at the song's last sample
    channels = {t.name: {m.channel for m in t if m.type == "note_on"} for t in mid.tracks[1:]}
    assert channels == {"p1": {0}, "p2": {1}, "tr": {2}, "no": {9}}
    vel = {t.name: {m.velocity for m in t if m.type == "note_on"} - {0} for t in mid.tracks[1:]}
    assert vel == {"p1": {15}, "p2": {15}, "tr": {1}, "no": {15}}
    assert _reread(mid)[0] == score


def test_nesmdb_examples_round_trip_through_midi(shared):
    for path in sorted((shared / "data" / "examples").glob("*.tx1.txt")):
        score = tx1.read(path)
        back, _ = _round_trip(score)
        assert tx1.dumps(back) == path.read_text(), path.name


def test_general_midi_song_onto_four_voices(tmp_path):
    """Chords, drums, unmapped channels and notes out of range, with the result spelled out.

    441 ticks per beat at 120 bpm: one tick is 50 samples."""
    tracks = [
        [mido.MetaMessage("set_tempo", tempo=500000), mido.MetaMessage("track_name", name="GM song")],
        # ch 1 -> P1: a C major chord (highest wins), G released (E, the newest held, takes over),
        # then a note above 108 (folded down an octave)
        [on(1, 60), on(1, 64), on(1, 67), off(1, 67, 100), off(1, 60, 100), off(1, 64),
         on(1, 120, 100), off(1, 120, 100), mido.MetaMessage("end_of_track", time=100)],
        # ch 2 -> P2: a note below 33 (folded up two octaves), a second note over it, released
        [on(2, 20), on(2, 50, 40), off(2, 50, 20), off(2, 20, 40)],
        # ch 3 -> TR: a low note folded up; then a two-note chord (lowest wins)
        [on(3, 12), off(3, 12, 100), on(3, 52), on(3, 40), off(3, 40, 100), off(3, 52)],
        # ch 10 -> NO: kick + closed hi-hat together (lowest noise wins), snare, a note off the drum map
        [on(10, 36), on(10, 42), off(10, 36, 50), off(10, 42), on(10, 38, 50), off(10, 38, 50),
         on(10, 27, 50), off(10, 27, 50)],
        # ch 4 -> NO through the same drum map (70 = maracas)
        [on(4, 70, 300), off(4, 70, 50)],
        # ch 5 is not in the channel map
        [on(5, 60), off(5, 60, 200)],
    ]
    path = tmp_path / "gm.mid"
    path.write_bytes(midi_bytes(tracks, ticks_per_beat=441))
    score, report = midi.read_report(path)
    E = NoteEvent
    assert score == Score([
        E(0, "P1", 67), E(0, "P2", 44), E(0, "TR", 24), E(0, "NO", 2),
        E(2000, "P2", 50),
        E(2500, "NO", None),
        E(3000, "P2", 44),
        E(5000, "P1", 64), E(5000, "P2", None), E(5000, "TR", 40), E(5000, "NO", 9),
        E(7500, "NO", None),
        E(10000, "P1", None), E(10000, "TR", None), E(10000, "NO", 1),
        E(12500, "NO", None),
        E(15000, "P1", 108), E(15000, "NO", 16),
        E(17500, "NO", None),
        E(20000, "P1", None),
    ], 25000)
    assert report.format == "midi"
    assert (report.notes, report.changed, report.hidden, report.ignored) == (14, 4, 3, 1)
    assert report.ignored_channels == [5]


def test_channel_map_and_drum_map_can_be_chosen(tmp_path):
    path = tmp_path / "two.mid"
    path.write_bytes(midi_bytes([[on(7, 60), off(7, 60, 441), on(9, 80), off(9, 80, 441)]], ticks_per_beat=441))
    score = midi.read(path, channel_map={7: "TR", 9: "NO"}, drum_map={5: 80})
    assert score.events == [NoteEvent(0, "TR", 60), NoteEvent(22050, "TR", None),
                            NoteEvent(22050, "NO", 5), NoteEvent(44100, "NO", None)]
    assert midi.read(path).events == []  # channels 7 and 9 are not in the default map


def test_tempo_changes_are_followed(tmp_path):
    path = tmp_path / "tempo.mid"
    path.write_bytes(midi_bytes([[mido.MetaMessage("set_tempo", tempo=500000), on(1, 60),
                                  mido.MetaMessage("set_tempo", tempo=1000000, time=480),
                                  off(1, 60, 480)]], ticks_per_beat=480))
    assert midi.read(path).events == [NoteEvent(0, "P1", 60), NoteEvent(22050 + 44100, "P1", None)]


def test_daw_midi_layout():
    score = Score([NoteEvent(0, "P1", 60), NoteEvent(0, "NO", 16), NoteEvent(735, "NO", 1),
                   NoteEvent(1470, "P1", None), NoteEvent(1470, "NO", None)], 2205)
    mid = midi.to_daw(score)
    assert mid.type == 1 and mid.ticks_per_beat == 960
    assert [t.name for t in mid.tracks[1:]] == ["P1 pulse 1", "P2 pulse 2", "TR triangle", "NO noise"]
    assert [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"] == [500000]
    notes = [(i, m.channel, m.note, m.velocity) for i, t in enumerate(mid.tracks) for m in t if m.type == "note_on"]
    # noise 16 -> closed hi-hat 42, noise 1 -> acoustic bass drum 35, on channel 4 (index 3)
    assert notes == [(1, 0, 60, 100), (1, 0, 60, 0), (4, 3, 42, 100), (4, 3, 42, 0), (4, 3, 35, 100),
                     (4, 3, 35, 0)]
    assert [sum(m.time for m in t) for t in mid.tracks] == [96] * 5  # 2205 samples = 3 frames = 96 ticks
    assert _reread(mid)[0] == score


def test_daw_drum_map_is_used_both_ways():
    score = Score([NoteEvent(0, "NO", 7), NoteEvent(735, "NO", None)], 735)
    mid = midi.to_daw(score, drum_map={7: 76})
    assert [m.note for m in mid.tracks[4] if m.type == "note_on"] == [76, 76]
    assert _reread(mid, drum_map={7: 76})[0] == score


def _midi_round_trip_tokens(ids):
    score = ev.tokens_to_score(ids)
    back, _ = _round_trip(score)
    assert back == ev.normalize(score)
    return ev.score_to_tokens(back)


@settings(max_examples=150, deadline=None)
@given(token_lists())
def test_tokens_score_midi_score_tokens_is_identity_after_quantization(ids):
    expected = ev.score_to_tokens(ev.normalize(ev.tokens_to_score(ids)))
    assert _midi_round_trip_tokens(ids) == expected
    assert _midi_round_trip_tokens(expected) == expected  # a plain token list comes back unchanged


@st.composite
def frame_scores(draw):
    """Scores whose events fall on NES frames (735 samples), the DAW file's exact grid."""
    events = []
    t = 0
    for _ in range(draw(st.integers(0, 30))):
        t += 735 * draw(st.integers(0, 40))
        voice = draw(st.sampled_from(ev.VOICES))
        lo, hi = ev.PITCH_RANGE[voice]
        events.append(NoteEvent(t, voice, draw(st.none() | st.integers(lo, hi))))
    return Score(sorted(events, key=ev.event_order), t + 735 * draw(st.integers(0, 5)))


@settings(max_examples=100, deadline=None)
@given(frame_scores())
def test_daw_midi_round_trip_on_the_frame_grid(score):
    back, report = _round_trip(score, nesmdb=False)
    assert back == ev.normalize(score)
    assert report.changed == 0 and report.ignored == 0


def test_mido_errors_become_file_format_errors():
    from livechip.core.errors import FileFormatError
    with pytest.raises(FileFormatError, match=r"x\.mid \(near byte \d+\): corrupt MIDI data"):
        midi.parse(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\x3c\x40\x00", "x.mid")
    with pytest.raises(FileFormatError, match=r"y\.mid \(byte \d+\): truncated"):
        midi.parse(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0", "y.mid")


def test_parse_reads_bytes_without_a_file():
    data = midi_bytes([[on(1, 60), off(1, 60, 480)]])
    score, report = midi.to_score(midi.parse(data))
    assert score.events == [NoteEvent(0, "P1", 60), NoteEvent(22050, "P1", None)] and report.notes == 1
