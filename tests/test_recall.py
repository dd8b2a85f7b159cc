"""Recall: the counts of the pitch classes and noise values heard that lean the next note towards them."""

import math

import numpy as np
import pytest
import torch

from livechip.core import events as ev
from livechip.model.recall import IOI_BIN, IOI_BINS, IOI_PRIOR, NES_INTERVALS, WINDOW, Recall, intervals
from livechip.model.sampling import SamplingSettings
from livechip.model.stream import Stream
from tests.txl_helpers import random_model

on = ev.note_token
TICKS = range(0, 10**9, 4410)    # heard tokens 100 ms apart


def kinds(p):
    """Probability of each kind of token: each voice's note-ons, the rest."""
    ids = range(ev.N_TOKENS)
    out = [sum(float(p[i]) for i in ids if ev.is_note_on(i) and ev.voice_of(i) == v) for v in ev.VOICES]
    return np.array(out + [1 - sum(out)])


def test_strength_0_is_the_network_alone():
    r = Recall(64)
    r.add([on("P1", 60)] * 5, 0, TICKS)
    logits = torch.randn(ev.N_TOKENS)
    assert r.apply(logits, 0.0) is logits


def test_it_chooses_which_note_never_whether_and_by_the_counts():
    r = Recall(64)
    c, e = on("P1", 60), on("P2", 64)     # pitch classes C (3 times) and E (once, on another voice)
    w = ev.token_id("WT_30")
    r.add([c, c, on("TR", 48), e, w, w, ev.note_token("P1", None), on("NO", 5), on("NO", 5)], 0, TICKS)
    torch.manual_seed(0)
    logits = torch.randn(ev.N_TOKENS)
    for strength in (0.5, 1.0, 2.0):
        new = r.apply(logits, strength)
        p0, p1 = torch.softmax(logits, 0), torch.softmax(new, 0)
        assert np.allclose(kinds(p0), kinds(p1), atol=1e-6)
        # within P1's note-ons: C heard 3 times (+1 smoothing) against D never heard (0 + 1)
        d = on("P1", 62)
        gain = (p1[c] / p0[c]) / (p1[d] / p0[d])
        assert math.isclose(float(gain), 4.0 ** strength, rel_tol=1e-4)
        # the pitch class is shared by the voices: TR's C gains on TR's D just as much
        gain_tr = (p1[on("TR", 60)] / p0[on("TR", 60)]) / (p1[on("TR", 62)] / p0[on("TR", 62)])
        assert math.isclose(float(gain_tr), 4.0 ** strength, rel_tol=1e-4)
        # a noise value heard twice against one never heard
        gn = (p1[on("NO", 5)] / p0[on("NO", 5)]) / (p1[on("NO", 6)] / p0[on("NO", 6)])
        assert math.isclose(float(gn), 3.0 ** strength, rel_tol=1e-4)
        # waits, note-offs and <S> keep their odds against each other
        rest = [w, w + 1, ev.note_token("P2", None), ev.START]
        assert np.allclose((p1[rest] / p1[w]).numpy(), (p0[rest] / p0[w]).numpy(), rtol=1e-5)


def test_banned_tokens_stay_banned_and_a_kind_wholly_banned_stays_so():
    r = Recall(64)
    r.add([on("P1", 60)] * 4, 0, TICKS)
    logits = torch.randn(ev.N_TOKENS)
    p1_ids = [i for i in range(ev.N_TOKENS) if ev.voice_of(i) == "P1"]
    logits[p1_ids] = -math.inf
    new = r.apply(logits, 1.0)
    assert torch.isneginf(new[p1_ids]).all()
    assert torch.isfinite(new[[i for i in range(ev.N_TOKENS) if i not in p1_ids]]).all()


def test_the_window_counts_only_the_latest_and_a_revoke_forgets_what_follows_its_position():
    r = Recall(3)
    r.add([on("P1", 60), on("P1", 62), ev.note_token("P1", None), on("P1", 64), on("P1", 65)], 10, TICKS)
    fresh = Recall(3)
    fresh.add([on("P1", 62), on("P1", 64), on("P1", 65)], 0, TICKS)
    assert np.array_equal(r.counts, fresh.counts)      # note-offs are not counted, so not in the window
    r.revoke(13)                                       # positions 13 (P1 64) and 14 (P1 65) taken back
    fresh = Recall(3)
    fresh.add([on("P1", 62)], 0, TICKS)
    assert np.array_equal(r.counts, fresh.counts)


def test_a_stream_recalls_what_it_heard_not_what_it_chose():
    """The primer and appended notes are counted (the last window of them, 64 here); the model's own tokens are
    not (they would feed back: a note it repeats would become ever more likely); a revoke forgets appended
    notes after its tick."""
    model = random_model(seed=3).eval()
    counted = lambda toks: [t for t in toks if ev.is_note_on(t)]   # noqa: E731
    primer = [on("P1", 60 + k % 12) if k % 2 else ev.token_id("WT_30") for k in range(200)]
    with torch.inference_mode():
        s = Stream(model, SamplingSettings(seed=1, recall=1.0), max_rollback=4096, mem_len=64)
        assert s.recall.window == WINDOW
        s.recall = Recall(64)                               # a short window, to see it slide
        s.prime(primer)
        expect = Recall(10**6)
        expect.add(counted(primer)[-64:], 0, TICKS)
        assert np.array_equal(s.recall.counts, expect.counts)
        s.generate_until(s.frontier + ev.TICKS_PER_SECOND, max_tokens=200)
        assert np.array_equal(s.recall.counts, expect.counts)
        t = s.frontier + 100
        s.append([ev.NoteEvent(t, "P2", 70), ev.NoteEvent(t + 50, "TR", 45)])
        late = [tok for tok, _ in s.history][-4:]          # WT, P2 70, WT, TR 45
        assert late[1] == on("P2", 70) and late[3] == on("TR", 45)
        late = counted(late)
        both = Recall(64)
        both.add(counted(primer)[-64:] + late, 0, TICKS)
        assert np.array_equal(s.recall.counts, both.counts)
        s.revoke_after(t)               # TR 45 (and the wait before it) taken back; what left the window stays out
        both = Recall(10**6)
        both.add((counted(primer) + late)[-64:-1], 0, TICKS)
        assert np.array_equal(s.recall.counts, both.counts)


@pytest.mark.parametrize("bad", [-0.1, 2.5, True, "1", float("nan")])
def test_recall_outside_0_2_is_refused(bad):
    with pytest.raises(ValueError, match="recall"):
        SamplingSettings(recall=bad)


def test_perplexity_with_recall_scores_music_in_one_key_likelier_and_0_is_the_plain_figure():
    """`evaluate(recall=...)` leans each stream's distributions as generation does: on songs that keep to five
    pitch classes, the song's own notes become likelier."""
    from livechip.model.evaluate import evaluate
    model = random_model(seed=5).eval()
    scale = (60, 62, 64, 67, 69)
    songs = [[ev.START] + [t for k in range(120) for t in (on(("P1", "P2", "TR")[(k + j) % 3], scale[k % 5] + 12 *
                                                               (j % 2)), ev.token_id("WT_100"))] + [ev.START]
             for j in range(4)]
    plain = evaluate(model, songs, batch_size=2, tgt_len=16, mem_len=32)
    assert evaluate(model, songs, batch_size=2, tgt_len=16, mem_len=32, recall=0.0)["nll"] == plain["nll"]
    leaned = evaluate(model, songs, batch_size=2, tgt_len=16, mem_len=32, recall=1.0)
    assert leaned["tokens"] == plain["tokens"] and leaned["recall"] == 1.0
    assert leaned["nll"] < plain["nll"] - 0.1, (plain["nll"], leaned["nll"])


def test_waits_lean_towards_the_onset_intervals_heard():
    """Heard note-ons every 100 ms: 30 ms after the last note-on, the wait that makes the next one 100 ms after
    it (70 ms) gains on one that makes it 50 ms after (20 ms), by the heard share against NES music's in each bin;
    the waits keep their probability among the tokens."""
    tps = ev.TICKS_PER_SECOND
    r = Recall(64)
    toks = [on("P1", 60), ev.token_id("WT_100")] * 20
    ticks = [k // 2 * tps // 10 for k in range(40)]
    r.add(toks, 0, ticks)
    logits = torch.zeros(ev.N_TOKENS)
    new = r.apply(logits, 1.0, since=30 * tps // 1000)
    p0, p1 = torch.softmax(logits, 0), torch.softmax(new, 0)
    (w70,), (w20,) = ev.quantize_wait(70 * tps // 1000), ev.quantize_wait(20 * tps // 1000)
    prior = IOI_PRIOR * NES_INTERVALS[10]        # 19 heard intervals in the 100 ms bin, none in the 50 ms one
    assert math.isclose(float(p1[w70] / p1[w20]), (19 + prior) / prior, rel_tol=1e-4)
    assert float(p1[w70] / p1[w20]) > 10
    assert np.allclose(kinds(p0), kinds(p1), atol=1e-6)
    waits = [i for i in range(ev.N_TOKENS) if ev.is_wait(i)]
    assert math.isclose(float(p1[waits].sum()), float(p0[waits].sum()), rel_tol=1e-5)


def test_what_every_nes_song_does_is_left_to_the_network():
    """Heard intervals shaped as NES music's at large lean no wait: hearing that most note-ons come within 20 ms
    of another must not make the model's waits ever shorter (a take that hears it would crowd)."""
    counts = np.round(NES_INTERVALS * 100_000).astype(int)
    ticks = np.cumsum(np.repeat(np.arange(IOI_BINS) * IOI_BIN + IOI_BIN // 2, counts))
    r = Recall(len(ticks) + 1)
    r.add([on("P1", 60)] * (len(ticks) + 1), 0, np.concatenate([[0], ticks]))
    waits = [i for i in range(ev.N_TOKENS) if ev.is_wait(i)]
    for since in (0, 100, 2000):
        b = r.bias(since)[waits]
        assert float(b.abs().max()) < 0.1, (since, float(b.abs().max()))


def test_nes_intervals_are_nes_mdb_train_split(shared):
    """NES_INTERVALS is what it says: NES-MDB's train split's onset intervals per 100,000 in each bin."""
    from livechip.formats import tx1
    from livechip.model.music import notes
    total = np.zeros(IOI_BINS)
    for path in sorted((shared / "data" / "nesmdb_tx1" / "train").iterdir()):
        total += intervals(sorted(s for _, _, s, _ in notes(tx1.read(path))))
    assert np.array_equal(np.maximum(np.round(total / total.sum() * 100_000), 1) / 100_000, NES_INTERVALS)
