"""What the engine publishes, without a JACK server: every note once heard (to Control's note listeners, which
OSC subscribers hang on), the player's notes and the engine's figures to the Monitor, and the pieces they are
made of (the APU's levels, the Monitor taking back speculation behind the player's notes).

The same end to end, on `livechip play` with real MIDI in and real UDP: tests/test_live_notes.py and
tests/test_tui_live.py.
"""

import time

import numpy as np

from livechip.core import events as ev
from livechip.apu.apu import Apu
from livechip.apu.driver import Driver
from livechip.control.surface import Control
from livechip.engine.engine import Engine, EngineConfig
from livechip.control.monitor import Monitor
from tests.test_osc_engine import busy_model


def test_apu_levels_follow_the_envelope_and_the_triangle_s_counters():
    apu = Apu(rate=48000)
    drv = Driver(apu.write)
    drv.start(0)
    out = np.zeros(4800, np.float32)
    assert apu.levels() == [0.0, 0.0, 0.0, 0.0]
    drv.note(100, "P1", 69)
    drv.note(100, "TR", 45)
    drv.advance(len(out) * 1789773 // 48000)
    apu.render(out)
    p1, p2, tr, no = apu.levels()
    assert 0 < p1 <= 11 / 15 and p2 == 0 and tr == 1.0 and no == 0   # P1: the default timbre's volume 11
    drv.note(len(out) * 1789773 // 48000, "TR", None)
    drv.advance(2 * len(out) * 1789773 // 48000)
    apu.render(out)
    assert apu.levels()[2] == 0.0


def test_revoking_speculation_looks_past_the_player_s_notes_that_came_in_after_it():
    m = Monitor()
    m.note("P2", 60, 100, speculative=True)
    m.note("P2", 62, 900, speculative=True)     # generated ahead
    m.now(500)
    m.note("P1", 72, 480, source="human")        # then the player's note, heard at 480
    m.revoke(500)
    snap = m.snapshot(past_ticks=1000, ahead_ticks=1000)
    assert [(n.voice, n.pitch) for n in snap.notes] == [("P2", 60), ("P1", 72)]


def test_notes_are_published_once_heard_exactly_as_played():
    control, monitor = Control(), Monitor()
    control.set("horizon", 1.0)          # speculation a second ahead: published when scheduled would show
    control.set("voice/p1/mode", "human")
    got = []
    engine = Engine(busy_model(), EngineConfig(horizon=1.0, audio=False, midi=False, midi_in=False,
                                               worker="thread"), control=control, monitor=monitor,
                    log=lambda msg: None)
    control.on_note(lambda v, p, source, t: got.append((v, p, source, t, engine.synth.frame)))
    engine.start()
    try:
        time.sleep(2.0)
        # the player (here called directly: MIDI in needs a JACK server, see tests/test_live_notes.py)
        at = int(engine.clock.now())
        engine.player.hear([ev.NoteEvent(at, "P1", 72)])
        engine.merge([ev.NoteEvent(engine.tempo.ticks(at), "P1", 72)])   # the speculation after it revoked
        time.sleep(1.5)
    finally:
        engine.stop()
    assert got, "nothing was published"
    rate = engine.rate
    assert all(round(t * rate) < frame for *_, t, frame in got), "a note was published before it was heard"
    played = engine.played().events
    for voice in ev.VOICES:
        heard = [e.pitch for e in played if e.voice == voice]
        published = [p for v, p, *_ in got if v == voice]
        assert published == heard[:len(published)], f"{voice}: what was published is not what was heard"
        assert len(published) > len(heard) - 10       # and it kept up with it
    assert ("P1", 72, "human") in [(v, p, s) for v, p, s, *_ in got]
    human = [n for n in monitor.snapshot(past_ticks=10 * ev.TICKS_PER_SECOND).notes if n.source == "human"]
    assert [(n.voice, n.pitch) for n in human] == [("P1", 72)]
    stats = monitor.snapshot().stats
    assert stats["midi_in"] == "off" and stats["recording"] is False
    assert set(monitor.snapshot().levels) == set(ev.VOICES)
