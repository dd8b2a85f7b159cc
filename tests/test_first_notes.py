"""The player's first notes: `livechip play --human P1` on a real JACK server (dummy driver, 64-frame periods),
a test keyboard playing into `livechip in` from one second after the port appears, while the model process
is still loading. Every note reaches MIDI out, as soon as a trivial echo client on the same server passes it
on (the floor of MIDI through JACK), recorded by the same test DAW."""

import signal
import time

import numpy as np
import pytest

from tests.jack_helpers import JackServer, MidiRecorder, jackd_available, lsp, note_happy_model, start_play, unless
from tests.jam_helpers import LIVECHIP_IN, Echo, Keyboard, play

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")

VELOCITY = 77     # the keyboard's; livechip sends its own


def wait_for_port(jack, port, proc, timeout=60.0):
    """The time `port` appeared, looked for every 10 ms."""
    end = time.monotonic() + timeout
    while True:
        if port in (lsp(jack.env) or "").split("\n"):
            return time.monotonic()
        if proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"no port {port!r}; livechip: {proc.communicate()[1] if proc.poll() is not None else ''}")
        time.sleep(0.01)


def first_notes(model, n=24, step=0.2, start=1.0, period=64):
    """Play `n` notes `step` s apart from `start` s after `livechip in` appears. Returns the note-ons the DAW
    got from livechip on channel 1 and from the echo client, as {key: seconds}, livechip's log, the server's
    xruns and what on this run measures the machine rather than livechip (JackServer.excuse), or None."""
    keys = [60 + i for i in range(n)]
    with JackServer(period=period, watch=True) as jack:
        daw, echo, kbd = MidiRecorder("daw"), Echo(), Keyboard()
        proc = start_play(jack, "--human", "P1", "--seed", "1", "--no-osc", model=model)
        try:
            jack.connect(echo.port_out, daw.port)
            jack.connect(kbd.port, echo.port_in)
            jack.wait_for_port("livechip:livechip")         # MIDI out is opened before MIDI in
            jack.connect("livechip:livechip", daw.port)
            t0 = wait_for_port(jack, LIVECHIP_IN, proc)
            jack.connect(kbd.port, LIVECHIP_IN)
            play(kbd, [(start + step * i + d, [s, k, VELOCITY if s == 0x90 else 0])
                       for i, k in enumerate(keys) for d, s in ((0, 0x90), (step / 2, 0x80))], t0=t0)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            time.sleep(0.1)
            daw.close()
            echo.close()
            kbd.close()
        xruns = jack.xruns()
        excuse = jack.excuse("daw", "echo", "echo-in", "kbd")
    ours, echoed = {}, {}
    for t, m in daw.messages:
        if len(m) == 3 and m[0] == 0x90 and m[2] > 0:
            (echoed if m[2] == VELOCITY else ours).setdefault(m[1], t)
    return keys, ours, echoed, err, xruns, excuse


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return first_notes(note_happy_model(tmp_path_factory.mktemp("model")))


def test_every_note_from_the_first_second_reaches_midi_out(session):
    keys, ours, echoed, err, _, excuse = session
    assert "Traceback" not in err, err
    with unless(excuse):        # a client the server did not run in a period loses what reached it then
        assert sorted(echoed) == keys, f"the echo client lost notes (JACK): {sorted(echoed)}"
        missing = [k for k in keys if k not in ours]
        assert not missing, f"missing on MIDI out: {missing}\n{err}"


def test_the_first_notes_are_as_late_as_an_echo_client_and_no_later(session):
    keys, ours, echoed, _, xruns, excuse = session
    late = np.array([ours[k] - echoed[k] for k in keys if k in ours and k in echoed]) * 1000
    print(f"\nlivechip minus echo, ms: median {np.median(late):.3f}, p90 {np.percentile(late, 90):.3f}, "
          f"max {late.max():.3f}; first four {np.round(late[:4], 3).tolist()}; xruns {xruns}")
    with unless(excuse):
        assert len(late) == len(keys)
        assert np.median(late) <= 1.0 and np.percentile(late, 90) <= 2.0, np.round(late, 3).tolist()
