"""Takes: what is heard between the record/start and record/stop actions, written as four files.

    takes = Takes("recordings", log)
    stem = takes.start(synth)                  # recording from now on
    takes.stop(lambda stem, rec: ...)          # the caller writes STEM.mid, .tx1.txt, .wav, .vgm from `rec`
"""

import threading
import time
from pathlib import Path

from livechip.core.errors import LivechipError
from livechip.realtime.record import Recorder

EXTENSIONS = (".mid", ".tx1.txt", ".wav", ".vgm")


class Takes:

    def __init__(self, folder="recordings", log=print):
        self.folder = Path(folder)   # where takes go (`--record DIR` puts them there)
        self.log = log
        self.take = None             # (stem, Recorder) of the take being recorded
        self._lock = threading.Lock()

    @property
    def recording(self):
        return self.take is not None

    def start(self, synth):
        """Start a take of what `synth` (the APU's renderer) plays from now on. Returns its stem."""
        with self._lock:
            if self.take is not None:
                raise LivechipError(f"already recording {self.take[0]} (record/stop ends it)")
            folder = Path(self.folder)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LivechipError(f"cannot record into {folder}: {e.strerror}") from None
            stem = free_stem(folder / time.strftime("take-%Y%m%d-%H%M%S"))
            rec = Recorder(synth, folder, now=True)
            rec.start()
            self.take = (stem, rec)
            self.log(f"recording a take: {stem}")
            return str(stem)

    def stop(self, write):
        """End the take: `write(stem, recorder)` writes its files. Returns the stem. If they cannot be written
        the take stays, to be stopped again."""
        with self._lock:
            if self.take is None:
                raise LivechipError("not recording (record/start starts a take)")
            stem, rec = self.take
            rec.stop()
            write(stem, rec)
            rec.close()
            self.take = None
            self.log(f"recorded the take {stem} (.mid, .tx1.txt, .wav, .vgm)")
            return str(stem)


def free_stem(stem):
    """`stem`, or stem-2, stem-3, ...: the first that names no file yet."""
    out, k = stem, 1
    while any(out.with_name(out.name + ext).exists() for ext in EXTENSIONS):
        k += 1
        out = stem.with_name(f"{stem.name}-{k}")
    return out
