"""The player's side of a jam: MIDI messages routed onto the NES voices, and when the model may answer.

    router = Router.from_snapshot(control.snapshot())
    router.message([0x90, 60, 100], time)   # -> [NoteEvent(time, "P1", 60)]  (channel 1, P1 `auto` or `human`)
    router.taken                            # {"P1": time}: the auto voices the player holds now
    router.expire(time)                     # notes held longer than the timeout, released
    router.hand_back(time)                  # -> ["P1"]: auto voices the player has left, back to the model
    router.release_all(time)                # panic, or the port went away: every note of the player off

    turns = Turns(gap)                      # call and response
    turns.heard(time); turns.answering(time, router.holding)

Routing. A channel map sends MIDI channels to voices (default: 1 P1, 2 P2, 3 TR, 4 and 10 NO); a split sends
the notes of one channel below a key to one voice (TR, the bass) and the rest to another (P1). Voices in
`human` and `auto` mode take notes; notes for a voice in `model` mode, or one that is off, are counted and
dropped. An `auto` voice is the model's until a note is played on it; from then on it is the player's (it is in
`taken`) until no key has been down on it for `release_after`, when `hand_back` gives it to the model again.
Pitches outside a voice's range move by octaves into it; notes for the noise voice (drum pads, or livechip's
own channel 4 played back) go through the General MIDI drum map to noise values 1-16.

Monophony. Each voice plays one note: the newest pressed key sounds; releasing it brings back the newest key
still held; releasing a key that is not sounding changes nothing. A key whose release never comes (a lost
note-off) is let go after `timeout`.

Pure logic: no threads, no clock, no I/O. Times are whatever the caller counts in (the engine uses transport
frames) and come back unchanged on the events, never earlier than an event already returned.
"""

import dataclasses

from livechip.core import events as ev
from livechip.control.surface import DEFAULT_CHANNEL_MAP, DEFAULT_DRUM_MAP, VoiceState
from livechip.formats.midi import DRUM_TO_NOISE

NOTE_OFF, NOTE_ON = 0x80, 0x90
DEFAULT_TIMEOUT = 20.0   # seconds a key may be held before it counts as a lost note-off
PLAYED = ("human", "auto")   # the modes whose voices take the player's notes


@dataclasses.dataclass
class Key:
    channel: int    # 1..16
    key: int        # MIDI note number
    pitch: int      # what the voice plays for it
    time: object    # when it was pressed


class Router:
    """MIDI channel messages -> NoteEvents on the four voices, monophonic with last-note priority.

    `channel_map` {channel 1-16: voice}; `split` a dict (point, channel, low, high) or None; `drum_map`
    {GM drum note: noise value}; `modes` {voice: "auto" | "model" | "human" | "off"} (default auto); `timeout`
    (None: never) and `release_after` {voice: time} in the caller's time unit, `unit` that unit's count in a
    second (settings taken from a snapshot are in seconds).
    """

    def __init__(self, channel_map=None, split=None, drum_map=None, modes=None, timeout=None, release_after=None,
                 unit=1):
        self.channel_map = dict(DEFAULT_CHANNEL_MAP if channel_map is None else channel_map)
        self.split = dict(split) if split else None
        self.drum_map = dict(DEFAULT_DRUM_MAP if drum_map is None else drum_map)
        self.modes = {v: "auto" for v in ev.VOICES}
        self.modes.update(modes or {})
        self.timeout = timeout
        self.unit = unit
        self.release_after = {v: VoiceState.release_after * unit for v in ev.VOICES}
        self.release_after.update(release_after or {})
        self.taken = {}                           # auto voices the player holds: voice -> time of their last key
        self.held = {v: [] for v in ev.VOICES}   # keys down on each voice, oldest first; the last one sounds
        self.last = None                          # time of the latest event returned
        self.dropped = 0                          # messages that were not note messages, or malformed
        self.ignored = 0                          # notes for model or off voices, or unmapped channels

    @classmethod
    def from_snapshot(cls, snap, timeout=None, unit=1):
        """A router set up from a `Control.snapshot()`."""
        r = cls(timeout=timeout, unit=unit)
        r.configure(snap)
        return r

    def configure(self, snap, time=None):
        """Take the routing settings of a `Control.snapshot()`. Voices that leave `human` or `auto` mode let
        go of their keys: the returned events release them (at `time`)."""
        self.channel_map = {int(k): v for k, v in snap["channel_map"].items()}
        split = snap.get("split") or {}
        self.split = dict(split) if split.get("point") is not None else None
        self.drum_map = {int(k): v for k, v in snap["drum_map"].items()}
        modes = {v: snap["voices"][v]["mode"] for v in ev.VOICES}
        self.release_after = {v: snap["voices"][v]["release_after"] * self.unit for v in ev.VOICES}
        out = []
        for v in ev.VOICES:
            if modes[v] not in PLAYED and self.held[v]:
                self.held[v].clear()
                out.append(self._event(time, v, None))
            if modes[v] != "auto":
                self.taken.pop(v, None)
            elif self.held[v] and v not in self.taken:     # from human to auto with a key down: still the player's
                self.taken[v] = self.held[v][-1].time
        self.modes = modes
        return out

    # --- what is held ---------------------------------------------------------------------------

    @property
    def holding(self):
        """True while any key is down on a voice the player plays."""
        return any(self.held.values())

    def sounding(self):
        """{voice: pitch} of the player's voices sounding now."""
        return {v: k[-1].pitch for v, k in self.held.items() if k}

    # --- messages -------------------------------------------------------------------------------

    def message(self, msg, time):
        """Route one MIDI message (a sequence of ints) that arrived at `time`; returns the NoteEvents it
        makes (none for anything but a well-formed note message on a mapped channel of a human or auto voice)."""
        if len(msg) != 3:
            self.dropped += 1
            return []
        status, key, vel = msg[0], msg[1], msg[2]
        kind = status & 0xF0
        if (kind != NOTE_ON and kind != NOTE_OFF) or not (0 <= key < 128 and 0 <= vel < 128) or status > 0x9F:
            self.dropped += 1
            return []
        channel = (status & 0x0F) + 1
        if kind == NOTE_ON and vel > 0:
            return self.press(channel, key, time)
        return self.release(channel, key, time)

    def voice_of(self, channel, key):
        """The voice a key on a channel plays (None: not mapped)."""
        s = self.split
        if s is not None and channel == s["channel"]:
            return s["low"] if key < s["point"] else s["high"]
        return self.channel_map.get(channel)

    def pitch_of(self, voice, key):
        """The pitch `voice` plays for MIDI note `key`: octave-folded into its range, or a noise value."""
        if voice == "NO":
            if key in self.drum_map:
                return self.drum_map[key]
            if key in DRUM_TO_NOISE:
                return DRUM_TO_NOISE[key]
            return 1 if key < 35 else 16
        lo, hi = ev.PITCH_RANGE[voice]
        while key < lo:
            key += 12
        while key > hi:
            key -= 12
        return key

    def press(self, channel, key, time):
        voice = self.voice_of(channel, key)
        if voice is None or self.modes.get(voice) not in PLAYED:
            self.ignored += 1
            return []
        held = self.held[voice]
        self._forget(held, channel, key)          # a key pressed again (its note-off was lost) starts over
        pitch = self.pitch_of(voice, key)
        held.append(Key(channel, key, pitch, time))
        e = self._event(time, voice, pitch)
        self._played(voice, e.time)
        return [e]

    def release(self, channel, key, time):
        for voice, held in self.held.items():
            for i, k in enumerate(held):
                if k.channel == channel and k.key == key:
                    return self._let_go(voice, i, time)
        return []   # not held (never pressed, already released, or timed out): nothing to do

    def _let_go(self, voice, i, time):
        self._played(voice, time)
        held = self.held[voice]
        sounding = i == len(held) - 1
        was = held[-1].pitch
        del held[i]
        if not sounding:
            return []
        if held:   # back to the newest key still down
            return [self._event(time, voice, held[-1].pitch)] if held[-1].pitch != was else []
        return [self._event(time, voice, None)]

    def _played(self, voice, time):
        """The player touched `voice` at `time`: an auto voice is theirs from now until `release_after` later."""
        if self.modes.get(voice) == "auto":
            last = self.taken.get(voice)
            self.taken[voice] = time if last is None or time is None or time > last else last

    def hand_back(self, time):
        """The auto voices the player has left (no key down on them for `release_after` before `time`), taken
        from `taken`: the model plays them again."""
        back = [v for v, t in self.taken.items() if not self.held[v] and time - t >= self.release_after[v]]
        for v in back:
            del self.taken[v]
        return back

    @staticmethod
    def _forget(held, channel, key):
        for i, k in enumerate(held):
            if k.channel == channel and k.key == key:
                del held[i]
                return

    def expire(self, time):
        """Let go of keys pressed `timeout` or longer before `time` (their note-off was lost)."""
        if self.timeout is None:
            return []
        out = []
        for voice, held in self.held.items():
            i = 0
            while i < len(held):
                if time - held[i].time >= self.timeout:
                    out += self._let_go(voice, i, time)
                else:
                    i += 1
        return out

    def release_all(self, time):
        """Every note of the player off (panic, or the input port is gone)."""
        out = []
        for voice, held in self.held.items():
            if held:
                held.clear()
                out.append(self._event(time, voice, None))
                self._played(voice, out[-1].time)
        return out

    def _event(self, time, voice, pitch):
        if self.last is not None and (time is None or time < self.last):
            time = self.last
        self.last = time
        return ev.NoteEvent(time, voice, pitch)


class Turns:
    """Call and response: the model waits while the player plays and answers once they leave a gap.

    `heard(time)` for every note event of the player; `answering(time, holding)` says whether the model may
    play at `time` (`holding`: a key is down). `gap` is in the caller's time unit."""

    def __init__(self, gap):
        self.gap = gap
        self.last = None

    def heard(self, time):
        if self.last is None or time > self.last:
            self.last = time

    def answering(self, time, holding=False):
        if holding:
            return False
        return self.last is None or time - self.last >= self.gap

    def answer_at(self):
        """When the model may answer if the player stays silent (None: it may already)."""
        return None if self.last is None else self.last + self.gap
