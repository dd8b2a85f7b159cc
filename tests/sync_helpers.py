"""A DAW's MIDI clock leading `livechip play --sync midi` through JACK, for tests/test_sync_play.py and
bench/bench_sync_play.py.

A test clock source sends Start and 24-PPQN clock into `livechip in`: 132 bpm, then 100 bpm, then Stop, then
Start again at 132. A test DAW records both the source's clock and livechip's MIDI out, so the source's 16th
notes and the model's notes are timed by one recorder (JACK's times, period-accurate).
"""

import threading
import time

import numpy as np

from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import JackServer, MidiRecorder, start_play
from tests.jam_helpers import LIVECHIP_IN, Keyboard

CLOCK, START, STOP = 0xF8, 0xFA, 0xFC
PPQN = 24
PART = [(132.0, 32), (100.0, 24)]   # (bpm, beats) played after the first Start
AGAIN = (132.0, 16)                 # after Stop and a pause, Start again
PAUSE = 2.0                         # seconds between Stop and the second Start
PERIOD = 64 / 48000                 # seconds: one JACK period at 64 frames (what grid_errors allows a tick)


class ClockSource:
    """A test DAW's clock out: Start, then ticks at monotonic times planned ahead (so a late wake-up does not
    pile up), tempo by tempo; Stop. The times it meant are kept, but the test times everything by what the
    recorder got."""

    def __init__(self):
        self.port = Keyboard("clocksrc")
        self.marks = {}      # name -> monotonic time: "stop", "again"
        self.asked = []      # (bpm, reply) of /livechip/bpm near the end of each tempo
        self.failed = None

    def run(self, osc):
        try:
            self._tempi(PART, osc)
            self.port.send([STOP])
            self.marks["stop"] = time.monotonic()
            time.sleep(PAUSE)
            self.marks["again"] = time.monotonic()
            self._tempi([AGAIN], osc)
            self.port.send([STOP])
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.failed = e

    def _tempi(self, tempi, osc):
        self.port.send([START])
        t = time.monotonic() + 0.002
        for bpm, beats in tempi:
            period = 60.0 / (bpm * PPQN)
            for k in range(beats * PPQN):
                wait = t - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.port.send([CLOCK])
                if k == (beats - 2) * PPQN:   # two beats before the end of this tempo: ask the tempo
                    threading.Thread(target=self._ask, args=(osc, bpm), daemon=True).start()
                t += period

    def _ask(self, osc, bpm):
        try:
            self.asked.append((bpm, osc.ask("/livechip/bpm", timeout=1.0)[0]))
        except AssertionError as e:
            self.asked.append((bpm, str(e)))


def run_session(model, period=64, seed=3, args=()):
    """One `livechip play --sync midi` session led by a ClockSource, recorded by a test DAW (see the module's
    docstring); returns what the DAW got, livechip's stderr and exit status, the /livechip/bpm answers and the
    server's xruns and what in the run measures the machine (JackServer.excuse)."""
    with JackServer(period=period, watch=True) as jack:
        daw = MidiRecorder()
        daw.midi.ignore_types(sysex=True, timing=False, active_sense=True)   # the source's clock too
        src = ClockSource()
        port = free_udp_port()
        proc = start_play(jack, "--sync", "midi", "--osc-port", str(port), "--seed", str(seed), *args, model=model)
        osc = Client(port)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.wait_for_port(LIVECHIP_IN)
            jack.connect("livechip:livechip", daw.port)
            jack.connect(src.port.port, daw.port)
            jack.connect(src.port.port, LIVECHIP_IN)
            wait_for_osc(proc, osc)
            assert osc.ask("/livechip/sync") == ["midi"]
            time.sleep(0.5)
            src.run(osc)
            time.sleep(0.5)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=60)
            osc.close()
            src.port.close()
            time.sleep(0.1)
            daw.close()
        xruns, excuse = jack.xruns(), jack.excuse(daw.port.split(":")[0])
    assert src.failed is None, src.failed
    return {"daw": daw.messages, "err": err, "rc": proc.returncode, "asked": src.asked, "xruns": xruns,
            "excuse": excuse}


def wait_for_osc(proc, osc, timeout=90.0):
    """Until livechip answers OSC (its OSC server starts once the model has loaded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, f"livechip play exited: {proc.communicate()[1]}"
        osc.send("/livechip/ping", 1)
        try:
            osc.wait_for("/livechip/pong", 0.5)
            return
        except AssertionError:
            continue
    raise AssertionError("no OSC answer from livechip play")


def segments(messages, tempi):
    """The source's clock as the DAW got it: per Start, (tick times, tick numbers). The source sends every
    tick, late or not; ticks JACK lost in a period the recorder missed are not there, and as many as are
    missing are counted in the widest gaps (measured in periods of the tempo played there)."""
    runs = []
    for t, m in messages:
        if m[0] == START:
            runs.append([])
        elif m[0] == CLOCK and runs:
            runs[-1].append(t)
    out = []
    for times, part in zip(runs, tempi):
        times = np.array(times)
        bounds = np.cumsum([beats * PPQN for _, beats in part])
        periods = np.array([60.0 / (bpm * PPQN) for bpm, _ in part])
        period = periods[np.minimum(np.searchsorted(bounds, np.arange(len(times) - 1), side="right"),
                                    len(periods) - 1)]
        gaps, steps = np.diff(times) / period, np.ones(len(times) - 1)
        for _ in range(max(0, int(bounds[-1]) - len(times))):
            steps[np.argmax(gaps / steps)] += 1
        out.append((times, np.concatenate([[0], np.cumsum(steps)]).astype(int)))
    return out


def model_note_ons(messages):
    return np.array([t for t, m in messages if m[0] & 0xF0 == 0x90 and m[2] > 0 and (m[0] & 0x0F) < 4])


def grid_errors(run, first, beats, onsets):
    """For the tempo that covers ticks [first, first + beats * PPQN) of `run` (times, numbers): the line
    fitted to its ticks (the source's clock), and each onset from two bars into it to its end: its distance
    (s) to the nearest 16th. Also which onsets fell where JACK kept time: no tick of the source within 30 ms of
    them came off the line by more than a period (a period the server missed delays what it carries: the
    source's ticks and livechip's notes alike)."""
    times, k = run
    mine = (k >= first) & (k < first + beats * PPQN)
    t, n = times[mine], k[mine] - first
    a, b = np.polynomial.polynomial.polyfit(n, t, 1)     # time = a + b * (tick - first)
    near = np.abs(t - (a + b * n)) <= PERIOD               # fitted again without the ticks a missed period delayed
    if near.sum() >= 2:
        a, b = np.polynomial.polynomial.polyfit(n[near], t[near], 1)
    lo, hi = a + b * 8 * PPQN, t[-1]
    on = onsets[(onsets >= lo) & (onsets <= hi)]
    kf = (on - a) / b
    off_line = t[np.abs(t - (a + b * n)) > PERIOD]
    clean = np.array([not np.any(np.abs(off_line - x) < 0.03) for x in on], dtype=bool)
    return np.abs(kf - 6 * np.round(kf / 6)) * b, clean, 60.0 / (b * PPQN)
