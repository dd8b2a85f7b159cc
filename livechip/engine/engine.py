"""The live engine: the model kept generating ahead of one clock, its events heard and sent just in time.

    engine = Engine(model, EngineConfig(horizon=0.5), control=Control())
    engine.start()          # audio (or a pacer), MIDI out, the model; prints one line per part it lacks
    engine.run(10)          # seconds, or until stop() / a signal
    engine.stop()           # all notes off, outputs closed
    engine.save("take")     # take.mid, take.tx1.txt, take.wav, take.vgm

Threads and processes (see the README's architecture section):
- the audio callback (PortAudio's thread, or the pacer without a sound card) renders the APU from the
  schedule ring: `livechip.io.audio.Voice.render`;
- the MIDI sender thread sends the same ring's events at their times: `livechip.io.midi.Sender`;
- the engine thread (here) moves the model's events into the ring, converting ticks to transport frames
  once, with the tempo; it reads settings from `Control` between steps and never blocks the other two; it
  publishes every note once heard, the model's and the player's (`Control.note`: OSC subscribers), and feeds
  the monitor (the UI) the player's notes, the figures and the voices' levels;
- the player's thread takes MIDI in (`livechip.io.midi_in`, routed by `livechip.engine.jam`): each note goes
  into the human ring at its arrival time, so both outputs play it at once, and then into the model's
  context with a rollback (`merge`); the model goes on with the player's voices masked;
- the model runs in its own process by default (`ProcessWorker`), or in the engine thread (`ThreadWorker`).

Everything in the ring later than what the audio callback and the MIDI sender have taken is speculation and
can be revoked (`merge`); what they have taken was heard, and stays.
"""

import dataclasses
import gc
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from livechip import events as ev
from livechip.engine.clock import Clock, TempoMap, frames_to_ticks
from livechip.engine.schedule import NEVER, EventLog, Ring
from livechip.errors import DeviceError, LivechipError

VOICE_INDEX = {v: i for i, v in enumerate(ev.VOICES)}
DEFAULT_HORIZON = 0.5   # seconds ahead of the clock; see the README's performance section for why
PORT_CHECK = 0.5        # seconds between looks at whether the MIDI input port is still there
RESTARTS = 3            # times a dead model process is restarted before the engine gives up
LEADS = 1 << 14         # samples of the schedule's lead kept (13 minutes at one per 50 ms)
RESPECULATE = 0.1       # seconds between two regenerations of the speculation for setting changes (a fader sweep)
AUDIO_STOP_WAIT = 3.0   # seconds the audio stream is given to stop (see finishes)
ACTION_WAIT = 5.0       # seconds an action waits for the engine thread to do it (see _do)


def finishes(fn, seconds):
    """Run fn() on a thread of its own; False if it has not returned after `seconds` (it is left running).

    For the audio stream's stop: PortAudio's JACK host waits, with no limit of its own but ten minutes, for an
    answer from the server, and a server whose channel to this process fell out of step (after the process
    was stopped for a few seconds, by Ctrl-Z for one) never sends it. PortAudio's calls leave the GIL free."""
    done = threading.Event()

    def run():
        try:
            fn()
        finally:
            done.set()
    threading.Thread(target=run, name="livechip-stop", daemon=True).start()
    return done.wait(seconds)


@dataclasses.dataclass
class EngineConfig:
    horizon: float = DEFAULT_HORIZON    # seconds of music kept generated ahead of now
    rate: int | None = None             # output sample rate; None: the audio device's (48000 without one)
    block: int | None = None            # audio block in frames; None: the device's choice (256 without one)
    audio_device: object = None         # index or name; None: the default output
    audio: bool = True                  # False: no sound card even if there is one (render for recording)
    midi: bool = True
    midi_port: str | None = None        # send to this existing port instead of a virtual `livechip` port
    worker: str = "process"             # "process": the model in its own process; "thread": in the engine's
    threads: int = 1                    # threads for the model (torch's and the step kernels')
    int8: bool = False                  # the model's int8 form (quantize.py): about twice as fast on a CPU
    max_rollback: int = 2048            # tokens that can be revoked (the horizon, with a wide margin)
    preroll: float = 10.0               # at most this many seconds to fill the horizon before the clock starts
    midi_in: object = None              # MIDI in: None = the virtual port `livechip in`; a name or an index:
                                        # that existing port; False = no MIDI in
    note_timeout: float = 20.0          # seconds a player's key may stay down before it counts as stuck


class Engine:
    """One live instrument: model, clock, schedule, APU audio and MIDI out. Settings come from `control`.

    `model`: a TransformerXL, or a model folder (then the model process loads it and this process never
    imports torch)."""

    def __init__(self, model, cfg=None, control=None, model_dir=None, log=None, primer=(), monitor=None):
        self.model = model
        self.model_dir = model_dir
        self.cfg = cfg or EngineConfig()
        self.control = control
        self.monitor = monitor       # livechip.monitor.Monitor: what a viewer (the TUI) sees; fed by this thread
        self.log = log or (lambda msg: print(f"livechip: {msg}", file=sys.stderr, flush=True))
        self.primer = primer
        self.ring = Ring(1 << 14)
        self.human = Ring(1 << 12)   # the player's notes, written by the player's thread at their arrival
        self.rings = [self.ring, self.human]
        self.human_played = []       # (frame, voice index, pitch) of every player's event in the human ring
        self.midi_in = None
        self.router = None
        self.turns = None
        self.reactions = []          # seconds from a player's note arriving to the model's next note scheduled
        self.merge_times = []        # seconds each merge of the player's notes took
        self.human_lag = []          # seconds from a MIDI message arriving to the player's thread taking it
        self.port_checks = []        # seconds each look at the MIDI input port took
        self._reacting = []          # (monotonic arrival, tick) of player's notes the model has not answered yet
        self._human_frame = 0
        self._jam_thread = None
        self._jam_panic = False
        self._port_lost = False
        self._merging = queue.SimpleQueue()   # (arrival, events) from the player's thread to the engine thread
        self._call_response = False
        self._waiting = False        # call and response: the model holds back while the player plays
        self.scheduled = EventLog()  # (frame, tick, voice index, pitch) of every event in the ring, in ring order
        self.lock = threading.Lock() # guards `scheduled` and worker calls between the engine thread and callers
        self.audio = None
        self.recorder = None
        self.midi = None
        self.sender = None
        self.worker = None
        self.running = False
        self.failed = None
        self.device_hung = False    # the audio stream would not stop: see stop()
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = None
        self._control_version = -1
        self._settings = {}          # temperature, top_k, top_p, seed (plain data: it crosses to the model process)
        self._masked = ()
        self._modes = {v: "auto" for v in ev.VOICES}   # as Control has them (the default, without one)
        self._taken = frozenset()    # the auto voices the player holds (the engine thread's copy)
        self.taken = frozenset()     # the same, as the player's thread last saw it
        self._muted = set()
        self._volumes = {v: 1.0 for v in ev.VOICES}
        self._horizon = self.cfg.horizon
        self._pending = None         # voices to release at the next respeculation; None: none is due
        self._origin = 0             # the frame of the model's tick 0 (later than 0 when the player came first)
        self._respeculated = 0.0
        self._midi_failed = False
        self._leads = np.zeros((LEADS, 2))  # ring of (monotonic time, seconds of schedule ahead of now), every
        self.lead_count = 0                 # 50 ms by the engine thread: see leads()
        self._told = 0               # events of `scheduled` / `human_played` published as heard: see _publish
        self._told_human = 0
        self._requests = queue.SimpleQueue()  # (fn, args, done, answer) for the engine thread: see _do
        self._paused = None          # the transport is stopped: the model's tick where it stopped
        self.take = None             # (stem, Recorder) of the take being recorded: see record_start
        self._take_lock = threading.Lock()
        self.takes = Path("recordings")   # where takes go (`--record DIR` puts them there)

    # --- start and stop --------------------------------------------------------------------------------

    def start(self):
        """Open the outputs (each missing one is one line in the log), start the model and fill the horizon."""
        from livechip.io import audio as aio
        from livechip import midifile, record, tx1  # noqa: F401 - imported now: an import later holds the GIL
        cfg = self.cfg
        self._read_control(force=True)
        device, rate, missing = None, None, "off (--no-audio)"
        if cfg.audio:
            device, rate = aio.find_output(cfg.audio_device)     # a named device that is not there: DeviceError
            if device is None:
                missing = rate
                rate = None
        self.rate = int(cfg.rate or rate or 48000)
        self.clock = Clock(self.rate)
        self.tempo = TempoMap(self.rate, self._tempo_setting())
        block = cfg.block or (None if device is not None else 256)
        self.voice = aio.Voice(self.rings, self.clock, self.rate, timbres=self._timbres(),
                               max_block=max(4096, block or 0))
        self.voice.set_volumes(self._volumes)
        if device is not None:
            self.audio = aio.AudioOut(self.voice, device, block)
            self.log(f"audio: {self.audio.describe()}")
        else:
            self.audio = aio.Pacer(self.voice, block or 256)
            self.log(f"audio: {missing}; playing silently, the recording still gets the sound")
        if cfg.midi:
            from livechip.io import midi as mio
            try:
                self.midi = mio.MidiOut(port=cfg.midi_port)
                self.sender = mio.Sender(self.rings, self.clock, self.midi, velocity=self._velocity)
                self.sender.program_changes()
                self.log(f"MIDI out: {self.midi.describe()}, channels 1-4 = P1 P2 TR NO")
            except DeviceError as e:
                self.log(f"MIDI out: {e}; not sending MIDI")
                self.midi = self.sender = None
        if cfg.worker == "thread":    # torch and the model load holding the GIL: before anything plays
            self.worker = self._start_worker(self.primer)
        if cfg.midi and cfg.midi_in is not False:
            self._open_midi_in()
        if self.midi_in is not None:  # the player is heard from the moment the port exists, while the model starts
            self._go()
        if self.worker is None:
            self.worker = self._start_worker(self.primer)
        self.log(f"model: {self._model_name()}{' (int8)' if self.cfg.int8 else ''} in "
                 f"{'its own process' if self.worker.kind == 'process' else 'the engine thread'}, {self._horizon:g} s ahead")
        if self.monitor is not None:
            self.monitor.stats(model_name=self._model_name(),
                               audio=self.audio.describe() if device is not None else "off",
                               midi_out=self.midi.describe() if self.midi is not None else "off",
                               midi_in=self._midi_in_state(), recording=self._recording())
        self._preroll()
        if self.running:
            gc.freeze()               # the model's side too (a full collection now would hold the GIL)
        else:
            self._go()
        self._thread = threading.Thread(target=self._loop, name="livechip-engine", daemon=True)
        self._thread.start()
        if self.control is not None:
            self._register_actions()

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
        if self.midi_in is not None:
            self._jam_thread = threading.Thread(target=self._jam_loop, name="livechip-midi-in", daemon=True)
            self._jam_thread.start()
            if self.cfg.midi_in is not None:     # an existing port can go away (the virtual one cannot)
                threading.Thread(target=self._watch_midi_in, name="livechip-midi-in-watch", daemon=True).start()

    def record(self, folder=None):
        """Start keeping everything the APU plays (scratch files in `folder`), for save()."""
        from livechip.record import Recorder
        if self.recorder is None:
            self.recorder = Recorder(self.voice, folder)
            self.recorder.start()

    def _start_worker(self, primer=()):
        if self.cfg.worker == "thread":
            return ThreadWorker(self.model, self._settings, self._masked, self.cfg.max_rollback, primer,
                                int8=self.cfg.int8, threads=self.cfg.threads)
        source = model_source(self.model, self.model_dir)
        return ProcessWorker(source, self._settings, self._masked, self.cfg.max_rollback, primer, self.cfg.threads,
                             int8=self.cfg.int8)

    def _preroll(self):
        """Generate the first horizon before the model's time starts, so its first notes are not late. Its
        time starts with the clock, or now if the clock already runs (the player was heard meanwhile)."""
        want = self.tempo.ticks(round(self._horizon * self.rate))
        self.worker.want(want)
        end = time.monotonic() + self.cfg.preroll
        events = []
        while self.worker.frontier < want and time.monotonic() < end:
            events += self.worker.poll()
            if self.worker.kind == "process":
                time.sleep(0.005)
        events += self.worker.poll()
        if self.running:
            self._origin = round(self.clock.now())
            self.tempo = TempoMap(self.rate, self.tempo.tempo, frame0=self._origin)
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

    def request_stop(self):
        """Ask run() to return (safe from signal handlers and other threads)."""
        self._stop.set()

    def stop(self):
        """Stop everything; every sounding note is released on MIDI and in the APU."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if self._jam_thread is not None and self._jam_thread is not threading.current_thread():
            self._jam_thread.join(2.0)
        self.running = False
        if self.sender is not None:
            self.sender.stop()
        if self.audio is not None:
            self.voice.silent = True
            time.sleep(2 * (self.audio.block or 256) / self.rate)   # let a block render the silence
            if not finishes(self.audio.stop, AUDIO_STOP_WAIT):
                self.device_hung = True
                self.log(f"audio: the stream did not stop within {AUDIO_STOP_WAIT:g} s (its server no longer "
                         "answers this process); leaving it and the MIDI ports to the server")
        if self.worker is not None:
            self.worker.close()
        if self.recorder is not None:
            self.recorder.stop()
        if self.take is not None:
            try:
                self.record_stop()
            except LivechipError as e:
                self.log(str(e))
        if self.device_hung:
            return     # closing a MIDI port asks the same server, holding the GIL: the process would freeze
        # MIDI in closes after the audio: python-rtmidi keeps the GIL while its JACK client leaves the server,
        # which waits for the current period, whose audio callback would wait for the GIL (an xrun each time)
        if self.midi_in is not None:
            self.midi_in.close()
        if self.midi is not None:
            self.midi.close()

    # --- the engine thread ------------------------------------------------------------------------------

    def _loop(self):
        if self.worker.kind == "process":   # this thread only moves events: never runs the model
            from livechip.io import realtime_priority
            realtime_priority()
        try:
            while not self._stop.is_set():
                self._serve()
                self._read_control()
                if self.midi_in is not None:
                    self._jam_step()
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
        mono = time.monotonic()
        if not self.lead_count or mono - self._leads[(self.lead_count - 1) % LEADS, 0] > 0.05:
            self._leads[self.lead_count % LEADS] = (mono, ahead)
            self.lead_count += 1
            self._figures(ahead)
        if self.monitor is not None:
            self.monitor.now(self.tempo.ticks(round(now)))
        return busy

    def _figures(self, ahead):
        """Every 50 ms: the running figures to Control (status, OSC, an attached UI) and, with the voices'
        levels, to the monitor."""
        f = {"xruns": self.xruns, "midi_in": self._midi_in_state(), "recording": self._recording()}
        if self.reactions:
            f["latency_ms"] = round(self.reactions[-1] * 1000, 1)
        if self.control is not None:
            self.control.report(ahead=round(ahead, 3), tokens=self.worker.tokens, **f)
        if self.monitor is not None:
            self.monitor.stats(lead_s=ahead, **f)
            self.monitor.levels(dict(zip(ev.VOICES, self.voice.apu.levels())))

    def _midi_in_state(self):
        m = self.midi_in
        return m.describe() if m is not None and m.midi is not None else "off"

    def _recording(self):
        return self.recorder is not None or self.take is not None

    def _publish(self):
        """Publish every note heard since the last call, the model's and the player's, in time order, to
        Control's note listeners (OSC subscribers) and the player's to the monitor too (the model's went
        there when scheduled, as speculation). Heard: the audio callback has rendered past it, so it can no
        longer be revoked. The engine thread's work, never the audio callback's or the player's thread's."""
        heard = self.voice.frame
        with self.lock:
            rows = self.scheduled.rows()
            k = min(self._told, len(rows))
            n = k
            while n < len(rows) and rows[n, 0] < heard:
                n += 1
            model = rows[k:n].tolist()
            self._told = n
        played = self.human_played
        k = min(self._told_human, len(played))
        n = k
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
            pitch = None if p < 0 else p
            if c is not None:
                c.note(ev.VOICES[v], pitch, source, f / self.rate)
            if m is not None and source == "human":
                m.note(ev.VOICES[v], pitch, self.tempo.ticks(f), None, source="human")

    def _schedule(self, events):
        late = self.voice.frame if hasattr(self, "voice") else 0
        if self._reacting and events:
            self._answered(events)
        for e in events:
            if e.voice in self._muted:
                continue
            f = max(self.tempo.frames(e.time), late)
            v, p = VOICE_INDEX[e.voice], -1 if e.pitch is None else e.pitch
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
        if events and self.sender is not None:
            self.sender.notify()

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
        # the new model goes on from the end of its primer, from now on the clock
        start = max(self.voice.frame, self._last_frame(), round(self.clock.now()))
        self.tempo = TempoMap(self.rate, self.tempo.tempo, tick0=primer.end if primer else 0, frame0=start)
        self.log(f"model process restarted ({self.restarts} of {RESTARTS})")

    def _recent_score(self, seconds=20.0):
        """The last `seconds` of what was scheduled, as a Score starting at 0 (to prime a new model)."""
        if not self.scheduled:
            return None
        rows = self.scheduled.rows()
        end = int(rows[-1, 1])
        first = end - round(seconds * ev.TICKS_PER_SECOND)
        notes = rows[rows[:, 1] >= first, 1:].tolist()
        t0 = notes[0][0]
        out = [ev.NoteEvent(t - t0, ev.VOICES[v], None if p < 0 else p) for t, v, p in notes]
        return ev.Score(out, end - t0)

    # --- speculation: merging events in, taking events back -----------------------------------------------

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

    def _revoke(self, frame):
        """Take back the unheard events after `frame` from the ring and the record; returns them (ticks)."""
        gone = self.scheduled.pop(len(self.ring.revoke_after(frame)))
        self._revoked()
        return [ev.NoteEvent(tk, ev.VOICES[v], None if p < 0 else p) for _, tk, v, p in gone]

    def _last_frame(self):
        """Frame of the latest event scheduled (0 if none)."""
        last = self.scheduled.last()
        return last[0] if last else 0

    def _last_tick(self, default):
        """Tick of the latest event scheduled (`default` if none)."""
        last = self.scheduled.last()
        return last[1] if last else default

    def _revoked(self):
        """Tell the monitor that what was scheduled after the last event kept was taken back."""
        if self.monitor is not None:
            self.monitor.revoke(self._last_tick(-1))

    def respeculate(self, release=()):
        """Throw away the speculation and generate it again from now (new settings are heard at once);
        voices in `release` get a note-off now."""
        now = round(self.clock.now())
        with self.lock:
            self._revoke(max(now, self.ring.committed()))
            kept = self._last_tick(0)
            after = max(self.tempo.ticks(now), kept)
            self.worker.merge(after, (), until=after)
            at = max(now, self.ring.last_time(), self.voice.frame)
            for v in release:
                if self.ring.push(at, VOICE_INDEX[v], -1):
                    self.scheduled.append(at, self.tempo.ticks(at), VOICE_INDEX[v], -1)
        if release and self.sender is not None:
            self.sender.notify()
        self._respeculated = time.monotonic()

    def panic(self):
        """All voices off now, on MIDI and in the APU; the model's context is kept."""
        self._jam_panic = True       # the player's thread lets go of every key still down
        if hasattr(self, "voice"):
            self.voice.silent = True
        if self.sender is not None:
            self.sender.panic()

    # --- actions: a new song, the transport, takes (called from any thread) --------------------------------

    def reset(self):
        """A new song from now: the model's memory cleared, what was scheduled after now revoked and the
        model's voices released."""
        self._do(self._new_song, None, "a new song: the model's memory is cleared")

    def reprime(self, path):
        """As reset, with the model's memory primed with a .mid or .tx1.txt file; a file that cannot be read
        is an error and changes nothing."""
        self._do(self._new_song, self._primer(path), f"a new song primed with {path}")

    def pause(self):
        """Stop the transport: the model's schedule revoked and its voices released, its memory kept; the
        player's notes, OSC and the UI go on."""
        self._do(self._pause)

    def resume(self):
        """Start the transport again: the model goes on from where it stopped, as if no time had passed."""
        self._do(self._resume)

    def _primer(self, path):
        from livechip import files
        path = Path(path)     # names sent over OSC were confined to the primes folder there (livechip.folders)
        try:
            return files.read_score(path)
        except LivechipError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever a damaged file makes the readers raise
            raise LivechipError(f"{path}: cannot read it as music ({type(e).__name__}: {e})") from None

    def _do(self, fn, *args):
        """Run fn(*args) in the engine thread between its steps (where the model and the schedule change);
        returns its result or raises its error."""
        if self._thread is None or not self._thread.is_alive():
            raise LivechipError("the engine is not running")
        done, answer = threading.Event(), []
        self._requests.put((fn, args, done, answer))
        if not done.wait(ACTION_WAIT):
            raise LivechipError(f"the engine did not answer within {ACTION_WAIT:g} s")
        ok, value = answer[0]
        if not ok:
            raise value
        return value

    def _serve(self):
        """The engine thread: run the actions waiting in _do."""
        while True:
            try:
                fn, args, done, answer = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                answer.append((True, fn(*args)))
            except Exception as e:  # noqa: BLE001 - the caller's to report
                answer.append((False, e))
            done.set()

    def _cut(self):
        """Under the lock: revoke what was scheduled after now and release the model's voices there; returns
        that frame."""
        now = round(self.clock.now())
        self._revoke(max(now, self.ring.committed()))
        at = max(now, self.ring.last_time(), self.voice.frame)
        for v in ev.VOICES:
            if v not in self._masked and self.ring.push(at, VOICE_INDEX[v], -1):
                self.scheduled.append(at, self.tempo.ticks(at), VOICE_INDEX[v], -1)
        if self.sender is not None:
            self.sender.notify()
        return at

    def _new_song(self, primer, what):
        with self.lock:
            tick = max(self.tempo.ticks(self._cut()), self._last_tick(0))
            self.worker.restart(tick, primer)
            if self._paused is not None:
                self._paused = tick
        self.log(what)

    def _pause(self):
        if self._paused is None:
            with self.lock:
                self._paused = self.tempo.ticks(self._cut())
                self.worker.want(self._paused)    # nothing more: a model process would go on to the old lead
            self.log("transport stopped: the model is silent, the player is still heard")

    def _resume(self):
        if self._paused is not None:
            with self.lock:
                now = round(self.clock.now())
                at = max(now, self.ring.last_time(), self.voice.frame)
                self.worker.restart(self.tempo.ticks(at), after=self._paused)
                self._paused = None
            self.log("transport playing: the model goes on")

    def record_start(self):
        """Start a take: what is heard from now on, until record_stop, in the takes folder. Returns its stem."""
        from livechip.record import Recorder
        with self._take_lock:
            if self.take is not None:
                raise LivechipError(f"already recording {self.take[0]} (record/stop ends it)")
            folder = Path(self.takes)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LivechipError(f"cannot record into {folder}: {e.strerror}") from None
            stem = _free_stem(folder / time.strftime("take-%Y%m%d-%H%M%S"))
            rec = Recorder(self.voice, folder, now=True)
            rec.start()
            self.take = (stem, rec)
            self.log(f"recording a take: {stem}")
            return str(stem)

    def record_stop(self):
        """End the take: STEM.mid, STEM.tx1.txt, STEM.wav and STEM.vgm of what was heard since record_start.
        Returns STEM. If the files cannot be written the take stays, to be stopped again."""
        from livechip import record
        with self._take_lock:
            if self.take is None:
                raise LivechipError("not recording (record/start starts a take)")
            stem, rec = self.take
            rec.stop()
            record.save(stem, self.played(rec.first, rec.frames), self.voice, self._timbres(scaled=True), rec)
            rec.close()
            self.take = None
            self.log(f"recorded the take {stem} (.mid, .tx1.txt, .wav, .vgm)")
            return str(stem)

    # --- the player: MIDI in, heard at once, merged into the context ------------------------------------

    def _open_midi_in(self):
        """Open MIDI in (the virtual port `livechip in`, or the port cfg.midi_in names); one line if none."""
        from livechip.engine.jam import Router, Turns
        from livechip.io.midi_in import MidiIn
        try:
            self.midi_in = MidiIn(self.cfg.midi_in, now=self.clock.now)
        except DeviceError as e:
            self.log(f"MIDI in: {e}; not listening")
            return
        timeout = self.cfg.note_timeout * self.rate
        snap = self.control.snapshot() if self.control is not None else None
        self.router = (Router.from_snapshot(snap, timeout, unit=self.rate) if snap
                       else Router(timeout=timeout, unit=self.rate))
        self.turns = Turns((snap["response_gap"] if snap else 0.5) * self.rate)
        mine = {m: " ".join(v for v in ev.VOICES if self.router.modes[v] == m) or "none" for m in ("human", "auto")}
        self.log(f"MIDI in: {self.midi_in.describe()}; human voices: {mine['human']}; auto voices: {mine['auto']}")

    def _jam_loop(self):
        """The player's thread: MIDI in -> routed -> the human ring (heard at once). It never waits for the
        model: the engine thread merges the events into the model's context between its steps (_jam_step)."""
        from livechip.io import realtime_priority
        realtime_priority()          # woken every millisecond: on a busy machine a normal thread wakes late
        inp, router = self.midi_in, self.router
        version = -1
        try:
            while not self._stop.is_set():
                first = inp.get(timeout=0.01)
                batch = [] if first is None else [first] + inp.drain()
                now = int(self.clock.now())
                out = []
                c = self.control
                if c is not None and c.version != version:
                    version = c.version
                    snap = c.snapshot()
                    out += router.configure(snap, now)
                    self.turns.gap = snap["response_gap"] * self.rate
                    self._call_response = snap["call_response"]
                if self._jam_panic:
                    self._jam_panic = False
                    out += router.release_all(now)
                for t, msg in batch:
                    out += router.message(msg, min(int(t), now))
                if batch:
                    self.human_lag.append((now - batch[0][0]) / self.rate)   # arrival -> taken here
                    if len(self.human_lag) > 100000:
                        del self.human_lag[:50000]
                out += router.expire(now)
                router.hand_back(now)
                if self._port_lost:
                    self._port_lost = False
                    if router.holding:
                        self.log("MIDI in: the port is gone; the player's notes are released")
                    out += router.release_all(now)
                if router.taken.keys() != self.taken:      # an auto voice taken or handed back (before the
                    self.taken = frozenset(router.taken)   # notes: the model is masked before it hears them)
                if out:
                    self._hear(out)
                    for e in out:
                        self.turns.heard(e.time)
                    self._merging.put((time.monotonic(), out))
        except Exception as e:  # noqa: BLE001 - a failing input must not stop the music; its notes end
            self.log(f"MIDI in stopped: {type(e).__name__}: {e}")
            self._hear(router.release_all(int(self.clock.now())))

    def _watch_midi_in(self):
        """Looks at the input port twice a second (asking the MIDI system can take a while, so not on the
        player's thread): when it is gone the player's notes are released; when it is back it is reopened."""
        while not self._stop.wait(PORT_CHECK):
            t0 = time.monotonic()
            if not self.midi_in.check():
                self._port_lost = True
            self.port_checks.append(time.monotonic() - t0)
            if len(self.port_checks) > 10000:
                del self.port_checks[:5000]

    def _hear(self, events):
        """The player's events (times in frames) to both outputs now, through the human ring."""
        for e in events:
            f = max(int(e.time), self._human_frame)
            self._human_frame = f
            v, p = VOICE_INDEX[e.voice], -1 if e.pitch is None else e.pitch
            while not self.human.push(f, v, p):
                time.sleep(0.0005)
            self.human_played.append((f, v, p))
        if self.sender is not None:
            self.sender.notify()

    def _jam_step(self):
        """In the engine thread, between model steps: the player's new events into the model's context
        (revoke what follows them, roll back, append), and call and response."""
        if self.taken != self._taken:
            self._hand_over(self.taken)
        batch = []
        while True:
            try:
                batch.append(self._merging.get_nowait())
            except queue.Empty:
                break
        # the player's notes from before the model's time began are heard but not in its context
        events = [e for _, out in batch for e in out if e.time >= self._origin]
        if events and self._paused is None:    # stopped, the model does not listen
            notes = [ev.NoteEvent(self.tempo.ticks(e.time), e.voice, e.pitch) for e in events]
            t0 = time.monotonic()
            self.merge(notes)
            self.merge_times.append(time.monotonic() - t0)
            if any(e.pitch is not None for e in notes):
                with self.lock:
                    self._reacting.append((batch[0][0], notes[-1].time))
            if len(self.merge_times) > 100000:
                del self.merge_times[:50000]
        self._take_turns(int(self.clock.now()))

    def _hand_over(self, taken):
        """Auto voices change hands: those the player took are masked before their notes are merged; those
        handed back are the model's again from now on, from its context as it is. Either way what the model
        had planned from now on is planned again (the merge of the player's first note would take back only
        what follows it, and notes from before the model's time began are not merged)."""
        self._taken = taken
        masked = self._mask()
        if masked != self._masked:
            self._masked = masked
            with self.lock:
                self.worker.configure(None, ev.VOICES if self._waiting else masked)
            if self._paused is None:
                self.respeculate()
        players = " ".join(v for v in ev.VOICES if v in taken)
        if self.control is not None:
            self.control.report(players=players)
        if self.monitor is not None:
            self.monitor.stats(players=players)

    def _mask(self):
        """The voices the model may not play: human and off ones, and the auto ones the player holds."""
        m = self._modes
        return tuple(v for v in ev.VOICES if m[v] in ("human", "off") or (m[v] == "auto" and v in self._taken))

    def _answered(self, events):
        """Reaction latency: the model's first note after each of the player's notes is on the schedule."""
        now = time.monotonic()
        last = max(e.time for e in events if e.voice not in self._masked) if any(
            e.voice not in self._masked for e in events) else None
        if last is None:
            return
        keep = []
        for arrived, tick in self._reacting:
            if last > tick:
                self.reactions.append(now - arrived)
            else:
                keep.append((arrived, tick))
        self._reacting[:] = keep
        if len(self.reactions) > 100000:
            del self.reactions[:50000]

    def _take_turns(self, now):
        """Call and response: while the player plays the model holds back (its notes end, it plays only
        silence); once they leave a gap of `response_gap` with no key down it answers from that moment."""
        waiting = self._call_response and not self.turns.answering(now, self.router.holding)
        if waiting == self._waiting:
            return
        self._waiting = waiting
        with self.lock:
            self.worker.configure(None, ev.VOICES if waiting else self._masked)
        self.respeculate([v for v in ev.VOICES if v not in self._masked] if waiting else ())

    # --- control --------------------------------------------------------------------------------------

    def _tempo_setting(self):
        return float(self.control.get("tempo")) if self.control is not None else 1.0

    def _read_control(self, force=False):
        c = self.control
        if c is None or (c.version == self._control_version and not force):
            return
        self._control_version = c.version
        s = c.snapshot()
        settings = {k: s[k] for k in ("temperature", "top_k", "top_p", "seed")}
        modes = {v: s["voices"][v]["mode"] for v in ev.VOICES}
        self._modes = modes
        masked = self._mask()
        old_muted, old_volumes = self._muted, self._volumes
        self._muted = {v for v in ev.VOICES if modes[v] == "off"}
        self._volumes = {v: s["voices"][v]["volume"] for v in ev.VOICES}
        hushed = [v for v in ev.VOICES if self._volumes[v] <= 0 < old_volumes[v]]
        self._horizon = s["horizon"]
        muted_now = self._muted - old_muted
        if self.worker is not None and (settings != self._settings or masked != self._masked):
            self.worker.configure(settings, ev.VOICES if self._waiting else masked)
            self._pending = set(self._pending or ()) | muted_now
        self._settings, self._masked = settings, masked
        if self.worker is not None:
            tempo = s["tempo"]
            if tempo != self.tempo.tempo:
                self._set_tempo(tempo)
            self.voice.set_timbres(self._timbres(s))
            self.voice.set_volumes(self._volumes)
            if hushed and self.sender is not None:
                self.sender.hush(hushed)    # a voice turned down to 0 stops sounding on MIDI too

    def _set_tempo(self, tempo):
        """Re-time the speculative part of the schedule at the new tempo (no model work needed)."""
        with self.lock:
            moved = self.scheduled.pop(len(self.ring.revoke_after(self.ring.committed())))
            self._revoked()
            at = max(self.voice.frame, self._last_frame())
            self.tempo.set_tempo(tempo, at)
            self._schedule([ev.NoteEvent(t, ev.VOICES[v], None if p < 0 else p) for _, t, v, p in moved])

    def _timbres(self, snap=None, scaled=False):
        """Each voice's Timbre; `scaled`: with the voice's volume folded in (for a take rendered from its
        score). Live, the volumes go to the APU's driver (Voice.set_volumes), where 0 silences the triangle too."""
        from livechip.apu.driver import DEFAULTS, Timbre
        if snap is None:
            if self.control is None:
                return dict(DEFAULTS)
            snap = self.control.snapshot()
        out = {}
        for v in ev.VOICES:
            d = dict(snap["voices"][v]["timbre"]) or DEFAULTS[v].to_dict()
            vol = snap["voices"][v]["volume"]
            if scaled and v != "TR":   # the triangle has no volume: only full or silent
                d["volume"] = int(round(d["volume"] * vol))
                d["sustain"] = int(round(d["sustain"] * vol))
            out[v] = Timbre(**d)
        return out

    def _velocity(self, voice):
        """Note-on velocity for `voice` from its volume; 0 (no note-on is sent) when it is turned down to 0."""
        vol = self._volumes.get(voice, 1.0)
        return 0 if vol <= 0 else max(1, min(127, round(100 * vol)))

    def _register_actions(self):
        for name, fn in (("panic", self.panic), ("reset", self.reset), ("reprime", self.reprime),
                         ("record_start", self.record_start), ("record_stop", self.record_stop),
                         ("record_save", self.save), ("play", self.resume), ("stop", self.pause),
                         ("quit", self.request_stop)):
            self.control.on_action(name, fn)

    # --- what happened ------------------------------------------------------------------------------------

    @property
    def xruns(self):
        return self.audio.xruns if self.audio is not None else 0

    def leads(self):
        """How far the schedule was ahead of now, sampled every 50 ms: (monotonic time, seconds) rows, the
        latest LEADS of them, oldest first."""
        n = min(self.lead_count, LEADS)
        return self._leads[(np.arange(n) + (self.lead_count - n)) % LEADS].copy()

    def played(self, since=0, until=None):
        """What was heard so far (or from frame `since` to `until`), as a Score in ticks of real time (tempo
        included) from `since`."""
        heard = self.voice.frame if until is None else min(until, self.voice.frame)
        with self.lock:
            rows = self.scheduled.rows()
            rows = rows[(rows[:, 0] >= since) & (rows[:, 0] < heard)]
            events = rows[:, [0, 2, 3]].tolist()
        events += [e for e in list(self.human_played) if since <= e[0] < heard]
        events.sort(key=lambda e: e[0])   # stable: at one frame, the model's events before the player's
        out = [ev.NoteEvent(frames_to_ticks(f - since, self.rate), ev.VOICES[v], None if p < 0 else p)
               for f, v, p in events]
        return ev.Score(sorted(out, key=ev.event_order), frames_to_ticks(max(heard - since, 0), self.rate))

    def save(self, stem):
        """Write the session so far: STEM.mid, STEM.tx1.txt, STEM.wav, STEM.vgm. Returns the paths."""
        from livechip import record
        return record.save(stem, self.played(), self.voice, self._timbres(scaled=True), self.recorder)

    def status(self):
        w = self.worker
        return {"now": self.clock.seconds(), "frontier": w.frontier / ev.TICKS_PER_SECOND if w else 0,
                "tokens": w.tokens if w else 0, "xruns": self.xruns, "late": self.voice.late,
                "callback_errors": self.voice.errors, "midi_sent": self.midi.sent if self.midi else 0}

    def _model_name(self):
        path = self.model_dir if self.model_dir is not None else self.model
        if isinstance(path, (str, os.PathLike)):
            return os.path.basename(os.path.normpath(str(path)))
        cfg = getattr(self.model, "cfg", None)
        return f"{cfg.n_layer}-layer d{cfg.d_model}" if cfg is not None else type(self.model).__name__


# --- where the model runs ------------------------------------------------------------------------------

CHUNK = 8               # tokens sampled between looks at the clock and the command pipe
WORKER_RING = 1 << 14   # events in flight from the model process
_WANT, _FRONTIER, _TOKENS = range(3)   # shared int64 slots


class ThreadWorker:
    """The model stepped in the engine thread; it shares the GIL with the audio callback and MIDI sender.

    Interface (shared with ProcessWorker): want(tick), poll() -> new NoteEvents, merge(after, events),
    restart(at, primer, after), configure(settings, masked), frontier, tokens, alive, close(). Ticks are the
    engine's: the stream's own ticks start again at each new song, `base` later (see _restart)."""

    kind = "thread"

    def __init__(self, model, settings=None, masked=(), max_rollback=2048, primer=(), int8=False, threads=1):
        from livechip.engine.stream import Stream
        model = _ready(model, int8, threads)
        self.stream = Stream(model, _sampling(settings), masked, max_rollback=max_rollback)
        if primer:
            self.stream.prime(primer)
        self.target = 0
        self.tokens = 0
        self.base = 0
        self.alive = True

    @property
    def frontier(self):
        return self.stream.frontier + self.base

    def want(self, tick):
        self.target = tick

    def poll(self):
        s = self.stream
        if s.frontier + self.base >= self.target:
            return []
        p = s.position
        import torch
        with torch.inference_mode():
            new = generate(s, self.target - self.base)
        self.tokens += s.position - p
        return _shifted(new, self.base)

    def merge(self, after, events=(), until=None):
        import torch
        with torch.inference_mode():
            _merge(self.stream, self.base, after, events, until)

    def restart(self, at, primer=None, after=None):
        import torch
        with torch.inference_mode():
            self.base = _restart(self.stream, self.base, at, primer, after)

    def configure(self, settings=None, masked=None):
        if settings is not None:
            self.stream.settings = _sampling(settings)
        if masked is not None:
            self.stream.masked_voices = masked

    def close(self):
        self.alive = False


class ProcessWorker:
    """The model in a spawned process: it reads how far to go from shared memory, writes its events into a
    shared-memory ring and takes commands (merge, restart, configure, stop) through a pipe.

    Each event carries the epoch of the last merge the process had seen when it made it; after merges at
    ticks T1, T2, ... the engine keeps an older event only if it is no later than every later merge's tick,
    which is exactly what the process kept of its history; after a restart it keeps none."""

    kind = "process"

    def __init__(self, source, settings=None, masked=(), max_rollback=2048, primer=(), threads=1, timeout=120.0,
                 int8=False):
        ctx = mp.get_context("spawn")
        self.shm = shared_memory.SharedMemory(create=True, size=64 + Ring.nbytes(WORKER_RING, 1))
        self.slots = np.frombuffer(self.shm.buf, np.int64, 8)
        self.slots[:] = 0
        self.ring = Ring(WORKER_RING, consumers=1, buffer=self.shm.buf[64:])
        self.ring.reset()
        self.conn, child = ctx.Pipe()
        self.epoch = 0
        self.cuts = {}              # epoch -> tick of that merge
        self.proc = ctx.Process(target=_model_process, name="livechip-model", daemon=True,
                                args=(source, dict(settings or {}), tuple(masked), max_rollback,
                                      primer or (), threads, int8, self.shm.name, child))
        self.proc.start()
        child.close()
        try:
            msg = self.conn.recv() if self.conn.poll(timeout) else ("error", f"not ready after {timeout:g} s")
        except (EOFError, OSError):
            self.proc.join(5.0)
            msg = ("error", f"it exited while starting (exit code {self.proc.exitcode})")
        if msg[0] != "ready":
            self.close()
            raise LivechipError(f"model process: {msg[1]}")

    @property
    def alive(self):
        return self.proc.is_alive()

    @property
    def exitcode(self):
        return self.proc.exitcode

    @property
    def frontier(self):
        return int(self.slots[_FRONTIER]) if self.slots is not None else self._last[0]

    @property
    def tokens(self):
        return int(self.slots[_TOKENS]) if self.slots is not None else self._last[1]

    def want(self, tick):
        self.slots[_WANT] = tick

    def poll(self):
        r = self.ring
        n = r.due(0, NEVER)
        out = []
        for k in range(n):
            t = int(r.time_of(0, k))
            epoch = r.tag_of(0, k)
            if epoch != self.epoch and any(t > self.cuts[e] for e in range(epoch + 1, self.epoch + 1)):
                continue             # speculation the process has taken back too
            p = r.pitch_of(0, k)
            out.append(ev.NoteEvent(t, ev.VOICES[r.voice_of(0, k)], None if p < 0 else p))
        r.advance(0, n)
        return out

    def merge(self, after, events=(), until=None):
        self.epoch += 1
        self.cuts[self.epoch] = after
        self._send(("merge", self.epoch, after, list(events), until))

    def restart(self, at, primer=None, after=None):
        self.epoch += 1
        self.cuts[self.epoch] = -1      # nothing the process made before is kept
        self._send(("restart", self.epoch, at, primer, after))

    def configure(self, settings=None, masked=None):
        self._send(("configure", settings, None if masked is None else tuple(masked)))

    def _send(self, msg):
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            pass

    def kill(self):
        """End the process at once (for tests of what happens when it dies)."""
        if self.proc.is_alive():
            self.proc.kill()

    def close(self):
        if self.proc.is_alive():
            self._send(("stop",))
            self.proc.join(2.0)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(1.0)
        self.conn.close()
        if self.slots is not None:
            self._last = (int(self.slots[_FRONTIER]), int(self.slots[_TOKENS]))
        self.ring = self.slots = None
        try:
            self.shm.close()
            self.shm.unlink()
        except (FileNotFoundError, BufferError):
            pass


def _model_process(source, settings, masked, max_rollback, primer, threads, int8, shm_name, conn):
    """The model process: generate up to the wanted tick, push the events, obey commands."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C belongs to the engine, which stops us
    try:
        import torch
        torch.set_num_threads(threads)
        from livechip.engine.stream import Stream
        model = _ready(source, int8, threads)
        stream = Stream(model, _sampling(settings), masked, max_rollback=max_rollback)
        if primer:
            with torch.inference_mode():
                stream.prime(primer)
        shm = shared_memory.SharedMemory(name=shm_name)
    except Exception as e:  # noqa: BLE001 - reported to the engine as one line
        from livechip.errors import LivechipError
        conn.send(("error", str(e) if isinstance(e, LivechipError) else f"{type(e).__name__}: {e}"))
        return
    slots = np.frombuffer(shm.buf, np.int64, 8)
    ring = Ring(WORKER_RING, consumers=1, buffer=shm.buf[64:])
    epoch = base = 0                # base: the engine's tick of the stream's tick 0 (see _restart)
    slots[_FRONTIER] = stream.frontier
    conn.send(("ready", stream.frontier))
    parent = os.getppid()
    try:
        with torch.inference_mode():
            while True:
                while conn.poll():
                    msg = conn.recv()
                    if msg[0] == "stop":
                        return
                    if msg[0] == "merge":
                        _, epoch, after, events, until = msg
                        _merge(stream, base, after, events, until)
                    elif msg[0] == "restart":
                        _, epoch, at, primer, after = msg
                        base = _restart(stream, base, at, primer, after)
                    elif msg[0] == "configure":
                        if msg[1] is not None:
                            stream.settings = _sampling(msg[1])
                        if msg[2] is not None:
                            stream.masked_voices = msg[2]
                    slots[_FRONTIER] = stream.frontier + base
                if stream.frontier + base >= slots[_WANT] or ring.pending() > WORKER_RING - 64:
                    if os.getppid() != parent:      # the engine is gone
                        return
                    conn.poll(0.002)
                    continue
                p = stream.position
                for e in generate(stream, int(slots[_WANT]) - base):
                    ring.push(e.time + base, VOICE_INDEX[e.voice], -1 if e.pitch is None else e.pitch, tag=epoch)
                slots[_TOKENS] += stream.position - p
                slots[_FRONTIER] = stream.frontier + base
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    finally:
        del slots, ring
        shm.close()


def generate(stream, target):
    """A few tokens towards `target`: the engine's step of generation, in either kind of worker."""
    return stream.generate_until(target, max_tokens=CHUNK)


def _merge(stream, base, after, events, until):
    """A worker's merge, in the engine's ticks: revoke after `after`, append `events` (and silence to `until`).
    Nothing goes before the song's start (`base`: a song started at play can begin a block after the clock)."""
    if after < base:
        after = base
        events = [e if e.time >= base else ev.NoteEvent(base, e.voice, e.pitch) for e in events]
        until = None if until is None else max(until, base)
    stream.revoke_after(after - base)
    if events or until is not None:
        stream.append(_shifted(events, -base), until=None if until is None else until - base)


def _restart(stream, base, at, primer=None, after=None):
    """A worker's restart; returns its new base (the engine's tick of the stream's tick 0).

    With `after` None: a new song, the memory cleared and primed with `primer` (a Score). Otherwise the same
    song goes on after a pause: what the stream made after `after` is revoked. Either way the end of what it
    remembers moves to the engine's tick `at`, so the model continues from there as if no time had passed."""
    if after is None:
        stream.prime(primer or ())
    else:
        stream.revoke_after(after - base)
    return at - stream.frontier


def _free_stem(stem):
    """`stem`, or stem-2, stem-3, ...: the first that names no file yet."""
    out, k = stem, 1
    while any(out.with_name(out.name + ext).exists() for ext in (".mid", ".tx1.txt", ".wav", ".vgm")):
        k += 1
        out = stem.with_name(f"{stem.name}-{k}")
    return out


def _shifted(events, ticks):
    return [ev.NoteEvent(e.time + ticks, e.voice, e.pitch) for e in events] if ticks else list(events)


def _ready(model, int8, threads):
    """The model as a worker runs it: loaded in eval mode from a folder or handed-over weights (a model object
    is taken as it is), in its int8 form if asked, its step kernels on `threads` threads and compiled (or
    loaded from numba's cache)."""
    from livechip.model import kernels
    kernels.set_threads(threads)
    if isinstance(model, (str, os.PathLike, tuple)):
        model = _load(model).eval()
    if int8:
        model = _int8(model)
    _warm_up(model)
    return model


def _warm_up(model):
    """A few tokens on a scratch cache, so the one-token kernels are compiled (or loaded from numba's cache)
    before the engine starts its clock, not while the first notes are due."""
    import torch

    from livechip.engine.stream import Stream
    from livechip.model.sampling import SamplingSettings
    with torch.inference_mode():
        Stream(model, SamplingSettings(seed=0), max_rollback=4).generate_until(NEVER, max_tokens=3)


def _sampling(d):
    """SamplingSettings from the plain dict the engine keeps (missing keys: the defaults)."""
    from livechip.model.sampling import SamplingSettings
    return SamplingSettings(**{k: v for k, v in (d or {}).items() if v is not None or k == "seed"})


def _load(source):
    """A model from its folder, or from (config dict, state dict) handed over by the engine."""
    if isinstance(source, (str, os.PathLike)):
        from livechip.model.checkpoint import load_model
        return load_model(source)
    from livechip.model.txl import TransformerXL, TXLConfig
    cfg, state = source
    model = TransformerXL(TXLConfig.from_dict(cfg))
    model.load_state_dict(state)
    return model


def _int8(model):
    """The model's int8 form (once: a model already in it is returned as it is)."""
    from livechip.model.quantize import Int8Linear, quantize_int8
    return model if isinstance(model.output, Int8Linear) else quantize_int8(model)


def model_source(model, path=None):
    """What a model process needs to rebuild `model`: its folder if it came from one, else its weights."""
    if path is not None:
        return str(path)
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    return (model.cfg.to_dict(), {k: v.detach().cpu() for k, v in model.state_dict().items()})
