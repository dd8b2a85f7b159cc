"""In time with the band: the transport's beat, where it comes from, and the model's events placed on it.

    sync = Sync("midi", rate=48000, bpm=120)     # or "free" (its own tempo, /livechip/bpm), "jack", "link"
    sync.feed(frame, msg)          # the player's thread: MIDI clock, Start, Stop, Continue, Song Position Pointer
    sync.poll(now)                 # the engine thread: "start" or "stop" when the band's transport changed
    sync.step = GRIDS["1/16"]      # the grid in beats (0.25); None: events are not moved
    sync.place(frame, voice, on, floor)     # a model event's frame on the grid
    match_tempo(onsets, step_s)    # the tempo scale that puts the model's own grid on the band's

The beat is a `BeatClock` in transport frames, steered by its source: a `ClockFollower` (MIDI clock, smoothed
by a delay-locked loop), `JackTransport` or `LinkSession`; free, it runs at the `bpm` setting from the start.
Placing: a note-on goes to the nearest grid line not before `floor` (what was already heard or scheduled), a
note-off stays where it falls, after its own note-on, so no note loses its length; frames only grow, so the
ring stays in time order. The model's context keeps its own times: what it hears back is its tick, and the
player's notes enter at the tick of their frame (see docs/sync.md for what this costs).
"""

import math

import numpy as np

from livechip.realtime.beat import SOURCES, BeatClock
from livechip.realtime.midi_clock import MESSAGES, ClockFollower

POLL = 0.01             # seconds between looks at JACK transport or Link (MIDI clock comes as it comes)
MATCH_SPAN = (2 ** -0.5, 2 ** 0.5)   # the model's grid is matched within half an octave of tempo either way
MATCH_MIN = 16          # onsets needed to tell the model's tempo
MATCH_COHERENCE = 0.5   # the least phase coherence of the onsets on a grid for it to count as the model's


def match_tempo(onsets, step):
    """The tempo scale (frames = ticks / scale) that makes the model's own grid last `step` seconds: the grid
    period q (model seconds, within half an octave of `step` either way) on which the `onsets` (model seconds)
    line up best, by the phase coherence |mean(exp(2 pi i t / q))|, or on its halves (a model playing twice as
    fast as the band: its 16ths become the band's 32nds; counted 0.9 so the coarser grid wins a tie); scale =
    q / step. None when there are too few onsets or none lines up (coherence below MATCH_COHERENCE)."""
    t = np.asarray(onsets, dtype=np.float64)
    if len(t) < MATCH_MIN or not step > 0:
        return None
    t = t - t[0]
    q = step * np.geomspace(*MATCH_SPAN, 241)
    phase = 2j * np.pi * t[None, :] / q[:, None]
    r = np.maximum(np.abs(np.exp(phase).mean(axis=1)), 0.9 * np.abs(np.exp(2 * phase).mean(axis=1)))
    best = int(np.argmax(r))
    return float(q[best] / step) if r[best] >= MATCH_COHERENCE else None


class Sync:
    """The band's beat in transport frames at `rate`, from `source` (one of SOURCES)."""

    def __init__(self, source="free", rate=48000, bpm=120.0, clock=None):
        if source not in SOURCES:
            raise ValueError(f"sync must be one of {', '.join(SOURCES)}, not {source!r}")
        self.source, self.rate = source, rate
        self.beats = BeatClock(rate, bpm)
        self.step = None            # the grid in beats; None: off
        self.follower = ClockFollower(rate=rate) if source == "midi" else None
        self.outside = None         # JackTransport or LinkSession
        self._clock = clock         # the transport clock (for JACK and Link, whose times are their own)
        self._running = False
        self._polled = -math.inf
        self._onset = {}            # voice -> frame of its latest note-on placed

    def open(self):
        """Connect to the outside clock (JACK transport, Link); DeviceError if it is not there."""
        if self.source == "jack":
            from livechip.realtime.jack_transport import JackTransport   # libjack, loaded only when asked for
            self.outside = JackTransport()
        elif self.source == "link":
            from livechip.realtime.link import LinkSession               # an optional extra: livechip[link]
            self.outside = LinkSession(self.beats.bpm)

    def close(self):
        if self.outside is not None:
            self.outside.close()

    def describe(self):
        return {"free": "its own tempo", "midi": "MIDI clock", "jack": "JACK transport",
                "link": "Ableton Link"}[self.source]

    @property
    def running(self):
        return self.beats.running

    # --- the band's time -------------------------------------------------------------------------------

    def begin(self, frame):
        """The session starts at `frame`: free, the beat runs from here; following, it waits for the band."""
        if self.source == "free":
            self.beats.start(frame)
            self._running = True

    def set_bpm(self, bpm, frame):
        """The free tempo from `frame` on (following, the band's tempo wins: False)."""
        if self.source != "free":
            return False
        if bpm != self.beats.bpm:
            self.beats.set_bpm(bpm, frame)
        return True

    def feed(self, t, msg):
        """The player's thread: one MIDI message that arrived at frame `t`; True if it was clock (taken here)."""
        if self.follower is None or not msg or msg[0] not in MESSAGES:
            return False
        if self.follower.feed(t, msg) is not None:
            self.follower.steer(self.beats, t)
        return True

    def poll(self, now):
        """The engine thread, at frame `now`: follow the outside clock; "start" or "stop" when the band's
        transport changed since the last call, else None."""
        if self.follower is not None and self.follower.playing and not self.follower.running(now):
            self.follower.steer(self.beats, now)   # the clock went quiet: stopped
        elif self.outside is not None and now - self._polled >= POLL * self.rate:
            self._polled = now
            self.outside.steer(self.beats, self._clock)
        running = self.beats.line(now)[3]
        if running == self._running:
            return None
        self._running = running
        return "start" if running else "stop"

    def figures(self, now):
        """bpm, beat (from 0 at the band's start) and bar (from 1) at frame `now`."""
        bpm = self.follower.bpm if self.follower is not None and self.follower.bpm else self.beats.bpm
        return {"bpm": round(bpm, 2), "beat": round(self.beats.beat(now), 3), "bar": self.beats.bar(now)[0]}

    # --- the model's events on the beat ----------------------------------------------------------------

    def place(self, frame, voice, on, floor):
        """The frame a model event at `frame` is heard at: not before `floor`, a note-on on the grid."""
        if self.step is None or not self.beats.line(frame)[3]:
            return max(frame, floor)
        if not on:
            return max(frame, floor, self._onset.get(voice, -1) + 1)
        g = self.beats.snap(frame, self.step)
        if g < floor:
            g = self.beats.next(floor, self.step)[1]
            if not math.isfinite(g):
                return max(frame, floor)
        f = round(g)
        self._onset[voice] = f
        return f

    def forget(self, after):
        """Note-ons placed after frame `after` were revoked."""
        self._onset = {v: f for v, f in self._onset.items() if f <= after}

    def step_seconds(self):
        """The grid's length in seconds at the band's tempo (None: no grid)."""
        return None if self.step is None else self.step * 60.0 / self.beats.bpm
