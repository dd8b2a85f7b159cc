"""Inputs and outputs: audio (sounddevice), MIDI (python-rtmidi), OSC.

The probes here find out what the machine has (a JACK server, an ALSA sequencer, sound cards) without letting
the native libraries print their own complaints: a missing part is one clear line from livechip, never a page
of library noise.
"""

import contextlib
import math
import os
import sys
import threading
import time


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 while native libraries probe for servers and devices."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


JACK_SHM = "/dev/shm"


def _jack_sem_prefix():
    """jackd2 keeps one futex file per client in /dev/shm while the client is open: jack_sem.<uid>_<server>_<client>
    (jack_sem.<server>_<client> for a server started with JACK_PROMISCUOUS_SERVER). The server's own is `system`."""
    server = os.environ.get("JACK_DEFAULT_SERVER", "default")
    if os.environ.get("JACK_PROMISCUOUS_SERVER") is not None:
        return f"jack_sem.{server}_"
    return f"jack_sem.{os.getuid()}_{server}_"


def jack_clients():
    """The names of the clients of the JACK server in use (empty when none runs); client names with `/` in them
    appear with `_`, as jackd2 writes them."""
    prefix = _jack_sem_prefix()
    try:
        entries = os.listdir(JACK_SHM)
    except OSError:
        return set()
    return {e[len(prefix):] for e in entries if e.startswith(prefix)}


def jack_server_running():
    """True if a JACK server ($JACK_DEFAULT_SERVER, or 'default') is up for this user."""
    return "system" in jack_clients()


def jack_client_stalled(client, watch=0.12, stuck=0.06, step=0.002):
    """True when the JACK server keeps waking `client` and the client never takes the wake-up: its futex word
    (the first int of its jack_sem file; the server sets it to 1 to start the client's cycle, the client's
    thread sets it back to 0 when it wakes) reads 1 for the last `stuck` seconds of `watch`. A running client
    holds it at 1 for microseconds a period. False when it cannot be read (no such file: not jackd2 on Linux).

    This is how libjack's race in jackd2 (jackaudio/jack2 issue 721) shows: a process that opens a second
    client while other clients come and go can hand the new client the futex of one that has gone, and the
    server then never runs it. No error is reported anywhere but in the server's log ("client = NAME was not
    finished, state = Triggered", every period). A client opened again is run."""
    try:
        fd = os.open(os.path.join(JACK_SHM, _jack_sem_prefix() + client.replace("/", "_")), os.O_RDONLY)
    except OSError:
        return False
    try:
        end = time.monotonic() + watch
        set_since = None
        while True:
            now = time.monotonic()
            word = int.from_bytes(os.pread(fd, 4, 0), sys.byteorder)
            set_since = (set_since or now) if word == 1 else None
            if now >= end:
                return set_since is not None and now - set_since >= stuck
            time.sleep(step)
    except OSError:
        return False
    finally:
        os.close(fd)


def alsa_sequencer_available():
    return os.path.exists("/dev/snd/seq")


def realtime_priority(priority=1):
    """Give the calling thread real-time scheduling (SCHED_FIFO, the lowest real-time priority by default)
    where the system allows it; returns whether it did.

    For the light threads that share this process's GIL with the audio callback (MIDI sender, engine,
    recorder): on a busy machine a normal thread can be preempted by other programs while it holds the GIL,
    and then the audio callback waits for it. None of these threads ever spins, so they cannot hog a core."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (AttributeError, OSError, PermissionError):
        return False


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


def until_due(due, wake, longest=math.inf):
    """A sender's wait for monotonic time `due`: sleep until a little before it on `wake` (so new work is seen
    then), the rest without. True once `due` has come; False when it woke early (or waited `longest` seconds)
    and should look again."""
    d = due - time.monotonic()
    if d > 0.002:
        wake.wait(min(d - 0.001, longest))
        wake.clear()
        return False
    if d > 0:
        time.sleep(d)
    return True

