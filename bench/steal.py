"""The hypervisor's steal time, for the benchmarks that look for the moments this machine stops.

On a virtual machine the host can stop a virtual CPU (to run something else); the guest kernel counts that
time as steal (/proc/stat, in 10 ms ticks) once the CPU runs again. `Steal(seconds)` samples the counts every
5 ms in a small process of its own (so this one's threads and GIL are not involved) and `events()` returns when a
CPU's count went up and by how many ticks.
"""

import subprocess
import sys

SAMPLER = r"""
import sys, time
period, end = float(sys.argv[1]), time.monotonic() + float(sys.argv[2])
last = None
while time.monotonic() < end:
    with open("/proc/stat") as f:
        f.readline()
        steal = [int(line.split()[8]) for line in f if line.startswith("cpu")]
    if last is not None and steal != last:
        print(time.monotonic(), *(a - b for a, b in zip(steal, last)), flush=True)
    last = steal
    time.sleep(period)
"""


class Steal:
    def __init__(self, seconds, period=0.005):
        self.proc = subprocess.Popen([sys.executable, "-c", SAMPLER, str(period), str(seconds)],
                                     stdout=subprocess.PIPE, text=True)

    def events(self):
        """[(monotonic seconds, [ticks per CPU])], once the sampler has ended."""
        out, _ = self.proc.communicate()
        return [(float(ln.split()[0]), [int(x) for x in ln.split()[1:]]) for ln in out.splitlines() if ln]


def summary(steals):
    """One line: how often and how much the host took."""
    return (f"hypervisor steal: {len(steals)} times a CPU's count went up, {sum(sum(c) for _, c in steals) * 10} ms "
            f"in all (sampled every 5 ms)")


def coincidence(times, steals, span, before=0.01, after=0.04):
    """How many of the moments `times` (monotonic seconds) a steal increment followed within `after` s (or
    preceded within `before`): the guest counts stolen time at its next tick after the CPU runs again, and
    the sampler sees it up to a sampling period later. Against that, the chance that a moment picked at random
    in `span` seconds is so followed. Returns one line."""
    st = [s for s, _ in steals]
    hit = sum(any(-before <= s - t <= after for s in st) for t in times)
    chance = min(1.0, (before + after) * len(st) / span) if span > 0 else float("nan")
    return (f"{hit} of {len(times)} followed by a steal within {after * 1000:.0f} ms "
            f"(a moment picked at random: {chance * 100:.1f} %)")
