"""In time with the band: the engine's side of `livechip.engine.sync`.

`Band` is the part of `Engine` (a base class of it: its state is set in Engine.__init__) that opens the beat's
source, starts and stops the model with the band's transport, matches the model's tempo to the band's while
its notes are placed on a grid, tells Control the band's tempo and beat, and leads (`--clock-out`: MIDI clock
for the session's beat on the MIDI out port).
"""

import time

from livechip.core import events as ev
from livechip.engine.sync import Sync, match_tempo
from livechip.realtime.beat import GRIDS
from livechip.realtime.clock_out import ClockOut

MATCH_EVERY = 2.0       # seconds between two looks at the model's tempo while its notes are placed on a grid
MATCH_SPAN = 8.0        # seconds of the model's latest notes it is told from
MATCH_MOVE = 0.02       # a tempo scale that differs less than this from the one in use is kept
TELL_BPM = (0.1, 0.5)   # the band's tempo is told to Control when it moved this much (bpm), at most this often (s)


class Band:

    def _open_sync(self):
        """The band's beat (engine.sync): a JACK transport or Link session that is not there is an error."""
        c = self.control
        self.sync = Sync(self.cfg.sync, self.rate, bpm=c.get("bpm") if c is not None else 120.0, clock=self.clock)
        self.sync.open()
        self.sync.step = GRIDS[c.get("quantize")] if c is not None else None
        if c is not None:
            c.tell("sync", self.cfg.sync)
            self._bpm_told = (c.get("bpm"), 0.0)
        if self.cfg.sync != "free":
            self._paused = 0          # the model waits for the band's start
            self.log(f"sync: following {self.sync.describe()}; the model plays while the band's transport runs")

    def _lead(self):
        """--clock-out: MIDI clock on the port the notes go to, from the session's beat clock."""
        if self.cfg.clock_out and self.midi is not None:
            self.clock_out = ClockOut(self.sync.beats, self.clock, self.midi)
            self.clock_out.start()
            self.log(f"MIDI clock out: on {self.midi.describe()}, at the session's tempo")

    def _stop_leading(self):
        """Stop sending clock (a DAW following hears Stop), before the MIDI port closes."""
        if self.clock_out is not None:
            self.clock_out.stop()

    def _tell_beat(self, beat):
        """The band's tempo (while following it) and each new whole beat to Control: subscribers hear them."""
        c = self.control
        told, at = self._bpm_told
        if (self.sync.source != "free" and abs(beat["bpm"] - told) >= TELL_BPM[0]
                and time.monotonic() - at >= TELL_BPM[1]):
            self._bpm_told = beat["bpm"], time.monotonic()
            c.tell("bpm", beat["bpm"])
        whole = int(beat["beat"] // 1)
        if whole != self._beat_told and self.sync.running:
            self._beat_told = whole
            c.tell("beat", float(whole))

    def _follow(self):
        """The band's transport: its start and stop start and stop the model; while a grid is on, the model's
        tempo is matched to the band's every MATCH_EVERY seconds."""
        change = self.sync.poll(self.clock.now())
        if change == "stop":
            self._pause()
        elif change == "start":
            self._resume()
        if self.sync.step is not None and time.monotonic() - self._matched > MATCH_EVERY:
            self._matched = time.monotonic()
            self._match_tempo()

    def _match_tempo(self):
        """Scale the schedule so that the grid the model plays on lasts the band's grid step."""
        with self.lock:
            rows = self.scheduled.rows()
        if not len(rows):
            return
        notes = rows[(rows[:, 3] != ev.OFF) & (rows[:, 1] > rows[-1, 1] - MATCH_SPAN * ev.TICKS_PER_SECOND)]
        scale = match_tempo(notes[:, 1] / ev.TICKS_PER_SECOND, self.sync.step_seconds())
        if scale is not None and abs(scale / self.tempo.tempo - 1) > MATCH_MOVE:
            self._match = scale
            self._set_tempo(scale)

    def _read_sync(self, s):
        """The grid and, free, the tempo; following a band, a bpm sent is put back to the band's."""
        self.sync.step = GRIDS[s["quantize"]]
        if self.sync.step is None:
            self._match = None
        if not self.sync.set_bpm(s["bpm"], round(self.clock.now())) and s["bpm"] != self._bpm_told[0]:
            self.control.tell("bpm", self._bpm_told[0])     # following, the band's tempo stands
        if self.clock_out is not None:
            self.clock_out.notify()
