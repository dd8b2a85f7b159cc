"""Choosing the next token from a logits vector: temperature, top-k, top-p and banned ids.

The order of operations is LakhNES's (`utils.py`, `TxlSimpleSampler`), so its published settings give its
distributions: banned ids (`<S>` by default, like its `exclude_eos`) are dropped first, then the logits are
divided by the temperature and softmaxed, then the k most probable tokens are kept and renormalised. Top-p
(nucleus) comes last; LakhNES has none, so the default 1.0 leaves the distribution alone. Temperature 0 means
argmax over the allowed ids.

A voice mask bans that voice's note ids and nothing else, so every other token keeps its probability relative
to the others: the banned mass is shared out in proportion, never pushed onto the waits. Steering
(`livechip.model.steer`) adds two things: more banned ids (note-ons out of the key or out of a voice's range),
which behave exactly like a voice mask, and a `bias` [V] added to the logits after the ban and before the
temperature (so at temperature T it moves log-probabilities by bias / T, and it takes part in choosing the top k).
A banned id stays at probability 0 whatever its bias; among the allowed ids the bias multiplies the odds of the
biased ones (the note-ons, for density) against all the others, which keep their ratios among themselves.

These are plain functions on a single [V] vector. `sample` is called once per generated token; it does a
handful of small tensor operations and no Python loops over the vocabulary.
"""

import math

import torch

from livechip.core import events as ev
from livechip.model.steer import SamplingSettings

__all__ = ["SamplingSettings", "banned_ids", "probs", "sample", "temper_waits"]

_WAITS = torch.tensor([ev.is_wait(i) for i in range(ev.N_TOKENS)])
WAIT_TEMPERATURE = (0.25, 4.0)      # the range a model folder's wait temperature may take


def banned_ids(n_token, banned_notes=None, exclude_start=True):
    """The bool [V] tensor of ids that may not be sampled: `<S>` (id 0) if excluded, plus `banned_notes`
    (a bool array or tensor of the same length, e.g. `events.voice_token_mask(voices)`)."""
    banned = torch.zeros(n_token, dtype=torch.bool)
    if banned_notes is not None:
        banned |= torch.as_tensor(banned_notes, dtype=torch.bool)
    if exclude_start:
        banned[0] = True
    return banned


def probs(logits, temperature=SamplingSettings.temperature, top_k=SamplingSettings.top_k,
          top_p=SamplingSettings.top_p, banned=None, bias=None):
    """The probability vector [V] that `sample` draws from, for float logits [V].

    `banned` is a bool [V] tensor (see `banned_ids`); banned ids get probability 0. `bias` is a float [V] tensor
    added to the logits of the allowed ids (see `livechip.model.steer.density_bias`). Temperature 0 gives
    the one-hot vector of the most probable allowed id.
    """
    logits = logits.detach().float()
    if banned is not None:
        logits = logits.masked_fill(banned, -math.inf)
    if bias is not None:
        logits = logits + bias
    if temperature == 0:
        p = torch.zeros_like(logits)
        p[logits.argmax()] = 1.0
        return p
    p = torch.softmax(logits / temperature, dim=-1)
    if 0 < top_k < p.numel():
        top, idx = torch.topk(p, top_k)
        p = torch.zeros_like(p).scatter_(0, idx, top)
        p /= p.sum()
    if top_p < 1.0:
        sorted_p, idx = torch.sort(p, descending=True)
        before = torch.cumsum(sorted_p, 0) - sorted_p   # mass of the more probable tokens
        sorted_p[before >= top_p] = 0.0                 # the most probable token is always kept
        p = torch.zeros_like(p).scatter_(0, idx, sorted_p)
        p /= p.sum()
    return p


def temper_waits(logits, temperature):
    """`logits` [V] with the waits' distribution among themselves taken to `temperature`, their total
    probability and every other token's kept: which wait, never whether to wait. A model folder's generation
    default (config.json "generation", "wait_temperature"; docs/model.md, "Waits"); 1 changes nothing."""
    if temperature == 1.0 or logits.shape[-1] != _WAITS.numel():
        return logits
    w = logits[_WAITS]
    mass = torch.logsumexp(w, 0)
    if not torch.isfinite(mass):
        return logits
    t = w / temperature
    out = logits.clone()
    out[_WAITS] = t - torch.logsumexp(t, 0) + mass
    return out


def sample(logits, settings, banned=None, generator=None, bias=None):
    """Draw one token id from logits [V] with `settings` (a SamplingSettings); returns an int."""
    p = probs(logits, settings.temperature, settings.top_k, settings.top_p, banned, bias)
    if settings.temperature == 0:
        return int(p.argmax())
    return int(torch.multinomial(p, 1, generator=generator))
