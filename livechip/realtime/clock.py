"""One transport clock, and the one place where model time (TX1 ticks) meets transport time (sample frames).

The transport counts sample frames at the output rate since the start. When an audio stream runs, its
callback is the master: each block tells the clock which frame it starts at and when it was called, and every
other reader (the MIDI sender, the engine, the UI) extrapolates from that with the monotonic clock. Without an
audio device a pacing thread plays the same role at the nominal rate, so there is only ever one clock.

Ticks (1/44 100 s) are converted to frames once, at the edge, by `TempoMap`, which also applies the tempo
scale: at tempo 2.0 a tick lasts half as long.
"""

import time

import numpy as np

from livechip.core.events import TICKS_PER_SECOND, Frames, Ticks

# state slots (float64): monotonic time of frame 0, first frame of the current block, block length, started
_ORIGIN, _BLOCK, _LEN, _STARTED = range(4)
FOLLOW = 0.02     # how fast the origin estimate follows a callback that comes later than expected (per block)


class Clock:
    """Transport time in frames at `rate` Hz. `block()` is called by whatever renders audio."""

    def __init__(self, rate=48000, buffer=None):
        self.rate = float(rate)
        self.state = np.zeros(4, dtype=np.float64) if buffer is None else np.frombuffer(buffer, np.float64, 4)
        self.state[_ORIGIN] = time.monotonic()

    def start(self, at=None):
        """Frame 0 is now (or at monotonic time `at`), until the renderer's first block says exactly when."""
        s = self.state
        s[_ORIGIN] = time.monotonic() if at is None else at
        s[_BLOCK] = 0.0
        s[_LEN] = 0.0
        s[_STARTED] = 0.0

    @property
    def started(self):
        """True once a renderer has called block()."""
        return bool(self.state[_STARTED])

    def block(self, first: Frames, frames: int, now: float):
        """The renderer is about to produce frames [first, first + frames), called at monotonic time `now`.

        Real-time path: a few float operations, nothing allocated. The origin (when frame 0 would have been
        rendered) follows early callbacks at once and late ones slowly, so scheduling jitter of the callback
        thread does not move the clock, while a sound card running slightly fast or slow is followed.
        """
        s = self.state
        seen = now - first / self.rate
        if seen < s[_ORIGIN] or not s[_STARTED]:
            s[_ORIGIN] = seen
        else:
            s[_ORIGIN] += FOLLOW * (seen - s[_ORIGIN])
        s[_BLOCK] = first
        s[_LEN] = frames
        s[_STARTED] = 1.0

    def now(self) -> float:
        """The current transport position in frames (a float).

        Between blocks it is extrapolated, but never past the end of the block after the current one: if the
        renderer stalls, transport time stalls with it.
        """
        s = self.state
        t = (time.monotonic() - s[_ORIGIN]) * self.rate
        if s[_LEN]:
            t = min(t, s[_BLOCK] + 2 * s[_LEN])
        return t

    def block_start(self) -> Frames:
        """First frame of the block being rendered (or last rendered)."""
        return int(self.state[_BLOCK])

    def monotonic_at(self, frame: Frames) -> float:
        """The monotonic time at which `frame` is due."""
        return self.state[_ORIGIN] + frame / self.rate

    def seconds(self):
        return self.now() / self.rate


class TempoMap:
    """Model ticks <-> transport frames, with a tempo scale that can change at any point.

    The map is linear from an anchor: frame = frame0 + (tick - tick0) * rate / 44100 / tempo. Changing the
    tempo re-anchors at a given frame, so time already scheduled before it keeps its place.
    """

    def __init__(self, rate=48000, tempo=1.0, tick0: Ticks = 0, frame0: Frames = 0):
        self.rate = float(rate)
        self.tempo = float(tempo)
        self.tick0 = tick0
        self.frame0 = frame0

    def frames(self, tick: Ticks) -> Frames:
        return self.frame0 + round((tick - self.tick0) * self.rate / (TICKS_PER_SECOND * self.tempo))

    def ticks(self, frame: Frames) -> Ticks:
        return self.tick0 + round((frame - self.frame0) * TICKS_PER_SECOND * self.tempo / self.rate)

    def set_tempo(self, tempo: float, at_frame: Frames):
        """From `at_frame` on, play at `tempo` (1.0 = as written)."""
        self.tick0 = self.ticks(at_frame)
        self.frame0 = at_frame
        self.tempo = float(tempo)


def frames_to_ticks(frames: Frames, rate: float) -> Ticks:
    """Transport frames to TX1 ticks at tempo 1 (for recording what was heard)."""
    return round(frames * TICKS_PER_SECOND / rate)


def ticks_to_frames(ticks: Ticks, rate: float) -> Frames:
    return round(ticks * rate / TICKS_PER_SECOND)
