"""Inputs and outputs: audio (sounddevice), MIDI (python-rtmidi), OSC.

The probes here find out what the machine has (a JACK server, an ALSA sequencer, sound cards) without letting
the native libraries print their own complaints: a missing part is one clear line from livechip, never a page
of library noise.
"""

import contextlib
import os
import sys


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


def jack_server_running():
    """True if a JACK server ($JACK_DEFAULT_SERVER, or 'default') is up for this user."""
    name = os.environ.get("JACK_DEFAULT_SERVER", "default")
    uid = os.getuid()
    try:
        entries = os.listdir("/dev/shm")
    except OSError:
        return False
    # jackd2 keeps a semaphore per client while it runs: jack_sem.<uid>_<server>_system is its own
    return f"jack_sem.{uid}_{name}_system" in entries


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
