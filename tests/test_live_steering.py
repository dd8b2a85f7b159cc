"""Steering a running `livechip play` (its default model process, a JACK server on the dummy driver, real UDP OSC,
a test DAW recording `livechip` out): key and scale, a voice's range and the density, sent over OSC, change the
model's notes within the horizon; wrong values answer /livechip/error and the session plays on; the `play` flags
steer from the first note.

The model is tests/jack_helpers.py's note-happy one: untrained, it plays every pitch, so before the key is set
its notes are out of D major and the test can fail. The times of the DAW's messages are JACK's, counted from
the first one's arrival on this process's monotonic clock: comparable to the times the settings were answered.
"""

import time
import types

import pytest

from tests.jack_helpers import jackd_available, note_happy_model
from tests.test_live_controls import live, ons, put

pytestmark = [pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed"),
              pytest.mark.jack, pytest.mark.slow]

D_MAJOR = {2, 4, 6, 7, 9, 11, 1}
A_PENTATONIC_MINOR = {9, 0, 2, 4, 7}
SETTLE = 1.0           # seconds after a setting from which every note must follow it (the horizon is 0.5)
PITCHED = (0, 1, 2)    # the DAW's channels of P1, P2 and TR


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def session(model):
    """One session: free for 2 s, then D major, then P1 held to 60..72 (the model left only P1 to play, so
    that it plays enough of it), then wrong values, then density 0.25 and 4. `t`: monotonic times of the changes
    (once the instrument answered them)."""
    t, errors = {}, {}
    with live("--seed", "3", model=model) as s:
        time.sleep(2.0)
        t["key"] = put(s, "/livechip/key", "D")
        put(s, "/livechip/scale", "major")
        time.sleep(3.0)
        t["range"] = put(s, "/livechip/voice/p1/low", 60)
        put(s, "/livechip/voice/p1/high", 72)
        for v in ("p2", "tr", "no"):
            put(s, f"/livechip/voice/{v}/mode", "off")
        time.sleep(3.0)
        t["bad"] = time.monotonic()
        for v in ("p2", "tr", "no"):
            put(s, f"/livechip/voice/{v}/mode", "auto")
        for address, value in (("key", "H"), ("scale", "jazz"), ("density", "lots"), ("voice/p1/low", 80)):
            s.osc.send(f"/livechip/{address}", value)
            errors[address] = s.osc.wait_for("/livechip/error")
        s.osc.send("/livechip/status")
        status = dict(s.osc.receive())
        time.sleep(1.5)
        t["sparse"] = put(s, "/livechip/density", 0.25)
        time.sleep(2.5)
        t["dense"] = put(s, "/livechip/density", 4.0)
        time.sleep(2.5)
        t["end"] = time.monotonic()
    assert s.rc == 0, s.err
    print(s.err)
    return types.SimpleNamespace(t=t, errors=errors, status=status, daw=s.daw.messages)


def pitched(daw, t0=-1e18, t1=1e18):
    return [(t, ch, note) for t, ch, note, _ in ons(daw, t0, t1) if ch in PITCHED]


def test_key_and_scale_over_osc_keep_every_later_note_in_the_key(session):
    t, daw = session.t, session.daw
    free = pitched(daw, t1=t["key"])
    out = [n for _, _, n in free if n % 12 not in D_MAJOR]
    assert len(free) >= 10 and len(out) >= 3, f"the unsteered model should play out of D major: {len(out)} of " \
                                               f"{len(free)} notes are"
    keyed = pitched(daw, t["key"] + SETTLE, t["end"])
    wrong = [(round(x - t["key"], 3), ch, n) for x, ch, n in keyed if n % 12 not in D_MAJOR]
    assert len(keyed) >= 15 and not wrong, f"{len(wrong)} of {len(keyed)} notes out of D major " \
                                           f"(seconds after the setting, channel, note): {wrong[:10]}"


def test_a_voice_range_over_osc_holds(session):
    t, daw = session.t, session.daw
    before = [n for _, _, n, _ in ons(daw, t["key"] + SETTLE, t["range"], channel=0)]
    after = [n for _, _, n, _ in ons(daw, t["range"] + SETTLE, t["end"], channel=0)]
    assert [n for n in before if not 60 <= n <= 72], f"P1 kept to 60..72 before it was asked: {before}"
    assert len(after) >= 3 and all(60 <= n <= 72 for n in after), after


def test_wrong_values_answer_an_error_change_nothing_and_the_music_goes_on(session):
    for address, (where, reason) in session.errors.items():
        assert where == f"/livechip/{address}" and ("must be" in reason or "above" in reason), (where, reason)
    st = session.status
    assert st["/livechip/key"] == ["D"] and st["/livechip/scale"] == ["major"] and st["/livechip/density"] == [1.0]
    assert st["/livechip/voice/p1/low"] == [60] and st["/livechip/voice/p1/high"] == [72]
    assert len(ons(session.daw, session.t["bad"] + SETTLE, session.t["sparse"])) >= 2, \
        "the music stopped after the errors"


def test_density_over_osc_changes_how_many_notes_the_model_plays(session):
    t, daw = session.t, session.daw
    rate = lambda a, b: len(ons(daw, a + SETTLE, b)) / (b - a - SETTLE)
    sparse, dense = rate(t["sparse"], t["dense"]), rate(t["dense"], t["end"])
    print(f"\nnote-ons/s at density 0.25: {sparse:.1f}, at 4: {dense:.1f}")
    assert dense >= 5 and dense >= 4 * sparse, (sparse, dense)
    assert all(n % 12 in D_MAJOR for _, _, n in pitched(daw, t["dense"] + SETTLE, t["end"]))


def test_play_flags_steer_from_the_first_note(model):
    with live("--seed", "5", "--key", "A", "--scale", "pentatonic_minor", "--low", "P2:70", "--high", "P2:90",
              model=model) as s:
        time.sleep(4.0)
        st = {a: s.osc.ask(f"/livechip/{a}")[0] for a in ("key", "scale", "voice/p2/low", "voice/p2/high")}
    assert s.rc == 0, s.err
    assert st == {"key": "A", "scale": "pentatonic_minor", "voice/p2/low": 70, "voice/p2/high": 90}
    notes = pitched(s.daw.messages)
    assert len(notes) >= 10 and all(n % 12 in A_PENTATONIC_MINOR for _, _, n in notes), notes[:20]
    assert all(70 <= n <= 90 for _, ch, n in notes if ch == 1)
