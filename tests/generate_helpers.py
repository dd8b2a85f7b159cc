"""Helpers for the sampling, stream and generate tests.

`ToyModel` is a stand-in for `livechip.model.txl.TransformerXL`'s incremental API (setup_cache, step, position,
rollback, reset_cache): a tiny recurrence whose state after every position is kept in a list, so rollback is
truncating that list and is exact by construction; tests that check rollback against the real network use the
fixture checkpoints instead. It exists so the Stream's bookkeeping can be tested fast and deterministically, and
it counts its step calls.
"""

import torch

N_TOKEN = 631


class ToyModel:
    """Deterministic logits that depend on every earlier token (a decaying sum of random embeddings)."""

    def __init__(self, seed=0, dim=16, decay=0.7):
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.randn(N_TOKEN, dim, generator=g)
        self.out = torch.randn(dim, N_TOKEN, generator=g) * 2.0
        self.decay = decay
        self.tokens = []
        self.max_rollback = None
        self.steps = 0          # number of step() calls
        self.fed = []           # size of each step() call

    def setup_cache(self, batch_size=1, max_rollback=1024, mem_len=None):
        assert batch_size == 1
        self.max_rollback = max_rollback
        self.reset_cache()

    def reset_cache(self):
        self.tokens = []
        self.states = []

    @property
    def position(self):
        return len(self.tokens)

    def rollback(self, position):
        assert 0 <= position <= len(self.tokens), (position, len(self.tokens))
        del self.tokens[position:]
        del self.states[position:]

    def step(self, tokens):
        assert tokens.dim() == 2 and tokens.shape[0] == 1
        new = tokens[0].tolist()
        self.steps += 1
        self.fed.append(len(new))
        state = self.states[-1] if self.states else torch.zeros(self.emb.shape[1])
        rows = []
        for t in new:
            state = state * self.decay + self.emb[t]
            self.tokens.append(t)
            self.states.append(state)
            rows.append(state @ self.out)
        return torch.stack(rows).unsqueeze(0)

    def logits_for(self, tokens):
        """Logits [T, V] after each of `tokens`, from scratch."""
        state = torch.zeros(self.emb.shape[1])
        rows = []
        for t in tokens:
            state = state * self.decay + self.emb[t]
            rows.append(state @ self.out)
        return torch.stack(rows)


def tiny_txl(shared, name="tiny_txl"):
    """A real TransformerXL with the weights of fixture checkpoint `name` (written by the original LakhNES
    code)."""
    from livechip.model.lakhnes import load_lakhnes
    from livechip.model.txl import TransformerXL, TXLConfig
    sd, hp = load_lakhnes(shared / "fixtures" / name / "model.pt")
    model = TransformerXL(TXLConfig(**hp))
    model.load_lakhnes_state_dict(sd)
    return model.eval()
