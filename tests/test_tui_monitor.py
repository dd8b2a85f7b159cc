"""The Monitor: what the engine pushes is what a viewer's snapshot shows, and pushing never waits on viewers."""

import threading
import time

import pytest

from livechip.core.events import TICKS_PER_SECOND
from livechip.control.monitor import Monitor, Note


def test_a_note_lasts_until_its_voice_next_event():
    m = Monitor()
    m.note("P1", 60, 100)
    m.note("P2", 64, 150)
    m.note("P1", 62, 300)
    m.note("P1", None, 500)          # note off
    m.now(400)
    snap = m.snapshot(past_ticks=1000, ahead_ticks=1000)
    assert snap.voice("P1") == (Note("P1", 60, 100, 300), Note("P1", 62, 300, 500))
    assert snap.voice("P2") == (Note("P2", 64, 150, None),)    # nothing after it yet: still sounding
    assert snap.sounding("P1").pitch == 62 and snap.sounding("P2").pitch == 64
    assert snap.sounding("TR") is None


def test_an_explicit_end_is_kept_unless_the_voice_moves_on_earlier():
    m = Monitor()
    m.note("TR", 45, 0, 200)
    m.note("TR", 47, 400, 1000)
    m.note("TR", 48, 600)
    snap = m.snapshot(past_ticks=10_000, ahead_ticks=10_000)
    assert [(n.pitch, n.start, n.end) for n in snap.notes] == [(45, 0, 200), (47, 400, 600), (48, 600, None)]


def test_snapshot_holds_only_the_visible_window():
    m = Monitor()
    m.note("P1", 60, 0, 100)
    m.note("P1", 61, 1000, 1100)
    m.note("P1", 62, 5000, 5100)
    m.now(1050)
    snap = m.snapshot(past_ticks=500, ahead_ticks=500)
    assert (snap.start, snap.end, snap.now) == (550, 1550, 1050)
    assert [n.pitch for n in snap.notes] == [61]


def test_revoke_takes_back_speculative_notes_but_never_the_player_s():
    m = Monitor()
    m.note("P2", 60, 100)
    m.note("P2", 62, 200, speculative=True)
    m.note("P1", 72, 250, source="human")
    m.note("TR", 40, 300, speculative=True)
    m.revoke(150)
    snap = m.snapshot(past_ticks=1000, ahead_ticks=1000)
    assert [(n.voice, n.pitch) for n in snap.notes] == [("P2", 60), ("P1", 72)]
    assert snap.voice("P2")[0].end is None      # its end was a revoked note: open again


def test_what_was_heard_is_never_revoked():
    m = Monitor()
    m.note("P2", 60, 100, speculative=True)
    m.note("P2", 62, 200, speculative=True)
    m.note("P2", 64, 300, speculative=True)
    m.now(250)                                 # the note at 200 has been heard by now
    m.revoke(150)
    assert [n.pitch for n in m.snapshot(past_ticks=1000, ahead_ticks=1000).notes] == [60, 62]


def test_stats_and_levels_are_in_the_snapshot_and_it_is_immutable():
    m = Monitor()
    m.stats(tokens_per_s=400.0, xruns=0, model_name="default")
    m.stats(xruns=2)
    m.levels({"P1": 0.5})
    snap = m.snapshot()
    assert dict(snap.stats) == {"tokens_per_s": 400.0, "xruns": 2, "model_name": "default"}
    assert snap.levels["P1"] == 0.5
    with pytest.raises(TypeError):
        snap.stats["xruns"] = 0
    with pytest.raises(AttributeError):
        snap.now = 5
    m.stats(xruns=3)
    assert snap.stats["xruns"] == 2             # a snapshot does not change under the viewer


def test_history_is_bounded():
    m = Monitor(history=100)
    for k in range(1000):
        m.note("NO", 1 + k % 16, k * 10)
    m.now(10_000)
    assert len(m.snapshot(past_ticks=100_000, ahead_ticks=0).notes) == 100


def test_pushing_from_two_threads_while_a_viewer_reads():
    """The engine thread and the MIDI input thread push while the UI takes snapshots: nothing is lost or torn.
    (The longest single push is printed: that is GIL scheduling among three busy threads, not the lock.)"""
    m = Monitor(history=100_000)
    n = 20_000
    worst = []

    def engine():
        w = 0.0
        for k in range(n):
            t0 = time.perf_counter()
            m.note("P2", 60 + k % 12, k, speculative=True)
            m.now(k)
            w = max(w, time.perf_counter() - t0)
        worst.append(w)

    def player():
        for k in range(n):
            m.note("P1", 72, k, source="human")

    stop = threading.Event()
    seen = []

    def viewer():
        while not stop.is_set():
            seen.append(len(m.snapshot(past_ticks=TICKS_PER_SECOND, ahead_ticks=0).notes))

    threads = [threading.Thread(target=f) for f in (engine, player)]
    v = threading.Thread(target=viewer)
    v.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    v.join()
    snap = m.snapshot(past_ticks=10 * n, ahead_ticks=10 * n)
    assert len(snap.voice("P2")) == n and len(snap.voice("P1")) == n
    assert seen, "the viewer took snapshots while the engine pushed"
    print(f"worst single push while a viewer read: {worst[0] * 1e3:.2f} ms")
