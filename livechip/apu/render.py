"""Offline rendering: a register log, a VGM file or a score to samples, and samples to a WAV file.

Everything goes through the same `Apu` the live engine uses; offline rendering just feeds it the whole log
and asks for the song in blocks.
"""

import wave
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livechip.apu import vgm
from livechip.apu.apu import NTSC, Apu, check_log
from livechip.apu.driver import score_log
from livechip.core.errors import LivechipError
from livechip.core.fileio import atomic_write
from livechip.formats import midi, tx1

BLOCK = 4096


def render_log(log, rate=44100, filters=True, seconds=None, progress=False):
    """Render a `vgm.Log` (or any object with cycles/addrs/values/samples/clock) to float32 samples."""
    cycles, addrs, values = check_log(log.cycles, log.addrs, log.values)
    length = log.samples / vgm.VGM_RATE if seconds is None else seconds
    n = int(round(length * rate))
    apu = Apu(rate=rate, clock=log.clock, filters=filters)
    out = np.zeros(n, dtype=np.float32)
    bar = _bar(n, rate, progress)
    i = 0
    for a in range(0, n, 1 << 16):
        b = min(n, a + (1 << 16))
        i = apu.render_log(cycles, addrs, values, out[a:b], i)
        if bar is not None:
            bar.update((b - a) / rate)
    if bar is not None:
        bar.close()
    return out


def render_vgm(path, rate=44100, filters=True, ignore_other_chips=False, progress=False):
    """Read and render a VGM file."""
    return render_log(vgm.read(path, ignore_other_chips), rate, filters, progress=progress)


def render_score(score, timbres=None, rate=44100, filters=True, clock=NTSC, progress=False, tail=0.5):
    """Render a `livechip.core.events.Score` through the note driver. Returns (samples, register log)."""
    log = score_log(score, timbres, clock=clock, tail=tail)
    return render_log(log, rate, filters, progress=progress), log


def _bar(n, rate, progress):
    if not progress or n < 30 * rate:      # a bar only for long renders
        return None
    return tqdm(total=round(n / rate, 1), unit="s", desc="rendering", leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio")


def to_int16(samples):
    """Float samples (full scale 1.0) to 16-bit integers, clipped."""
    return np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")


def write_wav(path, samples, rate):
    """Write mono float samples as a 16-bit WAV file (atomically)."""
    with atomic_write(path) as fh:
        with wave.open(fh, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(rate))
            w.writeframes(to_int16(samples).tobytes())


def read_wav(path):
    """Read a 16-bit PCM WAV file as float64 samples in [-1, 1) (first channel) and its rate."""
    try:
        with wave.open(str(path), "rb") as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise LivechipError(f"{path}: not a readable WAV file ({e})") from None
    if width != 2:
        raise LivechipError(f"{path}: {8 * width}-bit WAV; only 16-bit is supported")
    x = np.frombuffer(raw, dtype="<i2").reshape(-1, ch)[:, 0]
    return x.astype(np.float64) / 32768.0, rate


# --- the `livechip render` command --------------------------------------------------------------

def load_input(path, timbres=None, ignore_other_chips=False):
    """A register log from .vgm/.vgz, .tx1.txt(.gz) or .mid, with the note driver for scores."""
    p = Path(path)
    name = p.name.lower()
    if not p.exists():
        raise LivechipError(f"{path}: no such file")
    if name.endswith((".vgm", ".vgz")):
        return vgm.read(p, ignore_other_chips)
    if name.endswith((".tx1.txt", ".tx1.txt.gz", ".txt")):
        score = tx1.read(p)
    elif name.endswith((".mid", ".midi")):
        score = midi.read(p)
    else:
        raise LivechipError(f"{path}: unknown input type (use .vgm, .tx1.txt or .mid)")
    return score_log(score, timbres)
