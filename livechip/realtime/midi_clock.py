"""MIDI clock: follow a DAW's (`ClockFollower`).

MIDI clock is 24 Timing Clock messages (0xF8) a quarter note, with Start (0xFA: from the top), Continue
(0xFB: from where it stopped), Stop (0xFC) and Song Position Pointer (0xF2: where to continue from, in 16th
notes). Positions here are counted in ticks (1/24 beat) and beats (quarter notes) from the song's start.

Following. `ClockFollower` is pure logic: feed it (arrival time, message) and ask it for the tempo and the
beat at any time. The arrival times jitter (a JACK period, the reader's polling), so the ticks are smoothed
with a second-order delay-locked loop, F. Adriaensen's "Using a DLL to filter time" (2005), the filter of
JACK's and Ardour's clock followers: a prediction of the next tick's time is corrected by a share `b` of its
error, and the period by a share `c`:

    e = t - t1;  t0 = t1;  t1 += b * e + period;  period += c * e
    w = 2 pi B period,  b = sqrt(2) w,  c = w^2      (critically damped, bandwidth B Hz)

With B = 1 Hz (the default) a tick's error moves the beat by a sixth of itself at 132 bpm (b = 0.17), and
the loop settles on a new tempo in about a second (2 beats after a jump from 132 to 100 bpm its beat is within
a millisecond); docs/sync.md has the figures and the choice of bandwidth. The beat between ticks is interpolated
from the loop's times, so it moves smoothly. A tick more than 4 times the loop's mean error off is taken as
only that far off, once: one late tick barely moves the beat, while a change that lasts gets through at the
next tick. A gap of about a whole number of periods is taken for lost ticks and counted; the same gap twice
in a row is a tempo that fell, and the count is taken back; ticks that come right after it, less than half a
period apart, were late, not lost (a bunch a missed JACK period delivered), and each takes one back. The tempo
shown (`bpm`) is the median tick period over the beat-long spans of the last two beats' arrivals: steadier
than the loop's period, exact two beats after a change, and moved little by a bunch of ticks a missed JACK
period delivered late.
"""

import math

from livechip.realtime.beat import BPM

CLOCK, START, CONTINUE, STOP, POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
MESSAGES = frozenset((CLOCK, START, CONTINUE, STOP, POSITION))    # the status bytes a follower takes
PPQN = 24               # ticks a beat
SPP_TICKS = 6           # ticks per Song Position Pointer unit (a 16th note)
BANDWIDTH = 1.0         # Hz: the delay-locked loop's bandwidth
TIMEOUT = 0.25          # seconds without clock while running: stopped
DROP = 0.2              # a gap within this share of a period of n whole periods holds n - 1 lost ticks
BUNCH = 0.5             # ticks closer than this share of a period right after such a gap were its late ticks
GUESS = 2.5 / 120       # seconds a tick before the second tick tells (120 bpm)
WILD, FLOOR = 4.0, 0.0005   # a tick more than WILD times the mean error (and FLOOR s) off is an outlier
WINDOW = 2 * PPQN       # ticks the tempo shown is measured over (two beats)

# what `feed` reports
TICK, STARTED, CONTINUED, STOPPED, LOCATED = "tick", "start", "continue", "stop", "position"


class ClockFollower:
    """Tempo and beat of incoming MIDI clock. Times are in any unit with `rate` of them a second (1: seconds,
    48000: frames at 48 kHz); `bandwidth` (Hz) and `timeout` (s) are in seconds whatever the unit."""

    def __init__(self, rate=1.0, bandwidth=BANDWIDTH, timeout=TIMEOUT):
        if not bandwidth > 0 or not timeout > 0:
            raise ValueError(f"bandwidth and timeout must be positive, not {bandwidth!r} and {timeout!r}")
        self.rate = float(rate)
        self.bandwidth = float(bandwidth)
        self.timeout = timeout * self.rate
        self.ticks = -1           # the song position of the last tick played (-1: the next one is the top)
        self.playing = False      # Start or Continue seen, and no Stop or timeout since
        self.counted = 0          # ticks counted since Start or Continue
        self.last = None          # arrival time of the last clock, Start or Continue message
        self.n = 0                # ticks the loop has taken since it (re)started
        self.t0 = self.t1 = 0.0   # the loop's time of the last tick and its prediction of the next
        self.raw = 0.0            # arrival time of the last tick
        self.period = GUESS * self.rate
        self.lost = 0             # ticks counted as lost in the gap before the last tick (0: none)
        self.spread = 0.0         # mean size of the loop's errors over about a beat
        self.window = [0] * WINDOW, [0.0] * WINDOW    # tick number and arrival time of the latest ticks
        self.j = -1               # slot of the newest in `window`
        self.m = 0                # ticks in the window since the loop (re)started
        self.k = 0                # tick number since the loop (re)started, lost ones included
        self.wild = False         # the last tick's error was cut down to WILD times that
        self._on = {CLOCK: self._clock, START: self._start, CONTINUE: self._continue, STOP: self._stop,
                    POSITION: self._position}

    def __repr__(self):
        bpm = f"{self.bpm:.2f} bpm" if self.bpm else "no tempo yet"
        return f"ClockFollower({bpm}, {'playing' if self.playing else 'stopped'}, tick {self.ticks})"

    @property
    def bpm(self):
        """The tempo over the last two beats: the median tick period of their beat-long spans (the
        least-squares slope of their arrival times until a beat has come, the loop's period until 4 ticks
        have come); None before two ticks have come."""
        m = min(self.m, WINDOW)
        if m < 4:
            return 60.0 * self.rate / (PPQN * self.period) if self.n >= 2 else None
        ks, ts = self.window
        if m > PPQN:       # the median of the beat-long spans: a bunch of late ticks moves few of them
            spans = sorted((ts[i % WINDOW] - ts[(i - PPQN) % WINDOW]) / (ks[i % WINDOW] - ks[(i - PPQN) % WINDOW])
                           for i in range(self.j - m + PPQN + 1, self.j + 1))
            return 60.0 * self.rate / (PPQN * spans[len(spans) // 2])
        k0, t0 = ks[self.j % WINDOW], ts[self.j % WINDOW]      # the newest, as origin: small numbers
        sk = st = skk = skt = 0.0
        for i in range(self.j - m + 1, self.j + 1):
            k, t = ks[i % WINDOW] - k0, ts[i % WINDOW] - t0
            sk += k
            st += t
            skk += k * k
            skt += k * t
        period = (m * skt - sk * st) / (m * skk - sk * sk)
        return 60.0 * self.rate / (PPQN * period)

    def running(self, t):
        """True while the transport plays at time `t`: Start or Continue seen, no Stop, clock in time."""
        return self.playing and t - self.last <= self.timeout

    def beat(self, t):
        """The song position at time `t` in beats (0: the top). While stopped: where play will go on from."""
        if not self.running(t) or not self.counted:
            return (self.ticks + 1) / PPQN
        return (self.ticks + (t - self.t0) / (self.t1 - self.t0)) / PPQN

    def time_of(self, beat):
        """The time at which `beat` falls while the clock plays on at its tempo (None while stopped)."""
        if not self.playing or not self.counted:
            return None
        return self.t0 + (beat * PPQN - self.ticks) * (self.t1 - self.t0)

    def steer(self, beats, t):
        """Set a `BeatClock` (in the same time unit, e.g. frames) to this clock as of time `t`."""
        if self.running(t) and self.counted:
            # from the loop's time of the last tick on at the loop's period: the line a beat clock extrapolates
            # far ahead (t1 - t0, the way to the next tick, also holds this tick's phase correction: a few
            # percent of tempo that would move a note half a second ahead by milliseconds)
            bpm = 60.0 * self.rate / (PPQN * self.period)
            beats.set(self.ticks / PPQN, min(max(bpm, BPM[0]), BPM[1]), self.t0, True)
        else:
            beats.set(self.beat(t), min(max(self.bpm or beats.bpm, BPM[0]), BPM[1]), t, False)

    # --- input ------------------------------------------------------------------------------------------

    def feed(self, t, msg):
        """Take one message (a list or bytes) that arrived at time `t`; returns what it was (TICK, STARTED,
        CONTINUED, STOPPED, LOCATED) or None for anything else, which is ignored."""
        on = self._on.get(msg[0]) if len(msg) else None
        if on is None:
            return None
        if self.last is not None and t - self.last > self.timeout:
            self.playing = False      # the clock went quiet: stopped, and the loop starts again
            self.n = 0
        return on(t, msg)

    def _clock(self, t, msg):
        self._tick(t)
        self.last = t
        return TICK

    def _start(self, t, msg):
        self.ticks = -1
        self._continue(t, msg)
        return STARTED

    def _continue(self, t, msg):
        self.playing = True
        self.counted = 0
        self.last = t
        return CONTINUED

    def _stop(self, t, msg):
        self.playing = False
        return STOPPED

    def _position(self, t, msg):
        if len(msg) < 3 or msg[1] > 127 or msg[2] > 127:
            return None
        self.ticks = SPP_TICKS * (msg[1] | msg[2] << 7) - 1
        self.counted = 0
        return LOCATED

    def _tick(self, t):
        if self.playing:
            self.ticks += 1
            self.counted += 1
        self.k += 1
        if self.n < 2:                # the first tick starts the loop (the period a guess), the second times it
            if self.n == 1:
                self.period = t - self.t0
            else:
                self.m = 0
            self.t0, self.t1, self.raw = t, t + self.period, t
            self.n += 1
            self._keep(t)
            return
        if self.lost and t - self.raw < BUNCH * self.period:
            # right after a gap counted as lost ticks: they were late, not lost, and come now in a bunch (a
            # missed JACK period, a source that fell behind); this tick was counted with the gap
            if self.playing:
                self.ticks -= 1
                self.counted -= 1
            self.k -= 1
            self.lost -= 1
            self.raw = t
            return
        gap = round((t - self.raw) / self.period) - 1     # ticks missing between the last one and this
        if gap >= 1 and abs((t - self.raw) / self.period - gap - 1) < DROP:
            if self.lost:             # a second long gap in a row: the tempo fell; nothing was lost
                if self.playing:
                    self.ticks -= self.lost
                    self.counted -= self.lost
                self.lost = 0
                self.period = t - self.raw
                self.t0, self.t1, self.raw = t, t + self.period, t
                self.m = 0
                self._keep(t)
                return
            self.lost = gap           # lost on the way: count them, and go on from where they were due
            if self.playing:
                self.ticks += gap
                self.counted += gap
            self.k += gap
            self.t1 += gap * self.period
        else:
            self.lost = 0
        self.raw = t
        self._keep(t)
        e = t - self.t1
        bound = WILD * self.spread + FLOOR * self.rate
        if abs(e) > bound and not self.wild:    # one tick far off: taken as at most `bound` off
            self.wild = True
            e = math.copysign(bound, e)
        else:                         # an error that comes again is the clock's own: taken whole
            self.wild = False
        self.spread += (abs(e) - self.spread) / PPQN
        w = 2 * math.pi * self.bandwidth * self.period / self.rate
        self.t0 = self.t1
        self.t1 += math.sqrt(2) * w * e + self.period
        self.period += w * w * e
        self.n += 1

    def _keep(self, t):
        self.j += 1
        self.window[0][self.j % WINDOW] = self.k
        self.window[1][self.j % WINDOW] = t
        self.m += 1

