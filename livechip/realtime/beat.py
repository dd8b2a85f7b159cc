"""The beat clock: the transport's musical position beside the sample clock, and the one place where beats
meet sample frames (as `TempoMap` is for model ticks).

    beats = BeatClock(rate=48000, bpm=120)   # stopped at beat 0
    beats.start(at_frame=4800)               # beat 0 falls on frame 4800, and the beat runs from there
    beats.beat(frame)                        # beats since the start (a float); held while stopped
    beats.frame(8)                           # the frame of beat 8 at the present tempo (a float)
    beats.set_bpm(100, at_frame)             # from `at_frame` on at 100 bpm; the beat goes on where it was
    beats.bar(frame)                         # (bar, beat of the bar), both counted from 1 as a DAW shows them
    beats.next(frame, 1 / 24)                # the first 24-PPQN tick at or after `frame`: (index, frame)

The clock is linear from an anchor, (frame, beat, bpm, running): beat = beat0 + (frame - frame0) * bpm /
(60 * rate). Every change (tempo, start, stop, a jump) re-anchors at a given frame, which may lie ahead (a tempo
change on the next bar): the line before it stays in force up to it, so what lies before it keeps its place.
One change ahead is kept; a change dated before a pending one replaces it. The anchor (with the line before
it) is one tuple, replaced whole: a reader on another thread takes it once and computes from a consistent
copy, with no lock.
"""

import math

BPM = (20.0, 999.0)     # the tempi a beat clock takes (a DAW's range)
SOURCES = ("free", "midi", "jack", "link")     # where a session's beat comes from (play --sync)
GRIDS = {"off": None, "1/4": 1.0, "1/8": 0.5, "1/16": 0.25, "1/8t": 1 / 3, "1/16t": 1 / 6}    # beats a step
EPS = 1e-9              # beats: a grid position this close to a frame counts as on it


def check_bpm(bpm):
    bpm = float(bpm)
    if not BPM[0] <= bpm <= BPM[1]:     # also refuses NaN
        raise ValueError(f"bpm must be between {BPM[0]:g} and {BPM[1]:g}, not {bpm:g}")
    return bpm


class BeatClock:
    """Beats since the start <-> transport frames at `rate` Hz, `meter` beats to the bar (4: 4/4)."""

    def __init__(self, rate=48000, bpm=120.0, meter=4):
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of frames a second, not {rate!r}")
        if not isinstance(meter, int) or meter < 1:
            raise ValueError(f"meter must be a whole number of beats per bar (1 or more), not {meter!r}")
        self.rate = float(rate)
        self.meter = meter
        self.anchor = (0.0, 0.0, check_bpm(bpm), False, None)    # frame0, beat0, bpm, running, line before

    def __repr__(self):
        f0, b0, bpm, run, _ = self.anchor
        return f"BeatClock({bpm:g} bpm, beat {b0:g} at frame {f0:g}, {'running' if run else 'stopped'})"

    @property
    def bpm(self):
        """The tempo as of the latest change (see `line` for the one in force at a frame)."""
        return self.anchor[2]

    @property
    def running(self):
        """Running as of the latest change."""
        return self.anchor[3]

    def line(self, frame):
        """The (frame0, beat0, bpm, running) line in force at `frame`."""
        a = self.anchor
        return a[4] if frame < a[0] and a[4] is not None else a[:4]

    def beat(self, frame):
        """Beats since the start at transport frame `frame` (held at the stop position while stopped)."""
        f0, b0, bpm, run = self.line(frame)
        return b0 + (frame - f0) * bpm / (60.0 * self.rate) if run else b0

    def frame(self, beat):
        """The frame where `beat` falls: on the line before the anchor if it runs and `beat` comes before the
        anchor's, else on the anchor's line as if the clock runs on at its tempo (a float)."""
        f0, b0, bpm, _, before = self.anchor
        if before is not None and before[3] and beat < b0:
            f0, b0, bpm, _ = before
        return f0 + (beat - b0) * 60.0 * self.rate / bpm

    def frames_per_beat(self):
        return 60.0 * self.rate / self.anchor[2]

    def bar(self, frame):
        """(bar, beat of the bar) at `frame`, both from 1: beat 0 is bar 1 beat 1.0, beat 5.5 in 4/4 is (2, 2.5)."""
        b = self.beat(frame)
        bar = math.floor(b / self.meter)
        return bar + 1, b - bar * self.meter + 1

    # --- changes: each re-anchors at a frame -------------------------------------------------------------

    def set(self, beat, bpm, at_frame, running):
        """Everything at once: at `at_frame` the beat is `beat`, the tempo `bpm`, the clock running or not.
        A follower of an outside clock steers through this."""
        a = self.anchor
        before = a[:4] if at_frame >= a[0] else a[4]
        self.anchor = (float(at_frame), float(beat), check_bpm(bpm), bool(running), before)

    def set_bpm(self, bpm, at_frame):
        """From `at_frame` on, `bpm` beats a minute; the beat at `at_frame` stays where it was."""
        self.set(self.beat(at_frame), bpm, at_frame, self.line(at_frame)[3])

    def start(self, at_frame, beat=0.0):
        """Run from `beat` (0: bar 1) at `at_frame`."""
        self.set(beat, self.bpm, at_frame, True)

    def resume(self, at_frame):
        """Run on from where the clock stopped, at `at_frame`."""
        self.set(self.beat(at_frame), self.bpm, at_frame, True)

    def stop(self, at_frame):
        """Hold the beat where it is at `at_frame`."""
        self.set(self.beat(at_frame), self.bpm, at_frame, False)

    def locate(self, beat, at_frame):
        """Jump to `beat` at `at_frame`, running or stopped as before."""
        self.set(beat, self.bpm, at_frame, self.line(at_frame)[3])

    # --- the grid ----------------------------------------------------------------------------------------

    def next(self, frame, step):
        """The first grid position (a multiple of `step` beats) at or after `frame`: (index, its frame), with
        beat = index * step. No position comes while stopped: (index, inf), the held position rounded up."""
        k = math.ceil(self.beat(frame) / step - EPS)
        f = self.frame(k * step)
        return k, (f if self.line(max(f, frame))[3] else math.inf)

    def snap(self, frame, step):
        """The frame of the grid position (a multiple of `step` beats) nearest to `frame`."""
        return self.frame(round(self.beat(frame) / step) * step)
