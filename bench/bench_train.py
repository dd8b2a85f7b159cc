"""Training throughput on this machine: tokens/s and model FLOP/s of a training step, against the GEMM peak.

    .venv/bin/python bench/bench_train.py                # everything: 1 and 2 threads, both sizes, every option
    .venv/bin/python bench/bench_train.py --quick        # a smoke test: shipped size, 1 thread, 1 step, no compile
    .venv/bin/python bench/bench_train.py --steps 20 --budget 60 --threads 2 --size 8x384

First the machine: square float32 and bfloat16 matrix products (GFLOP/s) at each thread count. Then, for the
shipped size (models/default/config.json) and a larger one (8 layers, d_model 384, 6 heads x 64, d_inner 1536, the
shipped segment and memory), the step `livechip train` runs (livechip.model.train.train_step: forward with memory,
backward, clipped AdamW) on batches of the NES-MDB valid split: eager float32 with torch's default AdamW, then one
change at a time: AdamW foreach, AdamW fused, bfloat16 autocast on the CPU (`--cpu-bf16`), torch.compile, and the
batch x segment shapes 16 x 256 and 64 x 64 (4,096 tokens a step like 32 x 128). FLOPs per token are counted once
per shape by torch.utils.flop_counter (matrix products of forward and backward; the optimizer's elementwise work is
not counted) beside the 6 x parameters rule. Every configuration starts from the same weights and batches, so the
loss after its steps shows whether an option changes what is computed.

Each configuration runs warm-up steps until its memory is full (mem_len / segment, one more with torch.compile,
whose compile time is shown apart: it compiles again while the memory's shape changes), then
`--steps` steps or as many as fit in `--budget` seconds (at least one). A configuration whose estimated step
exceeds the budget is not run: its estimate is shown instead (bfloat16 on a CPU without bfloat16 arithmetic
takes minutes a step). The estimate: a one-stream forward, timed, x batch, x the ratio of fp32 eager's measured
step to its own such forward.
"""

import argparse
import copy
import json
import math
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from livechip.model import data
from livechip.model.train import TrainConfig, optimizer, train_step
from livechip.model.txl import TransformerXL, TXLConfig

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT.parent / "shared" / "data" / "nesmdb_tx1" / "valid"
SIZES = {"shipped": {},     # models/default/config.json
         "8x384": dict(n_layer=8, n_head=6, d_head=64, d_model=384, d_inner=1536)}   # its segment and memory
BF16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)   # noqa: E731
# name: (batch, segment, AdamW implementation, autocast, compile)
OPTIONS = {
    "fp32 eager":    (32, 128, {}, nullcontext, False),
    "AdamW foreach": (32, 128, {"foreach": True}, nullcontext, False),
    "AdamW fused":   (32, 128, {"fused": True}, nullcontext, False),
    "bf16 autocast": (32, 128, {}, BF16, False),
    "torch.compile": (32, 128, {}, nullcontext, True),
    "16 x 256":      (16, 256, {}, nullcontext, False),
    "64 x 64":       (64, 64, {}, nullcontext, False),
}


def model_config(size, mem_len=None):
    """The shipped model's configuration (models/default/config.json), with `size`'s layers and widths (and
    `mem_len`, the training memory, where given)."""
    cfg = json.loads((ROOT / "models" / "default" / "config.json").read_text())["model"]
    cfg = {**cfg, **SIZES[size], "d_embed": None, "dropout": 0.0, "dropatt": 0.0}
    return TXLConfig.from_dict({**cfg, "mem_len": mem_len or cfg["mem_len"]})


def gemm(n, dtype, budget):
    """GFLOP/s of an n x n product in `dtype` (best of the repetitions that fit in `budget` s), and the time of
    one product."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best, start = math.inf, time.perf_counter()
    while time.perf_counter() - start < budget:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9, best


def gemm_peak(dtype, budget):
    """The best GFLOP/s over sizes 256..2048 (up to the last size whose one product fits in budget / 4)."""
    best = 0.0
    for n in (256, 512, 1024, 2048):
        rate, t = gemm(n, dtype, budget / 4)
        best = max(best, rate)
        if 8 * t > budget / 4:      # the next size takes 8 times as long
            break
    return best


def flops_per_token(model, T):
    """Counted FLOPs of one training step's forward and backward per token (one stream, with full memory)."""
    m = copy.deepcopy(model)
    x = torch.randint(1, m.cfg.n_token, (1, T))
    _, mems = m(x)
    counter = FlopCounterMode(display=False)
    with counter:
        logits, _ = m(x, mems)
        logits.float().logsumexp(-1).mean().backward()
    return counter.get_total_flops() / T


def batches(songs, B, T):
    return data.Batches(songs, B, T, None, seed=0)


def probe(model, B, T, autocast):
    """Seconds of a one-stream forward (with memory) x B: what a step's time is estimated from."""
    x = torch.randint(1, model.cfg.n_token, (1, T))
    with torch.no_grad(), autocast():
        _, mems = model(x)
        t = time.perf_counter()
        model(x, mems)
    return (time.perf_counter() - t) * B


def run(cfg, songs, option, steps, budget, scale=None):
    """tokens/s, seconds per step (median), steps measured, the loss after them, compile seconds and the probe;
    or only the estimated step time when that exceeds `budget`: the probe x `scale` (the fp32 eager step's time
    over its probe; None: 3, a forward and a backward)."""
    B, T, adamw, autocast, compiled = OPTIONS[option]
    torch.manual_seed(0)
    model = TransformerXL(TXLConfig(**{**cfg.to_dict(), "tgt_len": T})).train()
    pr = probe(model, B, T, autocast)
    if option != "fp32 eager" and pr * (scale or 3) > budget:     # the baseline always runs
        return {"estimate": pr * (scale or 3)}
    opt = optimizer(model, TrainConfig(), **adamw)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    net = torch.compile(model) if compiled else model
    feed = batches(songs, B, T)
    mems = None
    start = time.perf_counter()
    warm_steps = -(-cfg.mem_len // T) + compiled       # until the memory is full (its shape then stays)
    for _ in range(warm_steps):
        x, y = next(feed)
        loss, mems = train_step(net, opt, scaler, x, y, mems, 0.25, autocast)
    warm = time.perf_counter() - start
    times = []
    while len(times) < steps and (not times or time.perf_counter() - start - warm < budget):
        x, y = next(feed)
        t = time.perf_counter()
        loss, mems = train_step(net, opt, scaler, x, y, mems, 0.25, autocast)
        times.append(time.perf_counter() - t)
    step = sorted(times)[len(times) // 2]
    return {"tokens_s": B * T / step, "step_s": step, "steps": len(times), "loss": loss.item(),
            "compile_s": warm if compiled else None, "warm_steps": warm_steps, "probe": pr}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: the shipped size, 1 thread, 1 step, 5 s budget, no compile")
    p.add_argument("--steps", type=int, help="measured steps per configuration (default 10; --quick 1)")
    p.add_argument("--budget", type=float, help="seconds per configuration (default 20; --quick 5)")
    p.add_argument("--threads", help="thread counts, e.g. 1,2 (default 1,2; --quick 1)")
    p.add_argument("--size", choices=SIZES, action="append", help="model size(s) (default: both)")
    p.add_argument("--option", choices=OPTIONS, action="append", help="option(s) (default: all)")
    p.add_argument("--mem-len", type=int, help="training memory (default: the shipped model's)")
    p.add_argument("--no-compile", action="store_true",
                   help="leave out torch.compile (on a busy 2-core CPU its compile took minutes)")
    args = p.parse_args()
    steps = args.steps or (1 if args.quick else 10)
    budget = args.budget or (5.0 if args.quick else 20.0)
    threads = [int(n) for n in (args.threads or ("1" if args.quick else "1,2")).split(",")]
    options = args.option or [o for o in OPTIONS if not ((args.quick or args.no_compile) and OPTIONS[o][4])]
    sizes = args.size or (["shipped"] if args.quick else list(SIZES))

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    print(f"python {shlex.join(['bench/bench_train.py', *sys.argv[1:]])}")
    print(f"torch {torch.__version__}, {cpu}; {steps} step(s) or {budget:g} s per configuration, median step")
    songs = data.load_songs(VALID)
    print(f"data: {len(songs)} songs of {VALID}")

    peak = {}
    print(f"\nGEMM, square 256..2048, best    " + "".join(f"{f'{n} thread(s)':>14}" for n in threads))
    for dtype in (torch.float32, torch.bfloat16):
        for n in threads:
            torch.set_num_threads(n)
            peak[dtype, n] = gemm_peak(dtype, 2.0 if args.quick else 8.0)
        print(f"  {str(dtype).split('.')[-1]:<30}" + "".join(f"{f'{peak[dtype, n]:.1f} GFLOP/s':>14}" for n in threads))

    for size in sizes:
        cfg = model_config(size, args.mem_len)
        torch.manual_seed(0)
        model = TransformerXL(cfg)
        n_params = sum(q.numel() for q in model.parameters())
        print(f"\n{size}: {cfg.n_layer} layers, d_model {cfg.d_model}, {cfg.n_head} x {cfg.d_head} heads, d_inner "
              f"{cfg.d_inner}, mem_len {cfg.mem_len}; {n_params:,} parameters (6N = {6 * n_params / 1e6:.1f} "
              "MFLOP/token)")
        counted = {}
        for T in sorted({OPTIONS[o][1] for o in options}):
            counted[T] = flops_per_token(TransformerXL(TXLConfig(**{**cfg.to_dict(), "tgt_len": T})), T)
        print("  counted forward + backward: " + ", ".join(f"{v / 1e6:.1f} MFLOP/token at segment {T}"
                                                           for T, v in counted.items()))
        print(f"  {'threads':<8}{'option':<16}{'B x T':>9}{'tokens/s':>10}{'ms/step':>9}{'GFLOP/s':>9}"
              f"{'% peak':>8}{'loss':>8}  note")
        for n in threads:
            torch.set_num_threads(n)
            base = scale = None
            for option in options:
                B, T, _, autocast, _ = OPTIONS[option]
                try:
                    r = run(cfg, songs, option, steps, budget, scale)
                except Exception as e:     # an option this torch or machine lacks: say so, measure the rest
                    r = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"}
                dtype = torch.bfloat16 if autocast is BF16 else torch.float32
                row = f"  {n:<8}{option:<16}{f'{B} x {T}':>9}"
                if "error" in r:
                    print(f"{row}  failed: {r['error'][:200]}")
                    continue
                if "estimate" in r:
                    print(f"{row}{'-':>10}{'-':>9}{'-':>9}{'-':>8}{'-':>8}  not run: "
                          f"a step would take ~{r['estimate']:.0f} s (> {budget:g} s)")
                    continue
                flops = counted[T] * r["tokens_s"] / 1e9
                if option == "fp32 eager":
                    base, scale = r["tokens_s"], r["step_s"] / r["probe"]
                note = f"{r['steps']} step{'s' * (r['steps'] != 1)}"
                note += f", {r['tokens_s'] / base:.2f}x fp32 eager" if base else ""
                if r["compile_s"] is not None:
                    note += f", compile + {r['warm_steps']} steps {r['compile_s']:.0f} s"
                print(f"{row}{r['tokens_s']:>10,.0f}{r['step_s'] * 1e3:>9.0f}"
                      f"{flops:>9.1f}{100 * flops / peak[dtype, n]:>7.0f}%{r['loss']:>8.3f}  {note}", flush=True)


if __name__ == "__main__":
    main()
