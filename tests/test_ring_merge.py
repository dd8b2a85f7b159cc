"""The schedule's time-ordered reader (`livechip.realtime.ring.Merge`), which the audio callback and the MIDI sender
both read the model's and the player's rings with: earliest event first over all rings, ties to the earlier ring,
nothing past `until` or a ring's revocation limit, and no container built per event."""

import tracemalloc

from livechip.core.events import OFF
from livechip.realtime.ring import AUDIO, MIDI, NEVER, Merge, Ring


def rings():
    model, human = Ring(64), Ring(64)
    for t, v, p in [(10, 0, 60), (30, 1, 62), (30, 2, OFF), (50, 0, OFF)]:
        model.push(t, v, p)
    for t, v, p in [(5, 3, 4), (30, 3, OFF), (40, 0, 72)]:
        human.push(t, v, p)
    return model, human


def read(m, until=NEVER):
    out = []
    with m:
        while (t := m.next(until)) != NEVER:
            out.append((int(t), m.voice(), m.pitch()))
            m.advance()
    return out


def test_events_come_in_time_order_over_all_rings_ties_to_the_earlier_ring():
    assert read(Merge(rings(), AUDIO)) == [(5, 3, 4), (10, 0, 60), (30, 1, 62), (30, 2, OFF), (30, 3, OFF),
                                          (40, 0, 72), (50, 0, OFF)]


def test_until_stops_before_it_and_the_rest_waits_for_the_next_pass():
    m = Merge(rings(), AUDIO)
    assert read(m, 30) == [(5, 3, 4), (10, 0, 60)]
    assert read(m, 45) == [(30, 1, 62), (30, 2, OFF), (30, 3, OFF), (40, 0, 72)]
    assert read(m) == [(50, 0, OFF)] and read(m) == []


def test_each_consumer_reads_everything_once():
    rs = rings()
    a, b = Merge(rs, AUDIO), Merge(rs, MIDI)
    assert read(a, 35) and read(b) == read(Merge(rings(), MIDI))
    assert [t for t, _, _ in read(a)] == [40, 50]


def test_a_revoked_event_is_not_read():
    model, human = rings()
    assert model.revoke_after(30) == [(50, 0, OFF)]
    assert [t for t, _, _ in read(Merge((model, human), AUDIO))] == [5, 10, 30, 30, 30, 40]


def test_a_pass_marks_every_ring_so_revocation_waits_for_it():
    model, human = rings()
    m = Merge((model, human), AUDIO)
    with m:
        assert all(int(r.ctl[3]) & 1 for r in (model, human))     # AUDIO's pass counter is odd: in a pass
    assert not any(int(r.ctl[3]) & 1 for r in (model, human))


def test_reading_builds_no_container_per_event():
    big = [Ring(4096), Ring(4096)]
    for t in range(4000):
        big[t & 1].push(t, t & 3, OFF if t % 3 == 0 else 40)
    m = Merge(big, AUDIO)
    with m:                       # warm up: the first calls may allocate once
        m.next(1)
    tracemalloc.start()
    with m:
        while m.next() != NEVER:
            m.voice(), m.pitch()
            m.advance()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert m.next() == NEVER
    assert peak < 4000            # under a byte an event: a tuple or list kept per event would take far more
