"""Ableton Link: follow the tempo and beat of a Link session on the network (`livechip play --sync link`).

Link is in the optional extra `livechip[link]` (the LinkPython-extern package, GPL): the base package never
imports it. Link's clock is its own (CLOCK_MONOTONIC_RAW on Linux, not the monotonic clock Python's
`time.monotonic` reads): each look reads both clocks together and converts.

    link = LinkSession(bpm=120)         # joins the session
    link.steer(beats, clock)            # set a BeatClock to the session's line now, in transport frames

Link carries tempo and phase (beats line up on bars of QUANTUM beats across the session); its start/stop
is optional and many peers leave it off, so the beat here always runs and the model always plays.
    link.close()
"""

import time

from livechip.core.errors import DeviceError
from livechip.realtime.beat import BPM

QUANTUM = 4             # beats a bar: Link lines up bars (phase) across the session on this


class LinkSession:

    def __init__(self, bpm=120.0):
        try:
            import link
        except ImportError:
            raise DeviceError("--sync link needs Ableton Link: pip install 'livechip[link]'") from None
        self.link = link.Link(float(bpm))
        self.link.enabled = True

    def steer(self, beats, clock):
        """Set `beats` (a BeatClock) to the session as of now, in the frames of `clock` (the transport clock).
        Returns (beat, bpm, running) as read."""
        before = time.monotonic()
        micros = self.link.clock().micros()
        mono = (before + time.monotonic()) / 2         # the monotonic time at which Link's clock was read
        state = self.link.captureSessionState()
        beat, bpm = state.beatAtTime(micros, QUANTUM), state.tempo()
        beats.set(beat, min(max(bpm, BPM[0]), BPM[1]), (mono - clock.monotonic_at(0)) * clock.rate, True)
        return beat, bpm, True

    def close(self):
        self.link.enabled = False
