"""Following JACK transport: play, stop, locate and a timebase master's tempo and bars, on a real JACK server
(dummy driver) with `jack_transport` (JACK's own command-line client) as the DAW that is timebase master."""

import shutil
import subprocess
import time

import pytest

from livechip.realtime.beat import BeatClock
from livechip.realtime.clock import Clock
from livechip.core.errors import DeviceError
from livechip.realtime.jack_transport import BBT, ROLLING, STOPPED, JackTransport, Position, line
from tests.jack_helpers import JackServer, jackd_available

RATE = 48000


def test_a_timebase_masters_bars_beats_and_ticks_make_the_beat():
    pos = Position(usecs=2_500_000, frame_rate=RATE, frame=96000, valid=BBT, bar=3, beat=2, tick=480,
                   beats_per_bar=4, ticks_per_beat=1920, beats_per_minute=100)
    assert line(ROLLING, pos, 120) == (4 * 2 + 1 + 0.25, 100, 2.5, True)
    assert line(STOPPED, pos, 120)[3] is False


def test_without_a_timebase_master_frame_zero_is_beat_zero_at_our_tempo():
    pos = Position(usecs=1_000_000, frame_rate=RATE, frame=RATE * 3)
    assert line(ROLLING, pos, 120) == (6.0, 120, 1.0, True)


@pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")
def test_no_server_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "lcnoserver")
    with pytest.raises(DeviceError, match="no JACK server"):
        JackTransport()


@pytest.mark.skipif(not jackd_available() or shutil.which("jack_transport") is None,
                    reason="jackd and jack_transport (Debian package jackd2) are not installed")
def test_follows_play_stop_locate_and_the_masters_tempo():
    # jack_transport's master adds whole ticks each period (1920 a beat): at 64 frames 4.27 -> 4, 6 % slow;
    # at 256 frames 17.07 -> 17, 0.4 %
    with JackServer(period=256, rate=RATE) as jack:
        clock = Clock(RATE)
        clock.start()
        beats = BeatClock(RATE, bpm=120)
        sync = JackTransport()
        daw = subprocess.Popen(["jack_transport"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=jack.env, text=True)

        def say(*commands):
            daw.stdin.write("".join(c + "\n" for c in commands))
            daw.stdin.flush()
            time.sleep(0.3)

        try:
            say("locate 0")
            assert sync.steer(beats, clock)[2] is False and not beats.running
            say("play")                              # no timebase master yet: frames, at our own tempo
            beat, bpm, run = sync.steer(beats, clock)
            assert run and bpm == 120
            _, pos, ahead = sync.query()             # rolling, the position is the latest period's
            assert 0 <= time.monotonic() - (pos.usecs / 1e6 - ahead) < 0.05     # on the monotonic clock
            say("master", "tempo 100")
            time.sleep(0.2)
            sync.steer(beats, clock)
            a, now = beats.beat(clock.now()), clock.now()
            assert beats.running and beats.bpm == pytest.approx(100)
            time.sleep(0.5)
            sync.steer(beats, clock)
            later = clock.now()
            # the beat moves at the master's tempo: the line read later agrees with the one read before
            assert beats.beat(later) - a == pytest.approx((later - now) / RATE * 100 / 60, abs=0.01)
            say("stop")
            sync.steer(beats, clock)
            held = beats.beat(clock.now())
            assert not beats.running
            time.sleep(0.2)
            sync.steer(beats, clock)
            assert beats.beat(clock.now()) == pytest.approx(held, abs=1e-6)
            say("locate 0")
            sync.steer(beats, clock)
            assert beats.beat(clock.now()) == pytest.approx(0, abs=1e-6)
        finally:
            daw.stdin.write("quit\n")
            daw.stdin.flush()
            try:
                daw.wait(5)
            except subprocess.TimeoutExpired:
                daw.kill()
            sync.close()
