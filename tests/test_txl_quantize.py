"""The int8 form: a separate copy whose linear layers (and by default keys, values and positional keys) are
int8, whose distributions stay close to float32, and whose cached step and rollback work as the float32 one's do."""

import numpy as np
import pytest
import torch

from livechip.model import kernels
from livechip.model.quantize import Int8Linear, quantize_int8
from livechip.model.cache import int8_rows
from tests.txl_helpers import random_model

torch.set_num_threads(1)


def test_int8_copy_is_close_to_float32_and_leaves_the_original_alone():
    model = random_model(seed=7, noise=0.15, d_model=64, n_head=4, d_head=16, d_inner=128)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_int8(model)
    assert isinstance(q.layers[0].attn.wqkv, Int8Linear) and q.layers[0].attn.wqkv.weight.dtype == torch.int8
    assert isinstance(q.output, Int8Linear) and q.tok_emb.weight.dtype == torch.float32   # tied: embedding kept
    assert isinstance(model.layers[0].attn.wqkv, torch.nn.Linear)          # the original is untouched
    assert q.layers[0].attn.kv_int8 and not model.layers[0].attn.kv_int8
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_kernel_rounds_keys_to_int8_bit_for_bit_as_torch_does(dtype):
    """The cached step (numba) and the segment forward and multi-token steps (torch) must hold the same int8
    keys for the same float keys, or evaluation would not measure what generation computes."""
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(5000, 64, generator=g) * 3).to(dtype)
    x[0] = 0                                   # an all-zero row keeps a tiny scale, not a division by zero
    x[1, :] = 1e-30
    q, s = int8_rows(x)
    row = np.zeros(64, np.int8)
    for r in range(x.shape[0]):
        scale = kernels.store(row, x[r].numpy(), True)
        assert scale == s[r].item() and np.array_equal(row, q[r].numpy()), r
    assert q[0].abs().max() == 0


def test_an_int8_cache_stores_int8_rows():
    model = random_model(seed=3, noise=0.15)
    for m, dtype in ((model, torch.float32), (quantize_int8(model, kv=False), torch.float32),
                     (quantize_int8(model), torch.int8)):
        m.setup_cache(max_rollback=4, mem_len=6)
        assert m.cache.kv[0].dtype == dtype and m.cache.rr[0].dtype == dtype
        m.step(torch.randint(0, 631, (1, 5)))
    assert (m.cache.ks[0][:, :, :5] != 1).all()      # every stored key and value row got its own scale


@pytest.mark.parametrize("kv", [False, True], ids=["int8-weights", "int8-weights-kv"])
def test_int8_cached_step_matches_the_int8_plain_path(kv):
    """int8 keeps activations in float32 and rounds keys and values the same way on every path, so the cached
    step (numba kernels), multi-token steps and the plain path (segment forward with dequantized weights, keys
    and values) are the same arithmetic. With int8 keys and values, one key element whose float value lies
    within a rounding error of the middle between two int8 steps may round up on one path and down on
    another (the paths' float projections differ in the last bit): one quantum of one element, which moves
    log-probabilities by ~1e-4 on these deliberately peaked weights while the window holds it."""
    from tests.test_txl_cache import plain
    q = quantize_int8(random_model(seed=9, noise=0.15, pre_lnorm=True, d_embed=12, tie_weight=False), kv=kv)
    tokens = torch.randint(0, 631, (1, 30))
    want = plain(q, tokens, 6)
    q.setup_cache(max_rollback=4, mem_len=6)
    tol = 5e-4 if kv else 1e-5
    got = torch.cat([q.step(tokens[:, p:p + 1]) for p in range(30)], 1).log_softmax(-1)
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
    q.reset_cache()
    got = torch.cat([q.step(tokens[:, a:a + 3]) for a in range(0, 30, 3)], 1).log_softmax(-1)
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
