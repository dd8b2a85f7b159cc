"""The int8 form: a separate copy whose linear layers are int8, whose distributions stay close to float32, and
whose cached step and rollback work as the float32 one's do."""

import torch

from livechip.model.quantize import Int8Linear, quantize_int8
from tests.txl_helpers import random_model

torch.set_num_threads(1)


def test_int8_copy_is_close_to_float32_and_leaves_the_original_alone():
    model = random_model(seed=7, noise=0.15, d_model=64, n_head=4, d_head=16, d_inner=128)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_int8(model)
    assert isinstance(q.layers[0].attn.wqkv, Int8Linear) and q.layers[0].attn.wqkv.weight.dtype == torch.int8
    assert isinstance(q.output, Int8Linear) and q.tok_emb.weight.dtype == torch.float32   # tied: embedding kept
    assert isinstance(model.layers[0].attn.wqkv, torch.nn.Linear)          # the original is untouched
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    tokens = torch.randint(0, 631, (1, 40))
    for m in (model, q):
        m.setup_cache(max_rollback=8, mem_len=16)
    want = torch.cat([model.step(tokens[:, p:p + 1]) for p in range(40)], 1).log_softmax(-1)
    got = torch.cat([q.step(tokens[:, p:p + 1]) for p in range(40)], 1).log_softmax(-1)
    kl = (want.exp() * (want - got)).sum(-1)          # KL(float32 || int8) per position, nats
    print("max KL", kl.max().item(), "mean |dlogp|", (got - want).abs().mean().item())
    assert kl.max() < 5e-3
    assert (got - want).abs().mean() < 0.05


def test_int8_rollback_restores_the_same_state():
    q = quantize_int8(random_model(seed=8, noise=0.15))
    q.setup_cache(max_rollback=6, mem_len=5)
    a, b = torch.randint(0, 631, (1, 12)), torch.randint(0, 631, (1, 3))
    first = [q.step(a[:, p:p + 1]) for p in range(12)]
    q.step(b)
    q.rollback(11)
    again = q.step(a[:, 11:12])       # one token at a time in both runs: the same int8 arithmetic
    torch.testing.assert_close(again, first[-1], atol=1e-6, rtol=0)


def test_int8_cached_step_matches_the_int8_plain_path():
    """Weight-only int8 keeps activations in float32, so the cached step (numba kernels), multi-token steps
    and the plain path (segment forward with dequantized weights) are the same arithmetic."""
    from tests.test_txl_cache import plain
    q = quantize_int8(random_model(seed=9, noise=0.15, pre_lnorm=True, d_embed=12, tie_weight=False))
    tokens = torch.randint(0, 631, (1, 30))
    want = plain(q, tokens, 6)
    q.setup_cache(max_rollback=4, mem_len=6)
    got = torch.cat([q.step(tokens[:, p:p + 1]) for p in range(30)], 1).log_softmax(-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    q.reset_cache()
    got = torch.cat([q.step(tokens[:, a:a + 3]) for a in range(0, 30, 3)], 1).log_softmax(-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
