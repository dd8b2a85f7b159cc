"""Paths sent over OSC stay in their folders: a remote sender can name a preset, a take or a song to prime with
inside the presets, recordings and primes folders, and nothing else, unless `livechip play --osc-any-path`.

Against `livechip play` (its default process worker) on a JACK server with the dummy driver, over real UDP: each
hostile name (`..`, an absolute path, a symlink out of the folder, a 10 KB name, a NUL inside) is answered
with `/livechip/error`, and the whole folder tree the session can reach is byte for byte the same afterwards.
"""

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from livechip.control.surface import Control
from livechip.control.folders import Folders
from livechip.control.osc import start_osc_server
from tests.control_helpers import Client
from tests.jack_helpers import JackServer, jackd_available, note_happy_model
from tests.tui_helpers import write_song

pytestmark = [pytest.mark.jack, pytest.mark.timeout(180),
              pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")]

VICTIM = "[sampling]\ntemperature = 2.5\n"      # a preset outside the folders: loading it would show


def home(root):
    """A session's world: its folders (with symlinks leading out of each) and a folder outside them all."""
    out = root / "outside"
    out.mkdir()
    (out / "victim.toml").write_text(VICTIM)
    (out / "victim.mid").write_bytes(b"not touched")
    write_song(out / "secret.tx1.txt")
    folders = {"presets": root / "config" / "livechip" / "presets", "recordings": root / "recordings",
               "primes": root / "primes"}
    for name, d in folders.items():
        d.mkdir(parents=True)
        (d / "out").symlink_to(out, target_is_directory=True)
    (folders["presets"] / "link.toml").symlink_to(out / "victim.toml")
    (folders["recordings"] / "link.mid").symlink_to(out / "victim.mid")
    (folders["primes"] / "link.tx1.txt").symlink_to(out / "secret.tx1.txt")
    write_song(folders["primes"] / "song.tx1.txt")
    return folders


def tree(root):
    """Every entry under `root` (symlinks not followed): its kind and content, file times included."""
    found = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(d) / name
            st = p.lstat()
            if p.is_symlink():
                found[p] = ("link", os.readlink(p))
            elif p.is_dir():
                found[p] = ("dir",)
            else:
                found[p] = ("file", st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return found


def hostile(root, action):
    """Names that must be refused for `action` (OSC address after /livechip/)."""
    link = {"preset/load": "link", "preset/save": "link", "record/save": "link", "reprime": "link.tx1.txt"}
    names = ["../x", "../outside/victim", "sub/../../outside/victim", str(root / "outside" / "victim"),
             "out/victim", link[action], "a" * 10240, "ok\0/../../outside/victim", "line\nbreak"]
    if action in ("reprime", "preset/load"):
        names.append("/etc/passwd")          # reading only: a write to /etc is never tried, even by a test
    return names


def answer(client, address, *args, timeout=10.0):
    """Send, then the first /livechip/done or /livechip/error about `address`: (reply address, arguments)."""
    client.send(address, *args)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for addr, params in client.receive(0.1):
            if addr in ("/livechip/done", "/livechip/error") and params[:1] == [address]:
                return addr, params
    raise AssertionError(f"no answer to {address} within {timeout} s")


class Play:
    """`livechip play --no-tui ARGS` in `cwd` on `jack`, its OSC port read from what it prints."""

    def __init__(self, jack, cwd, model, *args):
        env = {**jack.env, "XDG_CONFIG_HOME": str(cwd / "config")}
        self.proc = subprocess.Popen([sys.executable, "-m", "livechip", "play", "--no-tui", "--model", str(model),
                                      "--osc-port", "0", "--seed", "1", "--duration", "120", *args],
                                     cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.err, self.port = [], None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.err.append(line)
                m = re.search(r"OSC on [\d.]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(90) or self.port is None:
            self.close()
            raise AssertionError(f"livechip play started no OSC server:\n{''.join(self.err)}")
        self.client = Client(self.port)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "client", None):
            self.client.close()
        return "".join(self.err)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


def test_hostile_paths_are_refused_and_change_nothing_good_names_work(model, tmp_path):
    folders = home(tmp_path)
    with JackServer() as jack:
        play = Play(jack, tmp_path, model)
        try:
            c = play.client
            assert c.ask("/livechip/temperature") == [pytest.approx(1.0)]
            before = tree(tmp_path)
            for action in ("preset/load", "preset/save", "record/save", "reprime"):
                for name in hostile(tmp_path, action):
                    reply, params = answer(c, f"/livechip/{action}", name)
                    assert reply == "/livechip/error", (action, name[:80], params)
                    assert "no engine" not in params[1] and "no such file" not in params[1], (action, params)
            assert tree(tmp_path) == before, "a refused path changed the filesystem"
            assert c.ask("/livechip/temperature") == [pytest.approx(1.0)], "a preset from outside was loaded"

            # names inside the folders work, and go where they say
            c.send("/livechip/temperature", 1.25)
            assert answer(c, "/livechip/preset/save", "mine")[0] == "/livechip/done"
            assert (folders["presets"] / "mine.toml").is_file()
            c.send("/livechip/temperature", 0.5)
            assert answer(c, "/livechip/preset/load", "mine")[0] == "/livechip/done"
            assert c.ask("/livechip/temperature") == [pytest.approx(1.25)]
            assert answer(c, "/livechip/preset/load", "accompany")[0] == "/livechip/done"    # a shipped one
            assert c.ask("/livechip/voice/p1/mode") == ["human"]
            assert answer(c, "/livechip/record/save", "jam/first")[0] == "/livechip/done"
            assert sorted(p.name for p in (folders["recordings"] / "jam").iterdir()) == \
                ["first.mid", "first.tx1.txt", "first.vgm", "first.wav"]
            reply, params = answer(c, "/livechip/reprime", "song.tx1.txt")
            assert reply == "/livechip/done", params
            assert play.proc.poll() is None
        finally:
            err = play.close()
    assert "Traceback" not in err, err
    outside = tree(tmp_path / "outside")
    assert all(k.parent == tmp_path / "outside" for k in outside) and len(outside) == 3, outside


def test_osc_any_path_lifts_the_rule(model, tmp_path):
    home(tmp_path)
    anywhere = tmp_path / "anywhere"
    with JackServer() as jack:
        play = Play(jack, tmp_path, model, "--osc-any-path")
        try:
            c = play.client
            assert answer(c, "/livechip/preset/load", str(tmp_path / "outside" / "victim.toml"))[0] == \
                "/livechip/done"
            assert c.ask("/livechip/temperature") == [pytest.approx(2.5)]
            assert answer(c, "/livechip/preset/save", str(anywhere / "p.toml"))[0] == "/livechip/done"
            assert answer(c, "/livechip/record/save", str(anywhere / "take"))[0] == "/livechip/done"
        finally:
            err = play.close()
    assert "Traceback" not in err, err
    assert sorted(p.name for p in anywhere.iterdir()) == ["p.toml", "take.mid", "take.tx1.txt", "take.vgm",
                                                          "take.wav"]


def test_a_nul_inside_any_string_refuses_the_whole_message():
    """python-osc would read "human\\0x" as "human": the server refuses such a message instead of acting on
    the part before the NUL (here the OSC server alone, with a real Control: no engine is needed to refuse)."""
    control = Control()
    server = start_osc_server(control, "127.0.0.1", 0, Folders())
    client = Client(server.port)
    mode = control.get("voice/p1/mode")
    try:
        client.send("/livechip/voice/p1/mode", "human\0x")
        address, why = client.wait_for("/livechip/error")
        assert address == "/livechip/voice/p1/mode" and "NUL" in why
        assert control.get("voice/p1/mode") == mode != "human"
        client.send_raw(b"/livechip/voice/p1/mode\0,s\0\0off\0" + b"tail")    # bytes after the last argument
        assert client.wait_for("/livechip/error")[0] == "/livechip/voice/p1/mode"
        client.send("/livechip/voice/p1/mode", "off")
        client.send("/livechip/ping", 1)
        assert client.wait_for("/livechip/pong") == [1]
        assert control.get("voice/p1/mode") == "off"
    finally:
        client.close()
        server.close()
