"""The 2A03 sound chip at register level: timed writes in, band-limited samples out.

    apu = Apu(rate=48000)
    apu.write(cycle, 0x4000, 0xBF)      # queue a register write at an absolute CPU cycle
    apu.render(out)                     # fill a float32 block; runs the chip exactly as far as it needs

Emulation is driven by CPU cycles, not by samples. Between two events (a register write or a frame-counter
clock) the four oscillators run on their own timers; each time one changes its output level, the mixed output
changes, and that change goes into the band-limited buffer (`blip.py`) at its exact cycle. The mixer is the
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

from livechip.apu.blip import WIDTH, Blip, add_delta, read
from livechip.errors import LivechipError

NTSC = 1789773          # CPU clock, Hz
PAL = 1662607

# --- hardware tables -------------------------------------------------------------------------

LENGTHS = np.array([10, 254, 20, 2, 40, 4, 80, 6, 160, 8, 60, 10, 14, 12, 26, 14,
                    12, 16, 24, 18, 48, 20, 96, 22, 192, 24, 72, 26, 16, 28, 32, 30], dtype=np.int64)
DUTIES = np.array([[0, 1, 0, 0, 0, 0, 0, 0],
                   [0, 1, 1, 0, 0, 0, 0, 0],
                   [0, 1, 1, 1, 1, 0, 0, 0],
                   [1, 0, 0, 1, 1, 1, 1, 1]], dtype=np.int64)
TRIANGLE = np.array(list(range(15, -1, -1)) + list(range(16)), dtype=np.int64)
NOISE_PERIODS = {  # CPU cycles per LFSR clock, by period index
    "ntsc": np.array([4, 8, 16, 32, 64, 96, 128, 160, 202, 254, 380, 508, 762, 1016, 2034, 4068], dtype=np.int64),
    "pal": np.array([4, 8, 14, 30, 60, 88, 118, 148, 188, 236, 354, 472, 708, 944, 1890, 3778], dtype=np.int64),
}
# frame counter: CPU cycles (from the sequence start) of the four clocking steps, and the sequence length,
# for the 4-step [0] and 5-step [1] modes. Steps 1 and 3 clock envelopes and linear counter (quarter frame),
# steps 2 and 4 also lengths and sweeps (half frame). The 5-step mode's silent fourth step is left out.
FRAME_STEPS = {
    "ntsc": np.array([[7457, 14913, 22371, 29829, 29830], [7457, 14913, 22371, 37281, 37282]], dtype=np.int64),
    "pal": np.array([[8313, 16627, 24939, 33253, 33254], [8313, 16627, 24939, 41565, 41566]], dtype=np.int64),
}
# non-linear mixer (nesdev wiki "APU Mixer"): pulse_out = PULSE[p1 + p2], tnd_out = TND[3 * tri + 2 * noise + dmc]
PULSE_MIX = np.array([0.0] + [95.52 / (8128.0 / n + 100.0) for n in range(1, 31)])
TND_MIX = np.array([0.0] + [163.67 / (24329.0 / n + 100.0) for n in range(1, 203)])

# --- state layout ----------------------------------------------------------------------------
# osc[c, field] for c in 0..3 (pulse 1, pulse 2, triangle, noise); not every field is used by every channel
PER, NEXT, STEP, DUTY, LEN, HALT, CONST, VOL, ENV_START, ENV_DIV, ENV_DECAY, SW_EN, SW_PER, SW_NEG, SW_SHIFT, \
    SW_RELOAD, SW_DIV, LIN, LIN_RELOAD, LIN_FLAG, ENABLED, LEVEL = range(22)
N_FIELDS = 24
LFSR, MODE = STEP, DUTY  # the noise channel keeps its shift register and mode in these slots
# s[...] global integer state
S_CYCLE, S_FS_START, S_FS_STEP, S_FS_MODE, S_PAL, S_DMC_WRITES, S_FILTER = range(7)
# f[...] float state
F_POS0, F_RATIO, F_MIX, F_ACC, F_HP90, F_HP90_X, F_HP440, F_HP440_X, F_LP, F_A90, F_A440, F_BLP, F_GAIN = range(13)

BIG = np.int64(1) << 62


class RegisterError(LivechipError):
    """A register write that the 2A03 does not have (bad address or value)."""


# --- the compiled core ------------------------------------------------------------------------

@njit(cache=True)
def _pulse_muted(o, c):
    per = o[c, PER]
    if per < 8:
        return True
    if o[c, SW_NEG] == 0 and per + (per >> o[c, SW_SHIFT]) > 0x7FF:
        return True
    return False


@njit(cache=True)
def _volume(o, c):
    return o[c, VOL] if o[c, CONST] else o[c, ENV_DECAY]


@njit(cache=True)
def _levels(o):
    """Current output level of each channel (0..15), from its state."""
    for c in range(2):
        v = _volume(o, c)
        if o[c, LEN] == 0 or v == 0 or _pulse_muted(o, c) or DUTIES[o[c, DUTY], o[c, STEP]] == 0:
            o[c, LEVEL] = 0
        else:
            o[c, LEVEL] = v
    o[2, LEVEL] = TRIANGLE[o[2, STEP]]   # a stopped triangle holds its last step
    v = _volume(o, 3)
    if o[3, LEN] == 0 or (o[3, LFSR] & 1):
        o[3, LEVEL] = 0
    else:
        o[3, LEVEL] = v


@njit(cache=True)
def _mix(o):
    return PULSE_MIX[o[0, LEVEL] + o[1, LEVEL]] + TND_MIX[3 * o[2, LEVEL] + 2 * o[3, LEVEL]]


@njit(cache=True)
def _emit(o, f, buf, kern, cycle, cyc0):
    """Recompute all levels after a state change and emit the mixer's change at `cycle`."""
    _levels(o)
    m = _mix(o)
    d = m - f[F_MIX]
    if d != 0.0:
        add_delta(buf, kern, f[F_POS0] + (cycle - cyc0) * f[F_RATIO], d)
        f[F_MIX] = m


@njit(cache=True)
def _lfsr_step(x, mode):
    tap = 6 if mode else 1
    fb = (x ^ (x >> tap)) & 1
    return (x >> 1) | (fb << 14)


@njit(cache=True)
def _run_oscillators(o, f, buf, kern, noise_periods, t1, cyc0):
    """Run the four timers up to cycle t1 (exclusive), emitting a delta at every level change.

    Channels whose output cannot change in this stretch (silenced) only have their timers advanced.
    """
    v0 = _volume(o, 0)
    v1 = _volume(o, 1)
    a0 = o[0, LEN] > 0 and v0 > 0 and not _pulse_muted(o, 0)
    a1 = o[1, LEN] > 0 and v1 > 0 and not _pulse_muted(o, 1)
    a2 = o[2, LEN] > 0 and o[2, LIN] > 0 and o[2, PER] >= 2   # periods 0 and 1 are ultrasonic: hold
    v3 = _volume(o, 3)
    a3 = o[3, LEN] > 0 and v3 > 0
    p0 = 2 * (o[0, PER] + 1)
    p1 = 2 * (o[1, PER] + 1)
    p2 = o[2, PER] + 1
    p3 = noise_periods[o[3, PER]]
    n0 = o[0, NEXT] if a0 else BIG
    n1 = o[1, NEXT] if a1 else BIG
    n2 = o[2, NEXT] if a2 else BIG
    n3 = o[3, NEXT] if a3 else BIG
    l0, l1, l2, l3 = o[0, LEVEL], o[1, LEVEL], o[2, LEVEL], o[3, LEVEL]
    s0, s1, s2 = o[0, STEP], o[1, STEP], o[2, STEP]
    d0, d1 = o[0, DUTY], o[1, DUTY]
    x, mode = o[3, LFSR], o[3, MODE]
    mix = f[F_MIX]
    pos0, ratio = f[F_POS0], f[F_RATIO]
    while True:
        t = n0
        c = 0
        if n1 < t:
            t = n1
            c = 1
        if n2 < t:
            t = n2
            c = 2
        if n3 < t:
            t = n3
            c = 3
        if t >= t1:
            break
        if c == 0:
            s0 = (s0 + 1) & 7
            l0 = v0 if DUTIES[d0, s0] else 0
            n0 += p0
        elif c == 1:
            s1 = (s1 + 1) & 7
            l1 = v1 if DUTIES[d1, s1] else 0
            n1 += p1
        elif c == 2:
            s2 = (s2 + 1) & 31
            l2 = TRIANGLE[s2]
            n2 += p2
        else:
            x = _lfsr_step(x, mode)
            l3 = 0 if (x & 1) else v3
            n3 += p3
        m = PULSE_MIX[l0 + l1] + TND_MIX[3 * l2 + 2 * l3]
        if m != mix:
            add_delta(buf, kern, pos0 + (t - cyc0) * ratio, m - mix)
            mix = m
    f[F_MIX] = mix
    # write back; timers of silent channels keep running (their phase matters when they sound again)
    if a0:
        o[0, NEXT] = n0
    elif o[0, NEXT] < t1:
        k = (t1 - o[0, NEXT] + p0 - 1) // p0
        o[0, NEXT] += k * p0
        s0 = (s0 + k) & 7
    if a1:
        o[1, NEXT] = n1
    elif o[1, NEXT] < t1:
        k = (t1 - o[1, NEXT] + p1 - 1) // p1
        o[1, NEXT] += k * p1
        s1 = (s1 + k) & 7
    if a2:
        o[2, NEXT] = n2
    elif o[2, NEXT] < t1:
        k = (t1 - o[2, NEXT] + p2 - 1) // p2
        o[2, NEXT] += k * p2   # the sequencer does not step while the triangle is stopped
    if a3:
        o[3, NEXT] = n3
    elif o[3, NEXT] < t1:
        k = (t1 - o[3, NEXT] + p3 - 1) // p3
        o[3, NEXT] += k * p3
        for _ in range(k):
            x = _lfsr_step(x, mode)
    o[0, STEP], o[1, STEP], o[2, STEP] = s0, s1, s2
    o[3, LFSR] = x
    o[0, LEVEL], o[1, LEVEL], o[2, LEVEL], o[3, LEVEL] = l0, l1, l2, l3


@njit(cache=True)
def _quarter_frame(o):
    for c in (0, 1, 3):  # envelopes
        if o[c, ENV_START]:
            o[c, ENV_START] = 0
            o[c, ENV_DECAY] = 15
            o[c, ENV_DIV] = o[c, VOL]
        elif o[c, ENV_DIV] == 0:
            o[c, ENV_DIV] = o[c, VOL]
            if o[c, ENV_DECAY] > 0:
                o[c, ENV_DECAY] -= 1
            elif o[c, HALT]:          # the length-halt bit doubles as the envelope loop flag
                o[c, ENV_DECAY] = 15
        else:
            o[c, ENV_DIV] -= 1
    if o[2, LIN_FLAG]:                # triangle linear counter
        o[2, LIN] = o[2, LIN_RELOAD]
    elif o[2, LIN] > 0:
        o[2, LIN] -= 1
    if o[2, HALT] == 0:
        o[2, LIN_FLAG] = 0


@njit(cache=True)
def _half_frame(o):
    for c in range(4):                # length counters
        if o[c, LEN] > 0 and o[c, HALT] == 0:
            o[c, LEN] -= 1
    for c in range(2):                # sweep units
        per = o[c, PER]
        change = per >> o[c, SW_SHIFT]
        if o[c, SW_NEG]:
            target = per - change - (1 if c == 0 else 0)   # pulse 1 negates in ones' complement
        else:
            target = per + change
        if o[c, SW_DIV] == 0 and o[c, SW_EN] and o[c, SW_SHIFT] > 0 and not _pulse_muted(o, c):
            o[c, PER] = max(target, 0)
        if o[c, SW_DIV] == 0 or o[c, SW_RELOAD]:
            o[c, SW_DIV] = o[c, SW_PER]
            o[c, SW_RELOAD] = 0
        else:
            o[c, SW_DIV] -= 1


@njit(cache=True)
def _write(s, o, noise_periods, cycle, addr, v):
    r = addr - 0x4000
    if r < 8:                          # pulses
        c = r >> 2
        r &= 3
        if r == 0:
            o[c, DUTY] = v >> 6
            o[c, HALT] = (v >> 5) & 1
            o[c, CONST] = (v >> 4) & 1
            o[c, VOL] = v & 15
        elif r == 1:
            o[c, SW_EN] = v >> 7
            o[c, SW_PER] = (v >> 4) & 7
            o[c, SW_NEG] = (v >> 3) & 1
            o[c, SW_SHIFT] = v & 7
            o[c, SW_RELOAD] = 1
        elif r == 2:
            o[c, PER] = (o[c, PER] & 0x700) | v
        else:
            o[c, PER] = (o[c, PER] & 0xFF) | ((v & 7) << 8)
            if o[c, ENABLED]:
                o[c, LEN] = LENGTHS[v >> 3]
            o[c, STEP] = 0
            o[c, ENV_START] = 1
    elif r == 8:
        o[2, HALT] = v >> 7
        o[2, LIN_RELOAD] = v & 0x7F
    elif r == 10:
        o[2, PER] = (o[2, PER] & 0x700) | v
    elif r == 11:
        o[2, PER] = (o[2, PER] & 0xFF) | ((v & 7) << 8)
        if o[2, ENABLED]:
            o[2, LEN] = LENGTHS[v >> 3]
        o[2, LIN_FLAG] = 1
    elif r == 12:
        o[3, HALT] = (v >> 5) & 1
        o[3, CONST] = (v >> 4) & 1
        o[3, VOL] = v & 15
    elif r == 14:
        o[3, MODE] = v >> 7
        o[3, PER] = v & 15
    elif r == 15:
        if o[3, ENABLED]:
            o[3, LEN] = LENGTHS[v >> 3]
        o[3, ENV_START] = 1
    elif 0x10 <= r <= 0x13:
        s[S_DMC_WRITES] += 1
    elif r == 0x15:
        for c in range(4):
            o[c, ENABLED] = (v >> c) & 1
            if not o[c, ENABLED]:
                o[c, LEN] = 0
        if v & 0x10:
            s[S_DMC_WRITES] += 1
    elif r == 0x17:
        s[S_FS_MODE] = v >> 7
        s[S_FS_STEP] = 0
        s[S_FS_START] = cycle + 3
        if v & 0x80:                  # 5-step mode clocks everything at once
            _quarter_frame(o)
            _half_frame(o)
    # $4009, $400D, $4014, $4016: not sound registers; nothing to do


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
