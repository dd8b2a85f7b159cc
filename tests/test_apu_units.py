"""Register-level behaviour of the 2A03 emulator: each unit as the nesdev wiki describes the hardware.

These tests write registers at CPU cycles, render, and check either the audible result (filters off, so the
output is the raw mixer level) or the unit's state in `apu.o` (fields named in livechip.apu.channels).
"""

import tracemalloc

import numpy as np
import pytest

from livechip.apu import apu as A
from livechip.apu import channels as C
from livechip.apu.apu import NTSC, PAL, Apu, RegisterError

RATE = 44100
QUARTER = 7457          # CPU cycles from a 4-step sequence start to its first quarter-frame clock


def chip(writes, rate=RATE, clock=NTSC, filters=False):
    apu = Apu(rate=rate, clock=clock, filters=filters)
    for c, a, v in writes:
        apu.write(c, a, v)
    return apu


def play(apu, seconds):
    out = np.zeros(int(round(seconds * apu.rate)), dtype=np.float32)
    return apu.render(out)


def sounding(x, rate=RATE, at=None):
    """True if the 10 ms window at `at` seconds carries an audible waveform (not a constant level)."""
    i = int(at * rate)
    w = x[i: i + rate // 100]
    return float(w.max() - w.min()) > 1e-3


def pulse1(period, ctrl=0x3F, sweep=0x08, length_index=1):
    hi = (length_index << 3) | (period >> 8)
    return [(0, 0x4015, 0x0F), (0, 0x4000, ctrl), (0, 0x4001, sweep), (0, 0x4002, period & 0xFF),
            (0, 0x4003, hi)]


# --- pulse sweep ------------------------------------------------------------------------------

def test_sweep_mutes_pulse_with_period_below_8():
    # periods 0-7 would be ultrasonic; the sweep unit silences the channel whatever the sweep settings
    assert not sounding(play(chip(pulse1(7)), 0.1), at=0.05)
    assert sounding(play(chip(pulse1(8)), 0.1), at=0.05)


def test_sweep_mutes_when_target_exceeds_7ff_even_with_sweep_disabled():
    # negate clear and shift 0: target = 2 * period, so period >= $400 mutes although the sweep is off ...
    assert not sounding(play(chip(pulse1(0x400, sweep=0x00)), 0.1), at=0.05)
    assert sounding(play(chip(pulse1(0x3FF, sweep=0x00)), 0.1), at=0.05)
    # ... which is why drivers write $08 (negate set) to $4001: then the target never exceeds $7FF
    assert sounding(play(chip(pulse1(0x400, sweep=0x08)), 0.1), at=0.05)


def test_sweep_negate_is_ones_complement_on_pulse1_and_twos_complement_on_pulse2():
    # enable, divider period 0 (update every half frame), negate, shift 1: target = p - p/2 (- 1 on pulse 1)
    w = [(0, 0x4015, 0x0F),
         (0, 0x4000, 0x3F), (0, 0x4001, 0x89), (0, 0x4002, 0x00), (0, 0x4003, 0x09),
         (0, 0x4004, 0x3F), (0, 0x4005, 0x89), (0, 0x4006, 0x00), (0, 0x4007, 0x09)]
    apu = chip(w)
    play(apu, 20000 / NTSC)            # past the first half-frame clock (cycle 14913), before the second
    assert apu.o[0, C.PER] == 0x100 - 0x80 - 1
    assert apu.o[1, C.PER] == 0x100 - 0x80


def test_sweep_up_in_pitch_stops_and_mutes_past_7ff():
    # pulse 2 sweeping down in pitch (negate clear): the period grows until the target passes $7FF; from then
    # on the channel is silent and the period no longer changes
    w = [(0, 0x4015, 0x0F), (0, 0x4004, 0xBF), (0, 0x4005, 0x94), (0, 0x4006, 0xFD), (0, 0x4007, 0x08)]
    apu = chip(w)
    x = play(apu, 1.5)
    assert sounding(x, at=0.02)
    per = apu.o[1, C.PER]
    assert per + (per >> 4) > 0x7FF and per <= 0x7FF
    assert not sounding(x, at=1.4)
    play(apu, 0.2)
    assert apu.o[1, C.PER] == per


# --- length counter ---------------------------------------------------------------------------

def test_length_counter_silences_after_its_count_unless_halted():
    # index 2 loads 20; the 4-step sequence clocks lengths 120 times a second: 20 half frames = 1/6 s
    x = play(chip(pulse1(253, ctrl=0x9F, length_index=2)), 0.4)
    assert sounding(x, at=0.150)
    assert not sounding(x, at=0.175)
    halted = play(chip(pulse1(253, ctrl=0xBF, length_index=2)), 0.4)   # halt flag ($20) set
    assert sounding(halted, at=0.35)


def test_length_counter_runs_slower_in_5_step_mode_and_pal():
    # 5-step mode: two half frames per 37282 cycles (96 Hz): 20 half frames take 0.208 s
    x = play(chip([(0, 0x4017, 0x80)] + pulse1(253, ctrl=0x9F, length_index=2)), 0.4)
    assert sounding(x, at=0.195) and not sounding(x, at=0.215)
    # PAL 4-step: two half frames per 33254 cycles at 1.66 MHz (100 Hz): 0.2 s
    x = play(chip(pulse1(253, ctrl=0x9F, length_index=2), clock=PAL), 0.4)
    assert sounding(x, at=0.185) and not sounding(x, at=0.205)


def test_disabling_a_channel_in_4015_clears_its_length():
    apu = chip(pulse1(253) + [(NTSC // 10, 0x4015, 0x0E)])
    x = play(apu, 0.2)
    assert sounding(x, at=0.05) and not sounding(x, at=0.15)
    assert apu.o[0, C.LEN] == 0


def test_length_is_not_loaded_while_the_channel_is_disabled():
    w = [(0, 0x4000, 0x3F), (0, 0x4001, 0x08), (0, 0x4002, 0xFD), (0, 0x4003, 0x08)]   # no $4015 write
    apu = chip(w)
    assert not sounding(play(apu, 0.1), at=0.05)


# --- noise ------------------------------------------------------------------------------------

# the first 32 values of the shift register's bit 0 after each clock, from the power-on state 1, worked out
# from the wiki's definition (feedback = bit 0 xor bit 1, or bit 6 in short mode, shifted into bit 14);
# the channel is silent while bit 0 is set
LFSR_LONG = "00000000000000100000000000001100"
LFSR_SHORT = "00000000000000100000000100000100"


@pytest.mark.parametrize("mode,expected", [(0, LFSR_LONG), (1, LFSR_SHORT)])
def test_noise_lfsr_first_32_output_bits(mode, expected):
    # the slowest period (4068 cycles, about 100 samples per bit) makes every bit audible on its own
    apu = chip([(0, 0x4015, 0x0F), (0, 0x400C, 0x3F), (0, 0x400E, (mode << 7) | 15), (0, 0x400F, 0x08)])
    x = play(apu, 33 * 4068 / NTSC + 0.01)
    ratio = RATE / NTSC
    delay = A.WIDTH // 2                                # the band-limited step's centre lags by 8 samples
    levels = np.array([x[int((k + 0.5) * 4068 * ratio) + delay] for k in range(32)])
    heard = levels > (levels.min() + levels.max()) / 2  # loud while bit 0 is clear
    assert "".join("0" if h else "1" for h in heard) == expected


@pytest.mark.parametrize("mode,period", [(0, 32767), (1, 93)])
def test_noise_lfsr_sequence_lengths(mode, period):
    x = seen = 1
    for n in range(1, 40000):
        x = C._lfsr_step(x, mode)
        if x == seen:
            break
    assert n == period


def test_noise_period_table():
    # period index 8 (202 cycles) in short mode repeats every 93 clocks: a tone at 1789773 / (202 * 93) Hz
    apu = chip([(0, 0x4015, 0x0F), (0, 0x400C, 0x3F), (0, 0x400E, 0x88), (0, 0x400F, 0x08)])
    x = play(apu, 1.0)[4410:].astype(np.float64)
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    lines = freqs[spec > spec.max() * 0.05]
    base = NTSC / (202 * 93)
    assert np.all(np.abs(lines / base - np.round(lines / base)) < 0.02)   # only harmonics of that tone


# --- envelope ---------------------------------------------------------------------------------

def _quarter_frames(n):
    """CPU cycle halfway between the n-th and (n+1)-th quarter-frame clocks of the 4-step sequence."""
    seq = [7457, 14913, 22371, 29829]
    t = lambda k: seq[(k - 1) % 4] + 29830 * ((k - 1) // 4) if k > 0 else 0  # noqa: E731
    return (t(n) + t(n + 1)) // 2


def test_envelope_decays_one_step_every_period_plus_one_quarter_frames():
    # $4004 = $83: envelope mode, divider period 3, no loop. The first quarter frame after the $4007 write
    # sets the level to 15; then it drops by one every 4 quarter frames and stays at 0.
    apu = chip([(0, 0x4015, 0x0F), (0, 0x4004, 0x83), (0, 0x4005, 0x08), (0, 0x4006, 0xD5), (0, 0x4007, 0x08)])
    seen = {}
    for q in (1, 2, 4, 5, 9, 33, 57, 60, 61, 62, 80):
        out = np.zeros(int(np.ceil((_quarter_frames(q) - apu.cycle) * RATE / NTSC)), dtype=np.float32)
        apu.render(out)
        seen[q] = int(apu.o[1, C.ENV_DECAY])
    expected = {q: max(0, 15 - (q - 1) // 4) for q in seen}
    assert seen == expected


def test_envelope_loops_when_the_halt_flag_is_set():
    apu = chip([(0, 0x4015, 0x0F), (0, 0x4004, 0xA0), (0, 0x4005, 0x08), (0, 0x4006, 0xD5), (0, 0x4007, 0x08)])
    levels = []
    for q in range(1, 40):
        out = np.zeros(int(np.ceil((_quarter_frames(q) - apu.cycle) * RATE / NTSC)), dtype=np.float32)
        apu.render(out)
        levels.append(int(apu.o[1, C.ENV_DECAY]))
    # period 0: one step per quarter frame, 15 down to 0, then back to 15
    assert levels[:18] == list(range(15, -1, -1)) + [15, 14]


# --- triangle ---------------------------------------------------------------------------------

def test_triangle_linear_counter_reload_and_count_down():
    # control clear, reload 15: the quarter frame after the $400B write loads 15 and clears the reload flag,
    # then 15 more quarter frames count it to 0 and the triangle stops
    apu = chip([(0, 0x4015, 0x0F), (0, 0x4008, 0x0F), (0, 0x400A, 0xAB), (0, 0x400B, 0x09)])
    lin = []
    for q in (1, 2, 15, 16, 17):
        out = np.zeros(int(np.ceil((_quarter_frames(q) - apu.cycle) * RATE / NTSC)), dtype=np.float32)
        apu.render(out)
        lin.append(int(apu.o[2, C.LIN]))
    assert lin == [15, 14, 1, 0, 0]
    # a new $400B write sets the reload flag again: the next quarter frame reloads 15
    apu.write(apu.cycle, 0x400B, 0x09)
    out = np.zeros(int(np.ceil((_quarter_frames(18) - apu.cycle) * RATE / NTSC)), dtype=np.float32)
    apu.render(out)
    assert apu.o[2, C.LIN] == 15


def test_triangle_with_control_flag_keeps_sounding_and_stops_holding_its_level():
    x = play(chip([(0, 0x4015, 0x0F), (0, 0x4008, 0x81), (0, 0x400A, 0xAB), (0, 0x400B, 0x09),
                   (NTSC // 2, 0x4015, 0x00)]), 0.8)
    assert sounding(x, at=0.4)                 # the linear counter stays loaded while control is set
    tail = x[int(0.55 * RATE):]
    assert tail.max() - tail.min() < 1e-6      # disabled: the sequencer stops and holds one step


def test_triangle_ultrasonic_periods_hold_instead_of_whining():
    for period in (0, 1):
        x = play(chip([(0, 0x4015, 0x0F), (0, 0x4008, 0xFF), (0, 0x400A, period), (0, 0x400B, 0x08)]), 0.2)
        assert x.max() - x.min() < 1e-6
    assert sounding(play(chip([(0, 0x4015, 0x0F), (0, 0x4008, 0xFF), (0, 0x400A, 0x40), (0, 0x400B, 0x08)]),
                         0.2), at=0.1)


def test_triangle_steps_through_32_levels_per_period():
    x = play(chip([(0, 0x4015, 0x0F), (0, 0x4008, 0xFF), (0, 0x400A, 0xAB), (0, 0x400B, 0x09)]), 0.5)
    y = x[4410:].astype(np.float64)
    spec = np.abs(np.fft.rfft((y - y.mean()) * np.hanning(len(y))))
    f = np.fft.rfftfreq(len(y), 1 / RATE)[np.argmax(spec)]
    assert abs(f - NTSC / (32 * (0x1AB + 1))) < 2.5      # 130.7 Hz: 32 steps of 428 cycles


# --- mixer and output -------------------------------------------------------------------------

def test_mixer_is_non_linear():
    # one pulse at 15 peaks at 95.52 / (8128 / 15 + 100) = 0.149; two in phase at 0.258, not twice 0.149
    one = play(chip(pulse1(253, ctrl=0xBF)), 0.2)
    two_writes = pulse1(253, ctrl=0xBF) + [(0, 0x4004, 0xBF), (0, 0x4005, 0x08), (0, 0x4006, 0xFD),
                                           (0, 0x4007, 0x08)]
    two = play(chip(two_writes), 0.2)
    # the flat top and bottom of the wave (percentiles skip the band-limited edges' ripple)
    ptp = lambda x: float(np.percentile(x[2000:], 90) - np.percentile(x[2000:], 10))  # noqa: E731
    assert ptp(one) == pytest.approx(95.52 / (8128 / 15 + 100), rel=0.02)
    assert ptp(two) == pytest.approx(95.52 / (8128 / 30 + 100), rel=0.02)


def test_console_filters_remove_dc_and_are_on_by_default():
    w = pulse1(253, ctrl=0xBF)
    raw = play(chip(w, filters=False), 1.0)
    filt = play(chip(w, filters=True), 1.0)
    assert raw[22050:].mean() > 0.05                    # unipolar mixer output
    assert abs(filt[22050:].mean()) < 2e-3              # high-passed: centred on zero
    assert Apu().filters is True


def test_pulse_at_4khz_has_no_alias_within_50_db():
    # a 4 kHz pulse at 44.1 kHz: its harmonics at 24, 28, 32 ... kHz fold back below 15 kHz. Every component
    # that is not a harmonic of the note must be 50 dB below the fundamental (filters off: the band-limited
    # synthesis alone does this). A naively sampled square shows why the test matters.
    period = 27                                         # 1789773 / (16 * 28) = 3995 Hz
    f0 = NTSC / (16 * (period + 1))
    for duty in (0, 2):
        x = play(chip(pulse1(period, ctrl=0x30 | (duty << 6) | 15)), 1.3)[RATE // 4: RATE // 4 + RATE]
        assert _worst_alias_db(x, f0) < -50
    t = np.arange(RATE) / RATE
    naive = ((t * f0) % 1.0 < 0.5).astype(np.float64)
    assert _worst_alias_db(naive, f0) > -30


def _worst_alias_db(x, f0):
    x = np.asarray(x, dtype=np.float64)
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.kaiser(len(x), 20)))
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    harmonic = np.zeros(len(spec), dtype=bool)
    for k in range(1, int(RATE / 2 / f0) + 1):
        harmonic |= np.abs(freqs - k * f0) < 6
    fund = spec[np.abs(freqs - f0) < 6].max()
    others = (~harmonic) & (freqs > 20) & (freqs < 15000)
    return float(20 * np.log10(spec[others].max() / fund))


# --- the real-time interface ------------------------------------------------------------------

def _song_writes():
    rng = np.random.default_rng(5)
    writes = [(0, 0x4015, 0x0F), (0, 0x4001, 0x08), (0, 0x4005, 0x08), (0, 0x4008, 0xFF)]
    cycle = 0
    for _ in range(300):
        cycle += int(rng.integers(500, 20000))
        addr = int(rng.choice([0x4000, 0x4002, 0x4003, 0x4004, 0x4006, 0x4007, 0x400A, 0x400B, 0x400C, 0x400E,
                               0x400F]))
        writes.append((cycle, addr, int(rng.integers(0, 256))))
    return writes


def test_block_size_does_not_change_the_sound():
    # the engine renders 256-frame blocks while queueing writes just ahead; that must equal one long render
    writes = _song_writes()
    whole = play(chip(writes, rate=48000, filters=True), 2.0)
    apu = Apu(rate=48000)
    block = np.zeros(256, dtype=np.float32)
    parts, i = [], 0
    while len(parts) * 256 < len(whole):
        horizon = apu.cycle + 2 * 256 * NTSC // 48000
        while i < len(writes) and writes[i][0] < horizon:
            apu.write(*writes[i])
            i += 1
        parts.append(apu.render(block).copy())
    blocks = np.concatenate(parts)[: len(whole)]
    np.testing.assert_allclose(blocks, whole, atol=1e-6)


def test_render_allocates_nothing_per_block():
    apu = Apu(rate=48000)
    apu.warm()
    for c, a, v in _song_writes():
        apu.write(c, a, v)
    out = np.zeros(4096, dtype=np.float32)
    apu.render(out)
    tracemalloc.start()
    for _ in range(20):
        apu.render(out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4096              # a scratch array for one block would be 16 kB or more


def test_late_writes_apply_at_once_and_bad_writes_are_refused():
    apu = Apu()
    play(apu, 0.1)
    apu.write(0, 0x4015, 0x0F)                          # 0.1 s late: applied at the next cycle
    for bad, match in (((0, 0x3FFF, 0), r"\$3FFF"), ((0, 0x4018, 0), r"\$4018"), ((0, 0x4000, 256), "byte"),
                       ((0, 0x4000, -1), "byte")):
        with pytest.raises(RegisterError, match=match):
            apu.write(*bad)
    play(apu, 0.01)
    assert apu.o[0, C.ENABLED] == 1


def test_register_log_errors_name_the_bad_write():
    with pytest.raises(RegisterError, match=r"write 1 .* before"):
        A.check_log([10, 5], [0x4000, 0x4000], [1, 1])
    with pytest.raises(RegisterError, match=r"write 0 is to \$5000"):
        A.check_log([0], [0x5000], [1])
    with pytest.raises(RegisterError, match="not a byte"):
        A.check_log([0, 1], [0x4000, 0x4001], [1, 300])
    with pytest.raises(RegisterError, match="3 times, 2 addresses"):
        A.check_log([0, 1, 2], [0x4000, 0x4001], [1, 3, 4])


def test_dmc_writes_are_counted_and_ignored():
    apu = chip(pulse1(253) + [(0, 0x4010, 0x0F), (0, 0x4011, 0x40), (0, 0x4015, 0x1F)])
    x = play(apu, 0.2)
    y = play(chip(pulse1(253)), 0.2)
    assert apu.dmc_writes == 3
    np.testing.assert_allclose(x, y, atol=1e-6)


def test_48khz_output_has_the_same_pitch():
    x = play(chip(pulse1(253, ctrl=0xBF), rate=48000), 1.0)[4800:]
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1 / 48000)[np.argmax(spec)]
    assert abs(f - NTSC / (16 * 254)) < 1.5
