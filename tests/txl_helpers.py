"""Helpers for the Transformer-XL tests: the fixture checkpoints (written by the original LakhNES code) as
models, their reference arrays, and small random networks."""

import numpy as np
import pytest
import torch

from livechip.model.lakhnes import load_lakhnes
from livechip.model.txl import TransformerXL, TXLConfig

FIXTURES = ("tiny_txl", "tiny_txl_b")


def load_fixture(shared, name):
    """(TXLConfig, LakhNES state dict) of fixture checkpoint `name`."""
    sd, hp = load_lakhnes(shared / "fixtures" / name / "model.pt")
    return TXLConfig.from_dict(hp), sd


def fixture_model(shared, name):
    cfg, sd = load_fixture(shared, name)
    model = TransformerXL(cfg)
    model.load_lakhnes_state_dict(sd)
    return model.eval()


def reference(shared, name):
    with np.load(shared / "fixtures" / name / "reference.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def random_model(seed=0, noise=0.3, dtype=torch.float32, **kw):
    """A small network with random, deliberately peaked weights (so mistakes show in the outputs)."""
    args = dict(n_layer=2, n_head=2, d_head=8, d_model=16, d_inner=32, tgt_len=8, mem_len=8)
    args.update(kw)
    torch.manual_seed(seed)
    model = TransformerXL(TXLConfig(**args))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * noise)
    return model.to(dtype).eval()


@pytest.fixture(params=FIXTURES)
def fixture_name(request):
    return request.param
