"""The beat clock: beats <-> sample frames in one place, continuous through tempo changes, held while stopped."""

import math

import pytest

from livechip.realtime.beat import BeatClock

RATE = 48000


def test_beats_and_frames_convert_both_ways():
    beats = BeatClock(RATE, bpm=120)
    beats.start(at_frame=4800)
    assert beats.beat(4800) == 0
    assert beats.frame(4) == 4800 + 2 * RATE          # 4 beats at 120 bpm: 2 seconds
    assert beats.beat(4800 + 3 * RATE) == pytest.approx(6)
    assert beats.frames_per_beat() == RATE / 2
    for b in (0.0, 1.25, 17.5, 1000.0):
        assert beats.beat(beats.frame(b)) == pytest.approx(b, abs=1e-9)


def test_a_tempo_change_keeps_the_beat_where_it_was():
    beats = BeatClock(RATE, bpm=132)
    beats.start(0)
    at = 123_457                                       # not on a beat
    before = beats.beat(at)
    beats.set_bpm(100, at_frame=at)
    assert beats.beat(at) == pytest.approx(before, abs=1e-12)
    assert beats.beat(at + 0.6 * RATE) == pytest.approx(before + 1)     # one beat at 100 bpm is 0.6 s


def test_a_change_dated_ahead_leaves_the_time_before_it_alone():
    """A tempo change on beat 8, set at the start: beats before it stay on the old tempo's frames."""
    beats = BeatClock(RATE, bpm=120)
    beats.start(0)
    beats.set_bpm(100, at_frame=beats.frame(8))      # beat 8 is at 4 s
    assert beats.frame(4) == pytest.approx(2 * RATE)
    assert beats.beat(2 * RATE) == pytest.approx(4)
    assert beats.frame(10) == pytest.approx(4 * RATE + 1.2 * RATE)    # two beats at 100 bpm after beat 8
    assert beats.next(3.99 * RATE, 1 / 24) == (192, pytest.approx(4 * RATE))
    beats.stop(at_frame=RATE)                         # dated before the pending change: it replaces it
    assert beats.beat(10 * RATE) == pytest.approx(2) and beats.beat(0.5 * RATE) == pytest.approx(1)


def test_stop_holds_the_beat_and_resume_goes_on_from_it():
    beats = BeatClock(RATE, bpm=120)
    beats.start(0)
    beats.stop(at_frame=RATE)                         # 2 beats in
    assert not beats.running
    assert beats.beat(RATE) == beats.beat(10 * RATE) == pytest.approx(2)
    beats.resume(at_frame=5 * RATE)
    assert beats.running
    assert beats.beat(5 * RATE + RATE // 2) == pytest.approx(3)
    beats.start(at_frame=7 * RATE)                    # Start: from the top again
    assert beats.beat(7 * RATE) == 0
    beats.locate(16, at_frame=8 * RATE)               # a jump, still running
    assert beats.running and beats.beat(8 * RATE + RATE // 2) == pytest.approx(17)


def test_bars_count_from_one():
    beats = BeatClock(RATE, bpm=60)
    beats.start(0)
    assert beats.bar(0) == (1, 1.0)
    assert beats.bar(5.5 * RATE) == (2, pytest.approx(2.5))     # beat 5.5 of 4/4
    waltz = BeatClock(RATE, bpm=60, meter=3)
    waltz.start(0)
    assert waltz.bar(7 * RATE) == (3, pytest.approx(2.0))


def test_grid_positions_fall_on_exact_frames():
    """At 120 bpm and 48 kHz a 24-PPQN tick is exactly 1000 frames; a 16th note 6000."""
    beats = BeatClock(RATE, bpm=120)
    beats.start(at_frame=500)
    assert beats.next(500, 1 / 24) == (0, 500)
    assert beats.next(501, 1 / 24) == (1, pytest.approx(1500))
    k, f = beats.next(1_000_000, 1 / 24)
    assert f >= 1_000_000 and f - 1000 < 1_000_000 and f == pytest.approx(500 + 1000 * k)
    assert beats.snap(500 + 6000 * 7 + 2999, 1 / 4) == pytest.approx(500 + 6000 * 7)
    assert beats.snap(500 + 6000 * 7 + 3001, 1 / 4) == pytest.approx(500 + 6000 * 8)
    beats.stop(10_000)
    assert beats.next(20_000, 1 / 24)[1] == math.inf    # no tick comes while stopped


@pytest.mark.parametrize("bpm", [0, 19.9, 1000, -120, float("nan")])
def test_a_tempo_out_of_range_is_refused_and_the_clock_is_unchanged(bpm):
    beats = BeatClock(RATE, bpm=120)
    beats.start(0)
    with pytest.raises(ValueError, match="bpm must be between 20 and 999"):
        beats.set_bpm(bpm, at_frame=RATE)
    assert beats.bpm == 120 and beats.beat(RATE) == pytest.approx(2)


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="rate"):
        BeatClock(0)


def test_a_meter_must_be_whole_beats():
    with pytest.raises(ValueError, match="meter"):
        BeatClock(RATE, meter=0)
    with pytest.raises(ValueError, match="meter"):
        BeatClock(RATE, meter=3.5)
