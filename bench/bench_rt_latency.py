"""How late does a SCHED_FIFO thread wake on this machine, with the CPUs idle, busy in user space, or busy in
the kernel? (The question behind the soak's remaining xruns: JACK's threads run SCHED_FIFO, yet miss periods.)

A thread at SCHED_FIFO priority 5 (JACK's clients' priority here) sleeps to absolute deadlines one 256-frame
period at 48 kHz apart (5.33 ms), as JACK's dummy driver does, and records how late it woke. Meanwhile N
processes at normal priority either spin in user space (`spin`) or make the kernel work: map, touch and unmap
64 MiB again and again (`kernel`, what allocating and freeing large buffers costs). On a kernel that does not
preempt kernel code (this one is built PREEMPT_DYNAMIC, `uname -v`; its mode cannot be read without debugfs), a
real-time thread can only take a CPU back from a process when that process leaves the kernel.

With `--per-cpu`, one sleeper is pinned to each CPU and the hypervisor's steal time is sampled beside them
(bench/steal.py): on a virtual machine an idle virtual CPU halts, and waking it is up to the host.

Prints figures, asserts nothing. Needs the right to use SCHED_FIFO (root, or rtprio in limits.conf).

    .venv/bin/python bench/bench_rt_latency.py --seconds 30
    .venv/bin/python bench/bench_rt_latency.py --seconds 600 --loads idle --per-cpu   # does the host stop a CPU?
"""

import argparse
import mmap
import multiprocessing
import os
import time

import numpy as np

from steal import Steal, coincidence, summary  # bench/steal.py

PERIOD = 256 / 48000


def spin(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def kernel(stop):
    n = 64 << 20
    while not stop.is_set():
        m = mmap.mmap(-1, n)
        for i in range(0, n, 4096):      # fault every page in (the kernel zeroes it), then give it all back
            m[i] = 1
        m.close()


def sleeper(seconds, cpu, out):
    """Sleep to deadlines PERIOD apart at SCHED_FIFO 5 (pinned to `cpu` unless None); put (start time, wake-up
    lateness of each deadline in seconds) on `out`, or the error."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
    except OSError as e:
        out.put(f"cannot use SCHED_FIFO here: {e}")
        return
    late = np.zeros(int(seconds / PERIOD) + 1)
    t = t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    step = int(PERIOD * 1e9)
    for i in range(len(late)):
        t += step
        time.sleep(max(0, t - time.clock_gettime_ns(time.CLOCK_MONOTONIC)) / 1e9)
        late[i] = (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - t) / 1e9
    out.put((t0 / 1e9, late))


def measure(seconds, cpus=(None,)):
    """[(start, lateness array)] of one sleeper process per entry of `cpus` (a CPU number, or None: any)."""
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=sleeper, args=(seconds, c, out), daemon=True) for c in cpus]
    for p in procs:
        p.start()
    got = [out.get() for _ in procs]
    for p in procs:
        p.join()
    for g in got:
        if isinstance(g, str):
            raise SystemExit(g)
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="per load (default 30)")
    ap.add_argument("--procs", type=int, default=2, help="load processes (default 2, one a core here)")
    ap.add_argument("--loads", default="idle,spin,kernel", help="which loads, comma-separated (default all)")
    ap.add_argument("--per-cpu", action="store_true",
                    help="one sleeper pinned to each CPU (a stop of either CPU shows), with steal time beside")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0)) if args.per_cpu else [None]
    print(f"kernel {os.uname().release} {os.uname().version}; {os.cpu_count()} CPUs; SCHED_FIFO 5 "
          f"{'thread on each CPU' if args.per_cpu else 'thread'} waking every {PERIOD * 1e3:.2f} ms for "
          f"{args.seconds:g} s per load; {args.procs} load processes")
    print(f"{'load':8} {'cpu':>4} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'> 1 period':>10}")
    loads = {"idle": None, "spin": spin, "kernel": kernel}
    for name in args.loads.split(","):
        fn = loads[name]
        stop = multiprocessing.Event()
        procs = [multiprocessing.Process(target=fn, args=(stop,), daemon=True)
                 for _ in range(args.procs if fn else 0)]
        for p in procs:
            p.start()
        time.sleep(0.5)
        steal = Steal(args.seconds + 1.0) if args.per_cpu else None
        runs = measure(args.seconds, cpus)
        stop.set()
        for p in procs:
            p.join()
        stalls = []
        for cpu, (t0, late) in zip(cpus, runs):
            ms = late * 1e3
            q = np.percentile(ms, [50, 99, 99.9])
            over = np.flatnonzero(ms > PERIOD * 1e3)
            stalls += [(t0 + (i + 1) * PERIOD, cpu, ms[i]) for i in over]
            print(f"{name:8} {'any' if cpu is None else cpu:>4} {q[0]:7.3f} {q[1]:7.3f} {q[2]:8.3f} {ms.max():7.3f} "
                  f"{len(over):10d}")
        if steal is not None:
            steals = steal.events()
            print(f"  {summary(steals)}")
            if stalls:
                t0 = min(t for t, _ in runs)
                print("  woke a period or more late (s into the run, CPU, ms late): " + ", ".join(
                    f"{t - t0:.2f} cpu{c} {m:.1f}" for t, c, m in sorted(stalls)[:30]))
                print(f"  {coincidence([t for t, _, _ in stalls], steals, args.seconds)}")


if __name__ == "__main__":
    main()
