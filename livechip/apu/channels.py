"""The 2A03's four channels and its frame counter: hardware tables, state layout, and the compiled steps.

Each channel's state is one row of `o` (pulse 1, pulse 2, triangle, noise; fields below). `_write` decodes a
register write into that state, `_quarter_frame`/`_half_frame` are the frame counter's clocks (envelopes,
linear counter; lengths, sweeps), and `_run_oscillators` runs the four timers between two such events,
emitting the mixer's change into the band-limited buffer at every level change. `apu.py` drives them in time.
"""

import numpy as np
from numba import njit

from livechip.apu.blip import add_delta


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
def _catch_up(o, c, period, t1):
    """Move silent channel `c`'s timer past `t1` by whole periods; how many it stepped."""
    if o[c, NEXT] >= t1:
        return 0
    k = (t1 - o[c, NEXT] + period - 1) // period
    o[c, NEXT] += k * period
    return k


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
    else:
        s0 = (s0 + _catch_up(o, 0, p0, t1)) & 7
    if a1:
        o[1, NEXT] = n1
    else:
        s1 = (s1 + _catch_up(o, 1, p1, t1)) & 7
    if a2:
        o[2, NEXT] = n2
    else:
        _catch_up(o, 2, p2, t1)   # the sequencer does not step while the triangle is stopped
    if a3:
        o[3, NEXT] = n3
    else:
        for _ in range(_catch_up(o, 3, p3, t1)):
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

