"""The player's notes onto the NES voices: channel map, split, monophony, folding, drums, lost note-offs."""

from hypothesis import given, settings, strategies as st

from livechip.core import events as ev
from livechip.control.surface import Control
from livechip.engine.jam import Router, Turns


def on(ch, key, vel=100):
    return [0x90 | (ch - 1), key, vel]


def off(ch, key):
    return [0x80 | (ch - 1), key, 64]


def router(*human, timeout=None, **snap_changes):
    """The voices named `human`, the others the model's (auto mode: tests/test_auto_voice.py)."""
    c = Control()
    for v in ev.VOICES:
        c.set(f"voice/{v}/mode", "human" if v in human else "model")
    for k, v in snap_changes.items():
        c.set(k, v)
    return Router.from_snapshot(c.snapshot(), timeout=timeout)


def notes(events):
    return [(e.time, e.voice, e.pitch) for e in events]


def test_default_channel_map_routes_channels_to_human_voices():
    r = router("P1", "P2", "TR", "NO")
    assert notes(r.message(on(1, 60), 0)) == [(0, "P1", 60)]
    assert notes(r.message(on(2, 62), 1)) == [(1, "P2", 62)]
    assert notes(r.message(on(3, 40), 2)) == [(2, "TR", 40)]
    assert notes(r.message(on(10, 36), 3)) == [(3, "NO", 2)]     # GM kick -> a dark noise
    assert notes(r.message(on(4, 42), 4)) == [(4, "NO", 14)]     # closed hi-hat, livechip's own channel 4
    assert r.message(on(5, 60), 5) == [] and r.ignored == 1      # channel 5 is not mapped


def test_only_voices_in_human_mode_take_notes():
    r = router("P1")
    assert r.message(on(2, 60), 0) == []                           # P2 is the model's
    assert r.ignored == 1
    assert notes(r.message(on(1, 60), 0)) == [(0, "P1", 60)]


def test_split_sends_low_keys_to_the_bass_and_high_keys_to_the_lead():
    r = router("P1", "TR", **{"split/point": 60, "split/channel": 1})
    assert notes(r.message(on(1, 48), 0)) == [(0, "TR", 48)]
    assert notes(r.message(on(1, 72), 1)) == [(1, "P1", 72)]
    assert notes(r.message(off(1, 48), 2)) == [(2, "TR", None)]
    assert notes(r.message(off(1, 72), 3)) == [(3, "P1", None)]


def test_last_note_priority_and_a_release_of_a_silent_key_does_nothing():
    r = router("P1")
    r.message(on(1, 60), 0)
    assert notes(r.message(on(1, 64), 1)) == [(1, "P1", 64)]       # the newest key sounds
    assert notes(r.message(on(1, 67), 2)) == [(2, "P1", 67)]
    assert r.message(off(1, 64), 3) == []                          # 64 is not sounding: nothing changes
    assert notes(r.message(off(1, 67), 4)) == [(4, "P1", 60)]      # back to the newest key still held
    assert notes(r.message(off(1, 60), 5)) == [(5, "P1", None)]
    assert r.message(off(1, 60), 6) == []                          # a second release of the same key
    assert not r.holding


def test_note_on_with_velocity_zero_is_a_release():
    r = router("P1")
    r.message(on(1, 60), 0)
    assert notes(r.message(on(1, 60, 0), 1)) == [(1, "P1", None)]


def test_pitches_outside_a_voice_are_folded_by_octaves():
    r = router("P1", "TR")
    assert notes(r.message(on(1, 21), 0)) == [(0, "P1", 33)]       # A0 -> A1, the pulse's lowest
    assert notes(r.message(on(1, 120), 1)) == [(1, "P1", 108)]     # C9 -> C8
    assert notes(r.message(on(3, 10), 2)) == [(2, "TR", 22)]


def test_drum_map_from_the_control_state_is_used():
    r = router("NO", **{"drum/36": 5})
    assert notes(r.message(on(10, 36), 0)) == [(0, "NO", 5)]
    assert notes(r.message(on(10, 81), 1)) == [(1, "NO", 15)]      # off the map: livechip's GM table
    assert notes(r.message(on(10, 20), 2)) == [(2, "NO", 1)]       # below the drums: the darkest noise


def test_lost_note_off_is_released_after_the_timeout():
    r = router("P1", "TR", timeout=100)
    r.message(on(1, 60), 0)
    r.message(on(3, 40), 50)
    assert r.expire(99) == []
    assert notes(r.expire(100)) == [(100, "P1", None)]
    assert notes(r.expire(150)) == [(150, "TR", None)]
    assert not r.holding


def test_release_all_lets_go_of_every_voice():
    r = router("P1", "P2", "NO")
    r.message(on(1, 60), 0)
    r.message(on(2, 62), 0)
    r.message(on(1, 64), 1)
    assert notes(r.release_all(5)) == [(5, "P1", None), (5, "P2", None)]
    assert r.release_all(6) == []
    assert r.message(off(1, 60), 7) == []


def test_leaving_human_mode_releases_that_voices_notes():
    c = Control()
    c.set("voice/p1/mode", "human")
    r = Router.from_snapshot(c.snapshot())
    r.message(on(1, 60), 0)
    c.set("voice/p1/mode", "model")
    assert notes(r.configure(c.snapshot(), 10)) == [(10, "P1", None)]
    assert r.message(on(1, 62), 11) == []


def test_malformed_and_non_note_messages_are_dropped():
    r = router("P1")
    for m in ([], [0x90], [0x90, 60], [0x90, 200, 100], [0x90, 60, 128], [60, 100], [0x3C, 0x40, 0x10],
              [0xF0, 1, 2, 3, 0xF7], [0xB0, 123, 0], [0xE0, 0, 64], [0xF8], [0x90, 60, 100, 5]):
        assert r.message(m, 0) == []
    assert r.dropped == 12 and not r.holding


def test_times_never_go_backwards():
    r = router("P1")
    r.message(on(1, 60), 10)
    assert notes(r.message(off(1, 60), 5)) == [(10, "P1", None)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
                          st.integers(1, 4)), max_size=80))
def test_any_message_stream_keeps_monophony_and_ends_silent(raw):
    """Whatever arrives (garbage included), each voice's events describe one note at a time, and a panic
    leaves nothing sounding."""
    r = router("P1", "P2", "TR", "NO", timeout=30)
    sounding = {}
    t = 0
    for a, b, c, n in raw:
        t += n
        msg = [a, b, c][:max(1, n - 1)] if n == 4 else [a, b, c]
        for e in r.message(msg, t) + r.expire(t):
            lo, hi = ev.PITCH_RANGE[e.voice]
            assert e.pitch is None or lo <= e.pitch <= hi
            sounding[e.voice] = e.pitch
        assert {v: p for v, p in sounding.items() if p is not None} == r.sounding()
    for e in r.release_all(t + 1):
        sounding[e.voice] = e.pitch
    assert all(p is None for p in sounding.values())


def test_turns_wait_while_the_player_plays_and_answer_after_the_gap():
    turns = Turns(gap=50)
    assert turns.answering(0)                       # nobody played yet
    turns.heard(100)
    assert not turns.answering(120)
    assert not turns.answering(200, holding=True)   # a held note is still playing
    assert turns.answering(150)
    assert turns.answer_at() == 150
