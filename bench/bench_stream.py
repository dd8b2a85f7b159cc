"""How much the generation core adds per token on top of the model: sampler and Stream bookkeeping.

Prints figures, asserts nothing. Usage: .venv/bin/python bench/bench_stream.py [--model DIR] [--tokens N]
Without --model it times the sampler and the Stream over a model whose step costs nothing, i.e. the pure
overhead that every generated token pays in livechip generate and livechip play.
"""

import argparse
import statistics
import time

import torch

from livechip.core import events as ev
from livechip.engine import SamplingSettings, Stream
from livechip.model.sampling import banned_ids, sample


class FreeModel:
    """A model whose step returns fixed logits instantly: isolates the Stream's own cost."""

    def __init__(self):
        self.logits = torch.randn(1, 1, len(ev.VOCAB), generator=torch.Generator().manual_seed(0)) * 3
        self.position = 0

    def setup_cache(self, batch_size=1, max_rollback=1024, mem_len=None):
        self.position = 0

    def reset_cache(self):
        self.position = 0

    def rollback(self, position):
        self.position = position

    def step(self, tokens):
        self.position += tokens.shape[1]
        return self.logits.expand(1, tokens.shape[1], -1)


def percentiles(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2], xs[int(len(xs) * 0.99)], xs[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model folder to time the whole loop with (default: overhead only)")
    ap.add_argument("--tokens", type=int, default=5000)
    args = ap.parse_args()
    torch.set_num_threads(1)

    logits = FreeModel().logits[0, 0]
    banned = banned_ids(len(ev.VOCAB), ev.voice_token_mask(("P1",)))
    g = torch.Generator().manual_seed(0)
    for name, s in [("paper (t 0.95, k 32)", SamplingSettings()),
                    ("top-p 0.9, no top-k", SamplingSettings(top_k=0, top_p=0.9)),
                    ("greedy", SamplingSettings(temperature=0))]:
        times = []
        for _ in range(args.tokens):
            t0 = time.perf_counter()
            sample(logits, s, banned, g)
            times.append(time.perf_counter() - t0)
        p50, p99, mx = percentiles(times)
        print(f"sample() {name:24s} p50 {p50 * 1e6:6.1f} us  p99 {p99 * 1e6:6.1f} us  max {mx * 1e6:7.1f} us")

    if args.model:
        from livechip.model.checkpoint import load_model
        model = load_model(args.model).eval()
        label = args.model
    else:
        model, label = FreeModel(), "a free model (overhead only)"
    with torch.inference_mode():
        stream = Stream(model, SamplingSettings(seed=0))
        times = []
        for _ in range(args.tokens):
            t0 = time.perf_counter()
            stream.generate_until(10**12, max_tokens=1)
            times.append(time.perf_counter() - t0)
        p50, p99, mx = percentiles(times)
        print(f"Stream.generate_until, one token, {label}: p50 {p50 * 1e6:.1f} us  p99 {p99 * 1e6:.1f} us  "
              f"max {mx * 1e6:.1f} us  ({1 / statistics.mean(times):.0f} tokens/s)")
        times = []
        for _ in range(200):
            stream.generate_until(10**12, max_tokens=20)
            t0 = time.perf_counter()
            stream.revoke_after(stream.history[-10][1])
            stream.next_logits()
            times.append(time.perf_counter() - t0)
        p50, p99, mx = percentiles(times)
        print(f"revoke_after 10 tokens + next_logits: p50 {p50 * 1e6:.1f} us  p99 {p99 * 1e6:.1f} us")


if __name__ == "__main__":
    main()
