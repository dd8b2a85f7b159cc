"""A real JACK server for tests and benchmarks, and small JACK clients that play the parts of a DAW.

    with JackServer(period=256) as jack:          # jackd -n <unique> -d dummy -r 48000 -p 256
        run([... "livechip", "play", ...], env=jack.env)
        jack.connect("livechip:livechip", "daw:in")
        jack.xruns()                              # XRun reports in the server's log
        jack.excuse("daw")                         # why a timing check may measure the machine (or None)

The server runs on the dummy driver (no sound card needed), under a name no other test uses, and is stopped
(and its log kept for the failure message) when the block ends. JACK_DEFAULT_SERVER is set in this process
while it runs, so JACK clients created here (python-rtmidi, PortAudio) find it.
"""

import contextlib
import ctypes
import ctypes.util
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from livechip.realtime.midi_out import open_client

_count = itertools.count()


def note_happy_model(folder, seed=0):
    """A small random TransformerXL saved in `folder`, biased towards notes and short waits so that a few
    seconds of its music hold many notes (an untrained model otherwise mostly waits, seconds at a time)."""
    import torch

    from livechip.core import events as ev
    from livechip.model.checkpoint import save_model
    from livechip.model.txl import TransformerXL, TXLConfig
    torch.manual_seed(seed)
    model = TransformerXL(TXLConfig(n_layer=2, n_head=2, d_head=32, d_model=64, d_inner=128, tgt_len=32,
                                    mem_len=64, dropout=0.0))
    with torch.no_grad():
        bias = model.output.bias
        for i, text in enumerate(ev.VOCAB):
            if text.startswith("WT_"):
                bias[i] += 30.0 if 3000 <= ev.wait_ticks(i) <= 9000 else -30.0
            elif text != "<S>":
                bias[i] += 30.0
    save_model(model, folder)
    return Path(folder)


def jackd_available():
    return shutil.which("jackd") is not None


FULL = "Too many servers already active"
REGISTRY = "/dev/shm/jack-shm-registry"


def reclaim_dead_servers(path=REGISTRY):
    """Free the slots of jackd2's server registry (8 of them, shared by every server of the machine) held by
    servers that are gone; returns how many. A jackd that is killed (SIGKILL, a crash) never leaves its slot,
    and jackd itself frees a dead one only for a server of the same name, so servers under unique names, as
    here, would fill it over many runs and then refuse to start. The layout is read from the registry's header
    (magic "JACK", header length, 8 slots of pid + name), and nothing is written unless it matches."""
    import struct
    try:
        with open(path, "r+b") as f:
            head = f.read(24)
            if len(head) < 24:
                return 0
            magic, _, _, _, hdr_len, _ = struct.unpack("<IHxxiiii", head)
            slot = (hdr_len - 24) // 8
            if magic != 0x4A41434B or slot < 8 or hdr_len != 24 + 8 * slot:
                return 0
            freed = 0
            for i in range(8):
                f.seek(24 + i * slot)
                pid = struct.unpack("<i", f.read(4))[0]
                if pid > 0 and not os.path.exists(f"/proc/{pid}"):
                    f.seek(24 + i * slot)
                    f.write(bytes(slot))
                    freed += 1
            return freed
    except OSError:
        return 0


def lsp(env):
    """jack_lsp's output, or None if the server does not answer (or jack_lsp hangs for 10 s: libjack's client
    can miss the server's wake-up on a busy machine)."""
    try:
        r = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    return r.stdout if r.returncode == 0 else None


class JackServer:
    """jackd with the dummy driver under a unique name; a context manager."""

    def __init__(self, period=256, rate=48000, name=None, watch=False):
        self.period, self.rate = period, rate
        self.watch = watch
        self.watcher = None
        self.name = name or f"lctest{os.getpid()}x{next(_count)}"
        self.proc = None
        self.log_path = None
        self._old_env = None

    @property
    def env(self):
        """os.environ for a subprocess that should use this server."""
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1"}

    def __enter__(self):
        if not self._start() and FULL in self.log() and reclaim_dead_servers():
            self._start()      # the registry was full of servers that had died without leaving it
        if self.proc.poll() is not None:
            raise RuntimeError(f"jackd did not start:\n{self.log()}")
        end = time.monotonic() + 10
        # wait until clients can connect
        while lsp(self.env) is None:
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"jackd does not answer:\n{self.log()}")
            time.sleep(0.05)
        self._old_env = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        if self.watch:
            self.watcher = FrameWatch(self.rate, self.period)
        return self

    def _start(self):
        """Start jackd; True once its own futex file is there, False when it exited (or took 10 s)."""
        fd, self.log_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
        log = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(["jackd", "-n", self.name, "-d", "dummy", "-r", str(self.rate),
                                      "-p", str(self.period)], stdout=log, stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        log.close()
        sem = f"/dev/shm/jack_sem.{os.getuid()}_{self.name}_system"
        end = time.monotonic() + 10
        while not os.path.exists(sem):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                return False
            time.sleep(0.05)
        return True

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.watcher is not None:
            self.watcher.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._old_env is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = self._old_env

    def log(self):
        return Path(self.log_path).read_text(errors="replace") if self.log_path else ""

    def xruns(self):
        """XRuns the server reported (a client not finished within its period)."""
        return self.log().count("XRun")

    def missed(self, client):
        """Periods in which the server found `client` not finished (its log's XRun lines that name it): what
        reached the client's ports in such a period never reached the client."""
        return self.log().count(f"client = {client} was not finished")

    def excuse(self, *recorders, over=0.02):
        """What on this run measures the machine rather than livechip, or None: the machine stopped the server
        for more than `over` seconds (needs watch=True), or the server did not run one of the test's
        `recorders` (client names) in some period (what reached it then arrives late or not at all)."""
        why = []
        if self.stalled() > over:
            why.append(f"the machine stopped the JACK server for {self.stalled() * 1e3:.0f} ms")
        for name in recorders:
            if self.missed(name):
                why.append(f"the server did not run the test's client `{name}` in {self.missed(name)} periods")
        return "; ".join(why) or None

    def stalled(self):
        """The longest time (seconds) the machine stopped this server's clock so far: see FrameWatch. Timing
        measured across such a stop measures the machine, not livechip."""
        return self.watcher.stalled() if self.watcher is not None else 0.0

    def ports(self):
        return (lsp(self.env) or "").split("\n")

    def wait_for_port(self, port, timeout=60.0):
        end = time.monotonic() + timeout
        while port not in self.ports():
            if time.monotonic() > end:
                raise TimeoutError(f"no JACK port {port!r} after {timeout:g} s; ports: {self.ports()}")
            time.sleep(0.05)

    def connect(self, src, dst, tries=3):
        """jack_connect src dst; a jack_connect that hangs (libjack's client can miss the server's wake-up on a
        busy machine) is killed after 10 s and tried again."""
        for k in range(tries):
            try:
                r = subprocess.run(["jack_connect", src, dst], env=self.env, capture_output=True, text=True,
                                   timeout=10)
            except subprocess.TimeoutExpired:
                if k == tries - 1:
                    raise RuntimeError(f"jack_connect {src} {dst}: no answer in 10 s, {tries} times") from None
                continue
            if r.returncode != 0:
                raise RuntimeError(f"jack_connect {src} {dst}: {r.stderr or r.stdout}")
            return


class FrameWatch:
    """Watches the server's frame clock against JACK's microsecond clock, from a client of its own that runs no
    process callback: every 10 ms it reads the frame at which the current period began (jack_last_frame_time)
    between two readings of the time.

    The dummy driver sleeps a period, runs the graph and sleeps again; it never waits for a client (jackd's
    default asynchronous mode), and its thread runs at a real-time priority above every client's. When its
    frames fall behind the clock by more than a couple of periods at once, the machine itself did not run it:
    a virtual machine whose CPU the host took away, which stops every thread here alike. The driver then goes
    on from the frame where it stopped, so the jump stays in the record."""

    def __init__(self, rate, period):
        lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_last_frame_time.restype = ctypes.c_uint32
        lib.jack_last_frame_time.argtypes = [ctypes.c_void_p]
        lib.jack_get_time.restype = ctypes.c_uint64
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        self.lib, self.rate, self.period = lib, rate, period
        status = ctypes.c_int()
        self.client = lib.jack_client_open(b"lcwatch", 0x01, ctypes.byref(status))    # JackNoStartServer
        if not self.client:
            raise RuntimeError(f"FrameWatch: no JACK server (status 0x{status.value:x})")
        self.lags = []                    # JACK's clock minus the frame clock, seconds, one per reading
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        lib = self.lib
        while not self._stop.wait(0.01):
            t0 = lib.jack_get_time()
            frame = lib.jack_last_frame_time(self.client)
            t1 = lib.jack_get_time()
            if t1 - t0 < 500:             # not a reading that this process's other threads interrupted
                self.lags.append(t0 / 1e6 - frame / self.rate)

    def stalled(self):
        """The most (seconds) the frames fell behind the clock within any second, less a period and 2 ms (a
        reading falls anywhere within a period): 0 on a machine that kept time. The dummy driver's steady drift
        (its sleeps overshoot by microseconds; 0.05 % here) stays well below that within a second."""
        import numpy as np
        lag = np.array(self.lags)
        if len(lag) < 2:
            return 0.0
        window = np.lib.stride_tricks.sliding_window_view(np.pad(lag, (99, 0), mode="edge"), 100)
        rise = (lag - window.min(axis=1)).max()
        return float(max(0.0, rise - self.period / self.rate - 0.002))

    def close(self):
        self._stop.set()
        self._thread.join(1.0)
        if self.client:
            self.lib.jack_client_close(self.client)
            self.client = None


@contextlib.contextmanager
def unless(excuse):
    """Timing checks of a real-time run: a check that fails where the run has an excuse (`JackServer.excuse`:
    the machine stopped the server, or the server did not run the test's recorder in some period) is skipped,
    with both said; one that fails where the machine kept time fails."""
    import pytest
    try:
        yield
    except AssertionError as e:
        if excuse:
            pytest.skip(f"{excuse}; the timing check it failed measures that: {str(e).splitlines()[0]}")
        raise


class MidiRecorder:
    """A test DAW: a python-rtmidi JACK input that records every message with its arrival time.

    `messages` holds (seconds, [status, data...]). No Python runs on JACK's thread (a Python callback there
    would wait for this process's GIL and make the test client itself late): rtmidi queues the messages with
    their JACK time differences, and a thread here collects them. Times are JACK's (period-accurate),
    counted from the first message, which is placed at the time it was collected. With `keep=False` it only
    counts them (`count`), for soaks that measure this process's memory."""

    def __init__(self, name="testdaw", keep=True):
        import rtmidi
        self.messages = []
        self.keep = keep
        self.count = 0
        self.midi = open_client(rtmidi.MidiIn, rtmidi.API_UNIX_JACK, name)     # run by the server (see open_client)
        self.midi.ignore_types(sysex=False, timing=True, active_sense=True)
        self.midi.open_virtual_port("in")
        self.port = f"{name}:in"
        self._t = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self):
        while not self._stop.wait(0.01):    # the times come from JACK; polling often would only cost CPU
            self.poll()
        self.poll()

    def poll(self):
        while True:
            m = self.midi.get_message()
            if m is None:
                return
            msg, delta = m
            self._t = time.monotonic() if self._t is None else self._t + delta
            self.count += 1
            if self.keep:
                self.messages.append((self._t, list(msg)))

    def close(self):
        self._stop.set()
        self._thread.join(1.0)
        self.midi.close_port()
        self.midi.delete()


class AudioCapture:
    """Records audio from JACK ports through a PortAudio (sounddevice) input client named `name`.

    `frames` keeps (monotonic time of the callback, block) pairs; `audio()` joins them. The input ports are
    `name:in_1`, ... (connect the daemon's outputs to them with JackServer.connect)."""

    def __init__(self, name="lccapture", channels=1, rate=48000):
        import sounddevice as sd
        lib = ctypes.CDLL(sd._libname)
        self._name = ctypes.create_string_buffer(name.encode())   # PortAudio keeps the pointer
        lib.PaJack_SetClientName(self._name)
        try:
            sd._terminate()      # re-read the devices (and the client name) from scratch
        except sd.PortAudioError:
            pass                 # already terminated by a closed stream
        sd._initialize()
        self.sd = sd
        self.blocks = []
        self.lock = threading.Lock()
        api = [i for i, h in enumerate(sd.query_hostapis()) if "JACK" in h["name"]]
        if not api:
            raise RuntimeError("PortAudio sees no JACK server")
        dev = sd.query_hostapis(api[0])["default_input_device"]
        self.stream = sd.InputStream(device=dev, channels=channels, samplerate=rate, dtype="float32",
                                     callback=self._on)
        self.name = name

    def _on(self, indata, frames, time_info, status):
        self.blocks.append((time.monotonic(), indata[:, 0].copy()))

    def start(self):
        self.stream.start()

    def stop(self):
        """Stop recording and close PortAudio (before the server goes: PortAudio aborts if it went first)."""
        self.stream.stop()
        self.stream.close()
        self.sd._terminate()

    def audio(self):
        import numpy as np
        return np.concatenate([b for _, b in self.blocks]) if self.blocks else np.zeros(0, np.float32)


def start_play(jack, *args, model):
    """`livechip play --no-tui ... --model MODEL` on `jack`'s server, as a subprocess (stderr piped)."""
    import sys
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen([sys.executable, "-m", "livechip", "play", "--no-tui", "--model", str(model), *args],
                            env=jack.env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def note_events(messages, instant=0.0005):
    """A DAW recording as (seconds, voice, pitch or None) note events: channels 1-4 = P1, P2, TR, NO (drum
    notes turned back into noise values). Messages less than `instant` apart count as one instant (JACK
    delivers a period's messages together); at one instant a voice keeps only its last event, as on the chip."""
    from livechip.core.events import VOICES
    from livechip.formats.midi import DRUM_TO_NOISE
    last = {}
    start = None
    for t, msg in messages:
        kind, ch = msg[0] & 0xF0, msg[0] & 0x0F
        if ch >= 4 or kind not in (0x80, 0x90):
            continue
        if start is None or t - start > instant:
            start = t
        v = VOICES[ch]
        on = kind == 0x90 and msg[2] > 0
        pitch = (DRUM_TO_NOISE.get(msg[1], msg[1]) if v == "NO" else msg[1]) if on else None
        last[start, v] = (start, v, pitch)
    return sorted(last.values(), key=lambda e: (e[0], VOICES.index(e[1])))


def left_sounding(messages):
    """{(channel, note)} still on after the last message: a note-on without a later note-off (All Notes Off
    is not counted: many synths ignore it, so every note must get its own note-off)."""
    on = set()
    for _, msg in messages:
        kind, ch = msg[0] & 0xF0, msg[0] & 0x0F
        if kind == 0x90 and msg[2] > 0:
            on.add((ch, msg[1]))
        elif kind == 0x80 or kind == 0x90:
            on.discard((ch, msg[1]))
    return on


def note_ons(daw):
    """The note-on messages a MidiRecorder got so far."""
    return [m for _, m in daw.messages if m[0] & 0xF0 == 0x90 and m[2] > 0]


def wait_for_notes(daw, n, proc, timeout=120):
    """Wait until `daw` has `n` note-ons from the `livechip play` subprocess `proc`."""
    end = time.monotonic() + timeout
    while len(note_ons(daw)) < n:
        if proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"only {len(note_ons(daw))} notes arrived; livechip: {proc.communicate()[1]}")
        time.sleep(0.02)


def play_with_daw(*args, model, notes, during, timeout=60):
    """`livechip play --no-tui ARGS` on a JACK server of its own with a test DAW on `livechip:livechip`; once
    `notes` note-ons have arrived, `during(proc, daw)` runs (a signal, a kill) and the play is waited for.
    Returns (exit status, livechip's stderr, the DAW's messages, what `during` returned)."""
    with JackServer() as jack:
        daw = MidiRecorder()
        proc = start_play(jack, *args, model=model)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            wait_for_notes(daw, notes, proc)
            what = during(proc, daw)
            _, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.1)
        daw.close()
    assert "Traceback" not in err, err
    return proc.returncode, err, daw.messages, what
