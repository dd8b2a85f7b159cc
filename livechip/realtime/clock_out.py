"""Leading: MIDI clock sent from the session's beat clock (`livechip play --clock-out`).

`ClockOut` sends, on the `livechip` port beside the notes, 24 Timing Clock messages a beat while the
`BeatClock` runs; Start when it starts from beat 0; Song Position Pointer and Continue when it starts elsewhere
(on the first 16th note at or after it); Stop when it stops; and Stop, Song Position Pointer, Continue when it
jumps while running. A DAW set to follow MIDI clock then plays at the session's tempo (`/livechip/bpm`).

Each tick's transport frame comes from the beat clock (`beats.frame(k / 24)`), and the message is sent when the
transport clock reaches that frame, the way the MIDI sender sends notes: wake a little early, sleep the rest,
send, at real-time priority where the system allows. No tick's time comes from a thread's wake-up time, and a
tempo change moves the ticks not yet sent.

    out = ClockOut(beats, clock, midi_out)
    out.start(); beats.start(at_frame); out.notify()
    ...; out.stop()                  # sends Stop if the clock was running
"""

import math
import threading
import time

import numpy as np

from livechip.realtime.midi_clock import CLOCK, CONTINUE, POSITION, PPQN, SPP_TICKS, START, STOP
from livechip.realtime.system import realtime_priority, until_due

STATS = 1 << 14         # send-time errors kept


class ClockOut:
    """Sends MIDI clock for a `BeatClock` (`beats`, in the frames of `clock`) on a `MidiOut`, on a thread of
    its own (see the module's docstring). `delay`: seconds added to every message, as the MIDI sender adds to
    notes. Call `notify()` after changing the beat clock so the thread looks at it at once (it looks at least
    every 10 ms anyway)."""

    def __init__(self, beats, clock, out, delay=0.0):
        self.beats = beats
        self.clock = clock
        self.out = out
        self.delay = delay
        self.seen = (0.0, 0.0, beats.bpm, False)    # the beat clock's anchor as last planned for
        self.k = None                 # index of the next tick to send (None: not ticking)
        self.until = math.inf         # ticks go up to (not including) this frame
        self.queue = []               # (frame, [messages], tick index that follows or None), in frame order
        self.errors = np.zeros(STATS, dtype=np.float64)    # send time minus due time of each tick, seconds
        self.n = 0
        self.realtime = False
        self.failed = None
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livechip-clock-out", daemon=True)

    def start(self):
        self._thread.start()

    def notify(self):
        self.wake.set()

    def stop(self):
        """Stop the thread; a DAW following hears Stop if the clock was running."""
        self._stop.set()
        self.wake.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        if self.k is not None and self.out.out is not None:
            self.out.send([STOP])
            self.k = None

    def timing(self):
        """Send time minus due time (seconds) of the recent ticks, oldest first."""
        n = min(self.n, STATS)
        return self.errors[(np.arange(n) + (self.n - n)) % STATS].copy()

    # --- planning: what the beat clock's last change asks for ----------------------------------------------

    def _plan(self):
        a = self.beats.anchor
        line, before = a[:4], a[4]
        if line == self.seen:
            return
        for new in ([before, line] if before is not None and before != self.seen else [line]):
            self._step(self.seen, new)
            self.seen = new

    def _step(self, old, new):
        (f1, b1, bpm1, run1), (f0, b0, _, run0) = old, new
        was = b1 + (f0 - f1) * bpm1 / (60 * self.beats.rate) if run1 else b1   # where the old line had f0
        if run0 and (not run1 or abs(was - b0) > 0.5 / PPQN):
            p = math.ceil(b0 * PPQN / SPP_TICKS - 1e-9)       # the first 16th note at or after b0
            at = self.beats.frame(p * SPP_TICKS / PPQN)
            msgs = [[START]] if p == 0 and not run1 else [[POSITION, p & 0x7F, p >> 7], [CONTINUE]]
            if run1:
                msgs.insert(0, [STOP])
            self.queue = [q for q in self.queue if q[0] < at] + [(at, msgs, p * SPP_TICKS)]
            self.until = at
        elif run1 and not run0:
            self.queue = [q for q in self.queue if q[0] < f0] + [(f0, [[STOP]], None)]
            self.until = f0

    def _next(self):
        """The frame of the next message due: a queued transport message or the next tick."""
        t = self.queue[0][0] if self.queue else math.inf
        if self.k is not None:
            tick = self.beats.frame(self.k / PPQN)
            if tick < self.until - 0.5 and tick < t:      # a tick on the stop's frame is not sent
                return tick, True
        return t, False

    # --- sending ---------------------------------------------------------------------------------------

    def _run(self):
        self.realtime = realtime_priority()
        try:
            while not self._stop.is_set():
                self._plan()
                frame, tick = self._next()
                if frame == math.inf:
                    self.wake.wait(0.01)
                    self.wake.clear()
                    continue
                due = self.clock.monotonic_at(frame) + self.delay
                if not until_due(due, self.wake, 0.01):
                    continue                               # a change of the beat clock is seen then
                if tick:
                    self.out.send([CLOCK])
                    self.errors[self.n % STATS] = time.monotonic() - due
                    self.n += 1
                    self.k += 1
                else:
                    _, msgs, k = self.queue.pop(0)
                    for m in msgs:
                        self.out.send(m)
                    self.k = k
                    if k is not None:
                        self.until = math.inf
        except Exception as e:   # noqa: BLE001 - a dead MIDI port must not take the instrument down
            self.failed = e
