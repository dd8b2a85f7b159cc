"""The control surface: one checked, thread-safe place for every setting, used by OSC, presets and the TUI."""

import dataclasses
import math
import threading

import pytest
from hypothesis import given, settings, strategies as st

from livechip.apu.driver import DEFAULTS, Timbre
from livechip.control.surface import ACTIONS, DEFAULT_CHANNEL_MAP, Control, ControlError, State, VOICE_MODES, leaves
from livechip.core.errors import LivechipError
from tests.control_helpers import assert_valid_state


def test_defaults_are_the_documented_ones():
    snap = Control().snapshot()
    assert (snap["temperature"], snap["top_k"], snap["top_p"], snap["seed"]) == (1.0, 32, 1.0, None)
    assert snap["tempo"] == 1.0
    assert all(v["mode"] == "auto" and v["volume"] == 1.0 and v["release_after"] == 4.0
               for v in snap["voices"].values())
    assert snap["voices"]["P1"]["timbre"] == DEFAULTS["P1"].to_dict()
    assert snap["channel_map"] == DEFAULT_CHANNEL_MAP == {1: "P1", 2: "P2", 3: "TR", 4: "NO", 10: "NO"}
    assert snap["playing"] is True and snap["recording"] is False
    assert_valid_state(snap)


@pytest.mark.parametrize("path, value, stored", [
    ("temperature", 1.5, 1.5), ("temperature", 7, 5.0), ("top_k", 0, 0), ("top_k", 12.6, 13), ("top_k", 1000, 630),
    ("top_k", -3, 0), ("top_p", 0.9, 0.9), ("top_p", 1.5, 1.0), ("tempo", 0.1, 0.5), ("tempo", 3, 2.0),
    ("horizon", 0.5, 0.5), ("seed", 42, 42), ("seed", -1, None), ("seed", "random", None), ("seed", 7.0, 7),
    ("voice/p1/mode", "human", "human"), ("voice/P2/mode", "OFF", "off"), ("voice/tr/mode", 1, "human"),
    ("voice/no/mode", "model", "model"), ("voice/no/mode", 3, "auto"), ("voice/p1/release_after", 8, 8.0),
    ("voice/p2/release_after", 0, 0.1), ("voice/tr/release_after", 1000, 60.0),
    ("voice/no/volume", 0.25, 0.25), ("voice/no/volume", 2, 1.0), ("voice/p1/timbre/duty", 3, 3),
    ("voice/p1/timbre/duty", 9, 3), ("voice/no/timbre/noise_mode", 1.0, 1), ("voice/p2/timbre/decay", 0.5, 0.5),
    ("channel/5", "p2", "P2"), ("channel/1", "none", None), ("drum/36", 3, 3), ("drum/36", 40, 16),
    ("split/point", 60, 60), ("split/point", -1, None), ("split/low", "tr", "TR"), ("call_response", 1, True),
    ("call_response", "off", False), ("response_gap", 100, 10.0),
])
def test_set_stores_checked_and_clamped_values(path, value, stored):
    c = Control()
    assert c.set(path, value) == stored
    assert c.get(path) == stored
    assert_valid_state(c.snapshot())


@pytest.mark.parametrize("path, value, reason", [
    ("temperature", math.nan, "finite"), ("temperature", math.inf, "finite"), ("top_p", -math.inf, "finite"),
    ("temperature", 0, "greater than 0"), ("top_p", 0.0, "greater than 0"), ("temperature", "hot", "number"),
    ("temperature", True, "number"), ("temperature", [1.0], "number"), ("top_k", None, "number"),
    ("voice/p1/mode", "loud", "model, human, off, auto"), ("voice/p1/mode", 4, "model, human, off, auto"),
    ("voice/p1/release_after", "long", "number"), ("voice/p1/release_after", math.nan, "finite"),
    ("voice/p5/mode", "off", "no voice"), ("voice/p1/timbre/shimmer", 1, "unknown timbre setting"),
    ("voice/p1/colour", 1, "not a setting"), ("volume", 1, "not a setting"), ("channel/17", "P1", "1..16"),
    ("channel/2", "P5", "one of"), ("drum/200", 3, "0..127"), ("seed", 1.5, "whole number"), ("seed", -7, "whole"),
    ("playing", False, "actions"), ("recording", True, "actions"), ("", 1, "not a setting"),
    ("x" * 10000, 1, "not a setting"), ("call_response", 2, "on/off"),
])
def test_bad_values_are_refused_and_change_nothing(path, value, reason):
    c = Control()
    before, version = c.snapshot(), c.version
    with pytest.raises(ControlError, match=reason) as e:
        c.set(path, value)
    assert isinstance(e.value, LivechipError)
    assert c.snapshot() == before and c.version == version


def test_every_timbre_field_of_the_apu_driver_is_a_setting():
    c = Control()
    for f in dataclasses.fields(Timbre):
        lo, hi = Timbre._LIMITS[f.name]
        for voice in ("p1", "p2", "tr", "no"):
            assert c.set(f"voice/{voice}/timbre/{f.name}", hi) == hi
            assert c.get(f"voice/{voice}/timbre/{f.name}") == hi
    for v in c.snapshot()["voices"].values():
        Timbre(**v["timbre"])


def test_compound_settings_replace_as_a_whole_or_not_at_all():
    c = Control()
    c.set("voice/p1", {"mode": "off", "volume": 0.5, "timbre": {"duty": 0}})
    assert c.get("voice/p1")["mode"] == "off" and c.get("voice/p1/timbre/duty") == 0
    c.set("channel_map", {"1": "tr", 16: "no"})
    assert c.get("channel_map") == {1: "TR", 16: "NO"}
    before = c.snapshot()
    with pytest.raises(ControlError):
        c.set("voice/p2", {"mode": "off", "volume": "loud"})
    with pytest.raises(ControlError):
        c.set_many([("temperature", 2.0), ("top_k", "many")])
    assert c.snapshot() == before


def test_version_counts_changes_and_snapshot_is_a_private_copy():
    c = Control()
    v0 = c.version
    c.set("temperature", 1.1)
    c.set_many([("top_k", 5), ("voice/tr/mode", "off")])
    assert c.version == v0 + 2
    snap = c.snapshot()
    snap["voices"]["TR"]["mode"] = "human"
    snap["channel_map"][1] = "NO"
    assert c.get("voice/tr/mode") == "off" and c.get("channel/1") == "P1"


def test_subscribers_hear_each_change_outside_the_lock():
    c = Control()
    heard = []

    def fn(path, value):
        heard.append((path, value, c.get(path) if "/" not in path or path.startswith("voice") else None))
        c.snapshot()            # would deadlock if the lock were held while calling subscribers

    c.subscribe(fn)
    c.set("voice/p1/mode", "human")
    c.set("tempo", 1.5)
    assert heard == [("voice/p1/mode", "human", "human"), ("tempo", 1.5, 1.5)]
    c.unsubscribe(fn)
    c.set("tempo", 1.0)
    assert len(heard) == 2


def test_a_failing_subscriber_does_not_stop_the_change_or_the_others():
    c = Control()
    seen = []
    c.subscribe(lambda p, v: 1 / 0)
    c.subscribe(lambda p, v: seen.append(p))
    assert c.set("top_p", 0.5) == 0.5
    assert seen == ["top_p"] and c.get("top_p") == 0.5


def test_actions_run_the_engines_handlers_outside_the_lock():
    c = Control()
    calls = []
    c.on_action("reprime", lambda path: calls.append(("reprime", path, c.get("temperature"))) or "primed")
    c.on_action("panic", lambda: calls.append(("panic",)))
    assert c.act("reprime", "song.mid") == "primed"
    c.act("panic")
    assert calls == [("reprime", "song.mid", 1.0), ("panic",)]


def test_actions_check_names_and_arguments():
    c = Control()
    with pytest.raises(ControlError, match="no action"):
        c.act("explode")
    with pytest.raises(ControlError, match="no action"):
        c.on_action("explode", print)
    c.on_action("reprime", lambda p: None)
    with pytest.raises(ControlError, match="one path"):
        c.act("reprime")
    with pytest.raises(ControlError, match="path"):
        c.act("reprime", 5)
    with pytest.raises(ControlError, match="path"):
        c.act("reprime", "x" * 5000)
    with pytest.raises(ControlError, match="no arguments"):
        c.act("stop", "now")


def test_engine_actions_without_an_engine_say_so_and_change_no_flag():
    # the flags following the engine's transport and takes: tests/test_live_actions.py, on `livechip play`
    c = Control()
    changes = []
    c.subscribe(lambda p, v: changes.append((p, v)))
    for name in ("panic", "reset", "record_start", "record_stop", "play", "stop", "quit"):
        with pytest.raises(ControlError, match="no engine"):
            c.act(name)
    with pytest.raises(ControlError, match="no engine"):
        c.act("reprime", "song.mid")
    assert c.get("recording") is False and c.get("playing") is True and changes == []


def test_a_failing_record_handler_leaves_the_flag_alone():
    c = Control()
    c.on_action("record_start", lambda: (_ for _ in ()).throw(LivechipError("disk full")))
    with pytest.raises(LivechipError, match="disk full"):
        c.act("record_start")
    assert c.get("recording") is False


def test_notes_and_engine_figures_reach_listeners_and_snapshot():
    c = Control()
    notes = []
    c.on_note(lambda *a: notes.append(a))
    c.note("P1", 64, "human", 1.5)
    c.note("P1", None, "human", 2.0)
    assert notes == [("P1", 64, "human", 1.5), ("P1", None, "human", 2.0)]
    v = c.version
    c.report(model="default", tokens_per_s=210.5)
    assert c.snapshot()["info"] == {"model": "default", "tokens_per_s": 210.5} and c.version == v


def test_replace_puts_a_whole_state_and_notifies_only_what_changed():
    c = Control(State(playing=False))      # as after the engine's transport/stop
    changes = []
    c.subscribe(lambda p, v: changes.append((p, v)))
    s = State()
    s.temperature = 1.3
    del s.channel_map[10]
    c.replace(s)
    assert changes == [("temperature", 1.3), ("channel/10", None)]
    assert c.get("playing") is False       # the transport stays as it was


def test_leaves_flattens_compound_values_to_single_settings():
    assert leaves("voice/p1", {"mode": "off", "volume": 1.0}) == [("voice/p1/mode", "off"), ("voice/p1/volume", 1.0)]
    assert leaves("channel_map", {1: "P1"}) == [("channel/1", "P1")]
    assert ("voice/no/timbre/noise_mode", 0) in leaves("", Control().snapshot())


def test_concurrent_writers_and_readers_never_see_an_invalid_state():
    c = Control()
    stop = threading.Event()
    errors = []

    def writer(seed):
        import random
        rnd = random.Random(seed)
        paths = ["temperature", "top_k", "top_p", "tempo", "voice/p1/mode", "voice/no/volume", "channel/3",
                 "voice/p2/timbre/duty", "split/point"]
        values = [0.5, 3.0, 100, -1, "human", "off", "TR", 2, 1e9, math.nan, "x", None]
        while not stop.is_set():
            try:
                c.set(rnd.choice(paths), rnd.choice(values))
            except ControlError:
                pass
            except Exception as e:     # pragma: no cover - a failure shows here
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(300):
            assert_valid_state(c.snapshot())
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert c.version > 0


values = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                   st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=20), st.sampled_from(list(VOICE_MODES) + ["P1", "tr", "no", "on", "random"]),
                   st.lists(st.integers(), max_size=2), st.binary(max_size=8))
paths = st.one_of(st.sampled_from([p for p, _ in leaves("", Control().snapshot())
                                   if p not in ("info", "version")] + ["channel/7", "drum/60", "split"]),
                  st.text(max_size=30))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(paths, values), max_size=6))
def test_any_sequence_of_sets_leaves_a_valid_state(items):
    c = Control()
    for path, value in items:
        before = c.snapshot()
        try:
            c.set(path, value)
        except ControlError:
            assert c.snapshot() == before
        assert_valid_state(c.snapshot())


def test_action_names_are_the_contracts():
    assert set(ACTIONS) == {"panic", "reset", "reprime", "record_start", "record_stop", "record_save",
                            "preset_load", "preset_save", "play", "stop", "quit"}
