"""The schedule: timestamped note events waiting to be heard, in a preallocated ring.

One producer (the engine thread) writes events in time order; each consumer (the audio callback, the MIDI
sender) reads them with its own cursor, when their time comes. Nothing is allocated after construction, and
no consumer ever waits: the ring is plain numpy arrays and integer cursors.

    ring = Ring(4096, consumers=2)
    ring.push(time, voice, pitch)          # producer: transport samples, voice 0..3, pitch (OFF = note off)
    n = ring.due(AUDIO, until)             # consumer: how many events before `until` are waiting
    t, v, p = ring.peek(AUDIO, k)          # ... the k-th of them
    ring.advance(AUDIO, n)                 # ... consumed (call between begin/end, see below)

Revocation. Events in the ring that no consumer has taken yet are still speculation: `revoke_after(t)` takes
back every event after `t` that no consumer has read. A consumer brackets each pass with `begin(c)` / `end(c)`
and never reads an event later than the ring's `limit`. To revoke, the producer lowers `limit` to `t`, waits
for any pass that began before that to finish (consumer passes are microseconds long, and the producer is
never on a real-time path), cuts the write cursor back to the first unread event after `t`, and lifts the
limit again. An event that some consumer already took is committed: it is heard, so it stays. The consumers
never block: they only ever skip events past the limit for the moment.

A ring can live in shared memory (`Ring.attach`), so a producer in another process works the same way.
"""

import time

import numpy as np

from livechip.core.events import OFF, Frames

AUDIO, MIDI = 0, 1          # the consumers of the engine's rings
NEVER = np.iinfo(np.int64).max

# control slots: write cursor, limit, then per consumer a read cursor and a pass counter (odd = in a pass)
_W, _LIMIT, _C0 = 0, 1, 2


class Ring:
    """A single-producer ring of (time, voice, pitch) events with one read cursor per consumer."""

    def __init__(self, capacity=4096, consumers=2, buffer=None):
        if capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two, got {capacity}")
        self.capacity = capacity
        self.consumers = consumers
        n_ctl = _C0 + 2 * consumers
        size = Ring.nbytes(capacity, consumers)
        fresh = buffer is None
        if fresh:
            buffer = bytearray(size)
        mem = np.frombuffer(buffer, dtype=np.uint8, count=size)
        self.ctl = mem[:8 * n_ctl].view(np.int64)
        a = 8 * n_ctl
        self.times = mem[a:a + 8 * capacity].view(np.int64)
        self.codes = mem[a + 8 * capacity:a + 16 * capacity].view(np.int64)
        self.mask = capacity - 1
        self._buffer = buffer
        if fresh:
            self.reset()

    @staticmethod
    def nbytes(capacity, consumers=2):
        return 8 * (_C0 + 2 * consumers) + 16 * capacity

    def reset(self):
        """Empty the ring (only while no consumer runs)."""
        self.ctl[:] = 0
        self.ctl[_LIMIT] = NEVER

    # --- producer --------------------------------------------------------------------------

    def push(self, time: Frames, voice: int, pitch: int, tag=0):
        """Append an event (times must not go backwards); `tag` is a small number carried along.
        Returns False if the ring is full."""
        w = int(self.ctl[_W])
        if w - self._slowest() >= self.capacity:
            return False
        i = w & self.mask
        self.times[i] = time
        self.codes[i] = tag << 16 | voice << 8 | (pitch & 0xFF)
        self.ctl[_W] = w + 1      # publish after the slot is written
        return True

    def pending(self):
        """Events written that the slowest consumer has not read."""
        return int(self.ctl[_W]) - self._slowest()

    def last_time(self) -> Frames:
        """Time of the newest event in the ring, or -1 if none was ever written."""
        w = int(self.ctl[_W])
        return int(self.times[(w - 1) & self.mask]) if w else -1

    def unread(self):
        """The (time, voice, pitch) events no consumer has read yet, oldest first."""
        w = int(self.ctl[_W])
        return [self._event(k) for k in range(self._fastest(), w)]

    def revoke_after(self, t: Frames):
        """Take back every unread event later than `t`; return them, oldest first.

        Events later than `t` that a consumer has already read are committed and stay.
        """
        ctl = self.ctl
        ctl[_LIMIT] = t
        self._quiesce()
        w = int(ctl[_W])
        k = self._fastest()
        while k < w and self.times[k & self.mask] <= t:
            k += 1
        revoked = [self._event(j) for j in range(k, w)]
        ctl[_W] = k
        ctl[_LIMIT] = NEVER
        return revoked

    def committed(self):
        """Time of the latest event some consumer has read (-1 if none): the earliest a revocation can reach."""
        k = self._fastest()
        return int(self.times[(k - 1) & self.mask]) if k else -1

    def _quiesce(self, timeout=1.0):
        """Wait until every consumer pass that may have started before now has ended.

        Passes take microseconds, but a consumer thread can be kept off the CPU (or waiting for the GIL) for
        tens of milliseconds; cutting the ring under a pass that is still running would let it skip events
        written later, so only a consumer stuck for a whole second (a dead one) is given up on."""
        ctl = self.ctl
        seen = [int(ctl[_C0 + 2 * c + 1]) for c in range(self.consumers)]
        deadline = time.monotonic() + timeout
        for c, s in enumerate(seen):
            while s & 1 and int(ctl[_C0 + 2 * c + 1]) == s:
                if time.monotonic() > deadline:   # a consumer that died mid-pass must not hang the producer
                    break
                time.sleep(0)

    def _slowest(self):
        return min(int(self.ctl[_C0 + 2 * c]) for c in range(self.consumers))

    def _fastest(self):
        return max(int(self.ctl[_C0 + 2 * c]) for c in range(self.consumers))

    def _event(self, k):
        i = k & self.mask
        code = int(self.codes[i])
        p = code & 0xFF
        return int(self.times[i]), (code >> 8) & 0xFF, (p if p != 0xFF else OFF)

    # --- consumers (real-time side: no allocation, no waiting) ----------------------------

    def begin(self, c):
        self.ctl[_C0 + 2 * c + 1] += 1

    def end(self, c):
        self.ctl[_C0 + 2 * c + 1] += 1

    def due(self, c, until):
        """How many unread events of consumer `c` are earlier than `until` (and not past the limit)."""
        ctl = self.ctl
        r = ctl[_C0 + 2 * c]
        w = ctl[_W]
        lim = ctl[_LIMIT]
        n = 0
        while r + n < w:
            t = self.times[(r + n) & self.mask]
            if t >= until or t > lim:
                break
            n += 1
        return n

    def time_of(self, c, k=0):
        """Time of consumer `c`'s k-th unread event (NEVER if there is none or it is past the limit)."""
        ctl = self.ctl
        j = ctl[_C0 + 2 * c] + k
        if j >= ctl[_W]:
            return NEVER
        t = self.times[j & self.mask]
        return t if t <= ctl[_LIMIT] else NEVER

    def voice_of(self, c, k=0):
        return int(self.codes[(self.ctl[_C0 + 2 * c] + k) & self.mask] >> 8 & 0xFF)

    def tag_of(self, c, k=0):
        return int(self.codes[(self.ctl[_C0 + 2 * c] + k) & self.mask] >> 16)

    def pitch_of(self, c, k=0):
        p = int(self.codes[(self.ctl[_C0 + 2 * c] + k) & self.mask] & 0xFF)
        return p if p != 0xFF else OFF

    def advance(self, c, n):
        self.ctl[_C0 + 2 * c] += n


class Merge:
    """One consumer's time-ordered reader over several rings: the earliest unread event of any ring comes first
    (of events at one time, the one in the earlier ring).

        with Merge(rings, AUDIO) as m:           # a consumer pass on every ring (begin ... end)
            while (t := m.next(until)) != NEVER:
                play(t, m.voice(), m.pitch())
                m.advance()

    Real-time safe, for the audio callback: no list, tuple or other container is built per event (the rings
    are a tuple made once, the current event is one attribute, every answer is a number), no lock is taken
    and nothing is logged."""

    def __init__(self, rings, consumer):
        self.rings = tuple(rings)
        self.c = consumer
        self.ring = None             # the ring of the event `next` found

    def __enter__(self):
        for r in self.rings:
            r.begin(self.c)
        return self

    def __exit__(self, kind, value, tb):
        for r in self.rings:
            r.end(self.c)

    def next(self, until=NEVER):
        """Time of the earliest unread event before `until`, now the current one; NEVER if there is none."""
        c, best, t0 = self.c, None, until
        for r in self.rings:
            t = r.time_of(c)
            if t < t0:
                best, t0 = r, t
        self.ring = best
        return NEVER if best is None else t0

    def voice(self):
        return self.ring.voice_of(self.c)

    def pitch(self):
        return self.ring.pitch_of(self.c)

    def advance(self):
        self.ring.advance(self.c, 1)


class EventLog:
    """Every event the engine scheduled, as (frame, tick, voice, pitch) rows in schedule order: the session's
    record (what `played()` and a saved session read) and the speculative tail that revocation cuts off.

    It lasts as long as the session, so it is kept compact: int64 rows in one array grown by doubling
    (32 bytes an event; an hour of busy four-voice music is a few MB), not a list of tuples.

    Only the engine thread writes it; readers take the engine's lock.
    """

    def __init__(self, capacity=4096):
        self._rows = np.empty((capacity, 4), dtype=np.int64)
        self._n = 0

    def __len__(self):
        return self._n

    def __iter__(self):
        return iter(self._rows[:self._n].tolist())

    def append(self, frame, tick, voice, pitch):
        if self._n == len(self._rows):
            grown = np.empty((2 * len(self._rows), 4), dtype=np.int64)
            grown[:self._n] = self._rows
            self._rows = grown
        self._rows[self._n] = (frame, tick, voice, pitch)
        self._n += 1

    def last(self):
        """The newest row as a tuple, or None."""
        return tuple(self._rows[self._n - 1].tolist()) if self._n else None

    def pop(self, k):
        """Remove the newest `k` rows (the revoked ones) and return them, oldest first."""
        k = min(k, self._n)
        self._n -= k
        return [tuple(r) for r in self._rows[self._n:self._n + k].tolist()]

    def rows(self):
        """A read-only view of the rows, [n, 4] (valid until the next write)."""
        v = self._rows[:self._n]
        v.flags.writeable = False
        return v
