"""OSC control over real UDP on 127.0.0.1: every address sets and gets, errors are answered, clients subscribe.

Two independent client implementations talk to the server: python-osc messages on a plain socket, and liblo's
`oscsend`/`oscdump` command-line tools (Debian package liblo-tools).
"""

import shlex
import shutil
import subprocess
import threading
import time

import pytest

from livechip.apu.driver import Timbre
from livechip.control.surface import Control
from livechip.control.osc import DEFAULT_HOST, DEFAULT_PORT, setting_paths, start_osc_server
from tests.control_helpers import Client, assert_valid_state, free_udp_port, served

COMPOUND = {"split", "channel_map", "drum_map"}


def leaf_paths():
    return [p for p in setting_paths() if p not in COMPOUND and not p.endswith("/timbre")
            and not (p.startswith("voice/") and p.count("/") == 1)]


def sample(path):
    """A value for `path` that differs from the default, and the reply expected after setting it."""
    last = path.rsplit("/", 1)[-1]
    if "/timbre/" in path:
        hi = Timbre._LIMITS[last][1]
        return hi, hi
    table = {"temperature": 1.25, "top_k": 7, "top_p": 0.5, "recall": 1.5, "seed": 1234, "horizon": 0.75, "tempo": 1.5,
             "response_gap": 1.0, "mode": "human", "volume": 0.25, "release_after": 2.5, "point": 48, "channel": 2,
             "low": "P2",
             "high": "NO", "key": "D", "scale": "dorian", "density": 2.0, "bpm": 97.5, "quantize": "1/8t"}
    if path == "call_response":
        return 1, 1
    if path.startswith("channel/"):
        return "TR", "TR"
    if path.startswith("drum/"):
        return 5, 5
    if path.startswith("voice/") and last in ("low", "high"):
        return 40, 40
    return table[last], table[last]


@pytest.fixture
def osc():
    with served() as (server, client):
        yield server.control, server, client


def test_defaults_are_loopback_and_port_9000():
    assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 9000)


def test_every_setting_sets_and_gets_over_udp(osc):
    control, server, client = osc
    paths = leaf_paths()
    assert len(paths) > 200
    for path in paths:
        value, expected = sample(path)
        client.send(f"/livechip/{path}", value)
        assert client.ask(f"/livechip/{path}") == [expected], path
    snap = control.snapshot()
    assert snap["temperature"] == 1.25 and snap["voices"]["NO"]["mode"] == "human"
    assert snap["channel_map"] == {c: "TR" for c in range(1, 17)} and snap["drum_map"][127] == 5
    assert_valid_state(snap)
    assert server.stats["errors"] == 0


def test_a_getter_replies_to_the_sender_and_unset_values_read_as_none_or_minus_one(osc):
    _, _, client = osc
    assert client.ask("/livechip/seed") == [-1]
    assert client.ask("/livechip/split/point") == [-1]
    assert client.ask("/livechip/channel/9") == ["none"]
    assert client.ask("/livechip/drum/100") == [-1]
    assert client.ask("/livechip/playing") == [1]
    assert client.ask("/livechip/recording") == [0]


def test_compound_getters_reply_with_a_bundle_of_single_values(osc):
    _, _, client = osc
    client.send("/livechip/voice/p2")
    got = dict((a, v) for a, v in client.receive())
    assert got["/livechip/voice/p2/mode"] == ["auto"] and got["/livechip/voice/p2/timbre/duty"] == [2]
    assert got["/livechip/voice/p2/release_after"] == [4.0]
    assert got["/livechip/voice/p2/low"] == [-1] and got["/livechip/voice/p2/high"] == [-1]
    assert len(got) == 5 + len(Timbre._LIMITS)


def test_status_replies_one_bundle_with_the_whole_state_and_engine_figures(osc):
    control, _, client = osc
    control.report(model="tiny", tokens_per_s=123.5)
    client.send("/livechip/voice/tr/mode", "off")
    client.send("/livechip/status")
    got = dict(client.receive())
    assert got["/livechip/voice/tr/mode"] == ["off"]
    assert got["/livechip/temperature"][0] == pytest.approx(1.0)
    assert got["/livechip/info/model"] == ["tiny"] and got["/livechip/info/tokens_per_s"] == [123.5]
    assert {f"/livechip/{p}" for p in leaf_paths() if not p.startswith(("drum/", "channel/"))} <= set(got)


def test_reply_sends_answers_to_another_address(osc):
    _, server, client = osc
    listener = Client(server.port)
    try:
        client.send("/livechip/reply", "127.0.0.1", listener.port)
        assert listener.wait_for("/livechip/reply") == ["127.0.0.1", listener.port]
        client.send("/livechip/tempo")
        assert listener.wait_for("/livechip/tempo") == [1.0]
        # a new sender from the same host (e.g. the next oscsend) has its answers sent there too
        other = Client(server.port)
        other.send("/livechip/top_k")
        assert listener.wait_for("/livechip/top_k") == [32]
        other.close()
        client.send("/livechip/reply", 0)   # port 0: back to replying to the sender
        assert client.ask("/livechip/top_k") == [32]
    finally:
        listener.close()


def test_wrong_types_counts_and_values_are_answered_on_error(osc):
    control, server, client = osc
    before = control.snapshot()
    cases = [
        (("/livechip/temperature", "hot"), "must be a number"),
        (("/livechip/temperature", float("nan")), "finite"),
        (("/livechip/temperature", float("inf")), "finite"),
        (("/livechip/temperature", 0.0), "greater than 0"),
        (("/livechip/top_k", 1, 2), "takes one value"),
        (("/livechip/voice/p1/mode", "loud"), "model, human, off"),
        (("/livechip/voice/p9/mode", "off"), "unknown address"),
        (("/livechip/no/such/thing", 1), "unknown address"),
        (("/elsewhere", 1), "start with /livechip/"),
        (("/livechip/seed", b"\x00\x01"), "must be a number"),
        (("/livechip/voice/p1/mode", "x" * 30000), "model, human, off"),
        (("/livechip/reprime", 5), "takes a string"),
        (("/livechip/panic", "now"), "takes no arguments"),
        (("/livechip/playing", 0), "read-only"),
        (("/livechip/reply", "example.com", 9), "IP address"),
        (("/livechip/subscribe", "127.0.0.1", 70000), "port must be"),
    ]
    for args, reason in cases:
        client.send(*args)
        address, why = client.wait_for("/livechip/error")
        assert address == args[0][:200] or address.startswith(args[0][:100]), args[0]
        assert reason in why, (args, why)
    assert control.snapshot() == before


def test_out_of_range_values_are_clamped_and_the_clamp_is_reported(osc):
    control, _, client = osc
    client.send("/livechip/tempo", 9.0)
    address, why = client.wait_for("/livechip/error")
    assert address == "/livechip/tempo" and "set to 2.0" in why
    assert control.get("tempo") == 2.0


def test_an_address_pattern_sets_many_but_never_triggers_actions(osc):
    control, _, client = osc
    fired = []
    for name in ("panic", "reset", "stop", "record_start", "play"):
        control.on_action(name, lambda *a, n=name: fired.append(n))
    client.send("/livechip/voice/*/mode", "off")
    client.send("/livechip/voice/{p1,tr}/volume", 0.5)
    client.send("/livechip/*")           # every getter one level down; actions stay untouched
    client.send("/livechip/transport/*")
    client.send("/livechip/[pr]*")
    client.receive()
    assert all(control.get(f"voice/{v}/mode") == "off" for v in ("p1", "p2", "tr", "no"))
    assert control.get("voice/p1/volume") == 0.5 and control.get("voice/p2/volume") == 1.0
    assert fired == [] and control.get("playing") is True


def test_voice_names_in_any_case(osc):
    control, _, client = osc
    client.send("/livechip/voice/TR/mode", "off")
    assert client.ask("/livechip/voice/tr/mode") == ["off"]
    assert control.get("voice/tr/mode") == "off"


def test_an_engine_failure_in_an_action_is_answered_not_raised(osc):
    control, server, client = osc
    control.on_action("reset", lambda: 1 / 0)
    client.send("/livechip/reset")
    address, why = client.wait_for("/livechip/error")
    assert address == "/livechip/reset" and "ZeroDivisionError" in why
    assert client.ask("/livechip/top_k") == [32]      # still serving


def test_a_controller_button_acts_on_press_and_not_on_release(osc):
    control, _, client = osc
    calls = []
    control.on_action("panic", lambda: calls.append("panic"))
    client.send("/livechip/panic", 1.0)
    assert client.wait_for("/livechip/done") == ["/livechip/panic"]
    client.send("/livechip/panic", 0.0)
    client.send("/livechip/panic", False)
    client.send("/livechip/ping", 2)
    assert client.wait_for("/livechip/pong") == [2]
    assert calls == ["panic"]


def test_actions_without_an_engine_say_so(osc):
    _, _, client = osc
    client.send("/livechip/panic")
    assert "no engine" in client.wait_for("/livechip/error")[1]


def test_presets_load_and_save_over_osc(osc, tmp_path):
    control, _, client = osc
    client.send("/livechip/preset/load", "accompany")
    client.wait_for("/livechip/done")
    assert control.get("voice/p1/mode") == "human"
    client.send("/livechip/temperature", 1.5)
    path = tmp_path / "mine.toml"
    client.send("/livechip/preset/save", str(path))
    client.wait_for("/livechip/done")
    client.send("/livechip/preset/load", "default")
    client.wait_for("/livechip/done")
    assert control.get("temperature") == 1.0
    client.send("/livechip/preset/load", str(path))
    client.wait_for("/livechip/done")
    assert control.get("temperature") == 1.5 and control.get("voice/p1/mode") == "human"
    client.send("/livechip/preset/load", "no-such-preset")
    assert "no preset named" in client.wait_for("/livechip/error")[1]


def test_subscribers_get_every_change_and_published_notes(osc):
    control, server, client = osc
    watcher = Client(server.port)
    try:
        watcher.send("/livechip/subscribe")
        assert watcher.wait_for("/livechip/subscribed") == ["127.0.0.1", watcher.port]
        first = dict(watcher.receive())                     # the whole state comes first
        assert first["/livechip/voice/p1/mode"] == ["auto"]
        client.send("/livechip/voice/p2/mode", "off")       # a change made over OSC by someone else
        assert watcher.wait_for("/livechip/voice/p2/mode") == ["off"]
        control.set("top_k", 12)                            # a change made in-process (the TUI, a preset)
        assert watcher.wait_for("/livechip/top_k") == [12]
        control.note("P1", 64, "human", 1.5)
        assert watcher.wait_for("/livechip/note") == ["P1", 64, "human", 1.5]
        control.note("P1", None, "human", 2.0)
        assert watcher.wait_for("/livechip/note") == ["P1", -1, "human", 2.0]
        watcher.send("/livechip/unsubscribe")
        watcher.wait_for("/livechip/unsubscribed")
        control.set("top_k", 13)
        assert "/livechip/top_k" not in dict(watcher.receive(0.3))
    finally:
        watcher.close()


def test_subscribing_a_given_host_and_port(osc):
    control, server, client = osc
    watcher = Client(server.port)
    try:
        client.send("/livechip/subscribe", "127.0.0.1", watcher.port)
        watcher.wait_for("/livechip/subscribed")
        watcher.receive()                 # the whole state, sent on subscribing
        control.set("tempo", 0.75)
        assert watcher.wait_for("/livechip/tempo") == [0.75]
        assert server.subscribers == [("127.0.0.1", watcher.port)]
    finally:
        watcher.close()


def test_close_frees_the_port_and_unhooks_from_control():
    control = Control()
    server = start_osc_server(control, "127.0.0.1", 0)
    port = server.port
    server.close()
    again = start_osc_server(control, "127.0.0.1", port)    # the port is free again
    client = Client(port)
    assert client.ask("/livechip/top_k") == [32]
    client.close()
    again.close()
    control.set("top_k", 3)          # no closed server is called any more


def test_ping_answers_pong(osc):
    _, _, client = osc
    client.send("/livechip/ping", 7)
    assert client.wait_for("/livechip/pong") == [7]


# --- liblo: an independent OSC implementation -------------------------------------------------------

needs_liblo = pytest.mark.skipif(not (shutil.which("oscsend") and shutil.which("oscdump")),
                                 reason="liblo-tools (oscsend, oscdump) not installed")


def _types(v):
    return {int: "i", float: "f", str: "s"}[type(v)]


@pytest.fixture
def dump():
    """oscdump listening on a free port; yields (port, read()) where read() returns the lines so far."""
    port = free_udp_port()
    p = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in p.stdout), daemon=True).start()

    def read(n, timeout=3.0):
        end = time.monotonic() + timeout
        while len(lines) < n and time.monotonic() < end:
            time.sleep(0.02)
        return list(lines)

    time.sleep(0.2)
    yield port, read
    p.terminate()
    p.wait(5)


def _parse(line):
    """'<timetag> /addr types v1 v2 ...' -> (address, [values])."""
    parts = shlex.split(line)
    address, types, vals = parts[1], parts[2], parts[3:]
    conv = {"i": int, "h": int, "f": float, "d": float, "s": str}
    return address, [conv[t](v) for t, v in zip(types, vals)]


@needs_liblo
def test_every_scalar_setting_sets_and_gets_with_liblo_tools(osc, dump):
    control, server, _ = osc
    dport, read = dump
    send = lambda *a: subprocess.run(["oscsend", "127.0.0.1", str(server.port), *map(str, a)], check=True)
    send("/livechip/reply", "si", "127.0.0.1", dport)
    paths = [p for p in leaf_paths() if not p.startswith(("drum/", "channel/")) or p in ("drum/36", "channel/7")]
    for path in paths:
        value, _ = sample(path)
        send(f"/livechip/{path}", _types(value), value)
        send(f"/livechip/{path}")
    lines = read(1 + len(paths))
    replies = [_parse(line) for line in lines]
    assert replies[0] == ("/livechip/reply", ["127.0.0.1", dport])
    got = {a: v for a, v in replies[1:]}
    for path in paths:
        assert got[f"/livechip/{path}"] == [sample(path)[1]], path
    assert control.get("voice/no/timbre/noise_mode") == 1 and control.get("seed") == 1234


@needs_liblo
def test_liblo_errors_and_status(osc, dump):
    control, server, _ = osc
    dport, read = dump
    send = lambda *a: subprocess.run(["oscsend", "127.0.0.1", str(server.port), *map(str, a)], check=True)
    send("/livechip/reply", "si", "127.0.0.1", dport)
    send("/livechip/top_k", "s", "many")
    send("/livechip/tempo", "d", "1.5")      # a double is a number too
    send("/livechip/seed", "h", "123456789012")
    send("/livechip/call_response", "T")
    send("/livechip/status")
    lines = read(60)
    replies = [_parse(line) for line in lines if " /livechip/" in line]
    assert ("/livechip/error", ["/livechip/top_k", "top_k: must be a number, got 'many'"]) in replies
    status = dict(replies[2:])
    assert status["/livechip/tempo"] == [1.5] and status["/livechip/seed"] == [123456789012]
    assert status["/livechip/call_response"] == [1]
    assert control.get("tempo") == 1.5
