"""The Stream, the generation core: sampling ahead to a tick, revoking, forcing events, masks and settings.

These run on `ToyModel` (tests/generate_helpers.py), a stand-in that recomputes from scratch, so they pin down
the Stream's own bookkeeping. tests/test_stream_model.py repeats the rollback checks on the real network.
"""

import pytest
import torch

from livechip.core import events as ev
from livechip.engine import SamplingSettings, Stream
from tests.generate_helpers import ToyModel

torch.set_num_threads(1)
SEC = ev.TICKS_PER_SECOND


def N(time, voice, pitch):
    return ev.NoteEvent(time, voice, pitch)


def make(seed=1, **kw):
    return Stream(ToyModel(), SamplingSettings(seed=seed), **kw)


def notes_in(history):
    return [ev.NoteEvent(t, ev.voice_of(tok), ev.pitch_of(tok))
            for tok, t in history if not ev.is_wait(tok) and tok != ev.START]


def check_ticks(stream):
    """Every history tick is the previous one plus the token's wait (forced waits may be clipped)."""
    h = stream.history
    for (tok, t), (_, prev) in zip(h[1:], h):
        if ev.is_wait(tok):
            assert t > prev
        else:
            assert t == prev


def test_starts_with_start_token_at_tick_zero():
    s = make()
    assert s.history == [(ev.START, 0)] and s.frontier == 0 and s.position == 1
    assert s.model.tokens == [ev.START]


def test_prime_tokens_feeds_start_then_primer_in_one_call():
    s = make()
    w = ev.token_id("WT_2200")
    primer = [ev.note_token("P1", 72), w, ev.note_token("P1", None), w]
    s.prime(primer)
    assert s.model.tokens == [ev.START] + primer
    assert s.frontier == 4400
    assert s.model.fed[-1] == 5
    s.prime([ev.START] + primer)          # a primer that already starts with <S> is not doubled
    assert s.model.tokens == [ev.START] + primer


def test_prime_score_keeps_exact_times():
    s = make()
    score = ev.Score([N(0, "P1", 60), N(1000, "TR", 40), N(30000, "P1", None)], end=44100)
    s.prime(score)
    assert notes_in(s.history) == score.events
    assert s.frontier == 44100
    check_ticks(s)


def test_generate_until_reaches_tick_and_returns_the_new_notes():
    s = make()
    new = s.generate_until(2 * SEC)
    assert s.frontier >= 2 * SEC
    assert new == notes_in(s.history)
    assert new and all(e.time < 2 * SEC for e in new)
    assert [e.time for e in new] == sorted(e.time for e in new)
    check_ticks(s)
    more = s.generate_until(s.frontier + SEC)
    assert notes_in(s.history) == new + more
    assert s.generate_until(0) == []    # already there: nothing sampled
    assert s.model.tokens == [tok for tok, _ in s.history]


def test_max_tokens_bounds_the_work_of_one_call():
    s = make()
    before = s.position
    s.generate_until(10**9, max_tokens=7)
    assert s.position == before + 7


def test_fixed_seed_is_reproducible():
    a, b, c = make(seed=5), make(seed=5), make(seed=6)
    for s in (a, b, c):
        s.generate_until(3 * SEC)
    assert a.history == b.history
    assert a.history != c.history


def test_revoke_after_returns_later_notes_and_rolls_the_model_back():
    s = make()
    s.generate_until(3 * SEC)
    full = s.history
    cut = SEC + 123
    steps = s.model.steps
    revoked = s.revoke_after(cut)
    kept = [(tok, t) for tok, t in full if t <= cut]
    assert s.history == kept
    assert s.frontier == kept[-1][1] <= cut
    assert revoked == [e for e in notes_in(full) if e.time > cut]
    assert s.model.position == s.position == len(kept)
    # the next-token distribution is the one a fresh model gives for the kept history
    expected = ToyModel().logits_for([tok for tok, _ in kept])[-1]
    torch.testing.assert_close(s.next_logits(), expected)
    assert s.model.steps == steps          # revoking runs no model step: the kept logits are at hand
    assert s.revoke_after(cut) == []


def test_revoke_drops_a_wait_that_straddles_the_tick():
    s = make()
    w = ev.token_id("WT_1000")
    s.prime([ev.note_token("P1", 60), w, ev.note_token("P1", None), w])   # note-off at 1000, frontier 2000
    assert s.revoke_after(1500) == []
    assert s.frontier == 1000 and s.history[-1] == (ev.note_token("P1", None), 1000)
    assert s.revoke_after(999) == [N(1000, "P1", None)]
    assert s.frontier == 0
    assert s.revoke_after(0) == []       # the note at tick 0 is at or before 0: kept
    assert notes_in(s.history) == [N(0, "P1", 60)]


def test_append_forces_events_at_exact_times_in_one_model_call():
    s = make()
    s.generate_until(SEC)
    start = s.frontier
    forced = [N(start + 5000, "TR", 45), N(start + 5000, "P1", 70), N(start + 5105, "P1", None),
              N(start + 250000, "NO", 3)]
    steps = s.model.steps
    s.append(forced)
    assert s.model.steps == steps + 1
    tail = notes_in(s.history)[-4:]
    assert tail == sorted(forced, key=lambda e: (e.time, ev.VOICES.index(e.voice)))   # P1 before TR at 5000
    assert s.frontier == start + 250000
    # the waits in front of each forced note are exactly quantize_wait of the gap
    toks = [tok for tok, _ in s.history]
    i = toks.index(ev.note_token("P1", 70))
    gap_waits = ev.quantize_wait(5000)
    assert toks[i - len(gap_waits):i] == gap_waits
    # a gap longer than the longest wait (100000 ticks) is several waits, so the model hears all of it
    long_gap = ev.quantize_wait(250000 - 5105, split=True)      # WT_100000 WT_100000 WT_45000
    assert len(long_gap) == 3 and toks[-1 - len(long_gap):-1] == long_gap
    assert abs(sum(ev.wait_ticks(w) for w in long_gap) - (250000 - 5105)) <= 500   # within the snap of the last
    check_ticks(s)


def test_append_until_forces_a_trailing_wait():
    s = make()
    s.append([N(100, "P2", 50)], until=SEC)
    assert s.frontier == SEC
    assert ev.is_wait(s.history[-1][0])


def test_append_before_frontier_is_refused():
    s = make()
    s.generate_until(SEC)
    with pytest.raises(ValueError, match="revoke_after first"):
        s.append([N(s.frontier - 1, "P1", 60)])


def test_merge_revokes_speculation_then_appends():
    s = make()
    s.generate_until(3 * SEC)
    full = s.history
    t = SEC
    player = [N(t, "P1", 64)]
    revoked = s.merge(player)
    assert revoked == [e for e in notes_in(full) if e.time > t]
    assert notes_in(s.history) == [e for e in notes_in(full) if e.time <= t] + player
    expected = ToyModel().logits_for([tok for tok, _ in s.history])[-1]
    torch.testing.assert_close(s.next_logits(), expected)


def test_masked_voices_never_generated_and_all_masked_means_only_waits():
    s = make(masked_voices=("P1", "NO"))
    new = s.generate_until(20 * SEC)
    assert new and not {e.voice for e in new} & {"P1", "NO"}
    s.masked_voices = ev.VOICES
    before = s.position
    assert s.generate_until(s.frontier + 20 * SEC) == []
    assert all(ev.is_wait(tok) for tok, _ in s.history[before - s.position:])
    with pytest.raises(ValueError, match="unknown voice"):
        s.masked_voices = ("P3",)


def test_settings_apply_from_the_next_token():
    s = make()
    s.generate_until(SEC)
    s.settings = SamplingSettings(temperature=0, top_k=32)
    n = s.position
    s.generate_until(s.frontier + SEC)
    toks = [tok for tok, _ in s.history]
    ref = ToyModel().logits_for(toks)
    for p in range(n, len(toks)):
        assert toks[p] == 1 + int(ref[p - 1][1:].argmax())   # greedy, <S> excluded
    with pytest.raises(TypeError):
        s.settings = {"temperature": 1.0}


def test_changing_the_seed_reseeds_and_keeping_it_does_not():
    a, b = make(seed=9), make(seed=9)
    a.generate_until(SEC)
    b.generate_until(SEC)
    b.settings = SamplingSettings(seed=9, temperature=0.95)   # same seed: the generator goes on
    a.generate_until(3 * SEC)
    b.generate_until(3 * SEC)
    assert a.history == b.history
    c = make(seed=1)
    c.settings = SamplingSettings(seed=9)
    d = make(seed=9)
    c.prime(())
    assert c.generate_until(2 * SEC) == d.generate_until(2 * SEC)


def test_history_stays_bounded_and_old_tokens_cannot_be_revoked():
    s = make(max_rollback=16)
    s.generate_until(60 * SEC)
    assert s.position > 40
    h = s.history
    assert len(h) == 17
    assert [tok for tok, _ in h] == s.model.tokens[-17:]
    with pytest.raises(ValueError, match="reaches back only"):
        s.revoke_after(h[0][1] - 1)
    assert s.history == h                    # a refused revoke changes nothing
    tick = h[0][1]                           # as far back as allowed: keep the oldest entry (and its tick)
    revoked = s.revoke_after(tick)
    kept = [x for x in h if x[1] <= tick]
    assert s.history == kept
    assert revoked == notes_in([x for x in h if x[1] > tick])
    assert s.model.position == s.position
    expected = ToyModel().logits_for(s.model.tokens)[-1]
    torch.testing.assert_close(s.next_logits(), expected)
