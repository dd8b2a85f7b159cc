"""The 2A03 sound chip at register level: timed writes in, band-limited samples out.

    apu = Apu(rate=48000)
    apu.write(cycle, 0x4000, 0xBF)      # queue a register write at an absolute CPU cycle
    apu.render(out)                     # fill a float32 block; runs the chip exactly as far as it needs

Emulation is driven by CPU cycles, not by samples. Between two events (a register write or a frame-counter
clock) the four oscillators run on their own timers; each time one changes its output level, the mixed output
changes, and that change goes into the band-limited buffer (`blip.py`) at its exact cycle (the channels,
their tables and the frame counter's clocks are in `channels.py`; this module runs them in time). The mixer is the
console's non-linear one (the two lookup tables of the nesdev wiki), evaluated on every change, so the deltas
are exact. Then the console's output filters (high-pass 90 Hz and 440 Hz, low-pass 14 kHz) run on the samples;
they are on by default and can be switched off to compare with emulators that have none.

Units and channels: pulse 1, pulse 2, triangle, noise. The DMC is not emulated: writes to $4010-$4013 and the
DMC bit of $4015 are accepted and ignored (`dmc_writes` counts them), so songs with sampled drums play without
their drums.

The real-time path is `write` + `render`: state lives in preallocated numpy arrays, the hot loops are numba
functions compiled once (cached on disk), and a block allocates nothing. `warm()` compiles them up front.
"""

import numpy as np
from numba import njit

from livechip.apu.blip import WIDTH, Blip, read
from livechip.apu.channels import BIG, CONST, ENV_DECAY, F_A90, F_A440, F_ACC, F_BLP, F_GAIN, F_HP90, F_HP90_X, F_HP440, F_HP440_X, F_LP, F_MIX, F_POS0, F_RATIO, FRAME_STEPS, LEN, LFSR, LIN, N_FIELDS, NOISE_PERIODS, S_CYCLE, S_DMC_WRITES, S_FILTER, S_FS_MODE, S_FS_START, S_FS_STEP, S_PAL, VOL, _emit, _half_frame, _levels, _mix, _quarter_frame, _run_oscillators, _write
from livechip.core.errors import LivechipError

NTSC = 1789773          # CPU clock, Hz
PAL = 1662607


class RegisterError(LivechipError):
    """A register write that the 2A03 does not have (bad address or value)."""


# --- the compiled run loop and output stage ----------------------------------------------------

@njit(cache=True)
def _run(s, o, f, buf, kern, noise_periods, frame_steps, wc, wa, wv, w0, w1, end):
    """Emulate from s[S_CYCLE] to `end`, applying queued writes wc/wa/wv[w0:w1] due before `end`.

    Returns the index of the first write not yet applied.
    """
    cyc0 = s[S_CYCLE]
    t = cyc0
    i = w0
    while True:
        steps = frame_steps[s[S_FS_MODE]]
        fe = s[S_FS_START] + steps[s[S_FS_STEP]]
        wt = wc[i] if i < w1 else BIG
        if wt < t:
            wt = t
        stop = min(end, fe, wt)
        if stop > t:
            _run_oscillators(o, f, buf, kern, noise_periods, stop, cyc0)
            t = stop
        if t >= end:
            break
        if fe <= wt:
            k = s[S_FS_STEP]
            if k < 4:
                _quarter_frame(o)
                if k & 1:
                    _half_frame(o)
                s[S_FS_STEP] = k + 1
            else:                          # end of the sequence: start again
                s[S_FS_START] = fe
                s[S_FS_STEP] = 0
        else:
            _write(s, o, noise_periods, t, wa[i], wv[i])
            i += 1
        _emit(o, f, buf, kern, t, cyc0)
    f[F_POS0] += (end - cyc0) * f[F_RATIO]
    s[S_CYCLE] = end
    return i


@njit(cache=True)
def _filter(f, out, o0, n):
    """The console's output stage: high-pass 90 Hz, high-pass 440 Hz, low-pass 14 kHz (first order each)."""
    a90, a440, b = f[F_A90], f[F_A440], f[F_BLP]
    y90, x90, y440, x440, lp = f[F_HP90], f[F_HP90_X], f[F_HP440], f[F_HP440_X], f[F_LP]
    for i in range(o0, o0 + n):
        x = out[i]
        y90 = a90 * (y90 + x - x90)
        x90 = x
        y440 = a440 * (y440 + y90 - x440)
        x440 = y90
        lp += b * (y440 - lp)
        out[i] = lp
    f[F_HP90], f[F_HP90_X], f[F_HP440], f[F_HP440_X], f[F_LP] = y90, x90, y440, x440, lp


@njit(cache=True)
def _render(s, o, f, buf, kern, noise_periods, frame_steps, wc, wa, wv, w0, w1, out, chunk):
    """Fill `out` with samples, running the chip as far as needed; returns the index of the next write."""
    n = out.shape[0]
    done = 0
    ratio = f[F_RATIO]
    while done < n:
        m = min(n - done, chunk)
        if f[F_POS0] < m:              # not enough finished samples yet: run the chip
            end = s[S_CYCLE] + np.int64(np.ceil((m - f[F_POS0]) / ratio))
            while f[F_POS0] + (end - s[S_CYCLE]) * ratio < m:
                end += 1
            w0 = _run(s, o, f, buf, kern, noise_periods, frame_steps, wc, wa, wv, w0, w1, end)
        keep = int(f[F_POS0]) + WIDTH + 2 - m
        f[F_ACC] = read(buf, f[F_ACC], m, keep, out, done)
        f[F_POS0] -= m
        if s[S_FILTER]:
            _filter(f, out, done, m)
        g = f[F_GAIN]
        if g != 1.0:
            for i in range(done, done + m):
                out[i] *= g
        done += m
    return w0


@njit(cache=True)
def _compact(wc, wa, wv, i, n):
    """Move queued writes [i:n] to the front of the queue."""
    for k in range(n - i):
        wc[k] = wc[i + k]
        wa[k] = wa[i + k]
        wv[k] = wv[i + k]
    return n - i


# --- the Python-facing object -----------------------------------------------------------------

class Apu:
    """One 2A03 (pulse 1, pulse 2, triangle, noise; no DMC) rendering mono float32 samples.

    rate: output sample rate (44100 or 48000 are the tested ones). clock: CPU clock in Hz; a clock below
    1.7 MHz selects the PAL noise and frame-counter tables. filters: the console's output filters (on by
    default; off gives the raw unipolar mixer output that VGMPlay produces). gain: output scale (1.0 puts the
    mixer's full scale at 1.0; a full-volume pulse peaks at 0.149). queue: capacity of the write queue.
    block: the largest block `render` fills per inner step (any block size works).
    """

    def __init__(self, rate=44100, clock=NTSC, filters=True, gain=1.0, queue=65536, block=4096):
        if not 8000 <= rate <= 192000:
            raise LivechipError(f"unsupported sample rate {rate} Hz (use 44100 or 48000)")
        if not 1_000_000 <= clock <= 2_000_000:
            raise LivechipError(f"unsupported 2A03 clock {clock} Hz (NTSC is {NTSC}, PAL {PAL})")
        self.rate, self.clock, self.block = int(rate), int(clock), int(block)
        self.pal = clock < 1_700_000
        region = "pal" if self.pal else "ntsc"
        self.noise_periods = NOISE_PERIODS[region]
        self.frame_steps = FRAME_STEPS[region]
        self.s = np.zeros(8, dtype=np.int64)
        self.o = np.zeros((4, N_FIELDS), dtype=np.int64)
        self.f = np.zeros(16, dtype=np.float64)
        self.blip = Blip(self.block)
        self.buf, self.kernel = self.blip.buf, self.blip.kernel
        self.wc = np.zeros(queue, dtype=np.int64)
        self.wa = np.zeros(queue, dtype=np.int64)
        self.wv = np.zeros(queue, dtype=np.int64)
        self.queued = 0
        self.filters = filters
        self.gain = gain
        self.reset()

    def reset(self):
        """Power-on state: silent, all channels disabled, frame counter in 4-step mode, noise LFSR = 1."""
        self.s[:] = 0
        self.o[:] = 0
        self.f[:] = 0
        self.buf[:] = 0
        self.queued = 0
        self.o[3, LFSR] = 1
        self.f[F_RATIO] = self.rate / self.clock
        dt = 1.0 / self.rate
        rc = lambda hz: 1.0 / (2 * np.pi * hz)  # noqa: E731
        self.f[F_A90] = rc(90) / (rc(90) + dt)
        self.f[F_A440] = rc(440) / (rc(440) + dt)
        self.f[F_BLP] = dt / (rc(14000) + dt)
        self.f[F_GAIN] = self.gain
        self.s[S_FILTER] = int(bool(self.filters))
        self.s[S_PAL] = int(self.pal)
        # the mixer's output before the first write (triangle sits at step 0, level 15)
        _levels(self.o)
        self.f[F_MIX] = _mix(self.o)
        self.f[F_ACC] = self.f[F_MIX]
        self.f[F_HP90_X] = self.f[F_MIX]

    @property
    def cycle(self):
        """CPU cycles emulated so far (writes at earlier cycles apply immediately)."""
        return int(self.s[S_CYCLE])

    @property
    def dmc_writes(self):
        """How many DMC register writes were ignored."""
        return int(self.s[S_DMC_WRITES])

    def levels(self):
        """How loud each channel sounds now, 0..1: the pulses' and the noise's volume (or envelope) over 15
        while their length counter runs, the triangle 1 while both its counters run. For meters: read from
        another thread while the audio callback renders, it is at most a block old."""
        o = self.o
        out = [0.0, 0.0, 0.0, 0.0]
        for c in (0, 1, 3):
            if o[c, LEN] > 0:
                out[c] = int(o[c, VOL] if o[c, CONST] else o[c, ENV_DECAY]) / 15
        out[2] = 1.0 if o[2, LEN] > 0 and o[2, LIN] > 0 else 0.0
        return out

    def write(self, cycle, addr, value):
        """Queue a write of `value` to register `addr` ($4000-$4017) at absolute CPU cycle `cycle`.

        A write for a cycle already emulated, or before the last queued one, applies as soon as possible
        (real-time callers may be late; they are never refused for it).
        """
        if not 0x4000 <= addr <= 0x4017:
            raise RegisterError(f"no APU register at ${addr:04X} (the 2A03 sound registers are $4000-$4017)")
        if not 0 <= value <= 0xFF:
            raise RegisterError(f"value {value} for ${addr:04X} is not a byte")
        n = self.queued
        if n >= len(self.wc):
            raise RegisterError(f"write queue full ({n} writes pending); render before writing more")
        if n and cycle < self.wc[n - 1]:
            cycle = self.wc[n - 1]
        self.wc[n] = cycle
        self.wa[n] = addr
        self.wv[n] = value
        self.queued = n + 1

    def render(self, out):
        """Fill the float32 array `out` with the next len(out) samples. Allocates nothing."""
        i = _render(self.s, self.o, self.f, self.buf, self.kernel, self.noise_periods, self.frame_steps,
                    self.wc, self.wa, self.wv, 0, self.queued, out, self.block)
        if i:
            self.queued = _compact(self.wc, self.wa, self.wv, i, self.queued)
        return out

    def render_log(self, cycles, addrs, values, out, start=0):
        """Render `out` from a whole register log (sorted absolute cycles), starting at write `start`.

        For offline rendering: no queue copy. Returns the index of the first write not yet applied, to pass
        as `start` for the next block.
        """
        return _render(self.s, self.o, self.f, self.buf, self.kernel, self.noise_periods, self.frame_steps,
                       cycles, addrs, values, start, len(cycles), out, self.block)

    def warm(self):
        """Compile (or load from the cache) every numba function now, not in the first audio callback."""
        state = (self.s.copy(), self.o.copy(), self.f.copy(), self.buf.copy())
        out = np.zeros(64, dtype=np.float32)
        self.write(0, 0x4015, 0x0F)
        self.write(1, 0x4017, 0x00)
        self.render(out)
        self.s[:], self.o[:], self.f[:], self.buf[:] = state
        self.queued = 0


def check_log(cycles, addrs, values, what="register log"):
    """Validate a register log: sorted cycles >= 0, addresses $4000-$4017, byte values. Raises RegisterError."""
    cycles, addrs, values = (np.asarray(a, dtype=np.int64) for a in (cycles, addrs, values))
    if not len(cycles) == len(addrs) == len(values):
        raise RegisterError(f"{what}: {len(cycles)} times, {len(addrs)} addresses, {len(values)} values")
    if len(cycles):
        bad = np.flatnonzero((addrs < 0x4000) | (addrs > 0x4017))
        if len(bad):
            k = bad[0]
            raise RegisterError(f"{what}: write {k} is to ${addrs[k]:04X}, not an APU register ($4000-$4017)")
        bad = np.flatnonzero((values < 0) | (values > 255))
        if len(bad):
            k = bad[0]
            raise RegisterError(f"{what}: write {k} has value {values[k]}, not a byte")
        if cycles[0] < 0:
            raise RegisterError(f"{what}: write 0 has negative time {cycles[0]}")
        bad = np.flatnonzero(np.diff(cycles) < 0)
        if len(bad):
            k = bad[0] + 1
            raise RegisterError(f"{what}: write {k} at cycle {cycles[k]} comes before the previous one "
                                f"({cycles[k - 1]}); writes must be in time order")
    return cycles, addrs, values
