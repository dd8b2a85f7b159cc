"""The Transformer-XL gives what the original LakhNES code gives, on checkpoints that code wrote: segment-wise
with memory carried (eval.py), one token at a time (the sampler generate.py uses), over the full context, and
the greedy continuation token for token."""

import numpy as np
import pytest
import torch

from livechip.core.errors import CheckpointError
from livechip.model.txl import TransformerXL, TXLConfig
from tests.txl_helpers import fixture_model, fixture_name, load_fixture, random_model, reference  # noqa: F401

torch.set_num_threads(1)
TOL = 1e-4


@pytest.fixture
def fx(shared, fixture_name):
    return fixture_model(shared, fixture_name), reference(shared, fixture_name)


def logprobs(logits):
    return torch.log_softmax(torch.as_tensor(logits).double(), -1).numpy()


def test_segments_with_memory_match_eval(fx):
    model, ref = fx
    tokens = torch.tensor(ref["tokens"])[None]
    mems, rows = None, []
    with torch.no_grad():
        for s in range(0, 64, 16):
            logits, mems = model(tokens[:, s:s + 16], mems)
            rows.append(logits[0])
    logits = torch.cat(rows).numpy()
    np.testing.assert_allclose(logits, ref["seg_logits"], atol=TOL, rtol=0)
    np.testing.assert_allclose(logprobs(logits), ref["seg_logprobs"], atol=TOL, rtol=0)
    # eval.py's loss: the negative log-likelihood of each next token, and its mean
    nll = -logprobs(logits)[np.arange(63), ref["tokens"][1:]]
    np.testing.assert_allclose(nll, ref["seg_nll"], atol=TOL, rtol=0)
    assert abs(nll.mean() - float(ref["seg_mean_nll"])) < TOL
    # memory: n_layer + 1 layer inputs of the last mem_len positions; ours are batch-first [B, M, D]
    assert len(mems) == len(ref["seg_mems"])
    for ours, theirs in zip(mems, ref["seg_mems"]):
        np.testing.assert_allclose(ours.transpose(0, 1).numpy(), theirs, atol=TOL, rtol=0)


def test_one_token_at_a_time_matches_the_sampler(fx):
    """The plain path: a segment of one token with the memory of the last 16 (LakhNES's TxlSimpleSampler)."""
    model, ref = fx
    tokens = torch.tensor(ref["tokens"])[None]
    mems, rows = None, []
    with torch.no_grad():
        for p in range(64):
            logits, mems = model(tokens[:, p:p + 1], mems, mem_len=16)
            rows.append(logits[0])
    np.testing.assert_allclose(torch.cat(rows).numpy(), ref["tok_logits"], atol=TOL, rtol=0)
    for ours, theirs in zip(mems, ref["tok_mems"]):
        np.testing.assert_allclose(ours.transpose(0, 1).numpy(), theirs, atol=TOL, rtol=0)


def test_cached_steps_match_the_sampler(fx):
    model, ref = fx
    tokens = torch.tensor(ref["tokens"])[None]
    model.setup_cache(batch_size=1, max_rollback=4, mem_len=16)
    rows = [model.step(tokens[:, p:p + 1])[0] for p in range(64)]
    np.testing.assert_allclose(torch.cat(rows).numpy(), ref["tok_logits"], atol=TOL, rtol=0)
    assert model.position == 64
    model.reset_cache()
    np.testing.assert_allclose(model.step(tokens)[0].numpy(), ref["tok_logits"], atol=TOL, rtol=0)


def test_full_context(fx):
    model, ref = fx
    tokens = torch.tensor(ref["tokens"])[None]
    with torch.no_grad():
        logits, _ = model(tokens, mem_len=64)
    np.testing.assert_allclose(logits[0].numpy(), ref["full_logits"], atol=TOL, rtol=0)
    model.setup_cache(batch_size=1, max_rollback=64, mem_len=64)
    np.testing.assert_allclose(model.step(tokens)[0].numpy(), ref["full_logits"], atol=TOL, rtol=0)


def test_greedy_continuation_is_identical(fx):
    """continuations.ipynb's procedure: prime one token per call, then argmax over ids 1..630, fed back."""
    model, ref = fx
    model.setup_cache(batch_size=1, max_rollback=1, mem_len=16)
    for t in ref["prime"][:15]:
        model.step(torch.tensor([[t]]))
    nxt, out, rows = int(ref["prime"][15]), [], []
    for _ in range(32):
        logits = model.step(torch.tensor([[nxt]]))[0, -1]
        rows.append(logits)
        nxt = 1 + int(logits[1:].argmax())
        out.append(nxt)
    assert out == ref["greedy_tokens"].tolist()
    np.testing.assert_allclose(torch.stack(rows).numpy(), ref["greedy_step_logits"], atol=TOL, rtol=0)


def test_config_round_trip_and_lakhnes_attribute_names(shared, fixture_name):
    cfg, _ = load_fixture(shared, fixture_name)
    assert TXLConfig.from_dict(cfg.to_dict()) == cfg
    # LakhNES's pickled attribute names are the field names; extra ones are ignored
    c = TXLConfig.from_dict({"n_layer": 3, "d_model": 32, "d_embed": -1, "ext_len": 0, "attn_type": 0})
    assert (c.n_layer, c.d_model, c.d_embed) == (3, 32, 32)


def test_mismatched_weights_are_refused(shared, fixture_name):
    cfg, sd = load_fixture(shared, fixture_name)
    model = TransformerXL(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def refused(bad, match):
        with pytest.raises(CheckpointError, match=match):
            model.load_lakhnes_state_dict(bad)
        for k, v in model.state_dict().items():    # nothing half-loaded
            assert torch.equal(v, before[k]), k

    refused({k: v for k, v in sd.items() if k != "layers.1.dec_attn.r_net.weight"}, "missing layers.1.dec_attn.r_net")
    refused({**sd, "layers.9.dec_attn.o_net.weight": sd["r_w_bias"]}, "unexpected layers.9")
    w = sd["layers.1.pos_ff.CoreNet.0.weight"]
    refused({**sd, "layers.1.pos_ff.CoreNet.0.weight": w[:-1]}, r"CoreNet.0.weight has shape")
    refused({**sd, "word_emb.emb_layers.0.weight": torch.zeros(685, cfg.d_embed)}, "shape")
    if cfg.tie_weight:
        refused({**sd, "crit.out_layers.0.weight": sd["crit.out_layers.0.weight"] + 1}, "tied")
    else:
        refused({k: v for k, v in sd.items() if k != "crit.out_layers.0.weight"}, "missing crit.out_layers.0")


def test_untied_config_on_tied_weights_keeps_separate_output():
    cfg = TXLConfig(n_layer=1, n_head=2, d_head=4, d_model=8, d_inner=16, tie_weight=False)
    model = TransformerXL(cfg)
    assert model.output.weight is not model.tok_emb.weight
    tied = TransformerXL(TXLConfig(n_layer=1, n_head=2, d_head=4, d_model=8, d_inner=16))
    assert tied.output.weight is tied.tok_emb.weight


def test_training_mode_uses_dropout_and_trains():
    model = random_model(dropout=0.3, dropatt=0.2).train()
    tokens = torch.randint(0, 631, (2, 8))
    a, mems = model(tokens)
    b, _ = model(tokens)
    assert not torch.allclose(a, b)                  # dropout is active
    loss = torch.nn.functional.cross_entropy(a[:, :-1].reshape(-1, 631), tokens[:, 1:].reshape(-1))
    loss.backward()
    assert model.r_w_bias.grad is not None and model.layers[0].attn.wr.weight.grad.abs().sum() > 0
    assert all(not m.requires_grad for m in mems)    # memory is detached, as in LakhNES
    model.eval()
    with torch.no_grad():
        c, _ = model(tokens)
        d, _ = model(tokens)
    assert torch.equal(c, d)


def test_memory_is_carried_and_limited_to_mem_len():
    model = random_model(mem_len=5)
    tokens = torch.randint(1, 631, (1, 12))
    with torch.no_grad():
        _, mems = model(tokens[:, :3])
        assert len(mems) == model.cfg.n_layer + 1 and mems[0].shape == (1, 3, model.cfg.d_model)
        _, mems = model(tokens[:, 3:7], mems)
        assert mems[0].shape == (1, 5, model.cfg.d_model)
        torch.testing.assert_close(mems[0], model.embed(tokens[:, 2:7]))     # entry 0: scaled embeddings
        _, none = model(tokens[:, :3], mem_len=0)
    assert none is None
