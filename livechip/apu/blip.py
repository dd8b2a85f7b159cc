"""Band-limited synthesis: amplitude changes at exact times in, alias-free samples out.

An oscillator never produces samples. It says "my output changed by `delta` at time `t`" (t in output
samples, fractional), and `add_delta` adds a band-limited impulse of that size into `buf`: `WIDTH` taps of a
Kaiser-windowed sinc, picked from `PHASES` precomputed sub-sample offsets. Reading integrates the buffer, so
each delta becomes a band-limited step. A square wave made this way has no partials above the kernel's
cut-off, which is what keeps a 4 kHz pulse free of audible aliases at 44.1 kHz.

The kernel is causal: a delta at position p touches buf[floor(p) : floor(p) + WIDTH], so output sample j is
final once everything before position j + 1 has been added. Output lags the input by WIDTH / 2 samples.

Everything here is plain numba functions over preallocated arrays; the APU core calls them from its own
compiled loop. `Blip` is a small holder for the buffer and the reading state.
"""

import numpy as np
from numba import njit

WIDTH = 16          # taps per impulse (8 zero crossings each side)
PHASES = 512        # sub-sample positions the kernel is tabulated at
CUTOFF = 0.45       # kernel cut-off as a fraction of the output rate (0.45 * 44.1 kHz = 19.8 kHz)
BETA = 9.0          # Kaiser window shape: higher = deeper stop band, wider transition


def make_kernel(width=WIDTH, phases=PHASES, cutoff=CUTOFF, beta=BETA):
    """The impulse table [phases + 1, width]: row k is a unit impulse delayed by k / phases of a sample.

    Each row sums to exactly 1 so integrated steps settle on the exact amplitude (no drift).
    """
    half = width // 2
    k = np.arange(width, dtype=np.float64)
    frac = np.arange(phases + 1, dtype=np.float64)[:, None] / phases
    x = k[None, :] - (half - 1) - frac          # distance from the impulse centre, in samples
    h = 2 * cutoff * np.sinc(2 * cutoff * x)
    w = np.i0(beta * np.sqrt(np.clip(1 - (x / half) ** 2, 0, None))) / np.i0(beta)
    h *= w
    h /= h.sum(axis=1, keepdims=True)
    return h


KERNEL = make_kernel()


@njit(cache=True, fastmath=True)
def add_delta(buf, kern, pos, delta):
    """Add a band-limited step of size `delta` at fractional sample position `pos` (relative to buf[0])."""
    i = int(pos)
    row = kern[int((pos - i) * PHASES + 0.5)]
    for j in range(WIDTH):
        buf[i + j] += row[j] * delta


@njit(cache=True, fastmath=True)
def read(buf, acc, n, keep, out, o0):
    """Integrate buf[:n] into out[o0:o0 + n], then move the next `keep` entries to the front.

    Returns the integrator's new value. Filters are applied by the caller on `out`.
    """
    for i in range(n):
        acc += buf[i]
        out[o0 + i] = acc
    for i in range(keep):
        buf[i] = buf[n + i]
    for i in range(keep, keep + n):
        buf[i] = 0.0
    return acc


class Blip:
    """The delta buffer for up to `capacity` samples between reads, and the kernel table it is filled with.

    Positions are relative to buf[0], the first unread sample; the owner keeps the position of its clock and
    the integrator's value, and calls `add_delta` / `read` from its compiled loop.
    """

    def __init__(self, capacity=4096):
        self.capacity = capacity
        self.buf = np.zeros(capacity + 2 * WIDTH + 4, dtype=np.float64)
        self.kernel = KERNEL
