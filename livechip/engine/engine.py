"""The live engine: the model kept generating ahead of one clock, its events heard and sent just in time.

    engine = Engine(model, EngineConfig(horizon=0.5), control=Control())
    engine.start()          # audio (or a pacer), MIDI out, the model; prints one line per part it lacks
    engine.run(10)          # seconds, or until stop() / a signal
    engine.stop()           # all notes off, outputs closed
    engine.save("take")     # take.mid, take.tx1.txt, take.wav, take.vgm

Threads and processes (see docs/architecture.md):
- the audio callback (PortAudio's thread, or the pacer without a sound card) renders the APU from the
  schedule ring: `livechip.realtime.audio.Synth.render`;
- the MIDI sender thread sends the same ring's events at their times: `livechip.realtime.midi_out.Sender`;
- the engine thread (here) moves the model's events into the ring, converting ticks to transport frames
  once, with the tempo; it reads settings from `Control` between steps and never blocks the other two; it
  publishes every note once heard, the model's and the player's (`Control.note`: OSC subscribers), and feeds
  the monitor (the UI) the player's notes, the figures and the voices' levels;
- the player's thread takes MIDI in (`livechip.engine.player`): each note goes into the human ring at its
  arrival time, so both outputs play it at once, and then, in the engine thread, into the model's context
  with a rollback (`merge`); the model goes on with the player's voices masked (`livechip.engine.roles`);
- the model runs in its own process by default, or in the engine thread (`livechip.engine.worker`).

Everything in the ring later than what the audio callback and the MIDI sender have taken is speculation and
can be revoked (`merge`); what they have taken was heard, and stays.
"""

import gc
import queue
import sys
import threading
import time

from livechip.core import events as ev
from livechip.engine.actions import Actions
from livechip.control.state import steering
from livechip.realtime.clock import Clock, TempoMap
from livechip.engine.config import DEFAULT_HORIZON, EngineConfig  # noqa: F401 - the engine's names too
from livechip.engine.player import Jam, Player
from livechip.engine.roles import Roles, timbres
from livechip.realtime.ring import EventLog, Ring
from livechip.engine.stats import Stats
from livechip.engine.band import Band
from livechip.engine.takes import Takes
from livechip.engine.timeline import Timeline
from livechip.engine.worker import ProcessWorker, ThreadWorker, model_name, model_source
from livechip.core.errors import DeviceError, LivechipError
from livechip.realtime import audio as aio
from livechip.realtime import midi_out as mio
from livechip.realtime.system import finishes, realtime_priority

RESTARTS = 3            # times a dead model process is restarted before the engine gives up
RESPECULATE = 0.1       # seconds between two regenerations of the speculation for setting changes (a fader sweep)
AUDIO_STOP_WAIT = 3.0   # seconds the audio stream is given to stop (see finishes)
THREAD_STOP_WAIT = 10.0  # seconds each of the engine's threads is given to end when it stops


class Engine(Timeline, Jam, Actions, Band):
    """One live instrument: model, clock, schedule, APU audio and MIDI out. Settings come from `control`.

    `model`: a TransformerXL, or a model folder (then the model process loads it and this process never
    imports torch).

    Its methods are grouped by concern: here the lifecycle, the engine thread's loop and the settings;
    `Timeline` (the schedule and speculation), `Jam` (the player's notes into the model's context),
    `Actions` (what Control asks for) and `Band` (in time with the band) are base classes without state of their
    own: all of it is set here."""

    def __init__(self, model, cfg=None, control=None, model_dir=None, log=None, primer=(), monitor=None):
        self.model, self.model_dir, self.primer = model, model_dir, primer
        self.cfg = cfg or EngineConfig()
        self.control = control
        self.monitor = monitor       # livechip.control.monitor.Monitor: what a viewer (the TUI) sees; fed by this thread
        self.log = log or (lambda msg: print(f"livechip: {msg}", file=sys.stderr, flush=True))
        self.stats = Stats()
        self.roles = Roles()
        self.takes = Takes(log=self.log)
        self.ring = Ring(1 << 14)    # the model's events, written by the engine thread
        self.scheduled = EventLog()  # (frame, tick, voice index, pitch) of every event in the ring, in ring order
        self.lock = threading.Lock() # guards `scheduled` and worker calls between the engine thread and callers
        # made by start()
        self.rate = self.clock = self.tempo = self.synth = self.player = self.sync = self.clock_out = None
        self.audio = self.recorder = self.midi = self.sender = self.worker = None
        self.running = False
        self.failed = None
        self.device_hung = False     # the audio stream would not stop: see stop()
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = None
        self._requests = queue.SimpleQueue()  # (fn, args, done, answer) for the engine thread: see _do
        self._control_version = -1
        self._settings = {}          # sampling and steering settings (they cross to the model process)
        self._horizon = self.cfg.horizon
        self._pending = None         # voices to release at the next respeculation; None: none is due
        self._respeculated = 0.0
        self._origin = 0             # the frame of the model's tick 0 (later than 0 when the player came first)
        self._paused = None          # the transport is stopped: the model's tick where it stopped
        self._midi_failed = False
        self._told = self._told_human = 0  # events of `scheduled` / the player's published as heard: see _publish
        self._matched = 0.0          # when the model's tempo was last matched to the band's (monotonic s)
        self._match = None           # the tempo scale that puts the model's grid on the band's (None: the setting)
        self._beat_told = None       # the last whole beat told to Control
        self._bpm_told = (120.0, 0.0)  # the band's tempo last told to Control (following), and when

    # --- start and stop --------------------------------------------------------------------------------

    def start(self):
        """Open the outputs (each missing one is one line in the log), start the model and fill the horizon."""
        cfg = self.cfg
        self._read_control(force=True)
        device, missing = self._find_audio()
        self.clock = Clock(self.rate)
        self.tempo = TempoMap(self.rate, float(self.control.get("tempo")) if self.control is not None else 1.0)
        self._open_sync()
        self.player = Player(self.clock, self.rate, self._notify, self.control, self.stats, self.log, self._stop,
                             sync=self.sync if cfg.sync == "midi" else None)
        audio = self._open_audio(device, missing)
        if cfg.midi:
            self._open_midi_out()
        if cfg.worker == "thread":    # torch and the model load holding the GIL: before anything plays
            self.worker = self._start_worker(self.primer)
        if cfg.sync == "midi" and cfg.sync_port is not None:
            self.player.open_clock(cfg.sync_port)
        if cfg.midi and cfg.midi_in is not False and self.player.open(cfg.midi_in, cfg.note_timeout):
            self._go()                # the player is heard from the moment the port exists, while the model starts
        if self.worker is None:
            self.worker = self._start_worker(self.primer)
        name = model_name(self.model, self.model_dir)
        where = "its own process" if self.worker.kind == "process" else "the engine thread"
        self.log(f"model: {name}{' (int8)' if cfg.int8 else ''} in {where}, {self._horizon:g} s ahead")
        if self.monitor is not None:
            self.monitor.stats(model_name=name, audio=audio,
                               midi_out=self.midi.describe() if self.midi is not None else "off",
                               midi_in=self.player.describe(), recording=self._recording())
        self._preroll()
        if self.running:
            gc.freeze()               # the model's side too (a full collection now would hold the GIL)
        else:
            self._go()
        self._thread = threading.Thread(target=self._loop, name="livechip-engine", daemon=True)
        self._thread.start()
        if self.control is not None:
            self._register_actions()

    def _find_audio(self):
        """The audio device and the engine's rate; returns (device, why there is none)."""
        cfg = self.cfg
        device, rate, missing = None, None, "off (--no-audio)"
        if cfg.audio:
            device, rate = aio.find_output(cfg.audio_device)     # a named device that is not there: DeviceError
            if device is None:
                missing = rate
                rate = None
        self.rate = int(cfg.rate or rate or 48000)
        return device, missing

    def _open_audio(self, device, missing):
        """The APU and the audio out (or a pacer without one); returns the audio out's description."""
        block = self.cfg.block or (None if device is not None else 256)
        self.synth = aio.Synth(self._rings(), self.clock, self.rate, timbres=self._timbres(),
                               max_block=max(4096, block or 0))
        self.synth.set_volumes(self.roles.volumes)
        if device is None:
            self.audio = aio.Pacer(self.synth, block or 256)
            self.log(f"audio: {missing}; playing silently, the recording still gets the sound")
            return "off"
        self.audio = aio.AudioOut(self.synth, device, block)
        self.log(f"audio: {self.audio.describe()}")
        return self.audio.describe()

    def _open_midi_out(self):
        try:
            self.midi = mio.MidiOut(port=self.cfg.midi_port)
            self.sender = mio.Sender(self._rings(), self.clock, self.midi, velocity=self.roles.velocity)
            self.sender.program_changes()
            self.log(f"MIDI out: {self.midi.describe()}, channels 1-4 = P1 P2 TR NO")
            self._lead()
        except DeviceError as e:
            self.log(f"MIDI out: {e}; not sending MIDI")
            self.midi = self.sender = None

    def _rings(self):
        """The rings both outputs play: the model's and the player's."""
        return [self.ring, self.player.ring]

    def _go(self):
        """Start the clock, the audio, MIDI out and the player's thread: from here on the player is heard."""
        # everything built so far lives as long as the engine: keep it out of the garbage collector's full
        # passes, which hold the GIL for milliseconds in a process that has imported a lot
        gc.collect()
        gc.freeze()
        self.running = True
        self.clock.start()
        self.audio.start()
        if self.sender is not None:
            self.sender.start()
        if self.player.listening:
            self.player.start(watch=self.cfg.midi_in is not None)   # an existing port can go away

    def _start_worker(self, primer=()):
        if self.cfg.worker == "thread":
            return ThreadWorker(self.model, self._settings, self.roles.masked, self.cfg.max_rollback, primer,
                                int8=self.cfg.int8, threads=self.cfg.threads)
        source = model_source(self.model, self.model_dir)
        return ProcessWorker(source, self._settings, self.roles.masked, self.cfg.max_rollback, primer,
                             self.cfg.threads, int8=self.cfg.int8, cancelled=self._stop.is_set)

    def _preroll(self):
        """Generate the first horizon before the model's time starts, so its first notes are not late. Its
        time starts with the clock, or now if the clock already runs (the player was heard meanwhile)."""
        if self._paused is not None:   # waiting for the band: its start begins the model's time
            return
        want = self.tempo.ticks(round(self._horizon * self.rate))
        self.worker.want(want)
        end = time.monotonic() + self.cfg.preroll
        events = []
        while self.worker.frontier < want and time.monotonic() < end and not self._stop.is_set():
            events += self.worker.poll()
            if self.worker.kind == "process":
                time.sleep(0.005)
        events += self.worker.poll()
        if self.running:
            self._origin = round(self.clock.now())
            self.tempo = TempoMap(self.rate, self.tempo.tempo, frame0=self._origin)
        self.sync.begin(self._origin)
        self._schedule(events)

    def run(self, duration=None):
        """Play until `duration` seconds have passed, stop is requested (a signal, the stop action), or the
        engine fails (then the reason is logged)."""
        end = None if duration is None else time.monotonic() + duration
        while not self._stop.is_set():
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            self._stop.wait(0.1 if left is None else min(0.1, left))
        if self.failed:
            self.log(self.failed)

    @property
    def stopping(self):
        """True once a stop was asked for (a signal, the quit action, a failure)."""
        return self._stop.is_set()

    @property
    def alive(self):
        """True while the engine thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def request_stop(self):
        """Ask run() to return (safe from signal handlers and other threads)."""
        self._stop.set()

    def stop(self):
        """Stop everything; every sounding note is released on MIDI and in the APU."""
        self._stop.set()
        # the threads use the worker's shared memory and the MIDI ports: they end before those close
        # (closing a port another thread is using is a crash in python-rtmidi, not an exception)
        threads = (self._thread,) + (self.player.threads if self.player is not None else ())
        busy = [t.name for t in threads if not self._joined(t)]
        if busy:
            self.log(f"stop: {', '.join(busy)} did not end within {THREAD_STOP_WAIT:g} s; leaving what they use open")
            self.device_hung = True
        self.running = False
        self._stop_leading()
        if self.sender is not None:
            self.sender.stop()
        if self.audio is not None:
            self._stop_audio()
        if self.worker is not None and not busy:
            self.worker.close()
        if self.recorder is not None:
            self.recorder.stop()
        if self.takes.recording:
            try:
                self.record_stop()
            except LivechipError as e:
                self.log(str(e))
        if self.device_hung:
            return     # closing a MIDI port asks the same server, holding the GIL: the process would freeze
        # MIDI in closes after the audio: python-rtmidi keeps the GIL while its JACK client leaves the server,
        # which waits for the current period, whose audio callback would wait for the GIL (an xrun each time)
        if self.player is not None:
            self.player.close()
        if self.midi is not None:
            self.midi.close()

    def _stop_audio(self):
        self.synth.silent = True
        time.sleep(2 * (self.audio.block or 256) / self.rate)   # let a block render the silence
        if not finishes(self.audio.stop, AUDIO_STOP_WAIT):
            self.device_hung = True
            self.log(f"audio: the stream did not stop within {AUDIO_STOP_WAIT:g} s (its server no longer "
                     "answers this process); leaving it and the MIDI ports to the server")

    @staticmethod
    def _joined(thread):
        """True once `thread` (None: never started; this thread: ours to finish) has ended."""
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(THREAD_STOP_WAIT)
        return not thread.is_alive()

    # --- the engine thread ------------------------------------------------------------------------------

    def _loop(self):
        if self.worker.kind == "process":   # this thread only moves events: never runs the model
            realtime_priority()
        try:
            while not self._stop.is_set():
                self._serve()
                self._read_control()
                self._follow()
                if self.player.listening:
                    self._listen()
                if self._pending is not None and time.monotonic() - self._respeculated > RESPECULATE:
                    release, self._pending = self._pending, None
                    self.respeculate(release)
                with self.lock:
                    busy = self._step()
                self._publish()
                if not busy:
                    self._stop.wait(0.002)
        except Exception as e:  # noqa: BLE001 - reported, notes released, the instrument stops cleanly
            self.failed = f"engine stopped: {type(e).__name__}: {e}"
            self.panic()
            self._stop.set()

    def _step(self):
        """One look at the clock: tell the model how far to go, move what it made into the ring."""
        w = self.worker
        if not w.alive:
            self._worker_died()
            return False
        if self.sender is not None and self.sender.failed and not self._midi_failed:
            self._midi_failed = True
            self.log(f"MIDI out failed ({self.sender.failed}); no more MIDI, the music goes on")
        now = self.clock.now()
        busy, ahead = False, 0.0
        if self._paused is None:         # with the transport stopped the model is asked for nothing
            target = self.tempo.ticks(round(now + self._horizon * self.rate))
            w.want(target)
            new = w.poll()
            self._schedule(new)
            busy = bool(new) or (w.kind == "thread" and w.frontier < target)
            ahead = (self.tempo.frames(w.frontier) - now) / self.rate
        if self.stats.lead(ahead):
            self._figures(ahead)
        if self.monitor is not None:
            self.monitor.now(self.tempo.ticks(round(now)))
        return busy

    def _figures(self, ahead):
        """Every 50 ms: the running figures to Control (status, OSC, an attached UI) and, with the voices'
        levels, to the monitor."""
        f = {"xruns": self.xruns, "midi_in": self.player.describe(), "recording": self._recording()}
        if self.stats.reactions:
            f["latency_ms"] = round(self.stats.reactions.last() * 1000, 1)
        beat = self.sync.figures(self.clock.now())
        if self.control is not None:
            self.control.report(ahead=round(ahead, 3), tokens=self.worker.tokens, bar=beat["bar"], **f)
            self._tell_beat(beat)
        f.update(beat)
        if self.monitor is not None:
            self.monitor.stats(lead_s=ahead, **f)
            self.monitor.levels(dict(zip(ev.VOICES, self.synth.apu.levels())))

    def _recording(self):
        return self.recorder is not None or self.takes.recording

    def _worker_died(self):
        code = getattr(self.worker, "exitcode", None)
        self.log(f"model process died (exit code {code}); all notes off")
        self.scheduled.pop(len(self.ring.revoke_after(self.ring.committed())))
        self._revoked()
        self.panic()
        self.worker.close()
        if self.restarts >= RESTARTS:
            self.failed = f"model process died {self.restarts + 1} times; stopping"
            self._stop.set()
            return
        self.restarts += 1
        primer = self._recent_score()
        try:
            self.worker = self._start_worker(primer)
        except LivechipError as e:
            self.failed = f"cannot restart the model: {e}"
            self._stop.set()
            return
        # the new model goes on from the end of its primer (its tick 0), from now on the clock
        start = max(self.synth.frame, self._last_frame(), round(self.clock.now()))
        self.tempo = TempoMap(self.rate, self.tempo.tempo, frame0=start)
        self.log(f"model process restarted ({self.restarts} of {RESTARTS})")

    def panic(self):
        """All voices off now, on MIDI and in the APU; the model's context is kept."""
        if self.player is not None:
            self.player.panic()      # the player's thread lets go of every key still down
        if self.synth is not None:
            self.synth.silent = True
        if self.sender is not None:
            self.sender.panic()

    # --- control --------------------------------------------------------------------------------------

    def _read_control(self, force=False):
        c = self.control
        if c is None or (c.version == self._control_version and not force):
            return
        self._control_version = c.version
        s = c.snapshot()
        settings = {k: s[k] for k in ("temperature", "top_k", "top_p", "recall", "seed")}
        settings["steering"] = steering(s)
        r = self.roles
        muted_now, hushed = r.read(s)
        masked = r.mask()
        self._horizon = s["horizon"]
        if self.worker is not None and (settings != self._settings or masked != r.masked):
            self.worker.configure(settings, r.told(masked))
            self._pending = set(self._pending or ()) | muted_now
        self._settings, r.masked = settings, masked
        if self.sync is not None:
            self._read_sync(s)
        if self.worker is not None:
            tempo = self._match or s["tempo"]
            if tempo != self.tempo.tempo:
                self._set_tempo(tempo)
            self.synth.set_timbres(timbres(s))
            self.synth.set_volumes(r.volumes)
            if hushed and self.sender is not None:
                self.sender.hush(hushed)    # a voice turned down to 0 stops sounding on MIDI too

    def _timbres(self, scaled=False):
        """Each voice's Timbre as Control has it; `scaled`: with its volume folded in (see roles.timbres)."""
        return timbres(self.control.snapshot() if self.control is not None else None, scaled)

    # --- what happened ------------------------------------------------------------------------------------

    @property
    def xruns(self):
        return self.audio.xruns if self.audio is not None else 0

    def leads(self):
        """How far the schedule was ahead of now, sampled every 50 ms: (monotonic time, seconds) rows, the
        latest LEADS of them, oldest first."""
        return self.stats.leads.values()

    def status(self):
        w = self.worker
        return {"now": self.clock.seconds(), "frontier": w.frontier / ev.TICKS_PER_SECOND if w else 0,
                "tokens": w.tokens if w else 0, "xruns": self.xruns, "late": self.synth.late,
                "callback_errors": self.synth.errors, "midi_sent": self.midi.sent if self.midi else 0}
