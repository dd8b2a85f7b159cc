"""`livechip tui --connect`: the UI's two faces built from OSC, against the real OSC server over real UDP."""

import time

import pytest

from livechip.control.surface import Control
from livechip.core.errors import LivechipError
from livechip.control.osc import start_osc_server
from livechip.tui.app import LivechipApp
from livechip.tui.client import Remote, parse_address
from tests.tui_helpers import run, screen_text


def wait_for(check, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


@pytest.fixture
def daemon():
    control = Control()
    control.set("temperature", 1.3)
    server = start_osc_server(control, "127.0.0.1", 0)
    yield control, server
    server.close()


@pytest.fixture
def remote(daemon):
    r = Remote("127.0.0.1", daemon[1].port)
    yield r
    r.close()


def test_the_client_gets_the_whole_state_then_every_change(daemon, remote):
    control, _ = daemon
    assert wait_for(lambda: remote.control.snapshot()["temperature"] == 1.3)
    control.set("top_k", 8)
    control.set("voice/tr/mode", "human")
    assert wait_for(lambda: remote.control.snapshot()["top_k"] == 8)
    assert wait_for(lambda: remote.control.snapshot()["voices"]["TR"]["mode"] == "human")
    assert remote.control.get("voice/tr/mode") == "human"


def test_settings_and_actions_reach_the_daemon(daemon, remote):
    control, _ = daemon
    calls = []
    control.on_action("panic", lambda: calls.append("panic"))     # as the engine registers it
    remote.control.set("voice/p2/mode", "off")
    remote.control.set_many([("top_p", 0.8), ("voice/no/volume", 0.0)])
    remote.control.act("panic")
    assert wait_for(lambda: control.get("voice/p2/mode") == "off" and control.get("top_p") == pytest.approx(0.8)
                    and control.get("voice/no/volume") == 0.0 and calls == ["panic"])


def test_a_refusal_comes_back_as_a_message(daemon, remote):
    remote.control.act("reset")          # no engine registered a handler on the daemon
    got = []
    assert wait_for(lambda: got.extend(remote.control.pop_messages()) or got)
    assert "reset" in got[0] and "no engine" in got[0]
    with pytest.raises(LivechipError):
        remote.control.set("temperature", "hot")     # checked here before it is sent


def test_notes_and_figures_the_osc_server_streams_reach_the_client(daemon, remote):
    """The client's side alone: notes published here by hand (a running engine publishing its own, the
    model's and the player's, to this client and to `livechip tui --connect`: tests/test_live_notes.py)."""
    control, _ = daemon
    assert wait_for(lambda: remote.connected)
    control.note("P1", 64, "human", 0.0)
    control.note("P2", 60, "model", 0.0)
    control.report(xruns=3, ahead=0.5)

    def seen():
        snap = remote.monitor.snapshot()
        return {(n.voice, n.pitch, n.source) for n in snap.notes} == {("P1", 64, "human"), ("P2", 60, "model")}

    assert wait_for(seen)
    assert wait_for(lambda: remote.control.snapshot()["info"].get("xruns") == 3)


def test_the_app_steers_a_daemon(daemon, remote):
    control, _ = daemon
    assert wait_for(lambda: remote.control.snapshot()["temperature"] == 1.3)
    app = LivechipApp(remote.control, remote.monitor, fps=20, quit_stops=False)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("T", "2", "ctrl+q")
            await pilot.pause()
            return screen_text(app)

    screen = run(go())
    assert wait_for(lambda: control.get("temperature") == pytest.approx(1.35))
    assert control.get("voice/p2/mode") == "model"          # "2": auto -> model
    assert "temp 1.35" in screen.splitlines()[0]
    assert control.get("playing") is True          # quitting an attached UI leaves the music playing


def test_parse_address():
    assert parse_address("10.0.0.2:9100") == ("10.0.0.2", 9100)
    assert parse_address("localhost") == ("127.0.0.1", 9000)
    assert parse_address(":9001") == ("127.0.0.1", 9001)
    with pytest.raises(LivechipError):
        parse_address("host:port")
