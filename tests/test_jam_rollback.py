"""A jam at the level of the model's context: a clock moves on, the model keeps a horizon generated ahead of
it, and the player's MIDI messages arrive at "now" and are merged in with rollback. After any such session the
next-token distribution equals the one from feeding the final token history to a fresh model, the player's
notes are in that history in order, and the model never chose a note on a voice the player held."""

import torch
from hypothesis import given, settings, strategies as st

from livechip.core import events as ev
from livechip.control.surface import Control
from livechip.engine import SamplingSettings, Stream
from livechip.engine.jam import Router
from tests.txl_helpers import random_model

torch.set_num_threads(1)
SEC = ev.TICKS_PER_SECOND
HORIZON = SEC // 4
MODEL = random_model(seed=5, mem_len=8)


def from_scratch(tokens):
    MODEL.setup_cache(batch_size=1, max_rollback=8)
    logits = MODEL.step(torch.tensor([tokens]))[0, -1]
    return torch.log_softmax(logits.float(), -1)


message = st.tuples(
    st.integers(1, SEC // 3),                                   # ticks since the previous message
    st.sampled_from([0x90, 0x80, 0x92, 0x82, 0x99, 0xB0, 0xF0]),  # note on/off on ch 1, 3, 10; junk
    st.integers(20, 110), st.integers(0, 127))


@settings(max_examples=25, deadline=None)
@given(msgs=st.lists(message, min_size=1, max_size=20), seed=st.integers(0, 1000), split=st.booleans())
def test_any_jam_leaves_a_context_equal_to_recomputation(msgs, seed, split):
    c = Control()
    for v in ("P1", "TR", "NO"):
        c.set(f"voice/{v}/mode", "human")
    c.set("voice/P2/mode", "model")
    if split:
        c.set("split/point", 60)
    router = Router.from_snapshot(c.snapshot())
    played = []
    with torch.inference_mode():
        s = Stream(MODEL, SamplingSettings(seed=seed), masked_voices=("P1", "TR", "NO"), max_rollback=512)
        now = 0
        for dt, status, key, vel in msgs:
            s.generate_until(now + HORIZON, max_tokens=64)
            now += dt
            events = [ev.NoteEvent(now, e.voice, e.pitch) for e in router.message([status, key, vel], now)]
            if events:
                revoked = s.merge(events)
                assert all(e.time > now for e in revoked)      # only speculation is taken back
                played += events
        s.generate_until(now + HORIZON, max_tokens=64)
        history = s.history
        assert len(history) == s.position
        tokens = [tok for tok, _ in history]
        notes = [(t, ev.voice_of(tok), ev.pitch_of(tok)) for tok, t in history if ev.voice_of(tok)]
        human = [n for n in notes if n[1] in ("P1", "TR", "NO")]
        assert human == [(e.time, e.voice, e.pitch) for e in played]   # every player's note, in order, no others
        got = torch.log_softmax(s.next_logits().float(), -1)
        want = from_scratch(tokens)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
