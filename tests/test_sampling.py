"""Sampling: LakhNES's exact probability vectors, seeds, voice masks, top-p, and settings validation."""

import numpy as np
import pytest
import torch

from livechip.cli.main import build_parser
from livechip.control.settings import SETTINGS
from livechip.control.state import State
from livechip.model.music import MusicConfig
from livechip.model.sampling import SamplingSettings, banned_ids, probs, sample, temper_waits

# Rows of reference.npz `sampler_probs_first_step`, in the order config.json lists them.
REFERENCE_ROWS = [
    dict(temperature=0.95, top_k=32, exclude_start=True),   # generate.py defaults (the paper)
    dict(temperature=1.0, top_k=0, exclude_start=False),    # plain softmax, <S> allowed
    dict(temperature=0.96, top_k=64, exclude_start=True),   # continuations notebook
    dict(temperature=0.0, top_k=32, exclude_start=True),    # greedy: one-hot
]

# Note ids of each voice in the TX1 vocabulary (fixtures README section 3); waits are 1..370.
VOICE_IDS = {"P1": range(371, 448), "P2": range(448, 525), "TR": range(525, 614), "NO": range(614, 631)}
WAITS = range(1, 371)


def voice_mask(*voices):
    m = np.zeros(631, dtype=bool)
    for v in voices:
        m[list(VOICE_IDS[v])] = True
    return m


@pytest.fixture(params=["tiny_txl", "tiny_txl_b"])
def reference(request, shared):
    ref = np.load(shared / "fixtures" / request.param / "reference.npz")
    return torch.from_numpy(ref["greedy_step_logits"][0]), ref["sampler_probs_first_step"]


def test_probabilities_equal_lakhnes_sampler(reference):
    logits, expected = reference
    for row, s in zip(expected, REFERENCE_ROWS):
        p = probs(logits, s["temperature"], s["top_k"], 1.0, banned_ids(631, None, s["exclude_start"]))
        np.testing.assert_allclose(p.numpy(), row, atol=1e-5, rtol=0)


def test_one_sampling_default_for_play_generate_and_eval():
    """Declared once (SamplingSettings); the settings table (play, OSC, TUI, presets), `generate` and
    `eval --music` read it. Temperature 1.0 and top-k 32 are docs/model.md's choice by the music metrics."""
    s = SamplingSettings()
    assert (s.temperature, s.top_k, s.top_p, s.exclude_start) == (1.0, 32, 1.0, True)
    table = {row.path: row.default for row in SETTINGS}
    m = MusicConfig()
    gen = build_parser().parse_args(["generate", "-o", "x.mid"])
    for name in ("temperature", "top_k", "top_p"):
        assert table[name] == getattr(m, name) == getattr(gen, name) == getattr(s, name), name
    assert State().temperature == s.temperature


def test_start_token_never_sampled_by_default(reference):
    logits, _ = reference
    logits = logits.clone()
    logits[0] = 100.0   # <S> would win every draw if it were allowed
    g = torch.Generator().manual_seed(1)
    draws = [sample(logits, SamplingSettings(), banned_ids(631), g) for _ in range(200)]
    assert 0 not in draws
    assert sample(logits, SamplingSettings(exclude_start=False), banned_ids(631, None, False), g) == 0


def test_fixed_seed_reproducible(reference):
    logits, _ = reference
    s = SamplingSettings(temperature=1.2, top_k=0)
    a = [sample(logits, s, banned_ids(631), torch.Generator().manual_seed(7)) for _ in range(3)]
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    seq1 = [sample(logits, s, banned_ids(631), g1) for _ in range(100)]
    seq2 = [sample(logits, s, banned_ids(631), g2) for _ in range(100)]
    assert seq1 == seq2
    assert len(set(seq1)) > 5          # it really is random, not stuck on one token
    assert a[0] == a[1] == a[2] == seq1[0]


def test_masked_voice_never_sampled(reference):
    logits, _ = reference
    logits = logits.clone()
    logits[list(VOICE_IDS["P1"])] += 20.0   # make P1 overwhelmingly likely
    banned = banned_ids(631, voice_mask("P1"))
    g = torch.Generator().manual_seed(3)
    for s in [SamplingSettings(), SamplingSettings(temperature=2.0, top_k=0), SamplingSettings(temperature=0)]:
        draws = [sample(logits, s, banned, g) for _ in range(300)]
        assert not set(draws) & set(VOICE_IDS["P1"])
    p = probs(logits, 1.0, 0, 1.0, banned)
    assert float(p[list(VOICE_IDS["P1"])].sum()) == 0.0


def test_all_voices_masked_leaves_only_waits(reference):
    logits, _ = reference
    banned = banned_ids(631, voice_mask("P1", "P2", "TR", "NO"))
    p = probs(logits, 0.95, 32, 1.0, banned)
    assert float(p[list(WAITS)].sum()) == pytest.approx(1.0, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    assert all(1 <= sample(logits, SamplingSettings(), banned, g) <= 370 for _ in range(200))


def test_mask_does_not_bias_the_other_tokens(reference):
    """Masking a voice renormalises: every remaining token keeps its probability relative to the others, so
    the waits get no more than their share (no top-k here, which would change the kept set)."""
    logits, _ = reference
    free = probs(logits, 0.95, 0, 1.0, banned_ids(631))
    masked = probs(logits, 0.95, 0, 1.0, banned_ids(631, voice_mask("P2", "NO")))
    keep = ~torch.from_numpy(voice_mask("P2", "NO"))
    keep[0] = False
    expected = free[keep] / free[keep].sum()
    torch.testing.assert_close(masked[keep], expected, atol=1e-6, rtol=1e-5)
    waits = list(WAITS)
    assert float(masked[waits].sum()) == pytest.approx(float(free[waits].sum() / free[keep].sum()), rel=1e-5)


def test_top_k_keeps_k_most_probable(reference):
    logits, _ = reference
    p = probs(logits, 1.0, 5, 1.0, banned_ids(631))
    assert int((p > 0).sum()) == 5
    top5 = torch.topk(logits[1:], 5).indices + 1
    assert set(torch.nonzero(p).flatten().tolist()) == set(top5.tolist())


def test_top_p_keeps_smallest_nucleus(reference):
    logits, _ = reference
    full = probs(logits, 1.0, 0, 1.0, banned_ids(631))
    p = probs(logits, 1.0, 0, 0.5, banned_ids(631))
    sorted_full, order = torch.sort(full, descending=True)
    n = int((torch.cumsum(sorted_full, 0) < 0.5).sum()) + 1   # tokens needed to reach 0.5
    assert int((p > 0).sum()) == n
    assert set(torch.nonzero(p).flatten().tolist()) == set(order[:n].tolist())
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-6)
    # a tiny top_p still keeps the single most probable token
    tiny = probs(logits, 1.0, 0, 1e-9, banned_ids(631))
    assert int((tiny > 0).sum()) == 1 and int(tiny.argmax()) == int(order[0])


def test_greedy_is_argmax_of_allowed(reference):
    logits, _ = reference
    g = torch.Generator().manual_seed(0)
    tok = sample(logits, SamplingSettings(temperature=0), banned_ids(631), g)
    assert tok == 1 + int(logits[1:].argmax())


@pytest.mark.parametrize("bad", [
    dict(temperature=-0.1), dict(temperature=float("nan")), dict(temperature="hot"),
    dict(top_k=-1), dict(top_k=2.5), dict(top_p=0.0), dict(top_p=1.5), dict(seed=-3), dict(seed="x"),
])
def test_settings_validation(bad):
    with pytest.raises(ValueError):
        SamplingSettings(**bad)


@pytest.mark.parametrize("t", [0.5, 1.3, 2.0])
def test_temper_waits_changes_which_wait_never_whether_nor_any_other_token(t):
    logits = torch.randn(631, generator=torch.Generator().manual_seed(4)) * 3
    waits = torch.zeros(631, dtype=torch.bool)
    waits[list(WAITS)] = True
    p0, p1 = torch.softmax(logits, 0), torch.softmax(temper_waits(logits, t), 0)
    assert torch.allclose(p1[~waits], p0[~waits], atol=1e-7)               # every other token as it was
    assert float(p1[waits].sum()) == pytest.approx(float(p0[waits].sum()), abs=1e-6)
    w0, w1 = p0[waits] / p0[waits].sum(), p1[waits] / p1[waits].sum()      # among the waits: p ** (1 / t)
    expect = w0 ** (1 / t) / (w0 ** (1 / t)).sum()
    assert torch.allclose(w1, expect, rtol=1e-4, atol=1e-9)


def test_temper_waits_at_1_and_with_no_wait_possible_leaves_the_logits():
    logits = torch.randn(631)
    assert temper_waits(logits, 1.0) is logits
    none = logits.clone()
    none[list(WAITS)] = -float("inf")
    assert torch.equal(temper_waits(none, 1.3), none)
