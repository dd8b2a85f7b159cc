"""docs/reference.md is what docs/gen_reference.py writes from the settings table, every address it names is
served by the OSC server `livechip play` starts (real UDP), and the control surface, the OSC server and the
terminal UI's keys all read that one table."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from livechip.control.surface import Control, ControlError
from livechip.control.settings import ACTION_TABLE, READ_ONLY, SETTINGS, expand
from livechip.tui.app import KEYS, LivechipApp
from livechip.tui.keys import key_rows
from tests.control_helpers import served

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
SERVICE = {"status", "reply", "subscribe", "unsubscribe", "ping", "info"}   # protocol, documented in docs/osc.md
# what a wildcard of the reference's paths stands for, as its introduction says (written out here, not taken
# from the table)
EXPANSIONS = {"<v>": ("p1", "p2", "tr", "no"), "<ch>": tuple(range(1, 17)), "<note>": tuple(range(128))}


def generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented(section):
    """The OSC addresses in the rows of a section ("Settings", "Compound paths", "Actions") of the reference."""
    text = REFERENCE.read_text(encoding="utf-8").split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return [a for row in rows for a in re.findall(r"`(/livechip/[^`\s]+)`", row)[:1]]


def concrete(address):
    paths = [address]
    for name, values in EXPANSIONS.items():
        paths = [p.replace(name, str(v), 1) for p in paths for v in values] if name in address else paths
    return paths


def test_the_reference_is_what_the_script_writes_now():
    assert REFERENCE.read_text(encoding="utf-8") == generator().render(), \
        "docs/reference.md is out of date: run .venv/bin/python docs/gen_reference.py"


def test_the_reference_names_every_setting_and_action_of_the_table():
    assert documented("Settings") == [s.address for s in SETTINGS]
    assert documented("Actions") == [f"/livechip/{a.address}" for a in ACTION_TABLE]


@pytest.fixture
def osc():
    with served() as pair:
        yield pair


def test_every_documented_address_is_served_and_every_served_one_documented(osc):
    server, _ = osc
    addresses = documented("Settings") + documented("Compound paths") + documented("Actions")
    concrete_addresses = {a for address in addresses for a in concrete(address)}
    assert len(concrete_addresses) > 230
    for address in sorted(concrete_addresses):
        handlers = list(server.dispatcher.handlers_for_address(address))
        assert handlers and handlers[0].callback != server._unknown, address
    mapped = set(server.dispatcher._map)     # python-osc keeps its address map there
    assert mapped - concrete_addresses == {f"/livechip/{a}" for a in SERVICE}


def test_each_documented_setting_answers_over_udp_with_the_control_s_value(osc):
    server, client = osc
    for address in documented("Settings"):
        first = concrete(address)[0]
        value = server.control.get(first.removeprefix("/livechip/"))
        want = {None: -1 if "/channel/" not in first else "none", True: 1, False: 0}.get(value, value)
        assert client.ask(first) == [pytest.approx(want) if isinstance(want, float) else want], first
    for address in documented("Compound paths"):
        client.send(concrete(address)[0])
        replies = client.receive()
        assert replies and all(a != "/livechip/error" for a, _ in replies), (address, replies)
    assert server.stats["errors"] == 0


def test_checking_follows_each_row_of_the_table():
    c = Control()
    for s in SETTINGS:
        path = expand(s.path)[0]
        if s.path in READ_ONLY:
            with pytest.raises(ControlError, match="actions|read-only"):
                c.set(path, s.default)
            continue
        if s.type in ("int", "float"):
            lo, hi = s.range
            assert c.set(path, hi + 1000) == hi, path
            assert c.set(path, lo + (hi - lo) / 2) == pytest.approx(lo + (hi - lo) / 2, abs=0.5), path
        elif s.type in ("mode", "voice"):
            assert c.set(path, s.range[-1].upper()) == s.range[-1], path
        with pytest.raises(ControlError, match="must be"):
            c.set(path, "nonsense" if s.type not in ("mode", "voice") else "nonsense-word")
        with pytest.raises(ControlError, match="not a setting"):
            c.set(path + "/nonsense", 1)


def test_the_tui_keys_are_its_bindings_and_the_table_names_the_setting_keys():
    bound = {}
    for b in LivechipApp.BINDINGS:
        assert b.tooltip and b.description, b
        for key in b.key.split(","):
            bound[key] = b.action
    for s in SETTINGS:
        for k in s.keys:
            keys = k.keys.split()
            assert len(keys) == (4 if "<v>" in s.path else 2), s.path
            for key in keys:
                assert bound.pop(key).startswith(f"{k.action}("), (s.path, key)
    assert set(bound) == {"question_mark", "f1", "x", "ctrl+q", "ctrl+c", "C", "ctrl+r", "l", "minus", "plus",
                          "equals_sign"}
    assert [what for _, what in KEYS] == [help for _, _, help in key_rows(LivechipApp.BINDINGS)]


def test_presets_do_not_import_the_control_surface():
    code = "import sys, livechip.control.presets; print('livechip.control.surface' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
