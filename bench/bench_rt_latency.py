"""How late does a SCHED_FIFO thread wake on this machine, with the CPUs idle, busy in user space, or busy in
the kernel? (The question behind the soak's remaining xruns: JACK's threads run SCHED_FIFO, yet miss periods.)

A thread at SCHED_FIFO priority 5 (JACK's clients' priority here) sleeps to absolute deadlines one 256-frame
period at 48 kHz apart (5.33 ms), as JACK's dummy driver does, and records how late it woke. Meanwhile N
processes at normal priority either spin in user space (`spin`) or make the kernel work: map, touch and unmap
64 MiB again and again (`kernel`, what allocating and freeing large buffers costs). On a kernel without
preemption (PREEMPT_NONE, this machine's: `uname -v`), a real-time thread can only take a CPU back from a
process when that process leaves the kernel, so kernel work, not user-space work, delays it.

Prints figures, asserts nothing. Needs the right to use SCHED_FIFO (root, or rtprio in limits.conf).

    python3 bench/bench_rt_latency.py --seconds 30
"""

import argparse
import mmap
import multiprocessing
import os
import threading
import time

import numpy as np

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


def measure(seconds):
    """Wake-up lateness (seconds) of a SCHED_FIFO thread sleeping to deadlines PERIOD apart."""
    late = np.zeros(int(seconds / PERIOD) + 1)
    err = []

    def run():
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
        except OSError as e:
            err.append(e)
            return
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        step = int(PERIOD * 1e9)
        for i in range(len(late)):
            t += step
            time.sleep(max(0, t - time.clock_gettime_ns(time.CLOCK_MONOTONIC)) / 1e9)
            late[i] = (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - t) / 1e9

    th = threading.Thread(target=run)
    th.start()
    th.join()
    if err:
        raise SystemExit(f"cannot use SCHED_FIFO here: {err[0]}")
    return late


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="per load (default 30)")
    ap.add_argument("--procs", type=int, default=2, help="load processes (default 2, one a core here)")
    args = ap.parse_args()
    print(f"kernel {os.uname().release} {os.uname().version}; {os.cpu_count()} CPUs; SCHED_FIFO 5 thread waking "
          f"every {PERIOD * 1e3:.2f} ms for {args.seconds:g} s per load; {args.procs} load processes")
    print(f"{'load':8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'> 1 period':>10}")
    for name, fn in (("idle", None), ("spin", spin), ("kernel", kernel)):
        stop = multiprocessing.Event()
        procs = [multiprocessing.Process(target=fn, args=(stop,), daemon=True)
                 for _ in range(args.procs if fn else 0)]
        for p in procs:
            p.start()
        time.sleep(0.5)
        late = measure(args.seconds) * 1e3
        stop.set()
        for p in procs:
            p.join()
        q = np.percentile(late, [50, 99, 99.9])
        print(f"{name:8} {q[0]:7.3f} {q[1]:7.3f} {q[2]:8.3f} {late.max():7.3f} {int((late > PERIOD * 1e3).sum()):10d}")


if __name__ == "__main__":
    main()
