"""JACK clients the server never runs, and how livechip's MIDI ports avoid them.

libjack (jackd2, jackaudio/jack2 issue 721) can hand a process's second client the futex of a client that has
just gone when clients come and go while it opens; the server then wakes the new client every period and it
never wakes (the server's log: "client = NAME was not finished, state = Triggered"). A MIDI in opened that way
hears nothing. `open_client` watches each JACK client it opens and opens it again when the server does not run
it. Here: a real jackd (dummy driver), real python-rtmidi clients, `jack_lsp` opening and closing clients in a
loop, and a real keyboard whose notes must arrive at every MIDI in opened."""

import os
import subprocess
import sys

import pytest

from livechip.realtime.system import JACK_SHM, jack_client_stalled, jack_clients
from livechip.realtime.midi_out import MidiOut
from livechip.realtime.midi_in import MidiIn
from tests.jack_helpers import JackServer, jackd_available
from tests.jam_helpers import LIVECHIP_IN

jack_needed = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


@pytest.fixture
def futex_file(monkeypatch):
    """A client futex file like jackd2's, for a server name no jackd uses: write(word) sets its first int."""
    server = f"lcfake{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server)
    monkeypatch.delenv("JACK_PROMISCUOUS_SERVER", raising=False)
    path = os.path.join(JACK_SHM, f"jack_sem.{os.getuid()}_{server}_client")

    def write(word):
        with open(path, "wb") as f:
            f.write(word.to_bytes(4, "little") + bytes(12))
    yield write
    if os.path.exists(path):
        os.unlink(path)


def test_a_futex_left_set_is_a_stalled_client_and_a_clear_one_is_not(futex_file):
    futex_file(1)
    assert "client" in jack_clients()
    assert jack_client_stalled("client")
    futex_file(0)
    assert not jack_client_stalled("client")
    assert not jack_client_stalled("no-such-client")      # not jackd2: nothing to read, nothing claimed


# Opens and closes JACK clients, each under a name of its own, leaving a moment between them (as jack_lsp or a
# patchbay does): the refnum a closed one frees is what the next client opened elsewhere gets.
CHURN = """
import ctypes, itertools, time
jack = ctypes.CDLL("libjack.so.0")
jack.jack_client_open.restype = ctypes.c_void_p
jack.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
jack.jack_client_close.argtypes = [ctypes.c_void_p]
for i in itertools.count():
    c = jack.jack_client_open(f"churn{i}".encode(), 1, None)   # 1: JackNoStartServer
    time.sleep(0.002)
    if c:
        jack.jack_client_close(c)
    time.sleep(0.01)
"""


@jack_needed
def test_every_midi_in_opened_while_clients_come_and_go_hears_the_keyboard():
    # As `livechip play` opens them: MIDI out first (this process's first JACK client), then MIDI in (its
    # second, the one at risk); each round closes both, so each starts this process's JACK clients afresh. The
    # keyboard is another process (jack_midiseq, a note every 50 ms), as a player's is: a client in this
    # process connected to the stalled one would wake it through the same wrong futex and hide the fault.
    # Each MIDI in is closed while the keyboard plays: with a Python callback on JACK's thread that once froze
    # the process (the thread, cancelled while it waited for the GIL, left the interpreter's lock taken).
    with JackServer(period=256) as jack:
        kbd = subprocess.Popen(["jack_midiseq", "seqkbd", "2400", "0", "60", "1200"], env=jack.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        churn = subprocess.Popen([sys.executable, "-c", CHURN], env=jack.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deaf = []
        try:
            jack.wait_for_port("seqkbd:out")
            for k in range(40):
                out, inp = MidiOut(), MidiIn()
                try:
                    jack.connect("seqkbd:out", LIVECHIP_IN)
                    got = inp.get(timeout=1.0)
                    if got is None or got[1][0] & 0xE0 != 0x80 or got[1][1] != 60:     # its note on or off
                        deaf.append((k, got))
                finally:
                    inp.close()
                    out.close()
        finally:
            for p in (churn, kbd):
                p.kill()
                p.wait()
        assert deaf == [], f"MIDI in opened but deaf in rounds {deaf}\njackd said:\n{jack.log()[-2000:]}"
