"""The player: MIDI in, routed to voices and heard at once, then handed to the engine thread for the model.

    player = Player(clock, rate, notify, control, stats, log, stop)
    player.open(None, note_timeout=20.0)   # the virtual port `livechip in`; False if there is none
    player.start(watch=True)               # the player's thread, and a watch on an existing port
    for arrival, events in player.take(): ...   # the engine thread: what the model has not heard yet

The player's thread takes MIDI in (`livechip.realtime.midi_in`), routes it (`livechip.engine.jam`) and puts each
event into the human ring at its arrival time, so that the audio callback and the MIDI sender play it at
once. It never waits for the model: the engine thread merges the events into the model's context between
its steps. Times here are transport frames.
"""

import queue
import threading
import time

from livechip.core import events as ev
from livechip.engine.jam import Router, Turns
from livechip.realtime.ring import Ring
from livechip.core.errors import DeviceError
from livechip.realtime.system import realtime_priority
from livechip.realtime.midi_in import MidiIn

VOICE_INDEX = {v: i for i, v in enumerate(ev.VOICES)}
PORT_CHECK = 0.5        # seconds between looks at whether the MIDI input port is still there


class Player:

    def __init__(self, clock, rate, notify, control, stats, log, stop, sync=None):
        """`notify()`: wakes the MIDI sender; `stop`: the engine's stop Event; `sync`: the engine's Sync that
        follows MIDI clock (fed here), or None."""
        self.clock, self.rate, self.notify, self.control, self.sync = clock, rate, notify, control, sync
        self.stats, self.log, self._stop = stats, log, stop
        self.ring = Ring(1 << 12)    # the player's notes, written by the player's thread at their arrival
        self.played = []             # (frame, voice index, pitch) of every event in the ring
        self.midi_in = self.router = self.turns = None
        self.clock_in = None         # MIDI clock from a port of its own (play --sync-port)
        self.taken = frozenset()     # the auto voices the player holds, as the player's thread last saw them
        self.call_response = False
        self.threads = ()            # the player's thread, and the port watch
        self._frame = 0              # of the latest event heard
        self._panic = False
        self._port_lost = False
        self._merging = queue.SimpleQueue()   # (arrival, events) from the player's thread to the engine thread

    def open(self, port, note_timeout):
        """Open MIDI in (None: the virtual port `livechip in`; a name or an index: that existing port); one
        line in the log either way. True if it is open."""
        try:
            self.midi_in = MidiIn(port, now=self.clock.now, clock=self.sync is not None and self.clock_in is None,
                                  rate=self.rate)
        except DeviceError as e:
            self.log(f"MIDI in: {e}; not listening")
            return False
        timeout = note_timeout * self.rate
        snap = self.control.snapshot() if self.control is not None else None
        self.router = (Router.from_snapshot(snap, timeout, unit=self.rate) if snap
                       else Router(timeout=timeout, unit=self.rate))
        self.turns = Turns((snap["response_gap"] if snap else 0.5) * self.rate)
        mine = {m: " ".join(v for v in ev.VOICES if self.router.modes[v] == m) or "none" for m in ("human", "auto")}
        self.log(f"MIDI in: {self.midi_in.describe()}; human voices: {mine['human']}; auto voices: {mine['auto']}")
        return True

    def open_clock(self, port):
        """Follow MIDI clock from the existing output port `port` (a name or an index) instead of MIDI in."""
        self.clock_in = MidiIn(port, name="livechip clock", now=self.clock.now, clock=True, rate=self.rate)
        self.log(f"sync: MIDI clock from {self.clock_in.describe()}")

    def start(self, watch):
        """Start the player's thread; with `watch`, a thread that looks whether the port is still there (an
        existing port can go away, the virtual one cannot)."""
        threads = [threading.Thread(target=self._loop, name="livechip-midi-in", daemon=True)]
        if watch:
            threads.append(threading.Thread(target=self._watch, name="livechip-midi-in-watch", daemon=True))
        self.threads = tuple(threads)
        for t in threads:
            t.start()

    @property
    def listening(self):
        return self.midi_in is not None

    @property
    def alive(self):
        """True while the player's thread runs."""
        return bool(self.threads) and self.threads[0].is_alive()

    def describe(self):
        m = self.midi_in
        return m.describe() if m is not None and m.midi is not None else "off"

    def panic(self):
        """The player's thread lets go of every key still down."""
        self._panic = True

    def close(self):
        for port in (self.midi_in, self.clock_in):
            if port is not None:
                port.close()

    def take(self):
        """The engine thread: the (arrival, events) the player's thread heard since the last call."""
        batch = []
        while True:
            try:
                batch.append(self._merging.get_nowait())
            except queue.Empty:
                return batch

    def hear(self, events):
        """The player's events (times in frames) to both outputs now, through the human ring."""
        for e in events:
            f = max(int(e.time), self._frame)
            self._frame = f
            v, p = VOICE_INDEX[e.voice], ev.OFF if e.pitch is None else e.pitch
            while not self.ring.push(f, v, p):
                time.sleep(0.0005)
            self.played.append((f, v, p))
        self.notify()

    # --- the player's thread ----------------------------------------------------------------------------

    def _loop(self):
        """MIDI in -> routed -> the human ring (heard at once) -> the engine thread."""
        realtime_priority()          # woken every millisecond: on a busy machine a normal thread wakes late
        inp, router = self.midi_in, self.router
        version = -1
        try:
            while not self._stop.is_set():
                first = inp.get(timeout=0.01 if self.clock_in is None else 0.001)
                batch = [] if first is None else [first] + inp.drain()
                if self.clock_in is not None:
                    for t, msg in self.clock_in.drain():
                        self.sync.feed(t, msg)
                now = int(self.clock.now())
                out = []
                c = self.control
                if c is not None and c.version != version:
                    version = c.version
                    out += self._configure(c.snapshot(), now)
                out += self._route(batch, now)
                if router.taken.keys() != self.taken:      # an auto voice taken or handed back (before the
                    self.taken = frozenset(router.taken)   # notes: the model is masked before it hears them)
                if out:
                    self.hear(out)
                    for e in out:
                        self.turns.heard(e.time)
                    self._merging.put((time.monotonic(), out))
        except Exception as e:  # noqa: BLE001 - a failing input must not stop the music; its notes end
            self.log(f"MIDI in stopped: {type(e).__name__}: {e}")
            self.hear(router.release_all(int(self.clock.now())))

    def _configure(self, snap, now):
        """New settings from Control: the router's (events: notes it lets go), call and response."""
        self.turns.gap = snap["response_gap"] * self.rate
        self.call_response = snap["call_response"]
        return self.router.configure(snap, now)

    def _route(self, batch, now):
        """The events of the (arrival, message) `batch` and of what happened meanwhile: a panic, a stuck key,
        a voice handed back, the port gone."""
        router = self.router
        out = []
        if self._panic:
            self._panic = False
            out += router.release_all(now)
        sync = self.sync if self.clock_in is None else None
        for t, msg in batch:
            if sync is None or not sync.feed(t, msg):    # MIDI clock is the band's time, not notes
                out += router.message(msg, min(int(t), now))
        if batch:
            self.stats.human_lag.append((now - batch[0][0]) / self.rate)   # arrival -> taken here
        out += router.expire(now)
        router.hand_back(now)
        if self._port_lost:
            self._port_lost = False
            if router.holding:
                self.log("MIDI in: the port is gone; the player's notes are released")
            out += router.release_all(now)
        return out

    def _watch(self):
        """Looks at the input port twice a second (asking the MIDI system can take a while, so not on the
        player's thread): when it is gone the player's notes are released; when it is back it is reopened."""
        while not self._stop.wait(PORT_CHECK):
            t0 = time.monotonic()
            if not self.midi_in.check():
                self._port_lost = True
            self.stats.port_checks.append(time.monotonic() - t0)


class Jam:
    """The engine thread's side of the player: a part of `Engine` (a base class of it: its state is set in
    Engine.__init__). Between the model's steps the player's new events go into the model's context, voices
    change hands, and call and response holds the model back while the player plays."""

    def _listen(self):
        """The player's new events into the model's context (revoke what follows them, roll back, append),
        and call and response."""
        p = self.player
        if p.taken != self.roles.taken:
            self._hand_over(p.taken)
        batch = p.take()
        # the player's notes from before the model's time began are heard but not in its context
        events = [e for _, out in batch for e in out if e.time >= self._origin]
        if events and self._paused is None:    # stopped, the model does not listen
            notes = [ev.NoteEvent(self.tempo.ticks(e.time), e.voice, e.pitch) for e in events]
            t0 = time.monotonic()
            self.merge(notes)
            self.stats.merge_times.append(time.monotonic() - t0)
            if any(e.pitch is not None for e in notes):
                with self.lock:
                    self.stats.reacting.append((batch[0][0], notes[-1].time))
        self._take_turns(int(self.clock.now()))

    def _hand_over(self, taken):
        """Auto voices change hands: those the player took are masked before their notes are merged; those
        handed back are the model's again from now on, from its context as it is. Either way what the model
        had planned from now on is planned again (the merge of the player's first note would take back only
        what follows it, and notes from before the model's time began are not merged)."""
        r = self.roles
        r.taken = taken
        masked = r.mask()
        if masked != r.masked:
            r.masked = masked
            with self.lock:
                self.worker.configure(None, r.told())
            if self._paused is None:
                self.respeculate()
        players = " ".join(v for v in ev.VOICES if v in taken)
        if self.control is not None:
            self.control.report(players=players)
        if self.monitor is not None:
            self.monitor.stats(players=players)

    def _take_turns(self, now):
        """Call and response: while the player plays the model holds back (its notes end, it plays only
        silence); once they leave a gap of `response_gap` with no key down it answers from that moment."""
        p, r = self.player, self.roles
        waiting = p.call_response and not p.turns.answering(now, p.router.holding)
        if waiting == r.waiting:
            return
        r.waiting = waiting
        with self.lock:
            self.worker.configure(None, r.told())
        self.respeculate(r.model_voices() if waiting else ())
