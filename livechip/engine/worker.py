"""Where the model runs: in the engine thread (`ThreadWorker`) or in a process of its own (`ProcessWorker`).

Both take the same commands, and one `Runner` applies them to the `Stream`, in the engine's ticks:

    ("merge", epoch, after, events, until)   revoke what was made after tick `after`, append `events`
    ("restart", epoch, at, primer, after)    a new song (or, with `after`, the same one after a pause) at `at`
    ("configure", settings, masked)          new sampling settings and steering and/or masked voices (None:
                                             unchanged)

The engine's ticks and the stream's differ by `base`: the stream's ticks start again at each new song.

The model process reads how far to go (the wanted tick) from shared int64 slots and writes its events into a
shared-memory ring, each tagged with the epoch of the last merge or restart it had seen when it made them;
commands come through a pipe. After merges at ticks T1, T2, ... the engine keeps an event of an older epoch
only if it is no later than every later merge's tick, which is exactly what the process kept of its history;
after a restart (its tick is -1) it keeps none.

torch and the model's numba kernels are imported only where the model runs (the model process, or a
ThreadWorker): the engine's process stays free of them with the default process worker; those imports sit inside
the functions for that reason.
"""

import multiprocessing as mp
import os
import signal
import time
from multiprocessing import shared_memory

import numpy as np

from livechip.core import events as ev
from livechip.model.steer import Steering
from livechip.realtime.ring import NEVER, Ring
from livechip.core.errors import LivechipError

VOICE_INDEX = {v: i for i, v in enumerate(ev.VOICES)}
CHUNK = 8               # tokens sampled between looks at the clock and the command pipe
WORKER_RING = 1 << 14   # events in flight from the model process
_WANT, _FRONTIER, _TOKENS = range(3)   # shared int64 slots


class Runner:
    """The Stream as a worker runs it, in the engine's ticks; the one place the commands are applied."""

    def __init__(self, stream):
        self.stream = stream
        self.base = 0            # the engine's tick of the stream's tick 0 (see restart)
        self.epoch = 0           # of the last merge or restart applied
        self.tokens = 0          # sampled so far

    @property
    def frontier(self):
        return self.stream.frontier + self.base

    def apply(self, msg):
        """Apply one command (see the module's docstring)."""
        {"merge": self.merge, "restart": self.restart, "configure": self.configure}[msg[0]](*msg[1:])

    def generate(self, target):
        """A few tokens towards the engine's tick `target`; the new events, in the engine's ticks."""
        s = self.stream
        p = s.position
        new = s.generate_until(target - self.base, max_tokens=CHUNK)
        self.tokens += s.position - p
        return _shifted(new, self.base)

    def merge(self, epoch, after, events, until):
        """Revoke after `after`, append `events` (and silence to `until`). Nothing goes before the song's
        start (`base`: a song started at play can begin a block after the clock)."""
        self.epoch = epoch
        base = self.base
        if after < base:
            after = base
            events = [e if e.time >= base else ev.NoteEvent(base, e.voice, e.pitch) for e in events]
            until = None if until is None else max(until, base)
        self.stream.revoke_after(after - base)
        if events or until is not None:
            self.stream.append(_shifted(events, -base), until=None if until is None else until - base)

    def restart(self, epoch, at, primer=None, after=None):
        """With `after` None: a new song, the memory cleared and primed with `primer` (a Score). Otherwise the
        same song goes on after a pause: what the stream made after `after` is revoked. Either way the end of
        what it remembers moves to the engine's tick `at`, so the model continues from there as if no time
        had passed."""
        self.epoch = epoch
        if after is None:
            self.stream.prime(primer or ())
        else:
            self.stream.revoke_after(after - self.base)
        self.base = at - self.stream.frontier

    def configure(self, settings, masked):
        if settings is not None:
            self.stream.settings = _sampling(settings)
            self.stream.steering = _steering(settings)
        if masked is not None:
            self.stream.masked_voices = masked


class Worker:
    """What the engine asks of a model, wherever it runs: want(tick), poll() -> new NoteEvents in the engine's
    ticks, merge(after, events, until), restart(at, primer, after), configure(settings, masked), frontier,
    tokens, alive, close()."""

    epoch = 0

    def merge(self, after, events=(), until=None):
        self._send(("merge", self._next(after), after, list(events), until))

    def restart(self, at, primer=None, after=None):
        self._send(("restart", self._next(-1), at, primer, after))   # nothing made before is kept

    def configure(self, settings=None, masked=None):
        self._send(("configure", settings, None if masked is None else tuple(masked)))

    def _next(self, cut):
        """A new epoch: what was made after tick `cut` before it is taken back."""
        self.epoch += 1
        return self.epoch


class ThreadWorker(Worker):
    """The model stepped in the engine thread; it shares the GIL with the audio callback and MIDI sender."""

    kind = "thread"

    def __init__(self, model, settings=None, masked=(), max_rollback=2048, primer=(), int8=False, threads=1):
        self.runner = _runner(_ready(model, int8, threads), settings, masked, max_rollback, primer)
        self.target = 0
        self.alive = True

    @property
    def stream(self):
        return self.runner.stream

    @property
    def frontier(self):
        return self.runner.frontier

    @property
    def tokens(self):
        return self.runner.tokens

    def want(self, tick):
        self.target = tick

    def poll(self):
        if self.runner.frontier >= self.target:
            return []
        import torch   # lazy: see the module's docstring
        with torch.inference_mode():
            return self.runner.generate(self.target)

    def _send(self, msg):
        import torch   # lazy: see the module's docstring
        with torch.inference_mode():
            self.runner.apply(msg)

    def close(self):
        self.alive = False


class ProcessWorker(Worker):
    """The model in a spawned process (`_model_process`), events back through shared memory."""

    kind = "process"

    def __init__(self, source, settings=None, masked=(), max_rollback=2048, primer=(), threads=1, timeout=300.0,
                 int8=False, cancelled=lambda: False):
        ctx = mp.get_context("spawn")
        self.shm = shared_memory.SharedMemory(create=True, size=64 + Ring.nbytes(WORKER_RING, 1))
        self.slots = np.frombuffer(self.shm.buf, np.int64, 8)
        self.slots[:] = 0
        self.ring = Ring(WORKER_RING, consumers=1, buffer=self.shm.buf[64:])
        self.ring.reset()
        self.conn, child = ctx.Pipe()
        self.cuts = {}              # epoch -> tick of that merge
        self.proc = ctx.Process(target=_model_process, name="livechip-model", daemon=True,
                                args=(source, dict(settings or {}), tuple(masked), max_rollback,
                                      primer or (), threads, int8, self.shm.name, child))
        self.proc.start()
        child.close()
        try:
            msg = self._ready(timeout, cancelled)
        except (EOFError, OSError):
            self.proc.join(5.0)
            msg = ("error", f"it exited while starting (exit code {self.proc.exitcode})")
        if msg[0] != "ready":
            self.close()
            raise LivechipError(f"model process: {msg[1]}")

    def _ready(self, timeout, cancelled):
        """The process's first message, looked for ten times a second so that a stop (Ctrl-C) while the model
        loads, or compiles its kernels the first time, ends the wait."""
        end = time.monotonic() + timeout
        while not self.conn.poll(0.1):
            if cancelled():
                return ("error", "stopped while the model was loading")
            if time.monotonic() > end:
                return ("error", f"not ready after {timeout:g} s")
        return self.conn.recv()

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
            out.append(ev.NoteEvent(t, ev.VOICES[r.voice_of(0, k)], None if p == ev.OFF else p))
        r.advance(0, n)
        return out

    def _next(self, cut):
        epoch = super()._next(cut)
        self.cuts[epoch] = cut
        return epoch

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
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C belongs to the engine, which stops us
    try:
        import torch   # lazy: see the module's docstring
        torch.set_num_threads(threads)
        runner = _runner(_ready(source, int8, threads), settings, masked, max_rollback, primer)
        shm = shared_memory.SharedMemory(name=shm_name)
    except Exception as e:  # noqa: BLE001 - reported to the engine as one line
        conn.send(("error", str(e) if isinstance(e, LivechipError) else f"{type(e).__name__}: {e}"))
        return
    slots = np.frombuffer(shm.buf, np.int64, 8)
    ring = Ring(WORKER_RING, consumers=1, buffer=shm.buf[64:])
    slots[_FRONTIER] = runner.frontier
    conn.send(("ready", runner.frontier))
    parent = os.getppid()
    try:
        with torch.inference_mode():
            while True:
                while conn.poll():
                    msg = conn.recv()
                    if msg[0] == "stop":
                        return
                    runner.apply(msg)
                    slots[_FRONTIER] = runner.frontier
                if runner.frontier >= slots[_WANT] or ring.pending() > WORKER_RING - 64:
                    if os.getppid() != parent:      # the engine is gone
                        return
                    conn.poll(0.002)
                    continue
                for e in runner.generate(int(slots[_WANT])):
                    ring.push(e.time, VOICE_INDEX[e.voice], ev.OFF if e.pitch is None else e.pitch, tag=runner.epoch)
                slots[_TOKENS] = runner.tokens
                slots[_FRONTIER] = runner.frontier
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    finally:
        del slots, ring
        shm.close()


# --- the model as a worker runs it: these import torch and the model package when called, in the process
# that runs the model, never in the engine's process (see the module's docstring)


def _runner(model, settings, masked, max_rollback, primer):
    """A Runner for `model` (ready: see _ready), its memory primed with `primer`."""
    import torch   # lazy: see the module's docstring

    from livechip.model.stream import Stream   # lazy: see the module's docstring
    stream = Stream(model, _sampling(settings), masked, max_rollback=max_rollback, steering=_steering(settings))
    runner = Runner(stream)
    if primer:
        with torch.inference_mode():
            stream.prime(primer)
        runner.base = -stream.frontier     # the engine's tick 0 is the primer's end: the model goes on from there
    return runner


def _shifted(events, ticks):
    return [ev.NoteEvent(e.time + ticks, e.voice, e.pitch) for e in events] if ticks else list(events)


def _ready(model, int8, threads):
    """The model as a worker runs it: loaded in eval mode from a folder or handed-over weights (a model object
    is taken as it is), in its int8 form if asked, its step kernels on `threads` threads and compiled (or
    loaded from numba's cache)."""
    from livechip.model import kernels   # lazy (numba): see the module's docstring
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
    import torch   # lazy: see the module's docstring

    from livechip.model.stream import Stream   # lazy: see the module's docstring
    from livechip.model.sampling import SamplingSettings   # lazy: see the module's docstring
    with torch.inference_mode():
        Stream(model, SamplingSettings(seed=0), max_rollback=4).generate_until(NEVER, max_tokens=3)


def _sampling(d):
    """SamplingSettings from the dict the engine keeps (missing keys: the defaults)."""
    from livechip.model.sampling import SamplingSettings   # lazy: see the module's docstring
    return SamplingSettings(**{k: v for k, v in (d or {}).items()
                               if (v is not None or k == "seed") and k != "steering"})


def _steering(d):
    """The Steering in the dict the engine keeps (none: no steering)."""
    return (d or {}).get("steering") or Steering()


def _load(source):
    """A model from its folder, or from (config dict, state dict) handed over by the engine."""
    if isinstance(source, (str, os.PathLike)):
        from livechip.model.checkpoint import load_model   # lazy: see the module's docstring
        return load_model(source)
    from livechip.model.txl import TransformerXL, TXLConfig   # lazy: see the module's docstring
    cfg, state = source
    model = TransformerXL(TXLConfig.from_dict(cfg))
    model.load_state_dict(state)
    return model


def _int8(model):
    """The model's int8 form (once: a model already in it is returned as it is)."""
    from livechip.model.quantize import Int8Linear, quantize_int8   # lazy: see the module's docstring
    return model if isinstance(model.output, Int8Linear) else quantize_int8(model)


def model_source(model, path=None):
    """What a model process needs to rebuild `model`: its folder if it came from one, else its weights."""
    if path is not None:
        return str(path)
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    return (model.cfg.to_dict(), {k: v.detach().cpu() for k, v in model.state_dict().items()})


def model_name(model, path=None):
    """How the log names a model: its folder's name, else its shape."""
    path = path if path is not None else model
    if isinstance(path, (str, os.PathLike)):
        return os.path.basename(os.path.normpath(str(path)))
    cfg = getattr(model, "cfg", None)
    return f"{cfg.n_layer}-layer d{cfg.d_model}" if cfg is not None else type(model).__name__
