"""The training data: songs as token ids framed like LakhNES, the paper's augmentations, and batches."""

import gzip

import numpy as np
import pytest
import torch

from livechip.core import events
from livechip.formats import tx1
from livechip.core.events import START, VOICES
from livechip.model import data

KIRBY = "191_Kirby_sAdventure_02_03PlainsLevel"       # all four voices, 95.8 s
GOLGO = "145_Golgo13_TopSecretEpisode_01_02Opening"   # triangle and noise only
LAWN = "202_LawnMower_02_03LevelClear"                # 2.7 s, all four voices


@pytest.fixture(scope="module")
def examples(shared):
    return shared / "data" / "examples"


def song(examples, name):
    return data.song_from_score(tx1.read(examples / f"{name}.tx1.txt"), name)


def notes(s, voice):
    """(time, pitch) of the NOTEONs of one voice."""
    k = VOICES.index(voice)
    m = (s.voice == k) & (s.pitch >= 0)
    return list(zip(s.time[m].tolist(), s.pitch[m].tolist()))


# --- token ids ---------------------------------------------------------------------------------

def test_tokens_are_lakhnes_framing_of_the_file(examples):
    score = tx1.read(examples / f"{KIRBY}.tx1.txt")
    ids = data.tokens(data.song_from_score(score))
    full = events.score_to_tokens(score, framed=True)     # <S> WT_240 P1_NOTEON_67 ... <S>
    # LakhNES drops the wait before the first event and after the last, and keeps the <S> at both ends
    assert events.token_text(full[1]) == "WT_240" and events.token_text(full[2]) == "P1_NOTEON_67"
    inner = full[2:-1]
    if events.is_wait(inner[-1]):
        inner = inner[:-1]
    assert ids.tolist() == [START] + inner + [START]
    assert ids[0] == START and ids[-1] == START and START not in ids[1:-1].tolist()


def test_the_same_song_from_tx1_gzip_and_nesmdb_midi_gives_the_same_tokens(examples, tmp_path):
    text = (examples / f"{LAWN}.tx1.txt").read_bytes()
    (tmp_path / "a.tx1.txt.gz").write_bytes(gzip.compress(text))
    (tmp_path / "b.mid").write_bytes((examples / f"{LAWN}.mid").read_bytes())
    (tmp_path / "c.tx1.txt").write_bytes(text)
    songs = data.load_songs(tmp_path)
    assert [s.name for s in songs] == ["a.tx1.txt.gz", "b.mid", "c.tx1.txt"]
    ids = [data.tokens(s).tolist() for s in songs]
    assert ids[0] == ids[1] == ids[2]


def test_a_folder_without_music_is_a_clear_error(tmp_path):
    (tmp_path / "notes.md").write_text("hi")
    with pytest.raises(Exception, match="no .tx1.txt"):
        data.load_songs(tmp_path)


# --- augmentations, each on a known song --------------------------------------------------------

def test_transpose_moves_melodic_voices_and_leaves_the_noise(examples):
    s = song(examples, KIRBY)
    up = data.transpose(s, 3)
    for v in ("P1", "P2", "TR"):
        before, after = notes(s, v), notes(up, v)
        assert after == [(t, p + 3) for t, p in before if p + 3 <= events.PITCH_RANGE[v][1]]
    assert notes(up, "NO") == notes(s, "NO")
    assert up.end == s.end


def test_transpose_drops_notes_that_leave_the_range_as_lakhnes(examples):
    s = song(examples, GOLGO)                       # a bass line on the triangle
    lowest = min(p for _, p in notes(s, "TR"))
    k = 21 - lowest - 1                             # push the lowest notes just below TR's range (21)
    down = data.transpose(s, k)
    kept = [(t, p + k) for t, p in notes(s, "TR") if p + k >= 21]
    assert notes(down, "TR") == kept
    assert len(kept) < len(notes(s, "TR"))          # some notes were dropped, not folded
    # NOTEOFFs stay: the dropped NOTEON's predecessor keeps sounding, as LakhNES's tx1_transpose leaves it
    off = lambda x: int(((x.voice == 2) & (x.pitch < 0)).sum())
    assert off(down) == off(s)


def test_stretch_changes_speed_by_rescaling_every_time(examples):
    s = song(examples, KIRBY)
    fast = data.stretch(s, 1.05)
    assert len(fast) == len(s)
    assert np.array_equal(np.sort(fast.time), np.sort(np.rint(s.time / 1.05).astype(np.int64)))
    assert fast.end == round(s.end / 1.05)
    slow = data.stretch(s, 0.95)
    assert slow.time.max() == round(s.time.max() / 0.95)
    # same music: each voice plays the same pitches in the same order
    for v in VOICES:
        assert [p for _, p in notes(fast, v)] == [p for _, p in notes(s, v)]


def test_dropping_voices_keeps_only_the_chosen_ones(examples):
    s = song(examples, KIRBY)
    kept = data.keep_voices(s, ["P2", "NO"])
    assert data.voices_present(kept) == [1, 3]
    assert notes(kept, "P2") == notes(s, "P2") and notes(kept, "NO") == notes(s, "NO")
    assert notes(kept, "P1") == [] and notes(kept, "TR") == []


def test_random_dropping_leaves_at_least_one_voice_and_never_all_four(examples):
    s = song(examples, KIRBY)
    cfg = data.AugmentConfig(transpose=(0, 0), speed=0, p_drop=1.0, p_shuffle=0)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(60):
        v = tuple(data.voices_present(data.augment(s, rng, cfg)))
        assert 1 <= len(v) <= 3
        seen.add(v)
    assert len(seen) > 8                            # many different subsets, singles to triples
    assert {len(v) for v in seen} == {1, 2, 3}


def test_swapping_pulses_exchanges_their_parts(examples):
    s = song(examples, KIRBY)
    sw = data.remap_voices(s, {"P1": "P2", "P2": "P1"})
    assert notes(sw, "P1") == notes(s, "P2") and notes(sw, "P2") == notes(s, "P1")
    assert notes(sw, "TR") == notes(s, "TR")


def test_shuffling_the_triangle_onto_a_pulse_drops_notes_below_the_pulse_range(examples):
    s = song(examples, GOLGO)
    moved = data.remap_voices(s, {"TR": "P1", "P1": "TR"})
    assert notes(moved, "P1") == [(t, p) for t, p in notes(s, "TR") if p >= 33]
    assert notes(moved, "TR") == []


def test_random_shuffle_permutes_melodic_parts_half_of_the_time(examples):
    s = song(examples, KIRBY)
    cfg = data.AugmentConfig(transpose=(0, 0), speed=0, p_drop=0, p_shuffle=0.5)
    rng = np.random.default_rng(2)
    same = 0
    for _ in range(100):
        a = data.augment(s, rng, cfg)
        assert notes(a, "NO") == notes(s, "NO")
        same += notes(a, "P1") == notes(s, "P1") and notes(a, "TR") == notes(s, "TR")
    assert 30 <= same <= 70


def test_random_transpose_covers_minus_6_to_plus_5(examples):
    s = song(examples, KIRBY)
    cfg = data.AugmentConfig(speed=0, p_drop=0, p_shuffle=0)
    rng = np.random.default_rng(3)
    first = notes(s, "P2")[0]
    shifts = {notes(data.augment(s, rng, cfg), "P2")[0][1] - first[1] for _ in range(200)}
    assert shifts == set(range(-6, 6))


# --- batches -----------------------------------------------------------------------------------

def test_batches_are_continuous_streams_of_whole_songs(examples):
    songs = [song(examples, n) for n in (KIRBY, GOLGO, LAWN)]
    b = data.Batches(songs, batch_size=2, tgt_len=64, augment=None, seed=0)
    xs, ys = zip(*[next(b) for _ in range(40)])
    for x, y in zip(xs, ys):
        assert x.shape == y.shape == (2, 64) and x.dtype == torch.int64
        assert torch.equal(x[:, 1:], y[:, :-1])
    for a, nxt in zip(ys, xs[1:]):                 # each segment continues the one before
        assert torch.equal(nxt[:, 0], a[:, -1])
    stream = torch.cat([xs[0][0, :1]] + [y[0] for y in ys]).tolist()
    assert stream[0] == START
    # songs follow each other with one <S> between them, each exactly as tokens() gives it
    bounds = [i for i, t in enumerate(stream) if t == START]
    by_len = {len(data.tokens(s)): data.tokens(s).tolist() for s in songs}
    for a, z in zip(bounds, bounds[1:]):
        piece = stream[a:z + 1]
        assert by_len[len(piece)] == piece


def test_augmented_batches_use_new_variants_each_epoch(examples):
    songs = [song(examples, LAWN)]
    b = data.Batches(songs, batch_size=1, tgt_len=32, augment=data.AugmentConfig(), seed=0)
    first = torch.cat([next(b)[0] for _ in range(30)], 1)[0].tolist()
    assert b.epoch > 3
    plain = data.tokens(songs[0]).tolist()
    pieces = " ".join(map(str, first)).split(" 0 ")
    assert len(set(pieces[1:-1])) > 1 and any(p != " ".join(map(str, plain[1:-1])) for p in pieces[1:-1])


def test_eval_stream_is_every_song_once_in_equal_rows(examples):
    songs = [song(examples, n) for n in (GOLGO, LAWN)]
    st = data.eval_stream(songs, 3)
    total = len(data.tokens(songs[0])) + len(data.tokens(songs[1])) - 1
    assert st.shape == (3, total // 3)
    flat = st.reshape(-1).tolist()
    assert flat == (data.tokens(songs[0]).tolist() + data.tokens(songs[1]).tolist()[1:])[:len(flat)]
