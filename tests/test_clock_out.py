"""Leading: livechip's MIDI clock out, recorded on a real JACK server (dummy driver).

The sender on its own (64-frame periods, as the acceptance asks): livechip's MIDI out port sends clock from a
beat clock (Start, 120 bpm, 100 bpm from beat CHANGE, Stop at END, then Continue from beat AGAIN); a test DAW
records it, and livechip's own MIDI in and clock follower listen to it on the same server.

Then `livechip play --clock-out` (256-frame periods, the real engine in its own process): the DAW gets Start,
clock at the session's tempo, the tempo /livechip/bpm sets, and Stop when the session ends.
"""

import threading
import time

import numpy as np
import pytest

from livechip.realtime.beat import BeatClock
from livechip.realtime.clock import Clock
from livechip.realtime.clock_out import ClockOut
from livechip.realtime.midi_clock import CLOCK, CONTINUE, POSITION, PPQN, START, STOP, ClockFollower
from livechip.realtime.midi_in import MidiIn
from livechip.realtime.midi_out import MidiOut
from livechip.realtime.system import realtime_priority
from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import (JackServer, MidiRecorder, jackd_available, note_happy_model, start_play,
                                unless)
from tests.sync_helpers import wait_for_osc

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")

RATE = 48000
CHANGE, END, AGAIN = 16, 28, 40     # beats: 120 bpm up to CHANGE, 100 up to END (Stop), Continue from AGAIN


def clock_daw(name):
    """A test DAW that hears MIDI clock (a MidiRecorder ignores it by default)."""
    daw = MidiRecorder(name)
    daw.midi.ignore_types(sysex=True, timing=False, active_sense=True)
    return daw


def fit(times):
    """(bpm, |residuals| in ms) of tick arrival times against their least-squares line."""
    k = np.arange(len(times))
    slope, at = np.polyfit(k, times, 1)
    return 60 / (PPQN * slope), np.abs(times - (slope * k + at)) * 1e3


# --- the sender on its own, 64-frame periods ----------------------------------------------------------------

@pytest.fixture(scope="module")
def led():
    with JackServer(period=64, rate=RATE, watch=True) as jack:
        daw = clock_daw("clockdaw")
        out = MidiOut()
        clock = Clock(RATE)
        clock.start()
        inp = MidiIn(now=clock.now, clock=True, rate=RATE)   # stamps in frames, as the engine reads it
        jack.connect("livechip:livechip", daw.port)
        jack.connect("livechip:livechip", "livechip-in:livechip in")
        follower, heard, done = ClockFollower(rate=RATE), [], threading.Event()

        def listen():
            realtime_priority()                  # as the engine's MIDI in thread
            while not done.is_set():
                m = inp.get(0.05)
                if m is not None:
                    follower.feed(*m)
                    heard.append((m[0], follower.bpm, follower.beat(m[0])))

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        beats = BeatClock(RATE, bpm=120)
        sender = ClockOut(beats, clock, out)
        sender.start()
        try:
            beats.start(clock.now() + 0.05 * RATE)
            beats.set_bpm(100, beats.frame(CHANGE))
            sender.notify()
            line = beats.anchor                      # the source's line from the change to the stop
            time.sleep((beats.frame(END - 0.5) - clock.now()) / RATE)
            beats.stop(beats.frame(END))
            sender.notify()
            time.sleep(0.5)
            beats.start(clock.now() + 0.05 * RATE, beat=AGAIN)
            sender.notify()
            time.sleep(0.5)
        finally:
            sender.stop()
            time.sleep(0.1)
            done.set()
            listener.join(1.0)
            inp.close()
            daw.close()
            out.close()
        xruns, excuse = jack.xruns(), jack.excuse("clockdaw", "livechip-in")
    return {"messages": daw.messages, "sender": sender, "heard": heard, "line": line, "xruns": xruns,
            "excuse": excuse}


def test_clock_out_sends_start_ticks_stop_and_continue_from_a_position(led):
    kinds = [m for _, m in led["messages"]]
    assert kinds[0] == [START]                                      # no clock while stopped
    stop = kinds.index([STOP])
    assert led["sender"].n >= END * PPQN                            # sent (what arrives is checked next)
    with unless(led["excuse"]):
        assert kinds[1:stop] == [[CLOCK]] * (END * PPQN)            # not the tick on the stop's frame
    spp = AGAIN * 4                                                 # in 16th notes
    assert kinds[stop + 1:stop + 3] == [[POSITION, spp & 0x7F, spp >> 7], [CONTINUE]]
    assert kinds[-1] == [STOP]
    assert all(m == [CLOCK] for m in kinds[stop + 3:-1]) and len(kinds) - stop - 4 >= 10
    assert led["sender"].failed is None


def test_clock_out_tempo_within_a_tenth_of_a_bpm_and_jitter_under_a_millisecond(led):
    """Each tick's arrival at the DAW against the least-squares line through its tempo's ticks."""
    msgs = led["messages"]
    first = [m for _, m in msgs].index([START])
    t = np.array([s for s, m in msgs[first:] if m == [CLOCK]])
    for bpm, (lo, hi) in ((120, (0, CHANGE * PPQN)), (100, (CHANGE * PPQN, END * PPQN))):
        mean, res = fit(t[lo:hi])
        print(f"{bpm} bpm: mean {mean:.4f} bpm, jitter p99 {np.percentile(res, 99):.3f} ms, max {res.max():.3f} ms")
        with unless(led["excuse"]):
            assert abs(mean - bpm) < 0.1
            assert np.percentile(res, 99) <= 1.0
    late = led["sender"].timing() * 1e3
    print(f"send time minus due time: p50 {np.median(late):.3f} ms, p99 {np.percentile(late, 99):.3f} ms; "
          f"the server reported {led['xruns']} xruns")


def test_livechip_follows_its_own_clock_through_jack(led):
    """livechip's MIDI in and follower on the clock its MIDI out sends: the tempo within half a bpm from two
    beats after each tempo starts, and the beat a steady latency (JACK's and the reader's) behind the beat
    clock that sent it."""
    f8, b8 = led["line"][:2]
    rows = np.array([r for r in led["heard"] if r[1] is not None], dtype=float)
    t, bpm, beat = rows.T
    first, second = (beat >= 2) & (beat < CHANGE), (beat >= CHANGE + 2) & (beat < END)
    assert first.sum() > 300 and second.sum() > 200
    with unless(led["excuse"]):
        assert np.abs(bpm[first] - 120).max() < 0.5
        assert np.abs(bpm[second] - 100).max() < 0.5
    source = np.where(t < f8, b8 - (f8 - t) * 120 / (60 * RATE), b8 + (t - f8) * 100 / (60 * RATE))
    lag = np.concatenate([(source - beat)[first] * 500, (source - beat)[second] * 600])    # ms
    spread = np.abs(lag - np.median(lag))
    print(f"follower behind the source: median {np.median(lag):.3f} ms, spread p99 "
          f"{np.percentile(spread, 99):.3f} ms, max {spread.max():.3f} ms")
    with unless(led["excuse"]):
        assert 0 <= np.median(lag) < 4
        assert np.percentile(spread, 99) < 2.0


# --- livechip play --clock-out, 256-frame periods ----------------------------------------------------------

@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """`livechip play --clock-out --bpm 120`; /livechip/bpm 100 after a while; stopped with SIGTERM."""
    model = note_happy_model(tmp_path_factory.mktemp("model"))
    with JackServer(period=256, rate=RATE, watch=True) as jack:
        daw = clock_daw("clockdaw")
        port = free_udp_port()
        proc = start_play(jack, "--clock-out", "--bpm", "120", "--osc-port", str(port), model=model)
        osc = Client(port)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            wait_for_osc(proc, osc)
            time.sleep(5.0)
            changed = time.monotonic()
            osc.send("/livechip/bpm", 100.0)
            asked = osc.ask("/livechip/bpm")
            time.sleep(5.0)
            ended = time.monotonic()
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=60)
            osc.close()
            time.sleep(0.2)
            daw.close()
        excuse = jack.excuse("clockdaw")
    return {"messages": daw.messages, "err": err, "rc": proc.returncode, "changed": changed, "ended": ended,
            "asked": asked, "excuse": excuse}


def test_play_clock_out_leads_at_the_session_tempo(played):
    assert played["rc"] == 0 and "Traceback" not in played["err"], played["err"]
    assert "MIDI clock out" in played["err"]
    msgs = [(t, m) for t, m in played["messages"] if m[0] in (CLOCK, START, STOP, CONTINUE, POSITION)]
    kinds = [m for _, m in msgs]
    assert kinds[0] == [START] and kinds[-1] == [STOP]              # Stop when the session ends
    assert kinds.count([START]) == 1 and kinds.count([STOP]) == 1
    assert played["asked"] == [pytest.approx(100.0)]
    t = np.array([s for s, m in msgs if m == [CLOCK]])
    c, e = played["changed"], played["ended"]
    for bpm, (lo, hi) in ((120, (t[0], c - 0.2)), (100, (c + 0.5, e - 0.2))):
        seg = t[(t >= lo) & (t < hi)]
        mean, res = fit(seg)
        print(f"{bpm} bpm: {len(seg)} ticks, mean {mean:.3f} bpm, jitter p99 {np.percentile(res, 99):.2f} ms")
        assert len(seg) > 3 * PPQN
        with unless(played["excuse"]):
            assert abs(mean - bpm) < 0.1


def test_clock_out_needs_midi_out_and_is_not_following_midi_clock(tmp_path):
    import subprocess
    import sys
    for args, said in ((["--no-midi"], "not with --no-midi"), (["--sync", "midi"], "choose one")):
        r = subprocess.run([sys.executable, "-m", "livechip", "play", "--no-tui", "--clock-out", *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and said in r.stderr, r.stderr
