"""A live coder's mistakes and a hostile network: thousands of random and malformed packets over UDP.

The server must keep answering, answer every bad packet on /livechip/error (or count it as dropped when over
the error rate limit), never block (a bundle time-tagged far in the future included) and never leave the
Control in an invalid state.
"""

import random
import socket
import struct
import time

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from livechip.control.surface import Control
from livechip.control.osc import setting_paths, start_osc_server
from tests.control_helpers import Client, assert_valid_state, message

ADDRESSES = [f"/livechip/{p}" for p in setting_paths()] + [
    "/livechip/status", "/livechip/reply", "/livechip/subscribe", "/livechip/unsubscribe", "/livechip/ping",
    "/livechip/preset/load", "/livechip/voice/*/mode", "/livechip/[", "/livechip/{a,", "/livechip/nope", "/x", "/"]


def _osc_string(s):
    b = s.encode() + b"\0"
    return b + b"\0" * (-len(b) % 4)


BAD_KINDS = (0, 1, 2, 3, 4, 7)     # malformed packets (2 can still set a number: random bytes may be a valid int)


def random_packet(rnd, kinds=range(9)):
    kind = rnd.choice(kinds)
    if kind == 0:                                            # random bytes
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 200)))
    if kind == 1:                                            # random bytes that start like OSC
        return b"/livechip/" + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 80)))
    if kind == 2:                                            # wrong or unknown type tags, too few bytes
        tags = "," + "".join(rnd.choice("ifsbhdtTFNImcr[]Xz") for _ in range(rnd.randrange(0, 6)))
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 24)))
        return _osc_string(rnd.choice(ADDRESSES)) + _osc_string(tags) + body
    if kind == 3:                                            # a valid message cut short
        m = message(rnd.choice(ADDRESSES), rnd.random(), "abc", 7).dgram
        return m[:rnd.randrange(1, len(m))]
    if kind == 4:                                            # a truncated or corrupted bundle
        m = message(rnd.choice(ADDRESSES), rnd.uniform(-1e6, 1e6)).dgram
        b = b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", len(m) + rnd.randrange(-8, 64)) + m
        return b[:rnd.randrange(8, len(b) + 1)]
    if kind == 5:                                            # a bundle time-tagged years ahead
        address, value = rnd.choice(ADDRESSES), rnd.choice([0.5, 3, "off", "human"])
        if address == "/livechip/reply":     # a route elsewhere (port 3) would take this host's replies, the
            value = 0                        # probe's and the error replies counted here: only ever reset it
        m = message(address, value).dgram
        return b"#bundle\0" + struct.pack(">Q", (0xFFFFFFF0 << 32)) + struct.pack(">i", len(m)) + m
    if kind == 6:                                            # well-formed messages with hostile values
        if rnd.random() < 0.2:                               # doubles, beyond any float32
            b = OscMessageBuilder(rnd.choice(ADDRESSES))
            b.add_arg(rnd.choice([1e308, -1e308, 5e-324, float("nan"), 0.7]), "d")
            return b.build().dgram
        value = rnd.choice([float("nan"), float("inf"), -float("inf"), 3.4e38, -3.4e38, 2**31 - 1, -2**31,
                            2**62, "", "x" * rnd.randrange(1, 20000), b"\xff" * 9, True, False, None,
                            [1, 2], 0.0, -1, "human", "P1"])
        return message(rnd.choice(ADDRESSES), value).dgram
    if kind == 7:                                            # wrong argument counts
        return message(rnd.choice(ADDRESSES), *[rnd.random() for _ in range(rnd.randrange(2, 6))]).dgram
    return message(rnd.choice(ADDRESSES) + "/" * rnd.randrange(0, 3)).dgram   # getters, odd addresses


@pytest.mark.timeout(120)
def test_thousands_of_bad_packets_never_stop_the_server_or_break_the_state():
    control = Control()
    server = start_osc_server(control, "127.0.0.1", 0)
    fuzzer = Client(server.port)
    probe = Client(server.port)
    rnd = random.Random(20261123)
    replies = errors = sent = 0
    try:
        for batch in range(40):
            for _ in range(100):
                fuzzer.send_raw(random_packet(rnd))
                sent += 1
            # the server is still there, and not stuck behind a future time tag
            t = time.monotonic()
            probe.send("/livechip/ping", batch)
            assert probe.wait_for("/livechip/pong", timeout=10) == [batch]
            assert time.monotonic() - t < 5
            for address, args in fuzzer.receive(timeout=0.05):
                replies += 1
                errors += address == "/livechip/error"
            assert_valid_state(control.snapshot())
        time.sleep(0.2)
        for address, args in fuzzer.receive(timeout=0.3):
            replies += 1
            errors += address == "/livechip/error"
        st = server.stats
        assert st["packets"] == sent + 40          # every datagram reached the server and was counted
        assert st["internal_errors"] == 0
        assert st["bad_packets"] > 500              # the random bytes and truncated packets were seen as such
        # every error the server counted was either sent to the fuzzer or dropped by the rate limit
        assert errors == st["errors"] - st["errors_dropped"]
        assert errors > 1000
        print(f"\n{sent} packets: {st['bad_packets']} not OSC, {st['messages']} messages, {st['ok']} ok, "
              f"{st['errors']} errors ({st['errors_dropped']} over the rate limit), {replies} replies received")
        # the control surface still works as documented
        probe.send("/livechip/temperature", 1.5)
        assert probe.ask("/livechip/temperature") == [1.5]
        assert_valid_state(control.snapshot())
    finally:
        fuzzer.close()
        probe.close()
        server.close()


@pytest.mark.timeout(60)
def test_a_flood_of_valid_messages_is_absorbed():
    control = Control()
    server = start_osc_server(control, "127.0.0.1", 0)
    client = Client(server.port)
    try:
        t = time.monotonic()
        for i in range(5000):
            client.send("/livechip/voice/p1/volume", (i % 100) / 100)
        sent = time.monotonic() - t
        # wait until the server has worked through what the kernel delivered (UDP drops what overflows)
        seen, deadline = -1, time.monotonic() + 20
        while server.stats["messages"] != seen and time.monotonic() < deadline:
            seen = server.stats["messages"]
            time.sleep(0.2)
        handled = time.monotonic() - t
        print(f"\n5000 messages sent in {sent:.2f} s; {seen} handled within {handled:.2f} s")
        assert seen >= 1000
        client.send("/livechip/voice/p1/volume", 0.125)
        assert client.ask("/livechip/voice/p1/volume") == [0.125]
        assert control.get("voice/p1/volume") == 0.125
        assert server.stats["errors"] == 0
    finally:
        client.close()
        server.close()


def test_a_datagram_of_maximum_size_is_read_whole_and_refused():
    control = Control()
    server = start_osc_server(control, "127.0.0.1", 0)
    client = Client(server.port)
    try:
        client.send("/livechip/reprime", "y" * 60000)
        address, why = client.wait_for("/livechip/error")
        assert address == "/livechip/reprime" and "path" in why
        big = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        big.sendto(b"/livechip/" + b"z" * 65000, ("127.0.0.1", server.port))
        big.close()
        assert client.ask("/livechip/top_k") == [32]
    finally:
        client.close()
        server.close()
