"""The model's events on the transport: scheduled, revoked, merged with the player's, published once heard.

`Timeline` is the part of `Engine` (a base class of it: its state is set in Engine.__init__) that keeps the
ring both outputs play and `scheduled`, the record of what was put there, in step with the model's context.
Everything in the ring later than what the audio callback and the MIDI sender have taken is speculation and
can be revoked; what they have taken was heard, and stays. Ticks are the model's (tempo included); frames are
the transport's; `self.tempo` converts between them, once, here.
"""

import time

from livechip.core import events as ev
from livechip.realtime.clock import frames_to_ticks

VOICE_INDEX = {v: i for i, v in enumerate(ev.VOICES)}


class Timeline:

    def _schedule(self, events):
        """The model's new events (ticks) into the ring, each at its frame (never before what was heard)."""
        late = max(self.synth.frame if self.synth is not None else 0, self._last_frame())
        if self.stats.reacting and events:
            self.stats.answered(events, self.roles.masked)
        for e in events:
            if e.voice in self.roles.muted:
                continue
            v, p = VOICE_INDEX[e.voice], ev.OFF if e.pitch is None else e.pitch
            f = late = self.sync.place(self.tempo.frames(e.time), v, p != ev.OFF, late)   # on the beat, if asked
            waited = 0
            while not self.ring.push(f, v, p):    # full: a consumer stopped taking events
                if waited == 1000:
                    self.log("the schedule is full: audio or MIDI out has stopped taking events")
                if self._stop.wait(0.001):
                    return
                waited += 1
            self.scheduled.append(f, e.time, v, p)
            if self.monitor is not None:
                self.monitor.note(e.voice, e.pitch, e.time, None, speculative=True)
        if events:
            self._notify()

    def merge(self, events, at=None):
        """Put `events` (NoteEvents in model ticks) into the model's context at their times.

        Everything scheduled after the first of them (or after tick `at`) that was not yet heard or sent is
        revoked, the model is rolled back there and the events are appended; generation goes on from them.
        Returns the revoked events (as NoteEvents in model ticks).
        """
        events = sorted(events, key=ev.event_order)
        t = at if at is not None else (events[0].time if events else self.tempo.ticks(round(self.clock.now())))
        with self.lock:
            gone = self._revoke(self.tempo.frames(t))
            kept = self._last_tick(0)
            after = max(t, kept)     # what was already heard stays before the merged events
            events = [e if e.time >= after else ev.NoteEvent(after, e.voice, e.pitch) for e in events]
            self.worker.merge(after, events, until=None if events else after)
        return gone

    def respeculate(self, release=()):
        """Throw away the speculation and generate it again from now (new settings are heard at once);
        voices in `release` get a note-off now."""
        now = round(self.clock.now())
        with self.lock:
            self._revoke(max(now, self.ring.committed()))
            kept = self._last_tick(0)
            after = max(self.tempo.ticks(now), kept)
            self.worker.merge(after, (), until=after)
            self._release(release, max(now, self.ring.last_time(), self.synth.frame))
        if release:
            self._notify()
        self._respeculated = time.monotonic()

    def _cut(self):
        """Under the lock: revoke what was scheduled after now and release the model's voices there; returns
        that frame."""
        now = round(self.clock.now())
        self._revoke(max(now, self.ring.committed()))
        at = max(now, self.ring.last_time(), self.synth.frame)
        self._release(self.roles.model_voices(), at)
        self._notify()
        return at

    def _release(self, voices, at):
        """Under the lock: a note-off for each of `voices` at frame `at`."""
        for v in voices:
            if self.ring.push(at, VOICE_INDEX[v], ev.OFF):
                self.scheduled.append(at, self.tempo.ticks(at), VOICE_INDEX[v], ev.OFF)

    def _notify(self):
        """Wake the MIDI sender: the rings have new events."""
        if self.sender is not None:
            self.sender.notify()

    def _revoke(self, frame):
        """Take back the unheard events after `frame` from the ring and the record; returns them (ticks)."""
        gone = self.scheduled.pop(len(self.ring.revoke_after(frame)))
        self.sync.forget(frame)
        self._revoked()
        return [ev.NoteEvent(tk, ev.VOICES[v], None if p == ev.OFF else p) for _, tk, v, p in gone]

    def _revoked(self):
        """Tell the monitor that what was scheduled after the last event kept was taken back."""
        if self.monitor is not None:
            self.monitor.revoke(self._last_tick(-1))

    def _last_frame(self):
        """Frame of the latest event scheduled (0 if none)."""
        last = self.scheduled.last()
        return last[0] if last else 0

    def _last_tick(self, default):
        """Tick of the latest event scheduled (`default` if none)."""
        last = self.scheduled.last()
        return last[1] if last else default

    def _set_tempo(self, tempo):
        """Re-time the speculative part of the schedule at the new tempo (no model work needed)."""
        with self.lock:
            moved = self.scheduled.pop(len(self.ring.revoke_after(self.ring.committed())))
            self._revoked()
            at = max(self.synth.frame, self._last_frame())
            self.tempo.set_tempo(tempo, at)
            self._schedule([ev.NoteEvent(t, ev.VOICES[v], None if p == ev.OFF else p) for _, t, v, p in moved])

    def _recent_score(self, seconds=20.0):
        """The last `seconds` of what was scheduled, as a Score starting at 0 (to prime a new model)."""
        if not self.scheduled:
            return None
        rows = self.scheduled.rows()
        end = int(rows[-1, 1])
        first = end - round(seconds * ev.TICKS_PER_SECOND)
        notes = rows[rows[:, 1] >= first, 1:].tolist()
        t0 = notes[0][0]
        out = [ev.NoteEvent(t - t0, ev.VOICES[v], None if p == ev.OFF else p) for t, v, p in notes]
        return ev.Score(out, end - t0)

    def played(self, since=0, until=None):
        """What was heard so far (or from frame `since` to `until`), as a Score in ticks of real time (tempo
        included) from `since`."""
        heard = self.synth.frame if until is None else min(until, self.synth.frame)
        with self.lock:
            rows = self.scheduled.rows()
            rows = rows[(rows[:, 0] >= since) & (rows[:, 0] < heard)]
            events = rows[:, [0, 2, 3]].tolist()
        events += [e for e in list(self.player.played) if since <= e[0] < heard]
        events.sort(key=lambda e: e[0])   # stable: at one frame, the model's events before the player's
        out = [ev.NoteEvent(frames_to_ticks(f - since, self.rate), ev.VOICES[v], None if p == ev.OFF else p)
               for f, v, p in events]
        return ev.Score(sorted(out, key=ev.event_order), frames_to_ticks(max(heard - since, 0), self.rate))

    def _publish(self):
        """Publish every note heard since the last call, the model's and the player's, in time order, to
        Control's note listeners (OSC subscribers) and the player's to the monitor too (the model's went
        there when scheduled, as speculation). Heard: the audio callback has rendered past it, so it can no
        longer be revoked. The engine thread's work, never the audio callback's or the player's thread's."""
        heard = self.synth.frame
        with self.lock:
            rows = self.scheduled.rows()
            k = n = min(self._told, len(rows))
            while n < len(rows) and rows[n, 0] < heard:
                n += 1
            model = rows[k:n].tolist()
            self._told = n
        played = self.player.played
        k = n = min(self._told_human, len(played))
        while n < len(played) and played[n][0] < heard:
            n += 1
        human = played[k:n]
        self._told_human = n
        if not (model or human):
            return
        c, m = self.control, self.monitor
        out = sorted([(f, v, p, "model") for f, _, v, p in model] + [(f, v, p, "human") for f, v, p in human],
                     key=lambda e: e[0])
        for f, v, p, source in out:
            pitch = None if p == ev.OFF else p
            if c is not None:
                c.note(ev.VOICES[v], pitch, source, f / self.rate)
            if m is not None and source == "human":
                m.note(ev.VOICES[v], pitch, self.tempo.ticks(f), None, source="human")
