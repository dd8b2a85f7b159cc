"""Soak test of the live engine on a real JACK server (dummy driver): does the music keep time for minutes?

Runs the engine in this process with audio and MIDI on a private jackd (dummy driver, 48 kHz, 256-frame
periods by default), a test DAW client recording the `livechip` MIDI port, and prints:
- xruns: the server's XRun reports and PortAudio's output-underflow flags during the run (with when each came),
  and the server's while the engine stops, apart;
- the audio callback: how late it starts relative to its period (GIL waits show up here) and how long it runs;
- MIDI out: send time minus scheduled time, p50/p99/max;
- how far ahead of now the schedule stays (min/median);
- CPU use of the engine process and the model process, and their memory at the start and the end;
- the engine process's garbage collections: how many of each generation, and the longest (the collector holds
  the GIL, so a long one makes the audio callback and every Python JACK client of the process wait);
- page faults of the engine, model and server processes;
- the hypervisor's steal time on a virtual machine (bench/steal.py), and how many of the callbacks that started
  or ran 2 ms or more late a steal followed, against the chance of a moment picked at random.

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_soak.py                          # 10 minutes, default model, model in its own process
    .venv/bin/python bench/bench_soak.py --seconds 60 --worker thread
    .venv/bin/python bench/bench_soak.py --seconds 60 --busy      # plus a model stepping non-stop in this process
"""

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.jack_helpers import JackServer, MidiRecorder  # noqa: E402

from steal import Steal, coincidence  # noqa: E402  (bench/steal.py)
from steal import summary as steal_summary  # noqa: E402


def pct(xs, qs=(50, 99, 100)):
    xs = np.asarray(xs, dtype=np.float64)
    if not len(xs):
        return "n/a"
    return " / ".join(f"{np.percentile(xs, q) * 1000:.3f}" for q in qs)


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def proc_stat(pid):
    """(cpu seconds, resident MB) of a process."""
    f = stat_fields(pid)
    if f is None:
        return float("nan"), float("nan")
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), int(f[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def faults(pid):
    """(minor, major) page faults of a process so far."""
    f = stat_fields(pid)
    return (0, 0) if f is None else (int(f[7]), int(f[9]))


class Drain:
    """Collects the newest entries of a ring of figures (`read()` returns them oldest first, `count()` counts
    every entry ever written) into one preallocated array of `capacity` entries, so minutes of figures survive a
    ring of seconds without this process's memory growing while it is measured."""

    def __init__(self, read, count, capacity, width=1):
        self.read, self.count, self.seen, self.n = read, count, 0, 0
        self.out = np.ones((capacity, width))      # written now, so its pages are resident before the start

    def __call__(self):
        vals = self.read().reshape(-1, self.out.shape[1])
        n = self.count()
        new = min(n - self.seen, len(vals), len(self.out) - self.n)
        if new > 0:
            self.out[self.n:self.n + new] = vals[len(vals) - new:]
            self.n += new
        self.seen = n

    def all(self):
        return self.out[:self.n]


def busy_load(model, stop):
    """A second model stepping non-stop in this process: the worst case for the GIL."""
    import torch

    from livechip.model.stream import Stream
    s = Stream(model, max_rollback=64)
    with torch.inference_mode():
        while not stop.is_set():
            s.generate_until(s.frontier + 10**9, max_tokens=32)
            s.prime(())


class GcTimes:
    """Durations of this process's garbage collections by generation (gc.callbacks)."""

    def __init__(self):
        import gc
        self.t0 = 0.0
        self.times = {0: [], 1: [], 2: []}
        gc.callbacks.append(self)

    def __call__(self, phase, info):
        if phase == "start":
            self.t0 = time.perf_counter()
        else:
            self.times[info["generation"]].append(time.perf_counter() - self.t0)

    def summary(self):
        return ", ".join(f"gen{g} {len(t)} (max {max(t) * 1e3:.1f} ms)" if t else f"gen{g} 0"
                         for g, t in self.times.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--worker", choices=("process", "thread"), default="process")
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--horizon", type=float, default=None)
    ap.add_argument("--seed", type=int, help="the model's sampling seed (default: a new one each run)")
    ap.add_argument("--busy", action="store_true", help="also step a model non-stop in this process")
    ap.add_argument("--switch-interval", type=float, help="sys.setswitchinterval (seconds)")
    args = ap.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)

    from livechip.control.surface import Control
    from livechip.engine.config import DEFAULT_HORIZON
    from livechip.engine.engine import Engine, EngineConfig

    def load_model(path):
        import torch
        torch.set_num_threads(1)
        from livechip.model.checkpoint import load_model
        return load_model(path)

    # in process mode this process never loads the model (as in `livechip play`)
    model = load_model(args.model) if args.worker == "thread" else args.model
    control = Control()
    control.set("horizon", args.horizon or DEFAULT_HORIZON)
    if args.seed is not None:
        control.set("seed", args.seed)
    with JackServer(period=args.period, rate=args.rate) as jack:
        daw = MidiRecorder(keep=False)     # counts only: this process's memory is measured
        engine = Engine(model, EngineConfig(horizon=control.get("horizon"), worker=args.worker), control,
                        model_dir=args.model, log=lambda m: print(f"  {m}"))
        engine.start()
        jack.connect("livechip:livechip", daw.port)
        stop = threading.Event()
        if args.busy:
            threading.Thread(target=busy_load, args=(load_model(args.model), stop), daemon=True).start()
            time.sleep(2.0)
        v, snd = engine.synth, engine.sender
        cb = Drain(v.timing, lambda: v.blocks, int(args.seconds * args.rate / args.period * 1.2) + 4096, 3)
        mid = Drain(snd.timing, lambda: snd.n, int(args.seconds * 400) + 4096)
        time.sleep(1.0)
        pid_w = engine.worker.proc.pid if engine.worker.kind == "process" else None
        cpu0, rss0 = proc_stat(os.getpid())
        wcpu0, wrss0 = proc_stat(pid_w) if pid_w else (0.0, 0.0)
        xr0, uf0 = jack.xruns(), engine.audio.xruns
        pids = {"engine": os.getpid(), "model": pid_w, "jackd": jack.proc.pid}
        f0 = {k: faults(p) for k, p in pids.items() if p}
        gct = GcTimes()
        steal = Steal(args.seconds)
        t0 = time.monotonic()
        end = t0 + args.seconds
        rss = []                  # (seconds, engine MB, model process MB), every 5 s
        xrun_at = []              # seconds into the run of each xrun the server logged (to the next 5 s)
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            cb()
            mid()
            xrun_at += [round(time.monotonic() - t0)] * (jack.xruns() - xr0 - len(xrun_at))
            rss.append((time.monotonic() - t0, proc_stat(os.getpid())[1], proc_stat(pid_w)[1] if pid_w else 0.0))
        wall = time.monotonic() - t0
        cpu1, rss1 = proc_stat(os.getpid())
        wcpu1, wrss1 = proc_stat(pid_w) if pid_w else (0.0, 0.0)
        f1 = {k: faults(p) for k, p in pids.items() if p}
        stop.set()
        status = engine.status()
        leads = engine.leads()
        lead = leads[leads[:, 0] >= t0, 1].tolist()
        lead_t = leads[leads[:, 0] >= t0, 0].tolist()
        xruns, underflows = jack.xruns() - xr0, engine.audio.xruns - uf0
        engine.stop()
        time.sleep(0.2)
        daw.close()
        xruns_stop = jack.xruns() - xr0 - xruns
        import collections
        import re
        late_clients = collections.Counter(re.findall(r"client = (\S+) was not finished", jack.log()))

    t = cb.all().reshape(-1, 3)
    entries, durs = t[:, 0], t[:, 1]
    period = args.period / args.rate
    # lateness: how much later than its period's start a callback began, against the earliest in each second
    e = entries - t[:, 2] / args.rate
    late = np.empty_like(e)
    w = int(1.0 / period)
    for i in range(0, len(e), w):
        late[i:i + w] = e[i:i + w] - e[i:i + w].min()
    errs = mid.all()[:, 0]
    print(f"soak: {wall:.0f} s on JACK dummy {args.rate} Hz / {args.period} frames, model {args.model} "
          f"({args.worker}{', busy model thread' if args.busy else ''}), horizon {control.get('horizon')} s")
    print(f"xruns: {xruns} (server log), {underflows} (PortAudio underflow flags), "
          f"{status['late']} events late for their block, {status['callback_errors']} callback errors; "
          f"{xruns_stop} more while stopping")
    if xrun_at:
        print(f"  xruns at (s into the run, to the next 5 s): {xrun_at}")
    if late_clients:
        print(f"  clients the server found not finished (whole run): {dict(late_clients)}")
    print(f"audio callback start lateness p50/p99/max ms: {pct(late)}   duration p50/p99/max ms: {pct(durs)}"
          f"   ({len(entries)} callbacks, period {period * 1000:.2f} ms)")
    print(f"MIDI send time - scheduled time p50/p99/max ms: {pct(errs)}   ({len(errs)} events, "
          f"{daw.count} messages received by the DAW client)")
    if lead:
        k = int(np.argmin(lead))
        print(f"schedule ahead of now: min {min(lead):.3f} s (at {lead_t[k] - t0:.0f} s), "
              f"median {float(np.median(lead)):.3f} s")
        if min(lead) < 0:     # where it fell behind: the lead, and the callbacks' frames against their times
            near = [(round(lt - t0, 2), round(a, 3)) for lt, a in zip(lead_t, lead) if abs(lt - lead_t[k]) < 1.5]
            print(f"  lead around the minimum (s, s): {near}")
            ent = t[:, 0] - t0
            sel = np.abs(ent - (lead_t[k] - t0)) < 10.0
            fr = t[sel, 2] / args.rate - ent[sel]       # transport seconds minus wall seconds: steps = jumps
            jumps = np.flatnonzero(np.abs(np.diff(fr)) > 0.05)
            print("  callback transport jumps (at s: by s): " + ", ".join(
                f"{ent[sel][j + 1]:.2f}: {fr[j + 1] - fr[j]:+.3f}" for j in jumps[:20]))
    # the moments the audio path stalled (a callback that started or ran 2 ms or more late), against steal
    steals = steal.events()
    print(steal_summary(steals))
    slow = np.flatnonzero((late > 0.002) | (durs > 0.002))
    if len(slow):
        worst = slow[np.argsort(-np.maximum(late[slow], durs[slow]))][:20]
        print(f"  callbacks 2 ms or more late or long: {len(slow)}, "
              f"{coincidence(entries[slow], steals, entries[-1] - entries[0])}")
        print("  the worst (s into the run: late / ran ms): " + ", ".join(
            f"{entries[i] - t0:.2f}: {late[i] * 1000:.1f}/{durs[i] * 1000:.1f}" for i in sorted(worst)))
    print(f"garbage collections in the engine process: {gct.summary()}")
    print(f"model restarts: {engine.restarts}; MIDI sender failure: {snd.failed}; engine failure: {engine.failed}")
    print(f"model tokens: {status['tokens']} ({status['tokens'] / wall:.1f}/s)")
    print(f"CPU: engine process {100 * (cpu1 - cpu0) / wall:.1f} %, model process "
          f"{100 * (wcpu1 - wcpu0) / wall:.1f} % (of one core)")
    print(f"memory (RSS): engine {rss0:.0f} -> {rss1:.0f} MB, model process {wrss0:.0f} -> {wrss1:.0f} MB; "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("page faults in the run (minor/major): " + ", ".join(
        f"{k} {f1[k][0] - f0[k][0]}/{f1[k][1] - f0[k][1]}" for k in f0))
    if len(rss) > 2:
        step = max(1, len(rss) // 10)
        print("RSS over time, s: engine MB / model MB: " + ", ".join(
            f"{t:.0f}: {a:.0f}/{b:.0f}" for t, a, b in rss[::step]))
        half = [a for t, a, _ in rss if t >= wall / 2]
        print(f"engine RSS growth over the second half: {half[-1] - half[0]:+.1f} MB")


if __name__ == "__main__":
    main()
