"""MIDI in on a real JACK server (dummy driver): the virtual port `livechip in`, ports opened by name or index,
messages stamped in arrival order, SysEx kept out, a pulled cable noticed and a replugged one taken back."""

import time

import numpy as np

import pytest

from livechip.core.errors import DeviceError
from livechip.realtime.midi_in import MidiIn
from tests.jack_helpers import JackServer, jackd_available
from tests.jam_helpers import LIVECHIP_IN, Keyboard

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd is not installed")


@pytest.fixture(scope="module")
def jack():
    with JackServer(period=256) as j:
        yield j


def wait_for(inp, n, timeout=2.0):
    got = []
    end = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < end:
        got += inp.drain()
        time.sleep(0.005)
    return got


def test_virtual_port_receives_in_order_with_transport_times(jack):
    inp = MidiIn(now=lambda: time.monotonic() * 1000, rate=1000)     # any clock: here milliseconds
    kbd = Keyboard()
    try:
        jack.connect(kbd.port, LIVECHIP_IN)
        sent, got = [], []
        for k in range(20):
            kbd.send([0x90, 40 + k, 100])
            kbd.send([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7])   # SysEx never reaches the queue
            sent.append(time.monotonic() * 1000)
            end = time.monotonic() + 0.004
            while time.monotonic() < end:           # read as the engine's jam thread does: all the time
                got += inp.drain()
                time.sleep(0.001)
        got += wait_for(inp, 20 - len(got))
        assert [m for _, m in got] == [[0x90, 40 + k, 100] for k in range(20)]
        times = [t for t, _ in got]
        assert times == sorted(times)
        # stamped when they arrived: after they were sent, within a few JACK periods (5.3 ms each)
        assert all(0 <= t - s < 50 for t, s in zip(times, sent))
        assert "livechip in" in inp.describe()
    finally:
        kbd.close()
        inp.close()


def test_a_reader_that_looks_late_still_gets_the_arrival_times(jack):
    """Read only every 100 ms, messages sent 10 ms apart keep their spacing (the MIDI system's own times,
    JACK periods of 5.3 ms here), not the reader's: stamped on arrival, not when taken."""
    inp = MidiIn()
    kbd = Keyboard()
    try:
        jack.connect(kbd.port, LIVECHIP_IN)
        time.sleep(0.2)
        got, sent = [], []
        for k in range(30):
            kbd.send([0x90, 40 + k, 100])
            sent.append(time.monotonic())
            time.sleep(0.01)
            if k % 10 == 9:
                got += inp.drain()
        got += wait_for(inp, 30 - len(got))
        gaps = np.diff([t for t, _ in got]) - np.diff(sent)
        assert len(got) == 30 and np.all(np.abs(gaps) < 0.008), gaps
        assert all(0 <= t - s < 0.05 for (t, _), s in zip(got, sent))
    finally:
        kbd.close()
        inp.close()


def test_open_by_name_and_index_then_notice_a_pulled_cable_and_take_it_back(jack):
    kbd = Keyboard("keys")
    import rtmidi
    probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="probe")
    k = probe.get_ports().index("keys:out")
    probe.delete()
    by_index = MidiIn(k)
    assert by_index.port_name == "keys:out"
    by_index.close()
    inp = MidiIn("KEYS")                                   # part of the name, any case
    try:
        assert inp.port_name == "keys:out" and inp.check()
        kbd.send([0x90, 60, 100])
        assert [m for _, m in wait_for(inp, 1)] == [[0x90, 60, 100]]
        kbd.close()                                        # the cable is pulled
        time.sleep(0.2)
        assert not inp.check() and inp.lost == 1
        assert not inp.check()                             # still gone: no reopen, no error
        kbd.reopen()                                       # plugged back in
        time.sleep(0.2)
        assert inp.check()
        kbd.send([0x90, 62, 100])
        assert [m for _, m in wait_for(inp, 1)] == [[0x90, 62, 100]]
    finally:
        kbd.close()
        inp.close()
def test_a_port_that_is_not_there_is_one_clear_error(jack):
    with pytest.raises(DeviceError, match="no MIDI input port matching 'nosuchkeyboard'"):
        MidiIn("nosuchkeyboard")
