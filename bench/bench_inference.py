"""Generation speed of the Transformer-XL on this machine, against LakhNES's way and against memory bandwidth.

    python3 bench/bench_inference.py                  # LakhNES-size model (random weights)
    python3 bench/bench_inference.py --model models/default --threads 1

For each model, on the same weights: tokens/s of the plain path (LakhNES's sampler: each token a one-token
segment over a memory of mem_len hidden states, keys and values re-projected every time), of the cached step in
float32 and int8 (dynamic quantization of the linear layers), the ratio of each to the plain path, per-step
latency p50/p99/max, the cost of a rollback, the real-time factor (tokens/s / 57, NES-MDB's mean event rate),
and the fraction reached of the bound that memory bandwidth puts on a batch-1 step (weight bytes / bandwidth).
"""

import argparse
import os
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from livechip.model.quantize import quantize_int8
from livechip.model.txl import TransformerXL, TXLConfig

EVENTS_PER_SECOND = 57      # mean event rate of NES-MDB music
LAKHNES = TXLConfig(n_layer=12, n_head=8, d_head=64, d_model=512, d_inner=2048, tgt_len=512, mem_len=512)


def bandwidth():
    """Bytes read + written per second by a 256 MiB tensor copy (best of 5)."""
    src = torch.ones(64 * 2**20)
    dst = torch.empty_like(src)
    best = min(_timed(lambda: dst.copy_(src)) for _ in range(5))
    return 2 * src.numel() * 4 / best


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def weight_bytes(model):
    """Bytes a batch-1 step streams: every linear layer's weights and biases (int8 packed ones counted as
    1 byte per weight) and one embedding row."""
    n = model.tok_emb.weight[0].numel() * 4
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            n += m.weight.numel() * m.weight.element_size() + (m.bias.numel() * 4 if m.bias is not None else 0)
        elif type(m).__name__ == "Linear" and hasattr(m, "weight") and callable(m.weight):   # dynamic int8
            w, b = m.weight(), m.bias()
            n += w.numel() + (b.numel() * 4 if b is not None else 0)
    return n


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
    return lat, cpu, back, far


def matvec_choice():
    """Per-call time of a 2048x512 matrix-vector product: float32, dynamic int8, weight-only int8."""
    x = torch.randn(1, 512)
    ws = [torch.randn(2048, 512) for _ in range(24)]      # 96 MiB: out of cache, as in a real step
    lin = [torch.nn.Sequential(torch.nn.Linear(512, 2048)) for _ in range(24)]
    for m, w in zip(lin, ws):
        m[0].weight.data = w
    dyn = [quantize_int8_linear(m) for m in lin]
    w8 = [torch.randint(-127, 127, (2048, 512), dtype=torch.int8) for _ in range(24)]
    scales = torch.rand(2048)
    out = {}
    for name, fn in (("float32 F.linear", lambda i: F.linear(x, ws[i])),
                     ("int8 dynamic (fbgemm)", lambda i: dyn[i](x)),
                     ("int8 weight-only (_weight_int8pack_mm)", lambda i: torch._weight_int8pack_mm(x, w8[i], scales))):
        try:
            with torch.inference_mode():
                for i in range(24):
                    fn(i)
                out[name] = statistics.median(_timed(lambda: fn(i % 24)) for i in range(96))
        except RuntimeError as e:
            out[name] = f"unavailable ({str(e).splitlines()[0]})"
    return out


def quantize_int8_linear(seq):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(seq, {torch.nn.Linear}, dtype=torch.qint8)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def report(name, model, args, bw):
    cfg = model.cfg
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    print(f"\n== {name}: {cfg.n_layer} layers, d_model {cfg.d_model}, {cfg.n_head}x{cfg.d_head} heads, "
          f"d_inner {cfg.d_inner}, {n_params / 1e6:.1f}M parameters, mem_len {args.mem_len}, "
          f"max_rollback {args.max_rollback}, {torch.get_num_threads()} thread(s)")
    plain, cpu = plain_path(model, args.mem_len, args.plain_steps)
    plain_tps = len(plain) / sum(plain)
    rows = [("plain (LakhNES sampler)", plain_tps, plain, cpu, None, weight_bytes(model))]
    q = quantize_int8(model)
    for label, m in (("cached float32", model), ("cached int8", q)):
        lat, cpu, back, far = cached_path(m, args.mem_len, args.max_rollback, args.steps)
        rows.append((label, len(lat) / sum(lat), lat, cpu, (back, far), weight_bytes(m)))
        m.cache = None
    print(f"{'path':26} {'tok/s':>8} {'x plain':>8} {'x real':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'cpu ms':>7} {'MB/step':>8} {'bound':>7} {'of bound':>8}")
    for label, tps, lat, cpu, _, wb in rows:
        bound = bw / wb
        print(f"{label:26} {tps:8.1f} {tps / plain_tps:8.1f} {tps / EVENTS_PER_SECOND:7.2f} "
              f"{pct(lat, .5) * 1e3:8.2f} {pct(lat, .99) * 1e3:8.2f} {max(lat) * 1e3:8.2f} "
              f"{pct(cpu, .5) * 1e3:7.2f} {wb / 1e6:8.1f} {bound:7.1f} {tps / bound:8.0%}")
    print("(cpu ms: median CPU time of this thread per step; below the wall time when other processes "
          "take the cores)")
    for label, _, _, _, rb, _ in rows[1:]:
        back, far = rb
        print(f"rollback ({label}): {statistics.median(back) * 1e6:.1f} us median over {len(back)} one-token "
              f"rollbacks; {far[0] * 1e6:.1f} us for {far[1]} tokens at once")
    print("(bound = measured bandwidth / weight bytes per step; the cache's keys, values and positional keys, "
          f"{cfg.n_layer * 3 * (args.mem_len + 1) * cfg.n_head * cfg.d_head * 4 / 1e6:.0f} MB/step here, "
          "come on top)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a saved model folder (model.safetensors + config.json)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--mem-len", type=int, default=512, help="memory length (LakhNES generate.py: 512)")
    ap.add_argument("--max-rollback", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=200, help="cached steps timed per precision")
    ap.add_argument("--plain-steps", type=int, default=20, help="plain-path steps timed")
    ap.add_argument("--skip-lakhnes", action="store_true", help="only the --model one")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores; other "
          "processes on the machine slow every figure below)")
    bw = bandwidth()
    print(f"memory bandwidth (256 MiB tensor copy, read + write): {bw / 1e9:.1f} GB/s")
    print("2048x512 matrix-vector product, median per call:")
    for k, v in matvec_choice().items():
        print(f"  {k:40} {v * 1e6:8.1f} us" if isinstance(v, float) else f"  {k:40} {v}")
    if not args.skip_lakhnes:
        report("LakhNES size, random weights", TransformerXL(LAKHNES).eval(), args, bw)
    if args.model:
        from livechip.model.checkpoint import load_model
        report(args.model, load_model(args.model).eval(), args, bw)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
