"""Audio out: the NES APU behind a sounddevice (PortAudio) callback, or a pacing thread when there is no device.

The real-time path is `Synth.render`, called once per block by the audio callback (or by the pacer, with
the same code). It reads the events due in the block from the schedule rings, hands them to the note driver
(a handful of register writes each), runs the numba APU for the block, and copies the block to the output and
to the tape. It creates no arrays, takes no locks, never logs and never raises: a failure is counted in
`errors` and the block is silent; the engine thread reports it.

    synth = Synth(rings, clock, rate=48000)
    out = AudioOut(synth, device=None, block=256)    # or Pacer(synth, block=256) without a sound card
    out.start(); ...; out.stop()
"""

import ctypes
import threading
import time

import numpy as np
from numba import njit

from livechip.apu.apu import NTSC, Apu
from livechip.apu.driver import DEFAULTS, Driver
from livechip.realtime.ring import AUDIO, NEVER, Merge
from livechip.core.errors import DeviceError
from livechip.core.events import OFF, VOICES
from livechip.realtime.system import quiet_stderr, realtime_priority

STATS = 1 << 14         # callbacks remembered for timing figures
REGS = 1 << 16          # register writes remembered for the recording (drained long before they wrap)


@njit(cache=True)
def _fan_out(src, out, n):
    """Copy mono `src[:n]` to every channel of `out[:n, :]`."""
    for i in range(n):
        for c in range(out.shape[1]):
            out[i, c] = src[i]


@njit(cache=True)
def _tape(src, n, tape, w):
    """Append `src[:n]` to the circular `tape` at absolute position `w`."""
    m = tape.shape[0] - 1
    for i in range(n):
        tape[(w + i) & m] = src[i]


class Synth:
    """The APU, its note driver and a tape of everything it played; `render` is the audio callback's work."""

    def __init__(self, rings, clock, rate=48000, timbres=None, max_block=4096, tape_seconds=8.0):
        self.merge = Merge(rings, AUDIO)   # the schedule's rings, read in time order
        self.clock = clock
        self.rate = int(rate)
        self.apu = Apu(rate=self.rate, block=max_block)
        self.apu.warm()
        # every register write is also kept (cycle, address, value) in a ring, for the session's VGM
        self.reg_cycles = np.zeros(REGS, dtype=np.int64)
        self.reg_addrs = np.zeros(REGS, dtype=np.int64)
        self.reg_values = np.zeros(REGS, dtype=np.int64)
        self.n_regs = 0
        self.driver = Driver(self._write, timbres or DEFAULTS, clock=NTSC)
        self.driver.start(0)
        self.cycles_per_frame = NTSC / self.rate
        self.buf = np.zeros(max_block, dtype=np.float32)
        self.max_block = max_block
        n = 1 << int(np.ceil(np.log2(tape_seconds * self.rate)))
        self.tape = np.zeros(n, dtype=np.float32)
        self.frame = 0               # next frame to render (also the tape's write position)
        self.errors = 0
        self.late = 0                # events that arrived after their block was rendered
        self.pending_timbres = None  # {voice: Timbre}, swapped in by the next block
        self.gains = [1.0] * len(VOICES)    # each voice's volume 0..1 (0: silent, the triangle included) ...
        self.gains_due = False               # ... applied by the next block
        self.silent = False          # panic: all voices off at the next block
        # timing of recent blocks: monotonic entry time and duration, for benchmarks and the status line
        self.stats = np.zeros((STATS, 3), dtype=np.float64)
        self.blocks = 0
        self._views = {}
        _fan_out(self.buf[:1], np.zeros((1, 1), np.float32), 1)   # compile now, not in the first block
        _tape(self.buf, 1, self.tape, 0)

    def render(self, out, frames, now):
        """Fill `out` ([frames, channels] float32) with the next block. The real-time path."""
        try:
            first = self.frame
            self.clock.block(first, frames, now)
            end = first + frames
            if self.pending_timbres is not None:
                for v, timbre in self.pending_timbres.items():
                    self.driver.set_timbre(v, timbre)
                self.pending_timbres = None
            if self.gains_due:
                self.gains_due = False
                cycle = int(first * self.cycles_per_frame)
                for i, v in enumerate(VOICES):
                    if self.gains[i] != self.driver.voices[v].gain:
                        self.driver.set_volume(cycle, v, self.gains[i])
            if self.silent:
                self._all_off(first)
                self.silent = False
            self._events(first, end)
            self.driver.advance(int(end * self.cycles_per_frame))
            buf = self._views.get(frames)
            if buf is None:
                buf = self.buf[:frames]
            self.apu.render(buf)
            _fan_out(buf, out, frames)
            _tape(buf, frames, self.tape, first)
            self.frame = end
        except Exception:    # noqa: BLE001 - the callback must never raise; the engine reports the count
            self.errors += 1
            out.fill(0)
            self.frame += frames
        k = self.blocks & (STATS - 1)
        self.stats[k, 0] = now
        self.stats[k, 1] = time.monotonic() - now
        self.stats[k, 2] = self.frame - frames
        self.blocks += 1

    def _events(self, first, end):
        with self.merge as m:
            while (t := m.next(end)) != NEVER:     # the earliest due event over all rings
                if t < first:
                    self.late += 1
                    t = first
                cycle = int(t * self.cycles_per_frame)
                self.driver.advance(cycle)
                p = m.pitch()
                self.driver.note(cycle, VOICES[m.voice()], None if p == OFF else p)
                m.advance()

    def _write(self, cycle, addr, value):
        self.apu.write(cycle, addr, value)
        k = self.n_regs & (REGS - 1)
        self.reg_cycles[k] = cycle
        self.reg_addrs[k] = addr
        self.reg_values[k] = value
        self.n_regs += 1

    def _all_off(self, first):
        self.driver.silence(int(first * self.cycles_per_frame))

    def set_timbres(self, timbres):
        """New timbres ({voice: Timbre}) from the next block on."""
        self.pending_timbres = dict(timbres)

    def set_volumes(self, volumes):
        """New voice volumes ({voice: 0..1}) from the next block on; 0 silences the voice, the triangle too."""
        for i, v in enumerate(VOICES):
            self.gains[i] = float(volumes.get(v, 1.0))
        self.gains_due = True

    def prepare(self, frames):
        """Preallocate the block view for a block size the device will use."""
        self._views[frames] = self.buf[:frames]

    def timing(self):
        """(monotonic entry time, duration, first frame) of each recent block, oldest first: an array [n, 3]."""
        n = min(self.blocks, STATS)
        k = self.blocks & (STATS - 1)
        return self.stats[(np.arange(n) + (k - n)) % STATS].copy()


class AudioOut:
    """A sounddevice output stream whose callback renders `synth`."""

    def __init__(self, synth, device=None, block=None, channels=None):
        import sounddevice as sd   # PortAudio: loaded only when a device is opened
        self.sd = sd
        self.synth = synth
        self.xruns = 0
        try:
            info = sd.query_devices(device, "output")
        except (ValueError, sd.PortAudioError) as e:
            raise DeviceError(f"audio device {device!r}: {e}") from None
        self.device_name = info["name"]
        self.hostapi = sd.query_hostapis(info["hostapi"])["name"]
        self.channels = channels or min(2, int(info["max_output_channels"]))
        if self.channels < 1:
            raise DeviceError(f"audio device {self.device_name!r} has no outputs")
        if block is not None:
            synth.prepare(block)
        try:
            self.stream = sd.OutputStream(samplerate=synth.rate, blocksize=block or 0, device=device,
                                          channels=self.channels, dtype="float32", latency="low",
                                          callback=self._callback)
        except (ValueError, sd.PortAudioError) as e:
            raise DeviceError(f"cannot open audio device {self.device_name!r} at {synth.rate} Hz: {e}") from None
        self.block = self.stream.blocksize or None
        self.latency = self.stream.latency

    def _callback(self, outdata, frames, time_info, status):
        now = time.monotonic()
        if status.output_underflow:
            self.xruns += 1
        self.synth.render(outdata, frames, now)

    def start(self):
        self.stream.start()

    def stop(self):
        """Stop and close the stream, and PortAudio with it (its JACK client leaves the server now)."""
        try:
            self.stream.stop()
            self.stream.close()
            self.sd._terminate()
        except self.sd.PortAudioError:
            pass

    def describe(self):
        return f"{self.device_name} ({self.hostapi}), {self.synth.rate} Hz, block {self.block or 'host default'}"


class Pacer:
    """Stands in for a sound card: renders `synth` block by block in real time on a thread (no output)."""

    def __init__(self, synth, block=256, channels=1):
        self.synth = synth
        self.block = block
        self.xruns = 0
        synth.prepare(block)
        self.out = np.zeros((block, channels), dtype=np.float32)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livechip-pacer", daemon=True)

    def start(self):
        self._thread.start()

    def _run(self):
        realtime_priority()
        v, n = self.synth, self.block
        period = n / v.rate
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            due = t0 + k * period
            now = time.monotonic()
            if due > now:
                self._stop.wait(due - now)
                now = time.monotonic()
            elif now - due > period:
                self.xruns += 1
            v.render(self.out, n, now)
            k += 1

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)

    def describe(self):
        return f"no audio output (rendering for the recording only), {self.synth.rate} Hz, block {self.block}"


_CLIENT_NAME = None


def init_portaudio(client_name="livechip-audio"):
    """Import sounddevice with PortAudio's JACK client named `client_name`; None if PortAudio is missing.

    PortAudio looks for a JACK server when it starts; it is restarted here so a server started after import
    is found, with its probe's complaints silenced.
    """
    global _CLIENT_NAME
    if _CLIENT_NAME is None:
        _CLIENT_NAME = ctypes.create_string_buffer(64)
    with quiet_stderr():
        try:
            import sounddevice as sd   # PortAudio: loaded only when audio is wanted, and may be missing
        except OSError:
            return None
        try:
            lib = ctypes.CDLL(sd._libname)
            _CLIENT_NAME.value = client_name.encode()[:63]   # PortAudio keeps the pointer, not a copy
            lib.PaJack_SetClientName(_CLIENT_NAME)
        except (OSError, AttributeError):
            pass
        try:
            sd._terminate()      # re-read the devices (and the client name) from scratch
        except sd.PortAudioError:
            pass                 # already terminated by a closed stream
        sd._initialize()
    return sd


def output_devices():
    """[(index, name, host api, output channels, default rate)] of the audio outputs PortAudio sees."""
    sd = init_portaudio()
    if sd is None:
        return []
    out = []
    for d in sd.query_devices():
        if d["max_output_channels"] > 0:
            out.append((d["index"], d["name"], sd.query_hostapis(d["hostapi"])["name"],
                        d["max_output_channels"], d["default_samplerate"]))
    return out


def find_output(device=None, client_name="livechip-audio"):
    """(device, its default sample rate) for `device` (index or name; None = the default output), or
    (None, reason) when there is none. Raises DeviceError for a named device that does not exist."""
    sd = init_portaudio(client_name)
    if sd is None:
        return None, "PortAudio is not installed"
    if device is None:
        try:
            idx = sd.default.device[1]
        except (ValueError, sd.PortAudioError):
            idx = -1
        if idx is None or idx < 0:
            return None, "no audio output device (no sound card and no JACK server)"
        device = idx
    try:
        info = sd.query_devices(int(device) if str(device).isdigit() else device, "output")
    except (ValueError, sd.PortAudioError) as e:
        raise DeviceError(f"audio device {device!r}: {e}") from None
    return info["index"], int(info["default_samplerate"])

