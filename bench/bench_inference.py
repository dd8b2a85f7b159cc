"""Generation speed of the Transformer-XL on this machine, against LakhNES's way and against memory bandwidth.

    .venv/bin/python bench/bench_inference.py                              # LakhNES size, and models/default if present
    .venv/bin/python bench/bench_inference.py --model DIR --threads 1
    .venv/bin/python bench/bench_inference.py --model models/default --skip-lakhnes --full-eval   # whole test split

For each model, on the same weights: tokens/s of the plain path (LakhNES's sampler: each token a one-token segment
over a memory of mem_len hidden states, keys and values re-projected every time), of the cached step in float32,
int8 weights (weight-only int8 linear layers) and int8 weights+kv (also int8 keys, values and positional keys in
the cache: quantize_int8's default), the ratio of each to the plain path, a whole token as `play` draws it (the
int8 step, sampling and recall, livechip.model.recall, at 0 and at its default), per-step latency p50/p99/max, the
CPU time per step (this thread's own: other processes on a shared machine inflate wall time, much less CPU time),
the cost of a rollback, the real-time factor (tokens/s / 57, NES-MDB's mean event rate), and the fraction reached
of the bound that memory bandwidth puts on a batch-1 step: bytes a step must read (weights; and weights plus the
cache's keys, values and positional keys) / measured read bandwidth. For a saved model it also prints the
perplexity cost of int8 on the NES-MDB test split (a subset unless --full-eval), through livechip.model.evaluate
(LakhNES eval.py's protocol).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from livechip.model.quantize import Int8Linear, quantize_int8
from livechip.model.txl import TransformerXL, TXLConfig

EVENTS_PER_SECOND = 57      # mean event rate of NES-MDB music
LAKHNES = TXLConfig(n_layer=12, n_head=8, d_head=64, d_model=512, d_inner=2048, tgt_len=512, mem_len=512)
ROOT = Path(__file__).resolve().parents[1]
TEST_SPLIT = ROOT.parent / "shared" / "data" / "nesmdb_tx1" / "test"


def bandwidth():
    """(read, copy) bytes per second with torch's threads: sum of a 256 MiB tensor, and a 256 MiB copy counted
    read + write (best of 5; this thread's CPU time with one thread, which other processes barely disturb,
    wall time with several)."""
    src = torch.ones(64 * 2**20)
    dst = torch.empty_like(src)
    read = min(_time(src.sum) for _ in range(5))
    copy = min(_time(lambda: dst.copy_(src)) for _ in range(5))
    return src.numel() * 4 / read, 2 * src.numel() * 4 / copy


def _time(fn):
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    t = clock()
    fn()
    return clock() - t


def step_bytes(model, mem_len):
    """(weights, cache) bytes one cached batch-1 step reads: every linear layer but the positional ones (whose
    keys the cache holds), one embedding row; the keys, values and positional keys of mem_len + 1 positions."""
    cfg = model.cfg
    n = model.tok_emb.weight[0].numel() * 4
    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.Linear, Int8Linear)) and not name.endswith("attn.wr"):
            n += m.weight.numel() * m.weight.element_size() + (m.bias.numel() * 4 if m.bias is not None else 0)
            n += m.scale.numel() * 4 if isinstance(m, Int8Linear) else 0
    int8 = any(layer.attn.kv_int8 for layer in model.layers)
    rows = cfg.n_layer * 3 * (mem_len + 1) * cfg.n_head       # key, value, positional key rows of d_head
    return n, rows * (cfg.d_head + 4) if int8 else rows * cfg.d_head * 4


def plain_path(model, mem_len, steps):
    """LakhNES's sampler: one-token segments, the memory of mem_len hidden states carried and re-projected."""
    tokens = torch.randint(1, model.cfg.n_token, (1, mem_len + steps))
    with torch.inference_mode():
        _, mems = model(tokens[:, :mem_len], mem_len=mem_len)
        lat, cpu = [], []
        for p in range(mem_len, mem_len + steps):
            t, c = time.perf_counter(), time.thread_time()
            _, mems = model(tokens[:, p:p + 1], mems, mem_len=mem_len)
            lat.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
    return lat, cpu


def cached_path(model, mem_len, max_rollback, steps):
    """Cached steps with the memory window full and sliding; returns step latencies and rollback costs."""
    tokens = torch.randint(1, model.cfg.n_token, (1, mem_len + 8 + steps))
    with torch.inference_mode():
        model.setup_cache(batch_size=1, max_rollback=max_rollback, mem_len=mem_len)
        model.step(tokens[:, :mem_len + 8])
        for p in range(mem_len, mem_len + 8):            # warm-up (first call compiles or loads the kernels)
            model.rollback(p)
            model.step(tokens[:, p:p + 1])
        lat, cpu = [], []
        for p in range(mem_len + 8, mem_len + 8 + steps):
            t, c = time.perf_counter(), time.thread_time()
            model.step(tokens[:, p:p + 1])
            lat.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
        top = model.position
        lo = max(0, top - max_rollback)                  # as far back as the cache reaches
        back = []
        for k in range(1, (top - lo) // 4):              # a chain of one-token rollbacks ...
            t = time.perf_counter()
            model.rollback(top - k)
            back.append(time.perf_counter() - t)
        k = model.position - lo                          # ... then the rest of the way in one
        t = time.perf_counter()
        model.rollback(lo)
        far = (time.perf_counter() - t, k)
    model.cache = None
    return lat, cpu, back, far


def drawn_path(model, mem_len, max_rollback, steps, recall):
    """A whole token as `play` draws it: a Stream's step, sampling (play's settings, `recall` as given, the
    model folder's wait temperature) and its bookkeeping, after a primer of heard music (so recall has
    counts); CPU ms per token of this thread."""
    from livechip.core import events as ev
    from livechip.model.sampling import SamplingSettings
    from livechip.model.stream import Stream

    heard = [ev.note_token(("P1", "P2", "TR")[k % 3], 48 + (7 * k) % 24) if k % 2 else ev.token_id("WT_200")
             for k in range(mem_len)]
    with torch.inference_mode():
        s = Stream(model, SamplingSettings(seed=0, recall=recall), max_rollback=max_rollback, mem_len=mem_len)
        s.prime(heard)
        cpu = []
        for _ in range(8 + steps):
            c = time.thread_time()
            s.generate_until(s.frontier + 10**9, max_tokens=1)
            cpu.append(time.thread_time() - c)
    model.cache = None
    return cpu[8:]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def report(name, model, args, bw):
    cfg = model.cfg
    mem_len = args.mem_len or model.gen_mem_len or cfg.mem_len
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    print(f"\n== {name}: {cfg.n_layer} layers, d_model {cfg.d_model}, {cfg.n_head}x{cfg.d_head} heads, "
          f"d_inner {cfg.d_inner}, {n_params / 1e6:.1f}M parameters, mem_len {mem_len}, "
          f"max_rollback {args.max_rollback}, {torch.get_num_threads()} thread(s)")
    lat, cpu = plain_path(model, mem_len, args.plain_steps)
    rows = [("plain (LakhNES sampler)", lat, cpu, None, step_bytes(model, mem_len))]
    q = quantize_int8(model)
    for label, m in (("cached float32", model), ("cached int8 weights", quantize_int8(model, kv=False)),
                     ("cached int8 weights+kv", q)):
        lat, cpu, back, far = cached_path(m, mem_len, args.max_rollback, args.steps)
        rows.append((label, lat, cpu, (back, far), step_bytes(m, mem_len)))
    plain_tps, plain_cpu = len(rows[0][1]) / sum(rows[0][1]), statistics.median(rows[0][2])
    print(f"{'path':24} {'tok/s':>7} {'x plain':>7} {'x real':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
          f"{'cpu ms':>7} {'tok/s cpu':>9} {'x plain':>7} {'x real':>6} {'MB w+c':>11} {'bound':>6} "
          f"{'of w':>5} {'of w+c':>6}")
    for label, lat, cpu, _, (wb, cb) in rows:
        tps, c50 = len(lat) / sum(lat), statistics.median(cpu)
        bound = bw / wb
        step = c50 if torch.get_num_threads() == 1 else pct(lat, .5)   # several threads: wall time
        print(f"{label:24} {tps:7.1f} {tps / plain_tps:7.1f} {tps / EVENTS_PER_SECOND:6.2f} "
              f"{pct(lat, .5) * 1e3:7.2f} {pct(lat, .99) * 1e3:7.2f} {max(lat) * 1e3:7.2f} "
              f"{c50 * 1e3:7.2f} {1 / c50:9.1f} {plain_cpu / c50:7.1f} {1 / c50 / EVENTS_PER_SECOND:6.2f} "
              f"{wb / 1e6:5.1f}+{cb / 1e6:5.1f} {bound:6.1f} {1 / step / bound:5.0%} "
              f"{1 / step / (bw / (wb + cb)):6.0%}")
        if label != rows[0][0]:
            print(f"{'':24} cpu ms per step p50 {c50 * 1e3:.2f}, p99 {pct(cpu, .99) * 1e3:.2f}, "
                  f"max {max(cpu) * 1e3:.2f}; wall p99/p50 {pct(lat, .99) / pct(lat, .5):.2f}, "
                  f"cpu p99/p50 {pct(cpu, .99) / c50:.2f}")
    print("(tok/s, p50/p99/max: wall clock; cpu ms: median CPU time of this thread per step, and the tokens/s "
          "and ratios it gives; MB w+c: weights + cache bytes read per step; bound: read bandwidth / weight bytes, "
          "tokens/s; of w, of w+c: tokens/s (CPU time with one thread, wall p50 with several) as a fraction of "
          "the weight-bytes bound and of the bound for all bytes read)")
    if torch.get_num_threads() > 1:
        print("(several threads: the cpu columns count the calling thread only and understate the step; read "
              "the wall-clock columns)")
    from livechip.model.steer import SamplingSettings
    for r in sorted({0.0, SamplingSettings.recall}):
        c = statistics.median(drawn_path(q, mem_len, args.max_rollback, args.steps, r))
        print(f"a drawn token, int8 weights+kv, play's sampling, recall {r:g}, wait temperature "
              f"{q.gen_wait_temperature:g}: cpu ms p50 {c * 1e3:.2f}, "
              f"{1 / c / EVENTS_PER_SECOND:.1f}x real time")
    for label, _, _, rb, _ in rows[1:]:
        back, far = rb
        print(f"rollback ({label}): {statistics.median(back) * 1e6:.1f} us median over {len(back)} one-token "
              f"rollbacks; {far[0] * 1e6:.1f} us for {far[1]} tokens at once")
    return q


def perplexity_cost(model, q, full):
    """Perplexity of float32 and int8 on the NES-MDB test split (the first 25 files unless full)."""
    from livechip.formats.tx1 import find_files
    from livechip.model.evaluate import evaluate, song_tokens

    if not TEST_SPLIT.is_dir():
        print(f"(no {TEST_SPLIT}: int8 perplexity cost not measured)")
        return
    files = find_files([TEST_SPLIT])
    files = files if full else files[:25]
    songs = [song_tokens(p) for p in files]
    print(f"perplexity, NES-MDB test split, {len(files)} files ({'all' if full else 'a subset; --full-eval for all'}"
          "), livechip.model.evaluate (LakhNES eval.py protocol: 10 streams x 128 tokens, mem_len 896):")
    r = {}
    for label, m in (("float32", model), ("int8 w", quantize_int8(model, kv=False)), ("int8", q)):
        t = time.perf_counter()
        r[label] = evaluate(m, songs)
        print(f"  {label:8} perplexity {r[label]['perplexity']:.4f} (NLL {r[label]['nll']:.5f} nats, "
              f"{r[label]['tokens']:,} tokens, {time.perf_counter() - t:.0f} s)")
    for label in ("int8 w", "int8"):
        print(f"  {label} cost: {r[label]['perplexity'] - r['float32']['perplexity']:+.4f} perplexity "
              f"({r[label]['nll'] - r['float32']['nll']:+.5f} nats/event)")
    print("  (int8 w: int8 weights only; int8: int8 weights, keys, values and positional keys, the default)")
    if not full:
        print(f"  full split: .venv/bin/python bench/bench_inference.py --model {sys.argv[sys.argv.index('--model') + 1] if '--model' in sys.argv else 'models/default'} "
              "--skip-lakhnes --full-eval")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a saved model folder (default: models/default if it holds a model)")
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and the step kernels (default 1)")
    ap.add_argument("--mem-len", type=int, help="memory length (default: LakhNES generate.py's 512 for the "
                    "LakhNES-size model, the model folder's generation memory for --model)")
    ap.add_argument("--max-rollback", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=300, help="cached steps timed per precision")
    ap.add_argument("--plain-steps", type=int, default=20, help="plain-path steps timed")
    ap.add_argument("--skip-lakhnes", action="store_true", help="only the --model one")
    ap.add_argument("--full-eval", action="store_true", help="int8 perplexity cost on the whole test split")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from livechip.model import kernels
    kernels.set_threads(args.threads)
    torch.manual_seed(0)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores; other "
          "processes on the machine slow the wall-clock figures below)")
    bw, copy = bandwidth()
    print(f"memory bandwidth, {args.threads} thread(s): read {bw / 1e9:.1f} GB/s (sum of 256 MiB), copy {copy / 1e9:.1f} GB/s "
          "(read + write); bounds below use the read figure")
    if not args.skip_lakhnes:
        report("LakhNES size, random weights", TransformerXL(LAKHNES).eval(),
               argparse.Namespace(**{**vars(args), "mem_len": args.mem_len or 512}), bw)
    model_dir = args.model or ("models/default" if (ROOT / "models/default/model.safetensors").exists() else None)
    if model_dir:
        from livechip.model.checkpoint import load_model
        model = load_model(model_dir).eval()
        q = report(model_dir, model, args, bw)
        perplexity_cost(model, q, args.full_eval)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
