"""Steering as settings (docs/steering.md, live part): key, scale, density and each voice's low and high are rows of
the settings table, so the control surface, OSC (real UDP, no engine here), presets, the `play` flags and the
terminal UI's keys (Textual's Pilot) all take them, checked the same way. What the engine does with them is
tested on `livechip play` in tests/test_live_steering.py."""

import pytest

from livechip.cli.main import build_parser
from livechip.cli.play import _control
from livechip.cli.steer import parse_steering
from livechip.control.presets import load_preset, preset_data, preset_state, save_preset
from livechip.control.state import steering
from livechip.control.surface import Control, ControlError
from livechip.core.errors import FileFormatError, LivechipError
from livechip.model.steer import Steering
from livechip.tui.app import LivechipApp
from tests.control_helpers import served
from tests.tui_helpers import run, screen_text, session_monitor


def test_defaults_steer_nothing():
    c = Control()
    assert (c.get("key"), c.get("scale"), c.get("density")) == ("off", "major", 1.0)
    assert c.get("voice/p1/low") is None and c.get("voice/no/high") is None
    assert steering(c.state()) == Steering()


def test_values_are_checked_and_read_back():
    c = Control()
    assert c.set("key", "f#") == "F#" and c.set("key", "Bb") == "Bb" and c.set("key", 2) == "D"
    assert c.set("key", 2.0) == "D" and c.set("key", "OFF") == "off"
    assert c.set("scale", "Harmonic minor") == "harmonic_minor"
    assert c.set("density", 9) == 4.0 and c.set("density", 0.5) == 0.5       # numbers clamp, as every row
    c.set("key", "E")
    assert steering(c.snapshot()) == Steering("E", "harmonic_minor", 0.5)


@pytest.mark.parametrize("path, value", [("key", "H"), ("key", 12), ("key", ""), ("scale", "jazz"),
                                         ("density", "lots"), ("density", float("nan")), ("voice/p1/low", "C4")])
def test_wrong_values_are_refused_and_change_nothing(path, value):
    c = Control()
    before = c.snapshot()
    with pytest.raises(ControlError, match=f"{path}: must be"):
        c.set(path, value)
    assert c.snapshot() == before


def test_a_low_above_the_high_is_refused_and_both_at_once_are_taken():
    c = Control()
    c.set("voice/p1/high", 72)
    with pytest.raises(ControlError, match="voice/p1/low: 80 is above the voice's high 72"):
        c.set("voice/p1/low", 80)
    assert c.get("voice/p1/low") is None
    with pytest.raises(ControlError, match="above"):
        c.set_many([("voice/p1/low", 60), ("voice/p1/high", 50)])
    assert (c.get("voice/p1/low"), c.get("voice/p1/high")) == (None, 72)
    c.set("voice/p1", {"low": 80, "high": 90})              # a table: checked once it is all in
    assert steering(c.state()).range_of("P1") == (80, 90)
    assert c.set("voice/p1/low", -1) is None                 # -1 or none: no limit
    assert steering(c.state()).range_of("P1") == (33, 90)


def test_ends_beyond_a_voice_s_notes_count_as_its_nearest_note():
    c = Control()
    c.set_many([("voice/no/low", 40), ("voice/tr/high", 5)])
    s = steering(c.state())
    assert s.range_of("NO") == (16, 16) and s.range_of("TR") == (21, 21)


# --- OSC (the server `livechip play` starts; no engine) ----------------------------------------------------------

@pytest.fixture
def osc():
    with served() as (server, client):
        yield server.control, client


def test_osc_sets_gets_and_refuses(osc):
    control, client = osc
    assert client.ask("/livechip/key") == ["off"] and client.ask("/livechip/voice/p1/low") == [-1]
    client.send("/livechip/key", "D")
    client.send("/livechip/scale", "dorian")
    client.send("/livechip/voice/p2/high", 70)
    assert client.ask("/livechip/key") == ["D"] and client.ask("/livechip/scale") == ["dorian"]
    for address, bad in (("key", "H"), ("scale", "jazz"), ("voice/p2/low", 80)):
        client.send(f"/livechip/{address}", bad)
        assert client.wait_for("/livechip/error")[0] == f"/livechip/{address}"
    assert steering(control.state()) == Steering("D", "dorian", 1.0, {"P2": (None, 70)})
    client.send("/livechip/status")
    got = dict(client.receive())
    assert got["/livechip/key"] == ["D"] and got["/livechip/scale"] == ["dorian"]
    assert got["/livechip/density"] == [1.0] and got["/livechip/voice/p2/high"] == [70]
    assert got["/livechip/voice/p2/low"] == [-1]


# --- presets ---------------------------------------------------------------------------------------------------

PRESET = """
name = "steered"
[steer]
key = "A"
scale = "blues"
density = 2.0
[voices.TR]
low = 28
high = 52
"""


def test_a_preset_sets_steering_and_saves_it_back(tmp_path):
    path = tmp_path / "steered.toml"
    path.write_text(PRESET)
    state = preset_state(load_preset(path))
    assert steering(state) == Steering("A", "blues", 2.0, {"TR": (28, 52)})
    c = Control(state)
    saved = save_preset(c, tmp_path / "again")
    assert steering(preset_state(load_preset(saved))) == steering(state)
    assert preset_data(Control().state(), "plain")["steer"] == {"key": "off", "scale": "major", "density": 1.0}


@pytest.mark.parametrize("text, where", [('[steer]\nkey = "H"\n', "line 2, key steer.key"),
                                         ('[steer]\nmood = "sad"\n', "line 2, key steer.mood"),
                                         ("[voices.P1]\nlow = 80\nhigh = 72\n", "key voices.P1.low")])
def test_a_bad_steering_preset_is_refused_naming_its_key(tmp_path, text, where):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=where.replace(".", r"\.")):
        load_preset(path)


# --- flags -------------------------------------------------------------------------------------------------------

def play_args(*flags):
    return build_parser().parse_args(["play", *flags])


def test_play_flags_set_the_steering_over_a_preset(tmp_path):
    c = _control(play_args("--key", "D", "--scale", "minor", "--density", "3", "--low", "P1:60", "--high", "P1:72"))
    assert steering(c.state()) == Steering("D", "minor", 3.0, {"P1": (60, 72)})
    path = tmp_path / "steered.toml"
    path.write_text(PRESET)
    c = _control(play_args("--preset", str(path), "--key", "C", "--high", "TR:60"))
    assert steering(c.state()) == Steering("C", "blues", 2.0, {"TR": (28, 60)})      # the rest is the preset's


@pytest.mark.parametrize("flags, said", [(("--key", "H"), "--key: unknown key 'H'"),
                                         (("--scale", "jazz"), "--scale: unknown scale 'jazz'"),
                                         (("--density", "9"), "--density must be 0.25 .. 4"),
                                         (("--low", "P1"), "--low: expected VOICE:NOTE"),
                                         (("--low", "P1:80", "--high", "P1:72"), "P1 low 80 is above its high 72")])
def test_bad_play_flags_are_one_clear_error(flags, said):
    with pytest.raises(LivechipError, match=said):
        _control(play_args(*flags))


def test_generate_reads_the_same_flags():
    args = build_parser().parse_args(["generate", "-o", "x.mid", "--key", "Eb", "--low", "TR:40"])
    assert parse_steering(args) == Steering("Eb", "major", 1.0, {"TR": (40, None)})


# --- the terminal UI's keys --------------------------------------------------------------------------------------

def test_tui_keys_step_key_scale_and_density(tmp_path):
    c = Control()
    app = LivechipApp(c, session_monitor(tmp_path), fps=0)
    seen = []

    async def go():
        async with app.run_test(size=(160, 48)) as pilot:
            for keys, want in ((["Y", "Y", "Y"], ("D", "major", 1.0)), (["M"], ("D", "minor", 1.0)),
                               (["O", "O"], ("D", "minor", 2.0)), (["y", "y", "y"], ("off", "minor", 2.0)),
                               (["y", "m", "m", "o", "o", "o"], ("B", "chromatic", 0.75))):
                for k in keys:
                    await pilot.press(k)
                    await pilot.pause()
                seen.append(((c.get("key"), c.get("scale"), c.get("density")), screen_text(app).splitlines()[0]))

    run(go())
    assert [s for s, _ in seen] == [("D", "major", 1.0), ("D", "minor", 1.0), ("D", "minor", 2.0),
                                    ("off", "minor", 2.0), ("B", "chromatic", 0.75)]
    assert "D major" in seen[0][1] and "density 2" in seen[2][1] and "minor" not in seen[3][1]


# --- the engine with its model in the engine thread (no devices; the model process: test_live_steering.py) -----

def test_the_thread_worker_takes_a_key_change_within_the_horizon(tmp_path):
    from livechip.core.events import TICKS_PER_SECOND
    from livechip.engine.engine import Engine, EngineConfig
    from tests.jack_helpers import note_happy_model
    control = Control()
    control.set("seed", 3)
    e = Engine(note_happy_model(tmp_path / "model"), EngineConfig(audio=False, midi=False, worker="thread"),
               control=control, log=lambda m: None)
    e.start()
    try:
        e.run(1.5)
        at = e.clock.seconds()
        control.set_many([("key", "D"), ("scale", "major")])
        e.run(2.5)
        assert e.worker.stream.steering == Steering("D", "major")
        heard = [(x.time / TICKS_PER_SECOND, x.pitch) for x in e.played().events
                 if x.pitch is not None and x.voice != "NO"]
    finally:
        e.stop()
    before = [p for t, p in heard if t < at]
    after = [p for t, p in heard if t > at + 1.0]
    assert len([p for p in before if p % 12 not in {2, 4, 6, 7, 9, 11, 1}]) >= 5, before
    assert len(after) >= 10 and all(p % 12 in {2, 4, 6, 7, 9, 11, 1} for p in after), after


def test_the_engine_s_process_still_imports_no_torch():
    """Steering values come from livechip.model.steer; the engine's side reads them without loading torch."""
    import subprocess
    import sys
    from pathlib import Path
    code = ("import sys, livechip.cli.play, livechip.cli.steer, livechip.control.osc, livechip.engine.engine, "
            "livechip.tui.app; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False", out.stderr
