"""The schedule ring and the clock: what the audio callback and the MIDI sender rely on."""

import threading
import time

import pytest

from livechip.realtime.clock import FOLLOW, Clock, TempoMap
from livechip.realtime.ring import AUDIO, MIDI, NEVER, EventLog, Ring


def take(ring, c, until):
    """What a consumer does: take every event due before `until` in one pass."""
    ring.begin(c)
    n = ring.due(c, until)
    got = [(int(ring.time_of(c, k)), ring.voice_of(c, k), ring.pitch_of(c, k)) for k in range(n)]
    ring.advance(c, n)
    ring.end(c)
    return got


def test_each_consumer_reads_every_event_in_order_when_due():
    r = Ring(16)
    for t, v, p in [(10, 0, 60), (20, 1, -1), (30, 3, 5)]:
        assert r.push(t, v, p)
    assert take(r, AUDIO, 25) == [(10, 0, 60), (20, 1, -1)]
    assert take(r, AUDIO, 100) == [(30, 3, 5)]
    assert take(r, AUDIO, 100) == []
    assert take(r, MIDI, 100) == [(10, 0, 60), (20, 1, -1), (30, 3, 5)]    # its own cursor
    assert r.time_of(AUDIO) == NEVER


def test_ring_refuses_to_overwrite_events_a_consumer_has_not_read():
    r = Ring(4)
    for t in range(4):
        assert r.push(t, 0, 60)
    assert not r.push(4, 0, 60)
    take(r, AUDIO, 2)
    assert not r.push(4, 0, 60)          # MIDI has not read them yet
    take(r, MIDI, 2)
    assert r.push(4, 0, 60) and r.push(5, 0, 60)


def test_revoke_takes_back_only_what_no_consumer_has_read():
    r = Ring(16)
    for t in (10, 20, 30, 40):
        r.push(t, 0, t)
    take(r, AUDIO, 25)                    # heard: 10 and 20
    take(r, MIDI, 15)                     # sent: 10
    assert r.committed() == 20
    assert r.revoke_after(5) == [(30, 0, 30), (40, 0, 40)]   # 20 was heard, so it stays, even for MIDI
    assert take(r, MIDI, 100) == [(20, 0, 20)]
    r.push(25, 2, 50)
    assert take(r, AUDIO, 100) == [(25, 2, 50)]
    assert r.revoke_after(100) == []


def test_revoke_waits_for_a_consumer_pass_in_progress():
    r = Ring(16)
    r.push(10, 0, 60)
    r.push(20, 0, 62)
    r.begin(AUDIO)                        # the callback is mid-pass and has seen both events
    n = r.due(AUDIO, 100)
    done = []
    th = threading.Thread(target=lambda: done.append(r.revoke_after(15)))
    th.start()
    time.sleep(0.02)
    assert not done                       # the producer waits for the pass to end ...
    assert r.due(MIDI, 100) == 1          # ... and a pass starting now already sees nothing after 15
    r.advance(AUDIO, n)
    r.end(AUDIO)
    th.join(1)
    assert done == [[]]                   # the callback took 20 in that pass: heard, so not revoked
    assert r.due(MIDI, 100) == 2


def test_unread_lists_the_speculation():
    r = Ring(8)
    for t in (1, 2, 3):
        r.push(t, 1, 70)
    take(r, MIDI, 2)
    assert r.unread() == [(2, 1, 70), (3, 1, 70)]


def test_ring_capacity_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        Ring(100)


def test_clock_follows_early_callbacks_at_once_and_late_ones_slowly():
    c = Clock(48000)
    c.block(0, 256, 100.0)
    assert c.monotonic_at(0) == pytest.approx(100.0)
    c.block(256, 256, 100.0 + 256 / 48000 + 0.004)       # 4 ms late (scheduling jitter)
    assert c.monotonic_at(0) == pytest.approx(100.0 + FOLLOW * 0.004)
    c.block(512, 256, 100.0 + 512 / 48000 - 0.001)       # early: the card runs fast, follow at once
    assert c.monotonic_at(0) == pytest.approx(99.999)


def test_clock_extrapolates_between_blocks_but_stalls_with_the_renderer():
    c = Clock(48000)
    now = time.monotonic()
    c.block(4800, 256, now - 0.001)
    t = c.now()
    late = (time.monotonic() - now + 0.001) * 48000
    assert 4800 + 48 <= t <= 4800 + late + 1              # 1 ms (48 frames) and whatever this took, later
    c.block(4800, 256, now - 10.0)                        # renderer stalled 10 s ago
    assert c.now() == 4800 + 2 * 256


def test_tempo_map_converts_ticks_to_frames_and_keeps_the_past_on_a_tempo_change():
    m = TempoMap(48000)
    assert m.frames(44100) == 48000 and m.ticks(48000) == 44100
    m.set_tempo(2.0, at_frame=48000)
    assert m.frames(44100) == 48000                      # what was before the change stays in place
    assert m.frames(88200) == 48000 + 24000              # a second of music now lasts half a second
    assert m.ticks(72000) == 88200


def test_event_log_grows_pops_the_newest_and_reads_back_in_order():
    log = EventLog(capacity=2)
    rows = [(10 * i, 9 * i, i % 4, 60 + i if i % 3 else -1) for i in range(9)]   # grows twice past 2 rows
    for r in rows:
        log.append(*r)
    assert len(log) == 9 and list(map(tuple, log)) == rows and log.last() == rows[-1]
    assert log.pop(3) == rows[6:]
    assert len(log) == 6 and log.last() == rows[5]
    assert log.rows().tolist() == [list(r) for r in rows[:6]]
    with pytest.raises(ValueError):
        log.rows()[0, 0] = 1           # a view for reading only
    log.append(1, 2, 3, 4)
    assert log.last() == (1, 2, 3, 4) and len(log) == 7
    assert log.pop(100) == rows[:6] + [(1, 2, 3, 4)] and log.last() is None and not len(log)
