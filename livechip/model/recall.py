"""Recall: leaning the next token towards the pitch classes, noise sounds and rhythm the model has heard.

Music keeps its key and its groove; a small network drifts from both within seconds (docs/model.md). `Recall`
keeps, over the last WINDOW note-ons the model *heard* (a primer, a player's notes, voices kept from a file: what
it did not choose), the count of each pitch class of P1, P2 and TR (one count shared by the three: a key is the
band's), of each NO value, and the intervals between successive heard note-ons. With strength `recall`:

- each note-on's logit gets recall * log(its pitch class's (NO: its value's) share among those heard / the share
  of a uniform one), each share smoothed with one count: a pitch class heard twice as often as an average one
  becomes 2**recall times as likely against it, one never heard rarer;
- each wait's logit gets recall * log(the share, among the heard intervals, of the interval a note-on right after
  the wait would make with the last note-on / its share in NES music at large, NES_INTERVALS), in 10 ms bins up
  to 1 s and one bin beyond; the heard intervals start from IOI_PRIOR intervals shaped as NES_INTERVALS. What
  every NES song does (most note-ons fall within 20 ms of another) is left to the network; what this song does
  more or less than the others (its pulse) is leaned towards;
- then each voice's note-ons, and the waits, are renormalised among themselves: recall changes *which* note a
  voice plays and *how long* a wait is, never whether a note or a wait comes next (density is the model's and
  the density control's). Note-offs and `<S>` are untouched.

With nothing heard nothing changes; recall = 0 is the network alone. The model's own notes are not counted: they
would feed back (a note it repeats becomes ever more likely, and a continuation collapses onto one pitch;
docs/model.md, "Recall").

    r = Recall()
    r.add([tok, ...], position, ticks)        # heard tokens from history position `position` on, their end ticks
    r.revoke(position)                        # the history was taken back to `position`
    logits = r.apply(logits, 0.5, since)      # [V] -> [V]; `since`: ticks from the last note-on (None: long ago)
"""

import collections

import numpy as np
import torch

from livechip.core import events as ev

V = ev.N_TOKENS
WINDOW = 768                              # heard note-ons counted: about half a minute of a dense song
IOI_BIN = ev.TICKS_PER_SECOND // 100      # onset intervals in 10 ms bins up to 1 s, then one bin for longer
IOI_BINS = 101
IOI_PRIOR = 50.0                          # intervals, shaped as NES_INTERVALS, the heard ones start from
# NES-MDB's train split: onset intervals in each bin per 100,000 (intervals(): notes struck together left out;
# tests/test_recall.py recomputes it from ../shared/data)
NES_INTERVALS = np.array([
    47917, 17272, 270, 3927, 2129, 874, 3007, 233, 2994, 4143, 914, 3400, 380, 2563, 1132, 258, 1605, 91, 732, 1812,
    281, 399, 126, 524, 352, 57, 602, 23, 125, 270, 38, 115, 53, 208, 67, 10, 84, 5, 53, 279, 42, 28, 4, 25, 38, 9,
    77, 9, 20, 41, 10, 9, 6, 27, 8, 2, 9, 4, 10, 37, 3, 2, 1, 4, 10, 3, 28, 1, 2, 8, 2, 3, 2, 5, 6, 1, 3, 1, 4, 48,
    2, 2, 1, 3, 3, 1, 3, 1, 2, 4, 1, 3, 1, 6, 1, 1, 1, 1, 1, 8, 87]) / 100_000

N_SLOTS = 12 + 16                         # pitch classes, then NO's values 1-16
_SLOT = np.full(V, -1)                    # what a note-on is counted as; -1: not a note-on
_KIND = np.full(V, 4)                     # the group a token's probability is kept within: 0-3 a voice's
for _i in range(V):                       # note-ons, 4 note-offs and <S>, 5 the waits
    if ev.is_note_on(_i):
        _v = ev.voice_of(_i)
        _SLOT[_i] = ev.pitch_of(_i) % 12 if _v != "NO" else 12 + ev.pitch_of(_i) - ev.PITCH_RANGE["NO"][0]
        _KIND[_i] = ev.VOICES.index(_v)
_NOTE_IDS = np.flatnonzero(_SLOT >= 0)
_WAIT_IDS = np.flatnonzero([ev.is_wait(i) for i in range(V)])
_WAIT_TICKS = np.array([ev.wait_ticks(i) for i in _WAIT_IDS])
_KIND[_WAIT_IDS] = 5
_KIND_T = torch.from_numpy(_KIND)
N_KINDS = 6
_GROUP = (np.arange(N_SLOTS) >= 12).astype(int)     # pitch classes 0, noise values 1
_GROUP_SIZE = np.array([12, 16])


class Recall:
    """What a stream heard: the last `window` heard note-ons, each with its history position and tick."""

    def __init__(self, window=WINDOW):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.heard = collections.deque()      # (position, slot, tick), oldest first
        self.counts = np.zeros(N_SLOTS)
        self._notes = None                    # cached: the note-ons' log shares [len(_NOTE_IDS)]
        self._ioi = None                      # cached: the interval bins' log shares [IOI_BINS]

    def clear(self):
        self.heard.clear()
        self.counts[:] = 0
        self._notes = self._ioi = None

    def add(self, tokens, position, ticks):
        """Count the heard note-ons among `tokens`, the history's tokens from `position` on, ending at `ticks`."""
        for k, t in enumerate(tokens):
            s = _SLOT[t]
            if s >= 0:
                self.heard.append((position + k, s, ticks[k]))
                self.counts[s] += 1
                if len(self.heard) > self.window:
                    self.counts[self.heard.popleft()[1]] -= 1
                self._notes = self._ioi = None

    def revoke(self, position):
        """Forget what was heard at `position` and after (the history was taken back to `position`)."""
        while self.heard and self.heard[-1][0] >= position:
            self.counts[self.heard.pop()[1]] -= 1
            self._notes = self._ioi = None

    def bias(self, since=None):
        """[V] the log share ratios above for the note-ons, and for the waits when a note-on was `since` ticks
        ago; 0 for the other tokens."""
        if self._notes is None:
            c = self.counts + 1.0
            share = c / np.bincount(_GROUP, weights=c)[_GROUP] * _GROUP_SIZE[_GROUP]
            self._notes = torch.from_numpy(np.log(share)[_SLOT[_NOTE_IDS]]).float()
        b = torch.zeros(V)
        b[_NOTE_IDS] = self._notes
        if since is not None and len(self.heard) > 1:
            if self._ioi is None:
                c = intervals([tick for _, _, tick in self.heard])
                self._ioi = np.log((c + IOI_PRIOR * NES_INTERVALS) / (c.sum() + IOI_PRIOR) / NES_INTERVALS)
            bins = np.minimum((since + _WAIT_TICKS) // IOI_BIN, IOI_BINS - 1)
            b[_WAIT_IDS] = torch.from_numpy(self._ioi[bins]).float()
        return b

    def apply(self, logits, strength, since=None):
        """`logits` [V] leaned towards what was heard by `strength` (`since`: ticks from the last note-on)."""
        if strength == 0:
            return logits
        return lean(logits, strength * self.bias(since))


def intervals(ticks):
    """[IOI_BINS] counts of the intervals between successive note-ons at `ticks` (sorted), by IOI_BIN; notes
    struck together (interval 0) are not counted: no wait makes those."""
    d = np.diff(np.asarray(ticks, dtype=np.int64))
    return np.bincount(np.minimum(d[d > 0] // IOI_BIN, IOI_BINS - 1), minlength=IOI_BINS)


def lean(logits, bias):
    """`logits` [..., V] plus `bias` [..., V], shifted per kind (each voice's note-ons, the waits, the rest) so
    that each kind keeps the probability it had."""
    e0 = torch.exp(logits - logits.max(-1, keepdim=True).values)
    e1 = e0 * torch.exp(bias)
    s0 = torch.zeros(*logits.shape[:-1], N_KINDS).index_add_(-1, _KIND_T, e0)
    s1 = torch.zeros(*logits.shape[:-1], N_KINDS).index_add_(-1, _KIND_T, e1)
    shift = torch.log((s0 + 1e-30) / (s1 + 1e-30))
    return logits + bias + shift[..., _KIND_T]
