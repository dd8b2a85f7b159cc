"""Recall: leaning the next note towards the pitch classes and noise sounds the model has heard.

Music keeps its key; a small network forgets it within seconds (docs/model.md). `Recall` counts, over the last
`window` note-ons the model *heard* (a primer, a player's notes, voices kept from a file: what it did not choose),
the pitch class of every P1, P2 and TR note-on (one count shared by the three: a key is the band's) and the value
of every NO note-on. With strength `recall` the logits of the next token get

    recall * log(the share of its pitch class (or noise value) among those heard / the share of a uniform one)

(each share smoothed with one count), so a pitch class heard twice as often as an average one becomes 2**recall
times as likely against it, and one never heard is made rarer. Each voice's note-ons then are renormalised among
themselves: recall chooses *which* note a voice plays, never *whether* it plays one (density is the model's and the
density control's). Waits, note-offs and `<S>` are untouched, and with nothing heard every share is uniform and
nothing changes. recall = 0 is the network alone.

The model's own notes are not counted: they would feed back (a note it repeats becomes ever more likely, and a
continuation collapses onto one pitch). Nor are waits: leaning towards the waits heard made continuations keep
their groove less (docs/model.md, "Recall").

    r = Recall()                              # the last WINDOW heard note-ons
    r.add([tok, ...], position)               # heard tokens, from history position `position` on
    r.revoke(position)                        # the history was taken back to `position`
    logits = r.apply(logits, strength=1.0)    # [V] -> [V]
"""

import collections

import numpy as np
import torch

from livechip.core import events as ev

V = ev.N_TOKENS
WINDOW = 768                              # heard note-ons counted: about half a minute of a dense song
N_SLOTS = 12 + 16                         # pitch classes, then NO's values 1-16
_SLOT = np.full(V, -1)                    # what a token is counted as; -1: not counted
_KIND = np.full(V, 4)                     # the group a token's probability is kept within: a voice's note-ons, the rest
for _i in range(V):
    if ev.is_note_on(_i):
        _v = ev.voice_of(_i)
        _SLOT[_i] = ev.pitch_of(_i) % 12 if _v != "NO" else 12 + ev.pitch_of(_i) - ev.PITCH_RANGE["NO"][0]
        _KIND[_i] = ev.VOICES.index(_v)
_COUNTED = _SLOT >= 0
_GROUP = (np.arange(N_SLOTS) >= 12).astype(int)     # pitch classes 0, noise values 1
_GROUP_SIZE = np.array([12, 16])
_KIND_T = torch.from_numpy(_KIND)
N_KINDS = 5


class Recall:
    """Counts of the last `window` heard note-ons' slots, with the history position each was heard at."""

    def __init__(self, window=WINDOW):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.recent = collections.deque()     # (position, slot), oldest first
        self.counts = np.zeros(N_SLOTS)
        self._bias = None

    def clear(self):
        self.recent.clear()
        self.counts[:] = 0
        self._bias = None

    def add(self, tokens, position):
        """Count the heard `tokens`, the history's tokens from `position` on."""
        for k, t in enumerate(tokens):
            s = _SLOT[t]
            if s >= 0:
                self.recent.append((position + k, s))
                self.counts[s] += 1
                if len(self.recent) > self.window:
                    self.counts[self.recent.popleft()[1]] -= 1
                self._bias = None

    def revoke(self, position):
        """Forget what was heard at `position` and after (the history was taken back to `position`)."""
        while self.recent and self.recent[-1][0] >= position:
            self.counts[self.recent.pop()[1]] -= 1
            self._bias = None

    def bias(self):
        """[V] the log of each note-on's slot share against a uniform one's; 0 for the other tokens."""
        if self._bias is None:
            c = self.counts + 1.0
            share = c / np.bincount(_GROUP, weights=c)[_GROUP] * _GROUP_SIZE[_GROUP]
            b = np.zeros(V, dtype=np.float32)
            b[_COUNTED] = np.log(share)[_SLOT[_COUNTED]]
            self._bias = torch.from_numpy(b)
        return self._bias

    def apply(self, logits, strength):
        """`logits` [V] leaned towards what was heard by `strength`, each voice's note-ons renormalised."""
        if strength == 0:
            return logits
        return lean(logits, strength * self.bias())


def lean(logits, bias):
    """`logits` [..., V] plus `bias` [..., V], shifted per kind (each voice's note-ons, the rest) so that each
    kind keeps the probability it had."""
    e0 = torch.exp(logits - logits.max(-1, keepdim=True).values)
    e1 = e0 * torch.exp(bias)
    s0 = torch.zeros(*logits.shape[:-1], N_KINDS).index_add_(-1, _KIND_T, e0)
    s1 = torch.zeros(*logits.shape[:-1], N_KINDS).index_add_(-1, _KIND_T, e1)
    shift = torch.log((s0 + 1e-30) / (s1 + 1e-30))
    return logits + bias + shift[..., _KIND_T]
