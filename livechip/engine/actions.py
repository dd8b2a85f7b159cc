"""What the engine does when asked, from any thread (Control's actions: OSC, the UI, play's signals).

`Actions` is the part of `Engine` (a base class of it: its state is set in Engine.__init__) that does a new
song, the transport and takes. Whatever changes the model or the schedule is done by the engine thread
between its steps (`_do`); the caller waits for it and gets its result or its error.
"""

import queue
import threading
from pathlib import Path

from livechip.formats import files
from livechip.realtime import record
from livechip.core.errors import LivechipError

ACTION_WAIT = 5.0       # seconds an action waits for the engine thread to do it (see _do)


class Actions:

    def _register_actions(self):
        for name, fn in (("panic", self.panic), ("reset", self.reset), ("reprime", self.reprime),
                         ("record_start", self.record_start), ("record_stop", self.record_stop),
                         ("record_save", self.save), ("play", self.resume), ("stop", self.pause),
                         ("quit", self.request_stop)):
            self.control.on_action(name, fn)

    def reset(self):
        """A new song from now: the model's memory cleared, what was scheduled after now revoked and the
        model's voices released."""
        self._do(self._new_song, None, "a new song: the model's memory is cleared")

    def reprime(self, path):
        """As reset, with the model's memory primed with a .mid or .tx1.txt file; a file that cannot be read
        is an error and changes nothing."""
        self._do(self._new_song, _primer(path), f"a new song primed with {path}")

    def pause(self):
        """Stop the transport: the model's schedule revoked and its voices released, its memory kept; the
        player's notes, OSC and the UI go on."""
        self._do(self._pause)

    def resume(self):
        """Start the transport again: the model goes on from where it stopped, as if no time had passed."""
        self._do(self._resume)

    def record_start(self):
        """Start a take: what is heard from now on, until record_stop, in the takes folder. Returns its stem."""
        return self.takes.start(self.synth)

    def record_stop(self):
        """End the take: STEM.mid, STEM.tx1.txt, STEM.wav and STEM.vgm of what was heard since record_start.
        Returns STEM. If the files cannot be written the take stays, to be stopped again."""
        def write(stem, rec):
            record.save(stem, self.played(rec.first, rec.frames), self.synth, self._timbres(scaled=True), rec)
        return self.takes.stop(write)

    def record(self, folder=None):
        """Start keeping everything the APU plays (scratch files in `folder`), for save()."""
        if self.recorder is None:
            self.recorder = record.Recorder(self.synth, folder)
            self.recorder.start()

    def save(self, stem):
        """Write the session so far: STEM.mid, STEM.tx1.txt, STEM.wav, STEM.vgm. Returns the paths."""
        return record.save(stem, self.played(), self.synth, self._timbres(scaled=True), self.recorder)

    # --- in the engine thread ---------------------------------------------------------------------------

    def _do(self, fn, *args):
        """Run fn(*args) in the engine thread between its steps (where the model and the schedule change);
        returns its result or raises its error."""
        if not self.alive:
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
                at = max(now, self.ring.last_time(), self.synth.frame)
                self.worker.restart(self.tempo.ticks(at), after=self._paused)
                self._paused = None
            self.log("transport playing: the model goes on")


def _primer(path):
    """A .mid or .tx1.txt file as a Score; one that cannot be read is a LivechipError."""
    path = Path(path)     # names sent over OSC were confined to the primes folder there (livechip.control.folders)
    try:
        return files.read_score(path)
    except LivechipError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever a damaged file makes the readers raise
        raise LivechipError(f"{path}: cannot read it as music ({type(e).__name__}: {e})") from None
