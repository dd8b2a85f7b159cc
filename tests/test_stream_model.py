"""Stream + the real Transformer-XL (the fixture checkpoints): after any mix of sampling, revoking, forced
appends and mask changes, the next-token distribution equals the one from feeding the same token history to a
fresh model (property-based). ToyModel runs the same checks as a baseline for the Stream's bookkeeping."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from livechip.core import events as ev
from livechip.engine import SamplingSettings, Stream
from tests.generate_helpers import ToyModel, tiny_txl

torch.set_num_threads(1)
SEC = ev.TICKS_PER_SECOND
MEM = None  # the checkpoint's own mem_len (16): the memory window slides many times in these histories


@pytest.fixture(scope="module", params=["toy", "tiny_txl", "tiny_txl_b"])
def model(request, shared):
    if request.param == "toy":
        return ToyModel()
    return tiny_txl(shared, request.param)


def from_scratch(model, tokens):
    """Log-probabilities of the token after `tokens`, from a fresh cache fed everything at once."""
    model.setup_cache(batch_size=1, max_rollback=8, mem_len=MEM)
    logits = model.step(torch.tensor([tokens]))[0, -1]
    return torch.log_softmax(logits.float(), -1)


op = st.one_of(
    st.tuples(st.just("generate"), st.integers(1, SEC)),
    st.tuples(st.just("revoke"), st.integers(0, SEC)),
    st.tuples(st.just("append"), st.lists(st.tuples(st.integers(0, 20000), st.sampled_from(ev.VOICES),
                                                    st.booleans()), min_size=1, max_size=4)),
    st.tuples(st.just("mask"), st.sets(st.sampled_from(ev.VOICES))),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=8), seed=st.integers(0, 1000))
def test_any_sequence_matches_recomputation(model, ops, seed):
    with torch.inference_mode():
        s = Stream(model, SamplingSettings(seed=seed), max_rollback=256, mem_len=MEM)
        s.prime([ev.note_token("P1", 60), ev.token_id("WT_1000")])
        for kind, arg in ops:
            if kind == "generate":
                s.generate_until(s.frontier + arg, max_tokens=24)
            elif kind == "revoke":
                s.revoke_after(max(0, s.frontier - arg))
            elif kind == "append":
                t = s.frontier
                events = []
                for dt, voice, on in arg:
                    t += dt
                    lo, hi = ev.PITCH_RANGE[voice]
                    events.append(ev.NoteEvent(t, voice, (lo + hi) // 2 if on else None))
                s.append(events)
            else:
                s.masked_voices = arg
        tokens = [tok for tok, _ in s.history]
        assert len(tokens) == s.position                     # short enough that the history is complete
        got = torch.log_softmax(s.next_logits().float(), -1)
        want = from_scratch(type(model)() if isinstance(model, ToyModel) else model, tokens)
        torch.testing.assert_close(got.exp(), want.exp(), atol=1e-5, rtol=0)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_merge_on_the_real_network_matches_recomputation(model):
    with torch.inference_mode():
        s = Stream(model, SamplingSettings(seed=3), max_rollback=256, mem_len=MEM)
        s.generate_until(2 * SEC, max_tokens=60)
        t = s.frontier // 2
        revoked = s.merge([ev.NoteEvent(t, "P1", 64), ev.NoteEvent(t, "TR", 40)])
        assert all(e.time > t for e in revoked)
        tokens = [tok for tok, _ in s.history]
        got = torch.log_softmax(s.next_logits().float(), -1)
        want = from_scratch(type(model)() if isinstance(model, ToyModel) else model, tokens)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_long_run_with_a_small_rollback_window(model):
    """History and cache stay bounded; revoking as far as allowed never asks the model for more than it keeps."""
    with torch.inference_mode():
        s = Stream(model, SamplingSettings(seed=4), max_rollback=12, mem_len=MEM)
        for i in range(60):
            s.generate_until(s.frontier + SEC // 4, max_tokens=30)
            assert len(s.history) <= 13
            oldest = s.history[0][1]
            if i % 3 == 0:
                s.revoke_after(oldest)           # the furthest allowed
                s.generate_until(s.frontier + 1)  # samples straight from the kept state
            else:
                s.merge([ev.NoteEvent(s.frontier, "NO", 1 + i % 16)])
            with pytest.raises(ValueError, match="reaches back only"):
                s.revoke_after(s.history[0][1] - 1)
        assert s.position > 5 * 13


def crawling_model():
    """A small random Transformer-XL that wants `P2_NOTEON_45 WT_1` over and over (notes one tick apart),
    the trap a small trained model fell into while playing live."""
    from tests.txl_helpers import random_model
    m = random_model(seed=3)
    with torch.no_grad():
        m.output.bias += 40.0 * torch.tensor([text in ("P2_NOTEON_45", "WT_1") for text in ev.VOCAB])
    return m


@pytest.mark.parametrize("pace", [True, False])
def test_pace_keeps_a_crawling_model_moving_in_time(pace):
    from livechip.model.stream import CRAWL, FRAME_TICKS
    s = Stream(crawling_model(), SamplingSettings(seed=0), max_rollback=64, pace=pace)
    with torch.inference_mode():
        s.generate_until(10 * SEC, max_tokens=2000)
    h = list(s.history)
    spans = [h[i + CRAWL + 1][1] - h[i][1] for i in range(len(h) - CRAWL - 1)]
    if pace:   # any CRAWL + 1 tokens in a row move time on by a frame at least
        assert min(spans) >= FRAME_TICKS, min(spans)
        assert s.frontier >= 2000 // (CRAWL + 1) * FRAME_TICKS
    else:      # the model really does crawl: without pace, 2000 tokens are a few hundredths of a second
        assert s.frontier < 0.05 * SEC and max(spans) < FRAME_TICKS
