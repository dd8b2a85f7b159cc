"""Presets: TOML files that set the whole instrument; save then load gives the same state; bad files change nothing."""

import os
from pathlib import Path
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from livechip.control import presets
from livechip.control.surface import Control
from livechip.core.errors import FileFormatError, LivechipError
from tests.control_helpers import assert_valid_state

SHIPPED = sorted(p.stem for p in presets.SHIPPED.glob("*.toml"))


def comparable(snap):
    snap = dict(snap)
    for k in ("info", "version", "playing", "recording"):
        snap.pop(k)
    return snap


def test_the_promised_presets_are_shipped():
    assert {"default", "accompany", "call-and-response", "sparse-ambient"} <= set(SHIPPED)
    assert set(SHIPPED) <= set(presets.list_presets())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_loads_and_applies(name):
    data = presets.load_preset(name)
    assert isinstance(data.get("name"), str) and data.get("description")
    c = Control()
    presets.apply_preset(c, data)
    assert_valid_state(c.snapshot())


def test_the_default_preset_is_the_default_state():
    c = Control()
    presets.apply_preset(c, presets.load_preset("default"))
    assert comparable(c.snapshot()) == comparable(Control().snapshot())


def test_what_the_shipped_presets_set_up():
    c = Control()
    presets.apply_preset(c, presets.load_preset("accompany"))
    assert c.get("voice/p1/mode") == "human"
    assert [c.get(f"voice/{v}/mode") for v in ("p2", "tr", "no")] == ["auto"] * 3
    presets.apply_preset(c, presets.load_preset("call-and-response"))
    assert c.get("call_response") is True and c.get("voice/p1/mode") == "human"
    presets.apply_preset(c, presets.load_preset("sparse-ambient"))
    assert c.get("voice/no/mode") == "off" and c.get("tempo") < 1 and c.get("call_response") is False
    assert c.get("voice/p1/mode") == "auto"       # what a preset leaves out is back to its default
    presets.apply_preset(c, presets.load_preset("split-keyboard"))
    assert c.get("split") == {"point": 60, "channel": 1, "low": "TR", "high": "P1"}


def test_save_then_load_gives_the_same_state(tmp_path):
    c = Control()
    c.set_many([("temperature", 1.7), ("top_k", 5), ("top_p", 0.8), ("seed", 99), ("tempo", 0.75),
                ("voice/tr/mode", "off"), ("voice/p2/volume", 0.3), ("voice/no/timbre/noise_mode", 1),
                ("voice/p1/timbre/vibrato_depth", 33.5), ("channel/1", "none"), ("channel/5", "P2"),
                ("drum/36", None), ("drum/60", 16), ("split/point", 64), ("call_response", True)])
    path = presets.save_preset(c, tmp_path / "mine.toml")
    other = Control()
    presets.apply_preset(other, presets.load_preset(path))
    assert comparable(other.snapshot()) == comparable(c.snapshot())


def test_save_adds_the_toml_suffix_and_load_finds_it_by_path(tmp_path):
    c = Control()
    c.set("temperature", 0.5)
    path = presets.save_preset(c, tmp_path / "take")
    assert path.endswith("take.toml")
    assert presets.load_preset(path)["sampling"]["temperature"] == 0.5


settings_values = st.fixed_dictionaries({
    "temperature": st.floats(0.01, 5), "top_k": st.integers(0, 630), "top_p": st.floats(0.01, 1),
    "seed": st.one_of(st.none(), st.integers(0, 2**63 - 1)), "tempo": st.floats(0.5, 2),
    "horizon": st.floats(0.05, 10), "voice/p1/mode": st.sampled_from(["model", "human", "off", "auto"]),
    "voice/tr/release_after": st.floats(0.1, 60),
    "voice/no/volume": st.floats(0, 1), "voice/p2/timbre/release": st.floats(0, 15),
    "channel/3": st.sampled_from(["P1", "P2", "TR", "NO", None]),
    "split/point": st.one_of(st.none(), st.integers(0, 127)),
    "drum/42": st.one_of(st.none(), st.integers(1, 16)), "response_gap": st.floats(0.05, 10),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(settings_values)
def test_round_trip_for_any_settings(tmp_path, values):
    c = Control()
    c.set_many(list(values.items()))
    other = Control()
    presets.apply_preset(other, presets.load_preset(presets.save_preset(c, tmp_path / "rt.toml")))
    assert comparable(other.snapshot()) == comparable(c.snapshot())


BAD = [
    ("temperature = 0.9\n[sampling\ntop_k = 3\n", "line 2", None),
    ("name = 'x'\n[sampling]\ntemperature = 0.9\ntop_kk = 3\n", "line 4, key sampling.top_kk", "unknown key"),
    ("[sampling]\ntemperature = -1.0\n", "line 2, key sampling.temperature", "greater than 0"),
    ("[voices.P1]\nmode = 'human'\n\n[voices.P5]\nmode = 'off'\n", "line 4, key voices.P5", "no such voice"),
    ("[voices.P2]\nmode = 'loud'\n", "line 2, key voices.P2.mode", "model, human, off"),
    ("[voices.TR.timbre]\nduty = 1\nshimmer = 2\n", "line 3, key voices.TR.timbre.shimmer", "unknown timbre"),
    ("[channels]\n1 = 'P1'\n17 = 'TR'\n", "line 3, key channels.17", "1..16"),
    ("tempo = 'fast'\n", "line 1, key tempo", "must be a number"),
    ("colour = 'red'\n", "line 1, key colour", "unknown key"),
    ("[split]\npoint = 60\nlow = 'bass'\n", "line 3, key split.low", "one of"),
    ("sampling = 3\n", "line 1, key sampling", "must be a table"),
]


@pytest.mark.parametrize("text, where, reason", BAD)
def test_a_malformed_preset_names_line_and_key_and_changes_nothing(tmp_path, text, where, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FileFormatError) as e:
        presets.load_preset(path)
    msg = str(e.value)
    assert str(path) in msg and where in msg, msg
    if reason:
        assert reason in msg, msg
    c = Control()
    c.set("temperature", 1.23)
    before, version = c.snapshot(), c.version
    with pytest.raises(LivechipError):
        c.act("preset_load", str(path))
    assert c.snapshot() == before and c.version == version


def test_a_missing_preset_lists_the_ones_there_are():
    with pytest.raises(LivechipError, match="no preset named 'nope'.*default"):
        presets.load_preset("nope")
    with pytest.raises(LivechipError, match="no such file"):
        presets.load_preset("/no/such/preset.toml")


def test_a_user_preset_is_found_by_name_before_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setattr(presets, "USER", tmp_path)
    (tmp_path / "default.toml").write_text("[sampling]\ntemperature = 2.5\n")
    c = Control()
    c.act("preset_load", "default")
    assert c.get("temperature") == 2.5


def test_saving_over_an_existing_preset_replaces_it_whole(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("# old\n" * 1000)
    presets.save_preset(Control(), path)
    assert "# old" not in path.read_text()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "presets").glob("*.toml")))
def test_shipped_presets_play(name, tmp_path):
    """`livechip play --preset NAME` runs the shipped model with the preset (no sound card or MIDI needed: it
    renders for the recording), and the model plays only the voices the preset gives it."""
    import subprocess
    import sys
    from pathlib import Path

    from livechip.formats import tx1
    from livechip.control.presets import load_preset

    root = Path(__file__).resolve().parents[1]
    if not (root / "models" / "default" / "config.json").is_file():
        pytest.skip("models/default is not installed")
    env = dict(os.environ, OMP_NUM_THREADS="1", JACK_NO_START_SERVER="1", JACK_DEFAULT_SERVER="livechip-none")
    r = subprocess.run([sys.executable, "-m", "livechip", "play", "--no-tui", "--no-osc", "--no-audio",
                        "--no-midi", "--midi-in", "none", "--duration", "4", "--seed", "1", "--preset", name,
                        "--record", str(tmp_path)], cwd=root, env=env, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr
    score = tx1.read(next(tmp_path.glob("*.tx1.txt")))
    voices = load_preset(name).get("voices", {})
    not_model = {v for v, s in voices.items() if s.get("mode", "auto") in ("human", "off")}   # no keyboard here
    played = {e.voice for e in score.events if e.pitch is not None}
    assert played, "the model played nothing in 4 s"
    assert not played & not_model, f"the model played {played & not_model}, which the preset does not give it"
