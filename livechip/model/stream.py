"""The generation core: one token history, sampled ahead, revocable, open to forced events.

A `Stream` owns a model's incremental state and the token history that produced it. It samples tokens until
the history reaches a time (`generate_until`), takes back everything after a time in O(1) through the model's
cache rollback (`revoke_after`), and feeds events it did not choose (a player's notes, a kept rhythm voice, a
primer) so they become part of the model's memory (`append`, `prime`). Offline generation drives it as fast as
it can; the live engine drives it from a clock. It has no threads, no locks and no I/O: whoever owns it calls
it from one thread.

Time is in TX1 ticks (1/44 100 s). Every history entry is a token id and the tick at which it ends: a note
token's time, or the end of a wait. The frontier is the tick of the last entry. Forced events keep their exact
times; the wait tokens in front of them are LakhNES's quantization of the gap (a gap longer than the longest
wait, 2.27 s, becomes several waits so the model hears the whole silence).
"""

import collections
import dataclasses

import torch

from livechip.core import events as ev
from livechip.model import steer
from livechip.model.recall import Recall
from livechip.model.sampling import SamplingSettings, banned_ids, probs, sample, temper_waits


CRAWL = 16                             # tokens that must move time on by at least a frame (see generate_until)
FRAME_TICKS = ev.TICKS_PER_SECOND // 60
_SHORT = torch.tensor([not (ev.is_wait(i) and ev.wait_ticks(i) >= FRAME_TICKS) for i in range(len(ev.VOCAB))])


class Stream:
    """Generation state for one song: model cache, token history (the last `max_rollback` tokens), frontier.

    `max_rollback`: how many of the latest tokens can be revoked (the live horizon in tokens, with margin).
    `mem_len`: the model's memory length while generating (None: its folder's generation default, else the
    training one).

    `settings` (a SamplingSettings; its `recall` leans the notes towards those the stream heard rather than chose,
    livechip.model.recall), `masked_voices` (voices whose notes the model may not choose) and `steering`
    (a `livechip.model.steer.Steering`: key, scale, density, ranges) can be assigned at any time; they apply from
    the next sampled token (revoking what was sampled ahead under the old ones is the caller's choice). Their masks
    are computed on assignment, so a token costs the same few tensor operations. A new seed reseeds the generator.
    `pace`: keep sampled music moving in time (see generate_until); off, the model's distribution is sampled
    exactly as it is (for comparisons with other implementations).
    """

    def __init__(self, model, settings=None, masked_voices=(), max_rollback=1024, mem_len=None, pace=True,
                 steering=None):
        if max_rollback < 1:
            raise ValueError(f"max_rollback must be >= 1, got {max_rollback}")
        self.model = model
        self.max_rollback = max_rollback
        self.pace = pace
        if mem_len is None:
            mem_len = getattr(model, "gen_mem_len", None)   # None too: the config's mem_len
        model.setup_cache(batch_size=1, max_rollback=max_rollback, mem_len=mem_len)
        self.recall = Recall()       # what the stream heard (livechip.model.recall)
        self.wait_temperature = getattr(model, "gen_wait_temperature", 1.0)   # the model folder's (temper_waits)
        self.device = _device_of(model)
        self.generator = torch.Generator()
        self._settings = None
        self._masked = ()
        self._steering = steer.Steering()
        self.bias = None
        self.settings = settings if settings is not None else SamplingSettings()
        self.masked_voices = masked_voices
        if steering is not None:
            self.steering = steering
        self._history = collections.deque(maxlen=max_rollback + 1)
        # the logits after each of the last max_rollback + 1 tokens (token at position k in row (k-1) % rows),
        # so that after a rollback the next distribution is at hand without running the model again
        self._logits = torch.empty(max_rollback + 1, len(ev.VOCAB))
        self._one = torch.zeros((1, 1), dtype=torch.long, device=self.device)
        self.prime(())

    # --- settings ------------------------------------------------------------------------------

    @property
    def settings(self):
        return self._settings

    @settings.setter
    def settings(self, settings):
        if not isinstance(settings, SamplingSettings):
            raise TypeError(f"settings must be a SamplingSettings, got {type(settings).__name__}")
        settings = dataclasses.replace(settings)  # a validated copy the caller cannot change behind our back
        old = self._settings
        if old is None or settings.seed != old.seed:
            if settings.seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(settings.seed)
        self._settings = settings
        self._update_banned()

    @property
    def masked_voices(self):
        return self._masked

    @masked_voices.setter
    def masked_voices(self, voices):
        voices = (voices,) if isinstance(voices, str) else tuple(voices)
        unknown = sorted(set(voices) - set(ev.VOICES))
        if unknown:
            raise ValueError(f"unknown voice(s) {unknown}; voices are {', '.join(ev.VOICES)}")
        self._masked = tuple(v for v in ev.VOICES if v in voices)
        self._update_banned()

    @property
    def steering(self):
        return self._steering

    @steering.setter
    def steering(self, steering):
        if not isinstance(steering, steer.Steering):
            raise TypeError(f"steering must be a Steering, got {type(steering).__name__}")
        self._steering = steering
        self.bias = steer.density_bias(steering)
        self._update_banned()

    def _update_banned(self):
        if self._settings is None:
            return
        notes = ev.voice_token_mask(self._masked) if self._masked else None
        banned = banned_ids(len(ev.VOCAB), notes, self._settings.exclude_start)
        keyed = steer.ban_mask(self._steering)
        self.banned = banned if keyed is None else banned | keyed

    # --- history -------------------------------------------------------------------------------

    @property
    def frontier(self):
        """The tick the token history has reached."""
        return self._history[-1][1]

    @property
    def position(self):
        """Tokens fed since the last prime, `<S>` included (equals the model's position)."""
        return self._position

    @property
    def history(self):
        """The recent (token id, end tick) pairs, oldest first: at most max_rollback + 1 of them."""
        return list(self._history)

    def prime(self, primer=()):
        """Start a new song: reset the model, feed `<S>`, then the primer (a Score, or token ids)."""
        self.model.reset_cache()
        self._history.clear()
        self.recall.clear()
        self._position = 0
        if isinstance(primer, ev.Score):
            tokens, ticks = _forced_tokens(sorted(primer.events, key=ev.event_order), 0, primer.end)
            tokens, ticks = [ev.START] + tokens, [0] + ticks
        else:
            tokens = [int(t) for t in primer]
            if not tokens or tokens[0] != ev.START:
                tokens = [ev.START] + tokens
            ticks, t = [], 0
            for tok in tokens:
                if ev.is_wait(tok):
                    t += ev.wait_ticks(tok)
                ticks.append(t)
        self._feed(tokens, ticks)

    def generate_until(self, tick, max_tokens=None):
        """Sample tokens until the frontier reaches `tick` (or `max_tokens` were sampled); return the new
        note events, in order. Notes are sampled at the frontier's time, so all of them are before `tick`.

        Pace: a model can fall into crowding notes faster than time passes (notes at one instant without a
        wait, or notes one tick apart: `P2_NOTEON_45 WT_1` over and over, seen from a small model). That is
        no music (a NES driver changes a note at most once a frame, 1/60 s) and it takes tens of thousands of
        tokens per second of music, so a live schedule falls behind its clock. With `pace` on, when the last
        CRAWL tokens moved time on by less than a frame, the next token is a wait of at least a frame (notes
        and shorter waits are banned for that one token; the model chooses among the rest)."""
        new = []
        n = 0
        h = self._history
        while self.frontier < tick and (max_tokens is None or n < max_tokens):
            banned = self.banned
            if self.pace and len(h) > CRAWL and h[-1][1] - h[-1 - CRAWL][1] < FRAME_TICKS:
                banned = banned | _SHORT
            tok = sample(self._logits_now(), self._settings, banned, self.generator, self.bias)
            t = self.frontier
            if ev.is_wait(tok):
                t += ev.wait_ticks(tok)
            elif tok != ev.START:
                new.append(ev.NoteEvent(t, ev.voice_of(tok), ev.pitch_of(tok)))
            self._one[0, 0] = tok
            self._feed(self._one, [t], tokens_list=[tok], heard=False)
            n += 1
        return new

    def revoke_after(self, tick):
        """Take back every token that ends after `tick` and return the revoked note events, in order.

        The model returns to its state after the last token at or before `tick` (O(1), a cache rollback).
        A wait that straddles `tick` is revoked too, so the frontier becomes the end of the token before it
        (<= tick). Notes exactly at `tick` are kept: to revoke those as well, pass `tick - 1`.
        Raises ValueError if that reaches further back than the last max_rollback tokens.
        """
        h = self._history
        k = 0
        while k < len(h) and h[-1 - k][1] > tick:
            k += 1
        if k == 0:
            return []
        if k >= len(h):
            oldest = h[0][1]
            raise ValueError(f"cannot revoke after tick {tick}: the history reaches back only to tick {oldest} "
                             f"(the last {self.max_rollback} tokens can be revoked)")
        revoked = []
        for _ in range(k):
            tok, t = h.pop()
            if not ev.is_wait(tok) and tok != ev.START:
                revoked.append(ev.NoteEvent(t, ev.voice_of(tok), ev.pitch_of(tok)))
        revoked.reverse()
        self._position -= k
        self.recall.revoke(self._position)
        self.model.rollback(self._position)
        return revoked

    def append(self, events, until=None):
        """Force `events` (NoteEvents at or after the frontier) into the history at their exact times: the
        quantized waits for each gap, then the note tokens, in one model call. With `until`, a final wait
        takes the frontier there. Simultaneous events are ordered P1, P2, TR, NO."""
        events = sorted(events, key=ev.event_order)
        if events and events[0].time < self.frontier:
            raise ValueError(f"cannot append an event at tick {events[0].time}: the history already reaches "
                             f"tick {self.frontier} (revoke_after first)")
        if until is not None and until < max([self.frontier] + [e.time for e in events]):
            raise ValueError(f"until={until} is before the last appended event or the frontier")
        tokens, ticks = _forced_tokens(events, self.frontier, until)
        if tokens:
            self._feed(tokens, ticks)

    def merge(self, events):
        """Put `events` into the history at their times: revoke every token that ends after the first event's
        tick, append the events, and return the revoked note events. This is how a player's notes or a kept
        voice enter the model's context. Notes already in the history at that very tick stay before them."""
        events = sorted(events, key=ev.event_order)
        if not events:
            return []
        revoked = self.revoke_after(events[0].time)
        self.append(events)
        return revoked

    # --- model calls ---------------------------------------------------------------------------

    def _feed(self, tokens, ticks, tokens_list=None, heard=True):
        """Run the model on `tokens` (a list, or a [1, n] tensor with `tokens_list` its ids) and record them;
        `heard`: tokens the model did not choose (a primer, a player's notes), which its recall counts."""
        if tokens_list is None:
            tokens_list = tokens
            chunk = self.max_rollback  # a step never feeds more than the cache can take back
            for i in range(0, len(tokens), chunk):
                x = torch.tensor([tokens[i:i + chunk]], dtype=torch.long, device=self.device)
                self._keep_logits(self.model.step(x)[0], self._position + i)
        else:
            self._keep_logits(self.model.step(tokens)[0], self._position)
        self._history.extend(zip(tokens_list, ticks))
        if heard:
            self.recall.add(tokens_list, self._position, ticks)
        self._position += len(tokens_list)

    def _keep_logits(self, logits, first):
        """Store logits [n, V] of the tokens at positions first + 1 .. first + n in the ring."""
        rows = self._logits.shape[0]
        n = logits.shape[0]
        if n > rows:
            logits, first, n = logits[n - rows:], first + n - rows, rows
        j = first % rows
        m = min(n, rows - j)
        self._logits[j:j + m].copy_(logits[:m])
        if m < n:
            self._logits[:n - m].copy_(logits[m:])

    def next_logits(self):
        """Logits [V] of the token that follows the history (what the next sample is drawn from), on the CPU.
        A view that the next model call overwrites: copy it to keep it."""
        return self._logits[(self._position - 1) % self._logits.shape[0]]

    def _logits_now(self):
        """next_logits leaned towards what was heard (`recall`; see livechip.model.recall), its waits at the
        model's wait temperature (temper_waits)."""
        r, logits = self._settings.recall, self.next_logits()
        if r:
            logits = self.recall.apply(logits, r, self._since_note_on())
        return temper_waits(logits, self.wait_temperature)

    def _since_note_on(self):
        """Ticks from the last note-on to the frontier; None when there was none in the last second."""
        end = self.frontier
        for tok, t in reversed(self._history):
            if ev.is_note_on(tok):
                return end - t
            if end - t > ev.TICKS_PER_SECOND:
                return None
        return None

    def next_probs(self):
        """The distribution [V] the next token would be drawn from, with the current settings and masks."""
        s = self._settings
        return probs(self._logits_now(), s.temperature, s.top_k, s.top_p, self.banned, self.bias)


def _forced_tokens(events, start, until=None):
    """Token ids and end ticks for sorted `events` starting from tick `start`: quantized waits for each gap
    (their ticks adjusted so the notes land at their exact times), then the note tokens."""
    tokens, ticks = [], []
    t = start
    for e in list(events) + ([None] if until is not None else []):
        target = until if e is None else e.time
        if target > t:
            waits = ev.quantize_wait(target - t, split=True)
            acc = t
            for w in waits:
                acc = min(acc + ev.wait_ticks(w), target)
                tokens.append(w)
                ticks.append(acc)
            if waits:
                ticks[-1] = target
            t = target
        if e is not None:
            tokens.append(ev.note_token(e.voice, e.pitch))
            ticks.append(e.time)
    return tokens, ticks


def _device_of(model):
    p = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return p.device if p is not None else torch.device("cpu")
