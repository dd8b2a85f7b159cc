"""Who plays each voice (P1 P2 TR NO) and how loud: the engine thread's copy of the voices' settings.

A voice's mode, as Control has it: `model` (generated), `human` (the player's), `auto` (the model's until the
player takes it), `off` (muted). The model is masked out of the human and off voices, of the auto voices the
player holds, and of every voice while it waits for the player (call and response).
"""

from livechip.core import events as ev
from livechip.apu.driver import DEFAULTS, Timbre


class Roles:

    def __init__(self):
        self.modes = {v: "auto" for v in ev.VOICES}   # as Control has them (the default, without one)
        self.volumes = {v: 1.0 for v in ev.VOICES}
        self.muted = set()
        self.taken = frozenset()     # the auto voices the player holds
        self.waiting = False         # call and response: the model holds back while the player plays
        self.masked = ()             # the mask the model was last given (without `waiting`)

    def mask(self):
        """The voices the model may not play: human and off ones, and the auto ones the player holds."""
        m = self.modes
        return tuple(v for v in ev.VOICES if m[v] in ("human", "off") or (m[v] == "auto" and v in self.taken))

    def told(self, masked=None):
        """The mask the model is given: every voice while it waits, else `masked` (default: the last one)."""
        return ev.VOICES if self.waiting else self.masked if masked is None else masked

    def read(self, snap):
        """Take the voices' modes and volumes from a Control snapshot; returns (voices muted now, voices
        turned down to 0 now)."""
        voices = snap["voices"]
        old_muted, old_volumes = self.muted, self.volumes
        self.modes = {v: voices[v]["mode"] for v in ev.VOICES}
        self.muted = {v for v in ev.VOICES if self.modes[v] == "off"}
        self.volumes = {v: voices[v]["volume"] for v in ev.VOICES}
        hushed = [v for v in ev.VOICES if self.volumes[v] <= 0 < old_volumes[v]]
        return self.muted - old_muted, hushed

    def velocity(self, voice):
        """Note-on velocity for `voice` from its volume; 0 (no note-on is sent) when it is turned down to 0."""
        vol = self.volumes.get(voice, 1.0)
        return 0 if vol <= 0 else max(1, min(127, round(100 * vol)))

    def model_voices(self):
        """The voices the model plays (not masked)."""
        return [v for v in ev.VOICES if v not in self.masked]


def timbres(snap=None, scaled=False):
    """Each voice's Timbre from a Control snapshot (None: the defaults); `scaled`: with the voice's volume
    folded in (for a take rendered from its score). Live, the volumes go to the APU's driver
    (Synth.set_volumes), where 0 silences the triangle too."""
    if snap is None:
        return dict(DEFAULTS)
    out = {}
    for v in ev.VOICES:
        d = dict(snap["voices"][v]["timbre"]) or DEFAULTS[v].to_dict()
        vol = snap["voices"][v]["volume"]
        if scaled and v != "TR":   # the triangle has no volume: only full or silent
            d["volume"] = int(round(d["volume"] * vol))
            d["sustain"] = int(round(d["sustain"] * vol))
        out[v] = Timbre(**d)
    return out
