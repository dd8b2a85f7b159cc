"""The window from the engine to whoever is watching: notes, running figures, levels and "now".

The engine pushes, a viewer (the terminal UI, a status reply) takes a snapshot when it wants one. Nothing flows
back: a viewer cannot slow the engine down, whatever it does with its snapshot.

    monitor = Monitor()
    # the engine thread (never the audio callback), as it schedules and plays:
    monitor.note("P1", 67, start, None)                     # a model note, ending at P1's next event
    monitor.note("P1", None, later)                         # P1 note off
    monitor.note("TR", 45, t, None, source="human", speculative=False)   # the player's note
    monitor.revoke(t)                                       # speculative notes after tick t were taken back
    monitor.now(tick)                                       # the transport position, in TX1 ticks
    monitor.stats(tokens_per_s=480.0, lead_s=0.9, latency_ms=12.0, xruns=0, model_name="default")
    monitor.levels({"P1": 0.8, "TR": 0.4})
    # a viewer, at its own pace:
    snap = monitor.snapshot(past_ticks=6 * 44100, ahead_ticks=2 * 44100)

Times are TX1 ticks (1/44 100 s of score time, before the tempo scale). Every push is a few attribute sets or one
deque append under a lock that is only ever held for a few microseconds (a snapshot copies a list of tuples
under it and does all other work outside), so the engine never waits on a viewer. Pushes allocate a little
(one tuple per note): call them from the engine's thread or the MIDI input thread, never from the audio callback.
"""

import threading
from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType

from livechip.core.events import VOICES

SOURCES = ("model", "human")
LOOK_BACK = 30 * 44100      # ticks: a note that started this long before the window and still sounds is not shown
STATS = ("tokens_per_s", "lead_s", "latency_ms", "xruns", "audio", "midi_out", "midi_in", "recording",
         "model_name")


@dataclass(frozen=True)
class Note:
    """One note as a viewer sees it; `pitch` None is a note off (it ends the voice's sounding note)."""
    voice: str
    pitch: int | None
    start: int                  # tick
    end: int | None             # tick, or None while the voice has no later event (still sounding)
    source: str = "model"       # "model" or "human"
    speculative: bool = False   # generated ahead of "now" and still revocable

    @property
    def is_off(self):
        return self.pitch is None


@dataclass(frozen=True)
class Snapshot:
    """What a viewer draws: the notes overlapping [start, end) with their ends resolved, the figures, now."""
    now: int
    start: int
    end: int
    notes: tuple = ()                                       # Note, sorted by (start, voice order), no offs
    stats: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    levels: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def voice(self, v):
        return tuple(n for n in self.notes if n.voice == v)

    def sounding(self, v):
        """The note voice `v` plays at `now`, or None."""
        for n in self.notes:
            if n.voice == v and n.start <= self.now and (n.end is None or n.end > self.now):
                return n
        return None


class Monitor:
    """Notes and figures pushed by the engine, read by viewers as immutable snapshots. Thread-safe.

    `history`: how many note events are kept (the oldest drop out); a few minutes of busy music by default.
    """

    def __init__(self, history=4096):
        self._lock = threading.Lock()
        self._events = deque(maxlen=history)     # (voice, pitch, start, end, source, speculative)
        self._stats = {}
        self._levels = {}
        self._now = 0

    # --- pushed by the engine -----------------------------------------------------------------------

    def note(self, voice, pitch, start, end=None, source="model", speculative=False):
        """A note on `voice` from tick `start` to `end` (None: until the voice's next event); pitch None = off."""
        e = (voice, pitch, int(start), None if end is None else int(end), source, bool(speculative))
        with self._lock:
            self._events.append(e)

    def revoke(self, after):
        """Take back every speculative note that starts after tick `after` (the engine revoked them); what
        starts before "now" was heard and stays."""
        after = max(after, self._now)
        with self._lock:
            kept = []
            events = self._events
            # the player's notes come in once heard, after speculation that starts later: look past them
            # (speculation is never more than the longest horizon, well under LOOK_BACK, ahead)
            while events and (events[-1][2] > after or (not events[-1][5] and events[-1][2] > after - LOOK_BACK)):
                e = events.pop()
                if not e[5]:
                    kept.append(e)
            events.extend(reversed(kept))

    def now(self, tick):
        """The transport position in ticks (what is being heard)."""
        self._now = int(tick)

    def stats(self, **figures):
        """Running figures: tokens_per_s, lead_s, latency_ms, xruns, audio, midi_out, midi_in, recording,
        model_name (any subset; other names are kept and shown too)."""
        with self._lock:
            self._stats.update(figures)

    def levels(self, levels):
        """Output level per voice, 0..1 (e.g. {"P1": 0.7})."""
        self._levels = dict(levels)

    def clear(self):
        """Forget every note (a new song: the engine's memory was reset)."""
        with self._lock:
            self._events.clear()

    # --- read by viewers ----------------------------------------------------------------------------

    def snapshot(self, past_ticks=6 * 44100, ahead_ticks=2 * 44100):
        """The notes overlapping [now - past_ticks, now + ahead_ticks), figures and levels, as one immutable
        object. A note with no end of its own ends where its voice's next event (note or off) starts. (A voice
        silent for more than LOOK_BACK before the window costs no more than that to find out.)"""
        with self._lock:
            events = list(self._events)
            stats = dict(self._stats)
        now = self._now
        levels = dict(self._levels)
        lo, hi = now - past_ticks, now + ahead_ticks
        # only the tail matters: from the last event before the window of every voice on, looking back at
        # most LOOK_BACK ticks before it (events come in about time order; the player's may arrive after
        # speculative ones, so the tail is sorted)
        before = set()
        k = len(events)
        oldest = lo - LOOK_BACK
        while k > 0 and len(before) < len(VOICES):
            k -= 1
            if events[k][2] < lo:
                before.add(events[k][0])
                if events[k][2] < oldest:
                    break
        order = {v: i for i, v in enumerate(VOICES)}
        events = sorted(events[k:], key=lambda e: (e[2], order.get(e[0], 9)))
        nxt = {}                  # voice -> start of its next event, walking backwards
        notes = []
        for voice, pitch, start, end, source, spec in reversed(events):
            until = nxt.get(voice)
            nxt[voice] = start
            if pitch is None:
                continue
            if end is None or (until is not None and until < end):
                end = until
            if start < hi and (end is None or end > lo) and not (end is not None and end <= start):
                notes.append(Note(voice, pitch, start, end, source, spec))
        notes.reverse()
        return Snapshot(now, lo, hi, tuple(notes), MappingProxyType(stats), MappingProxyType(levels))
