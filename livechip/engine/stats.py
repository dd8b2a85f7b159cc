"""What the engine measures while it plays: each figure's recent past in fixed memory.

    stats = Stats()
    stats.human_lag.append(0.0004)     # any thread; allocates nothing
    np.percentile(stats.human_lag, 99) # oldest first, as an array
"""

import time

import numpy as np

KEEP = 100_000          # values kept of each figure
KEEP_CHECKS = 10_000    # looks at the MIDI input port kept (two a second: over an hour and a half)
LEADS = 1 << 14         # samples of the schedule's lead kept (13 minutes at one per 50 ms)
LEAD_EVERY = 0.05       # seconds between two samples of the lead


class History:
    """The latest `keep` values (or rows of `width`) appended, oldest first, in a preallocated array."""

    def __init__(self, keep, width=None):
        self.rows = np.zeros((keep,) if width is None else (keep, width))
        self.count = 0           # values ever appended

    def append(self, value):
        self.rows[self.count % len(self.rows)] = value
        self.count += 1

    def last(self):
        return self.rows[(self.count - 1) % len(self.rows)]

    def values(self):
        n = len(self)
        return self.rows[(np.arange(n) + (self.count - n)) % len(self.rows)]

    def __len__(self):
        return min(self.count, len(self.rows))

    def __iter__(self):
        return iter(self.values().tolist())

    def __getitem__(self, k):
        return self.values()[k]

    def __array__(self, dtype=None, copy=None):
        return self.values() if dtype is None else self.values().astype(dtype)


class Stats:
    """Reaction latency, merge times, the player's input lag, port checks and the schedule's lead."""

    def __init__(self):
        self.reactions = History(KEEP)      # seconds from a player's note arriving to the model's next note scheduled
        self.merge_times = History(KEEP)    # seconds each merge of the player's notes took
        self.human_lag = History(KEEP)      # seconds from a MIDI message arriving to the player's thread taking it
        self.port_checks = History(KEEP_CHECKS)  # seconds each look at the MIDI input port took
        self.leads = History(LEADS, 2)      # (monotonic time, seconds of schedule ahead of now)
        self.reacting = []                  # (monotonic arrival, tick) of player's notes not answered yet

    def lead(self, ahead):
        """Sample the lead if LEAD_EVERY has passed since the last sample; True if it did."""
        mono = time.monotonic()
        if self.leads.count and mono - self.leads.last()[0] <= LEAD_EVERY:
            return False
        self.leads.append((mono, ahead))
        return True

    def answered(self, events, masked):
        """The model's `events` are on the schedule: each player's note earlier than the last of them that is
        not in a `masked` voice got its answer now."""
        ticks = [e.time for e in events if e.voice not in masked]
        if not ticks:
            return
        now, last = time.monotonic(), max(ticks)
        keep = []
        for arrived, tick in self.reacting:
            if last > tick:
                self.reactions.append(now - arrived)
            else:
                keep.append((arrived, tick))
        self.reacting[:] = keep
