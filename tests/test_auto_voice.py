"""`auto` voices, the default: the model's until the player plays on one, then the player's until they have been
silent on it for `release_after` seconds, then the model's again.

The router's logic alone, then `livechip play` with no flag at all (its default process worker) on a real JACK
server (dummy driver), a test keyboard playing into `livechip in`, a test DAW recording `livechip` and OSC over
real UDP asking who holds the voice and changing `release_after` while it plays."""

import signal
import time

import pytest
from hypothesis import given, settings, strategies as st

from livechip.core import events as ev
from livechip.control.surface import Control
from livechip.engine.jam import Router
from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import JackServer, MidiRecorder, jackd_available, note_happy_model, start_play
from tests.jam_helpers import LIVECHIP_IN, Keyboard, play


def on(ch, key):
    return [0x90 | (ch - 1), key, 100]


def off(ch, key):
    return [0x80 | (ch - 1), key, 0]


def router(**changes):
    c = Control()
    for k, v in changes.items():
        c.set(k, v)
    return Router.from_snapshot(c.snapshot(), unit=10)     # times in tenths of a second


# --- the router -------------------------------------------------------------------------------------------

def test_every_voice_is_auto_and_a_note_takes_its_voice():
    r = router()
    assert set(r.modes.values()) == {"auto"} and r.taken == {}
    assert [(e.voice, e.pitch) for e in r.message(on(1, 60), 5)] == [("P1", 60)]
    assert [(e.voice, e.pitch) for e in r.message(on(10, 36), 6)] == [("NO", 2)]
    assert r.taken == {"P1": 5, "NO": 6} and r.ignored == 0


def test_the_voice_goes_back_after_release_after_of_silence_and_not_while_a_key_is_down():
    r = router()                                  # release_after 4 s = 40 tenths
    r.message(on(1, 60), 0)
    assert r.hand_back(100) == []                 # held for 10 s: still the player's
    r.message(off(1, 60), 100)
    assert r.hand_back(139) == [] and "P1" in r.taken
    assert r.hand_back(140) == ["P1"] and r.taken == {}
    assert r.hand_back(200) == []


def test_each_note_starts_the_wait_again():
    r = router(**{"voice/p1/release_after": 1.0})
    for t in (0, 8, 16):
        r.message(on(1, 60), t)
        r.message(off(1, 60), t + 2)
        assert r.hand_back(t + 8) == []
    assert r.hand_back(28) == ["P1"]


def test_release_after_is_per_voice_in_seconds():
    r = router(**{"voice/tr/release_after": 0.5})
    r.message(on(1, 60), 0)
    r.message(on(3, 40), 0)
    r.message(off(1, 60), 0)
    r.message(off(3, 40), 0)
    assert r.hand_back(5) == ["TR"]
    assert r.hand_back(40) == ["P1"]


def test_model_and_off_voices_ignore_the_player_human_voices_are_never_taken():
    r = router(**{"voice/p1/mode": "model", "voice/p2/mode": "off", "voice/tr/mode": "human"})
    assert r.message(on(1, 60), 0) == [] and r.message(on(2, 60), 0) == [] and r.ignored == 2
    assert [e.voice for e in r.message(on(3, 40), 0)] == ["TR"]
    assert r.taken == {} and r.holding


def test_leaving_auto_mode_ends_the_hold_and_a_key_down_keeps_a_voice_that_becomes_auto():
    c = Control()
    r = Router.from_snapshot(c.snapshot())
    r.message(on(1, 60), 0)
    c.set("voice/p1/mode", "model")
    assert [(e.voice, e.pitch) for e in r.configure(c.snapshot(), 3)] == [("P1", None)]
    assert r.taken == {}
    c.set("voice/tr/mode", "human")
    r.configure(c.snapshot(), 4)
    r.message(on(3, 40), 5)
    c.set("voice/tr/mode", "auto")
    assert r.configure(c.snapshot(), 6) == [] and r.taken == {"TR": 5}


def test_panic_counts_as_the_players_last_touch():
    r = router()
    r.message(on(2, 60), 0)
    r.release_all(30)
    assert r.hand_back(69) == [] and r.hand_back(70) == ["P2"]


messages = st.lists(st.tuples(st.integers(0, 30), st.sampled_from([1, 2, 3, 10]), st.integers(30, 90),
                              st.booleans()), max_size=40)


@settings(max_examples=200, deadline=None)
@given(messages, st.floats(0.1, 6.0))
def test_a_voice_is_the_players_exactly_while_a_key_is_down_or_less_than_release_after_since_its_last(msgs, release):
    r = Router.from_snapshot(_snap(release), unit=10)
    touched, t = {}, 0       # voice -> time of the player's last press or release on it
    for dt, ch, key, press in msgs:
        t += dt
        if press:
            touched[r.voice_of(ch, key)] = t
        for v, held in r.held.items():
            if not press and any(k.channel == ch and k.key == key for k in held):
                touched[v] = t
        r.message(on(ch, key) if press else off(ch, key), t)
        r.hand_back(t)
        for v in ev.VOICES:
            mine = bool(r.held[v]) or (v in touched and t - touched[v] < release * 10)
            assert (v in r.taken) == mine, (v, t, touched, r.taken)


def _snap(release):
    c = Control()
    for v in ev.VOICES:
        c.set(f"voice/{v}/release_after", release)
    return c.snapshot()


# --- `livechip play`, no flag -----------------------------------------------------------------------------

RELEASE = 4.0         # the default release_after
SHORT = 1.0           # set over OSC for the second phrase


def phrase(keys, start, step=0.2, hold=0.15):
    return [(start + step * i + d, m) for i, k in enumerate(keys) for d, m in ((0, on(1, k)), (hold, off(1, k)))]


def ch1_note_ons(daw):
    return [(t, m[1]) for t, m in daw.messages if len(m) == 3 and m[0] == 0x90 and m[2] > 0]


def wait_until(cond, proc, timeout=60):
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"timed out; livechip: {proc.communicate()[1] if proc.poll() is not None else ''}")
        time.sleep(0.02)


def players(client):
    client.send("/livechip/info")
    return client.wait_for("/livechip/info/players")[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    if not jackd_available():
        pytest.skip("jackd (Debian package jackd2) is not installed")
    model = note_happy_model(tmp_path_factory.mktemp("model"))
    port = free_udp_port()
    a = [61, 63, 66, 68, 70, 73, 75, 78, 80, 82]           # what the player plays (black keys, 1/16 of P1's range)
    b = [62, 64, 65]
    with JackServer() as jack:
        daw, kbd = MidiRecorder("daw"), Keyboard()
        proc = start_play(jack, "--seed", "1", "--osc-port", str(port), model=model)
        client = Client(port)
        try:
            jack.wait_for_port(LIVECHIP_IN)
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            jack.connect(kbd.port, LIVECHIP_IN)
            wait_until(lambda: sum(1 for t, m in daw.messages if m[0] == 0x90 and m[2] > 0) >= 3
                       and len(ch1_note_ons(daw)) >= 2, proc)       # the model plays, P1 too
            t0 = time.monotonic()
            sent_a = play(kbd, phrase(a, 0.0), t0=t0)
            time.sleep(1.0)
            held = players(client)
            time.sleep(sent_a[-1] + RELEASE + 0.3 - time.monotonic())
            left = players(client)
            time.sleep(sent_a[-1] + RELEASE + 2.5 - time.monotonic())
            client.send("/livechip/voice/p1/release_after", SHORT)
            assert client.ask("/livechip/voice/p1/release_after")[0] == pytest.approx(SHORT)
            sent_b = play(kbd, phrase(b, 0.0))
            time.sleep(sent_b[-1] + SHORT + 2.5 - time.monotonic())
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            client.close()
            kbd.close()
            if proc.poll() is None:
                proc.kill()
            time.sleep(0.1)
            daw.close()
    return {"daw": daw.messages, "err": err, "a": (a, sent_a), "b": (b, sent_b), "held": held, "left": left,
            "rc": proc.returncode}


def split(messages, keys, sent):
    """Channel 1's note-ons as (the player's, the model's): a note-on is the player's when it is one of their
    keys within 80 ms of when it was played (the DAW's clock runs up to 30 ms from this one)."""
    presses = [(s, k) for s, k in zip(sent[::2], keys)]
    ours, model = [], []
    for t, m in messages:
        if len(m) == 3 and m[0] == 0x90 and m[2] > 0:
            mine = any(k == m[1] and -0.03 <= t - s <= 0.08 for s, k in presses)
            (ours if mine else model).append((t, m[1]))
    return ours, model


def model_notes(messages, channels):
    return [t for t, m in messages if len(m) == 3 and m[0] & 0xF0 == 0x90 and m[2] > 0 and m[0] & 0x0F in channels]


def test_the_session_ran_clean(session):
    assert session["rc"] == 0, session["err"]
    assert "Traceback" not in session["err"], session["err"]
    assert "auto voices: P1 P2 TR NO" in session["err"]


@pytest.mark.parametrize("which, release", [("a", RELEASE), ("b", SHORT)])
def test_keys_on_channel_one_play_p1_and_the_model_leaves_it_until_release_after(session, which, release):
    keys, sent = session[which]
    ours, model = split(session["daw"], keys, sent)
    assert [k for _, k in ours] == keys, f"the player's notes on channel 1: {ours}"
    first, last_off = sent[0], sent[-1]
    during = [(round(t - first, 3), k) for t, k in model if first + 0.03 < t < last_off + release - 0.05]
    assert during == [], f"the model played P1 while the player held it (s after the first key): {during}"
    back = [t for t, _ in model if last_off + release <= t < last_off + release + 2.5]
    assert back, "the model did not play P1 again after release_after"
    others = [t for t in model_notes(session["daw"], (1, 2, 3)) if first < t < last_off + release]
    assert others, "the model stopped playing its other voices"


def test_osc_says_who_holds_the_voice(session):
    assert session["held"] == "P1"
    assert session["left"] == ""


def test_the_tui_shows_who_holds_each_auto_voice(tmp_path):
    from tests.test_tui_app import drive
    from tests.tui_helpers import session_monitor
    monitor = session_monitor(tmp_path)
    monitor.stats(players="P1 NO")          # what the engine reports when the player holds P1 and NO
    c = Control()
    c.set("voice/p2/mode", "model")
    [screen], _ = drive(c, monitor, [])
    labels = {row[:2]: row[:13].rstrip() for row in screen.splitlines() if row[:2] in ev.VOICES}
    assert labels == {"P1": "P1 auto:you", "P2": "P2 model", "TR": "TR auto:mdl", "NO": "NO auto:you"}
