"""Recording a session: what was heard, as .mid (for a DAW), .tx1.txt, .wav and .vgm.

A `Recorder` follows the APU while the instrument plays: a thread copies the audio and the register writes
the audio callback left in its rings into a scratch folder, every half second, so a session of any length
costs little memory. `save()` writes the four files at any time (during the session or at its end); each file
is written atomically, so a crash never leaves a broken one behind.

    rec = Recorder(synth, "takes/")
    rec.start(); ...; rec.stop()
    save("takes/session", score, synth, timbres, recorder=rec)
"""

import tempfile
import threading
from pathlib import Path

import numpy as np

from livechip.apu import vgm
from livechip.apu.apu import NTSC
from livechip.apu.render import render_score, write_wav
from livechip.core.errors import LivechipError
from livechip.formats import midi, tx1
from livechip.realtime.system import realtime_priority

DRAIN = 0.5     # seconds between copies out of the audio callback's rings


class Recorder:
    """Copies `synth`'s tape (samples) and register log to scratch files while it plays: from the start of
    the session, or with `now` from this moment (a take; its VGM starts from the registers' state now)."""

    def __init__(self, synth, folder=None, now=False):
        self.synth = synth
        self.dir = tempfile.TemporaryDirectory(prefix=".livechip-rec-", dir=folder)
        self.audio_path = Path(self.dir.name) / "audio.f32"
        self.regs_path = Path(self.dir.name) / "regs.i64"
        self.audio_file = open(self.audio_path, "wb")
        self.regs_file = open(self.regs_path, "wb")
        self.first = synth.frame if now else 0   # the frame the recording starts at
        self.frames = self.first  # frames copied so far (the next frame to copy)
        self.regs = synth.n_regs if now else 0   # register writes copied so far
        self.initial = _registers(synth.driver) if now else []   # (address, value) set when it starts
        self._done = False
        self.lost = 0             # frames the tape overwrote before they were copied (should stay 0)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livechip-recorder", daemon=True)

    def start(self):
        self._thread.start()

    def _run(self):
        realtime_priority()
        while not self._stop.wait(DRAIN):
            self.drain()

    def drain(self):
        """Copy everything new from the synth's rings to the scratch files."""
        v = self.synth
        with self.lock:
            if self.audio_file.closed or self._done:
                return
            end = v.frame
            tape = v.tape
            n = len(tape)
            start = self.frames
            if end - start > n:
                self.lost += end - start - n
                start = end - n
            if end > start:
                idx = np.arange(start, end) & (n - 1)
                self.audio_file.write(tape[idx].astype(np.float32).tobytes())
            self.frames = end
            w = v.n_regs
            r = self.regs
            m = len(v.reg_cycles)
            if w - r > m:
                r = w - m
            if w > r:
                idx = np.arange(r, w) & (m - 1)
                rows = np.stack([v.reg_cycles[idx], v.reg_addrs[idx], v.reg_values[idx]], axis=1)
                self.regs_file.write(rows.astype(np.int64).tobytes())
            self.regs = w

    def audio(self):
        """Every sample recorded so far (float32)."""
        self.drain()
        with self.lock:
            self.audio_file.flush()
            return np.fromfile(self.audio_path, dtype=np.float32)

    def register_log(self, tail=0.0):
        """The register writes so far as a `vgm.Log`."""
        self.drain()
        with self.lock:
            self.regs_file.flush()
            rows = np.fromfile(self.regs_path, dtype=np.int64).reshape(-1, 3)
            frames = self.frames
        samples = int(round(((frames - self.first) / self.synth.rate + tail) * vgm.VGM_RATE))
        if self.first:       # a take: its own time from 0, after the registers as they were when it started
            start = int(self.first * self.synth.cycles_per_frame)
            first = np.array([(0, a, v) for a, v in self.initial], dtype=np.int64).reshape(-1, 3)
            rows = np.concatenate([first, rows - [start, 0, 0]])
            rows[:, 0] = np.maximum(rows[:, 0], 0)
        cycles = np.maximum.accumulate(rows[:, 0]) if len(rows) else rows[:, 0]
        return vgm.Log(cycles, rows[:, 1], rows[:, 2], samples=samples, clock=NTSC)

    def stop(self):
        """Stop copying: what follows is not recorded."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.drain()
        self._done = True

    def close(self):
        """Stop and delete the scratch files (save() first to keep the session)."""
        self.stop()
        with self.lock:
            self.audio_file.close()
            self.regs_file.close()
        self.dir.cleanup()


def _registers(driver):
    """The APU registers the driver has set, [(address, value)] (read while the audio callback may write)."""
    for _ in range(10):
        try:
            return sorted(dict(driver.regs).items())
        except RuntimeError:        # the dict grew meanwhile
            continue
    return []


def save(stem, score, synth=None, timbres=None, recorder=None):
    """Write `score` (what was heard) as STEM.mid, STEM.tx1.txt, and the sound as STEM.wav and STEM.vgm.

    With a recorder, the .wav and .vgm are exactly what the APU played; without one they are rendered from
    the score through the same driver and APU. Returns the written paths.
    """
    stem = Path(stem)
    if stem.suffix in (".mid", ".wav", ".vgm", ".txt"):
        stem = stem.with_suffix("")
    paths = [stem.with_name(stem.name + ext) for ext in (".mid", ".tx1.txt", ".wav", ".vgm")]
    try:
        midi.write(paths[0], score)
        tx1.write(paths[1], score)
        if recorder is not None:
            write_wav(paths[2], recorder.audio(), synth.rate)
            vgm.write(paths[3], recorder.register_log())
        else:
            rate = synth.rate if synth is not None else 44100
            samples, log = render_score(score, timbres, rate=rate)
            write_wav(paths[2], samples, rate)
            vgm.write(paths[3], log)
    except OSError as e:
        raise LivechipError(f"cannot write the recording {stem}: {e.strerror}") from None
    return paths
