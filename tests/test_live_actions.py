"""Every action of the OSC table in docs/reference.md against the real instrument: `livechip play` as a subprocess (the
model in its own process, as by default) on a JACK server with the dummy driver, a test DAW recording MIDI out,
and OSC over real UDP. No handler is registered by the test: a `/livechip/done` comes from the engine.

The table itself is checked against the engine's: an address docs/reference.md names that the engine does not
handle, or one it handles that docs/reference.md does not name, fails here (tests/test_reference_docs.py checks
that the OSC server serves each one).
"""

import asyncio
import os
import re
import threading
import time
from pathlib import Path

import pytest

from livechip.control import surface as ctl
from livechip.core import events as ev
from livechip.formats.files import write_score
from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import (JackServer, MidiRecorder, jackd_available, left_sounding, note_happy_model,
                                start_play, wait_for_notes)
from tests.jam_helpers import LIVECHIP_IN, Keyboard

README = Path(__file__).resolve().parents[1] / "docs" / "reference.md"
needs_jack = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")


def readme_actions():
    """The addresses (after /livechip/) in the first column of the table under "## Actions" in docs/reference.md."""
    table = README.read_text().split("\n## Actions\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    return {name for row in rows for name in re.findall(r"`/livechip/([^`]+)`", row.split("|")[1])}


def test_the_readme_s_action_table_is_the_engine_s():
    from livechip.engine.engine import Engine
    documented = readme_actions()
    assert documented == set(ctl.ACTION_ADDRESSES.values())
    c = ctl.Control()
    Engine(None, control=c)._register_actions()
    handled = {ctl.ACTION_ADDRESSES[name] for name in ctl.ACTIONS if c._handlers[name]}
    # preset/load and preset/save are done by the control surface itself, every other action by the engine
    assert handled | {"preset/load", "preset/save"} == documented
    assert {ctl.ACTION_ADDRESSES[name] for name in ctl.NEEDS_ENGINE} == handled


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_a_worker_starts_a_new_song_or_goes_on_at_the_engine_s_tick(model, kind):
    """The worker command behind reset, reprime and transport/play, in both kinds of worker."""
    from livechip.engine.worker import ProcessWorker, ThreadWorker
    sec = ev.TICKS_PER_SECOND
    w = ThreadWorker(str(model)) if kind == "thread" else ProcessWorker(str(model))

    def run_to(tick):
        w.want(tick)
        out, end = [], time.monotonic() + 30
        while w.frontier < tick and time.monotonic() < end:
            out += w.poll()
            time.sleep(0.002)
        return out + w.poll()

    try:
        assert run_to(2 * sec)
        w.restart(10 * sec)                                  # reset: a new song from 10 s
        if kind == "thread":
            assert w.stream.position == 1                    # the memory holds <S> alone
        new = run_to(12 * sec)
        assert new and min(e.time for e in new) >= 10 * sec, new[:3]
        primer = ev.Score([ev.NoteEvent(i * sec // 4, "P2", 60 + i) for i in range(8)], 3 * sec)
        w.restart(20 * sec, primer)                          # reprime: the primer's end at 20 s
        if kind == "thread":
            assert w.stream.frontier == 3 * sec and 8 < w.stream.position < 20
            position = w.stream.position
        new = run_to(22 * sec)
        assert new and min(e.time for e in new) >= 20 * sec
        w.restart(40 * sec, after=22 * sec)                  # transport/play: what was at 22 s goes on at 40 s
        if kind == "thread":
            assert w.stream.position > position              # the memory was kept
        new = run_to(42 * sec)
        assert new and min(e.time for e in new) >= 40 * sec
        assert w.frontier >= 42 * sec
    finally:
        w.close()


def model_notes(daw, since, until=None, channels=(1, 2, 3)):
    """(time, message) of the note-ons on `channels` (0-based) from `since`: by default P2, TR and NO, the
    model's voices (P1 is the player's in the session below)."""
    return [(t, m) for t, m in daw.messages if t >= since and (until is None or t < until)
            and m[0] & 0xF0 == 0x90 and m[0] & 0x0F in channels and m[2] > 0]


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Session:
    def __init__(self, jack, daw, kbd, proc, client, port, folders):
        self.jack, self.daw, self.kbd, self.proc, self.client, self.port = jack, daw, kbd, proc, client, port
        self.takes, self.primes, self.presets = folders
        self.lines = []                                    # what livechip printed on stderr so far
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def logged(self, text, since, timeout=3.0):
        """Wait until livechip has printed a line holding `text` after its first `since` lines."""
        wait_until(lambda: any(text in line for line in self.lines[since:]), timeout, f"the line {text!r}")

    def act(self, address, *args, reply="/livechip/done", timeout=8.0):
        """Send an action; the arguments of the first reply on `reply` (errors on the other)."""
        c = self.client
        c.receive(0.05)                                    # nothing old is taken for the answer
        c.send(f"/livechip/{address}", *args)
        other = "/livechip/error" if reply == "/livechip/done" else "/livechip/done"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for a, params in c.receive(0.1):
                if a == reply:
                    return params
                assert a != other, f"{address}: {a} {params}"
        raise AssertionError(f"{address}: no {reply} within {timeout} s; livechip alive: {self.proc.poll() is None}")

    def playing(self):
        return self.client.ask("/livechip/playing")[0]

    def keeps_playing(self, within=2.0):
        """Model note-ons arrive within `within` seconds from now."""
        t = time.monotonic()
        wait_until(lambda: model_notes(self.daw, t), within, f"model notes after {t:.1f}")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def session(tmp_path_factory, model):
    if not jackd_available():
        pytest.skip("jackd (Debian package jackd2) is not installed")
    takes, primes, config = (tmp_path_factory.mktemp(name) for name in ("takes", "primes", "config"))
    port = free_udp_port()
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(config)          # the instrument's user presets go there
    with JackServer() as jack:
        daw = MidiRecorder()
        kbd = Keyboard()
        # two seconds generated ahead: what transport/stop and reset must take back reaches far past 0.5 s
        proc = start_play(jack, "--seed", "3", "--duration", "300", "--osc-port", str(port), "--record",
                          str(takes), "--primes", str(primes), "--human", "P1", "--horizon", "2", model=model)
        client = Client(port)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            jack.wait_for_port(LIVECHIP_IN)
            jack.connect(kbd.port, LIVECHIP_IN)
            wait_for_notes(daw, 4, proc)
            yield Session(jack, daw, kbd, proc, client, port, (takes, primes, config / "livechip" / "presets"))
        finally:
            kbd.close()
            if old is None:
                os.environ.pop("XDG_CONFIG_HOME")
            else:
                os.environ["XDG_CONFIG_HOME"] = old
            client.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            time.sleep(0.1)
            daw.close()


@needs_jack
def test_panic_reset_and_reprime_answer_and_the_model_plays_on(session):
    s = session
    assert s.act("panic") == ["/livechip/panic"]
    s.keeps_playing()
    t, n = time.monotonic(), len(s.lines)
    assert s.act("reset") == ["/livechip/reset"]
    s.logged("a new song: the model's memory is cleared", n)
    s.keeps_playing()
    # what sounded when the memory was cleared was let go: every note on then has its note-off soon after
    sounding = left_sounding([(t0, m) for t0, m in s.daw.messages if t0 < t])
    offs = {(m[0] & 0x0F, m[1]) for t0, m in s.daw.messages
            if t <= t0 < t + 0.5 and (m[0] & 0xF0 == 0x80 or (m[0] & 0xF0 == 0x90 and m[2] == 0))}
    assert sounding <= offs, (sounding, offs)

    song = ev.Score([ev.NoteEvent(i * 11025, "P1", 60 + i % 12) for i in range(16)]
                    + [ev.NoteEvent(16 * 11025, "P1", None)], 17 * 11025)
    for name in ("primer.mid", "primer.tx1.txt"):
        write_score(s.primes / name, song)
        n = len(s.lines)
        assert s.act("reprime", name) == ["/livechip/reprime"]       # a name in the --primes folder
        s.logged(f"a new song primed with {s.primes / name}", n)
        s.keeps_playing()


@needs_jack
def test_reprime_with_a_bad_file_is_an_error_and_the_music_goes_on(session):
    s = session
    (s.primes / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 not a MIDI file")
    (s.primes / "folder.mid").mkdir()
    n = len(s.lines)
    for name in ("broken.mid", "missing.tx1.txt", "folder.mid"):
        address, why = s.act("reprime", name, reply="/livechip/error")
        assert address == "/livechip/reprime" and name in why, why
        s.keeps_playing()
    assert s.playing() == 1
    assert not [line for line in s.lines[n:] if "a new song" in line]      # the memory was left as it was


@needs_jack
def test_a_take_from_record_start_to_record_stop_has_all_four_files(session):
    s = session
    n = len(s.lines)
    assert s.act("record/start") == ["/livechip/record/start"]
    s.logged("recording a take", n)
    assert s.client.ask("/livechip/recording") == [1]
    address, why = s.act("record/start", reply="/livechip/error")        # twice: refused, the take goes on
    assert address == "/livechip/record/start" and "already recording" in why
    time.sleep(2.0)
    address, stem = s.act("record/stop")
    assert address == "/livechip/record/stop" and Path(stem).parent == s.takes
    s.logged(f"recorded the take {stem}", n)
    assert s.client.ask("/livechip/recording") == [0]
    files = [Path(stem + ext) for ext in (".mid", ".tx1.txt", ".wav", ".vgm")]
    assert all(f.is_file() and f.stat().st_size > 0 for f in files), list(s.takes.iterdir())
    from livechip.apu import vgm
    from livechip.formats.files import read_score
    take = read_score(files[1])
    seconds = take.end / ev.TICKS_PER_SECOND
    assert 1.9 < seconds < 4.0, seconds                                 # start..stop, not the session
    assert [e for e in take.events if e.pitch is not None], "no notes in the take"
    log = vgm.read(files[3])
    assert abs(log.seconds - seconds) < 0.2 and 0x4015 in log.addrs.tolist()   # channels on from its start
    import wave
    with wave.open(str(files[2])) as w:
        assert abs(w.getnframes() / w.getframerate() - seconds) < 0.2
    address, why = s.act("record/stop", reply="/livechip/error")         # no take running: refused
    assert address == "/livechip/record/stop" and "not recording" in why
    assert files[0].stat().st_size > 0


@needs_jack
def test_record_save_and_presets_answer(session):
    s = session
    assert s.act("record/save", "so-far") == ["/livechip/record/save"]
    assert all((s.takes / f"so-far{ext}").stat().st_size > 0 for ext in (".mid", ".tx1.txt", ".wav", ".vgm"))
    s.client.send("/livechip/temperature", 1.25)
    assert s.act("preset/save", "mine") == ["/livechip/preset/save"]
    assert (s.presets / "mine.toml").is_file()
    s.client.send("/livechip/temperature", 0.5)
    assert s.act("preset/load", "mine") == ["/livechip/preset/load"]
    assert s.client.ask("/livechip/temperature") == [pytest.approx(1.25)]


@needs_jack
def test_transport_stop_silences_the_model_and_play_resumes_it(session):
    s = session
    t, n = time.monotonic(), len(s.lines)
    assert s.act("transport/stop") == ["/livechip/transport/stop"]
    assert s.playing() == 0
    s.logged("transport stopped", n)
    time.sleep(1.0)
    played = time.monotonic()
    s.kbd.send([0x90, 72, 100])                                         # the player is still heard
    time.sleep(0.3)
    s.kbd.send([0x80, 72, 0])
    time.sleep(1.2)
    assert model_notes(s.daw, t + 0.5) == [], "model notes after transport/stop"
    assert [m for t0, m in model_notes(s.daw, played - 0.05, channels=(0,)) if m[1] == 72], "the player's note"
    assert left_sounding([(t0, m) for t0, m in s.daw.messages]) == set(), "a note was left sounding"
    assert s.proc.poll() is None
    s.client.send("/livechip/ping", 7)                                  # OSC is alive
    assert s.client.wait_for("/livechip/pong") == [7]
    t = time.monotonic()
    assert s.act("transport/play") == ["/livechip/transport/play"]
    assert s.playing() == 1
    time.sleep(max(0.0, t + 1.1 - time.monotonic()))
    assert model_notes(s.daw, t, t + 1.0), "no model notes within 1 s of transport/play"
    s.logged("transport playing", n)


@needs_jack
def test_the_ui_s_clear_and_record_keys_reach_the_engine(session):
    """The UI attached as `livechip tui --connect` does it: its keys become OSC actions for the engine."""
    from livechip.tui.app import LivechipApp
    from livechip.tui.client import Remote
    s = session
    before, n = set(s.takes.glob("take-*.wav")), len(s.lines)
    remote = Remote("127.0.0.1", s.port)
    app = LivechipApp(remote.control, remote.monitor, quit_stops=False)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if remote.heard:
                    break
                await pilot.pause(0.05)
            await pilot.press("C")
            await pilot.press("ctrl+r")
            for _ in range(100):        # the engine's answer: `recording` 1, streamed to the UI
                if remote.control.snapshot()["recording"]:
                    break
                await pilot.pause(0.05)
            await pilot.pause(1.0)
            await pilot.press("ctrl+r")
            for _ in range(100):
                if not remote.control.snapshot()["recording"]:
                    break
                await pilot.pause(0.05)

    try:
        asyncio.run(go())
    finally:
        remote.close()
    s.logged("a new song: the model's memory is cleared", n)          # C
    new = set(s.takes.glob("take-*.wav")) - before                      # ctrl+r, ctrl+r
    assert len(new) == 1, sorted(s.takes.iterdir())
    s.keeps_playing()


@needs_jack
def test_quit_ends_the_session_cleanly(session):
    s = session
    t = time.monotonic()
    assert s.act("quit") == ["/livechip/quit"]
    assert s.proc.wait(30) == 0
    assert time.monotonic() - t < 30                                     # quit, not --duration
    s.reader.join(5)
    err = "".join(s.lines)
    assert "Traceback" not in err and "livechip: stopped after" in err, err
    assert left_sounding(s.daw.messages) == set()

