"""`livechip play` on a real JACK server (dummy driver): what a DAW records, what the session file says and
what the audio ports carried all agree, and nothing is left sounding.

A test DAW (python-rtmidi on JACK) records the `livechip` port; a capture client (PortAudio on JACK) records
the `livechip-audio` output. Notes must come at the same times within one audio block (256 frames).
"""

import warnings

import numpy as np
import pytest

from livechip.core import events as ev
from livechip.formats import tx1
from livechip.apu.render import read_wav, render_score
from tests.jack_helpers import (AudioCapture, JackServer, MidiRecorder, jackd_available, left_sounding,
                                note_events, note_happy_model, start_play, unless)

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")

RATE, BLOCK = 48000, 256


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


def lag_of(a, b, lo, hi):
    """The shift d (lo <= d <= hi) that best lines b up with a: a[i + d] ~ b[i]."""
    n = len(a) + len(b)
    f = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lags = np.arange(lo, hi + 1)
    return int(lags[np.argmax(f[lags % n])])


@pytest.fixture(scope="module")
def session(model, tmp_path_factory):
    """One 6-second `livechip play` recorded by the DAW and the capture client."""
    out = tmp_path_factory.mktemp("session")
    with JackServer(period=BLOCK, rate=RATE, watch=True) as jack:
        daw = MidiRecorder()
        cap = AudioCapture(rate=RATE)
        cap.start()
        proc = start_play(jack, "--duration", "6", "--record", str(out), "--seed", "1", model=model)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.wait_for_port("livechip-audio:out_0")
            jack.connect("livechip:livechip", daw.port)
            jack.connect("livechip-audio:out_0", f"{cap.name}:in_0")
            _, err = proc.communicate(timeout=150)
        finally:
            if proc.poll() is None:
                proc.kill()
        cap.stop()
        daw.close()
        xruns, excuse = jack.xruns(), jack.excuse("testdaw", "lccapture")
    stem = next(out.glob("*.tx1.txt")).name[:-len(".tx1.txt")]
    return {"rc": proc.returncode, "err": err, "daw": daw.messages, "audio": cap.audio(), "blocks": cap.blocks,
            "score": tx1.read(out / f"{stem}.tx1.txt"), "wav": read_wav(out / f"{stem}.wav"), "xruns": xruns,
            "excuse": excuse}


def test_play_on_jack_exits_cleanly(session):
    assert session["rc"] == 0, session["err"]
    assert "Traceback" not in session["err"]
    assert "MIDI out: virtual port 'livechip' (JACK)" in session["err"]


def test_daw_recording_matches_the_session_file_within_one_block(session):
    """Voice by voice, the DAW got the session file's notes in order, each within one block of its time.

    Voices are compared one by one: at one instant the file orders voices P1, P2, TR, NO, while the DAW gets
    them in the order they were sent, and two events the engine scheduled late (clamped to the audio frame
    about to play) may share an instant in the file yet reach the DAW one period apart. Times are compared
    after taking away the median difference (the two clocks' offset), not the first note's, which may itself
    be a block off."""
    daw = [e for e in note_events(session["daw"]) if e[2] is not None]
    score = ev.normalize(session["score"])
    mine = [(e.time / ev.TICKS_PER_SECOND, e.voice, e.pitch) for e in score.events if e.pitch is not None]
    assert len(mine) >= 50
    diff = []
    for v in ev.VOICES:
        d = [e for e in daw if e[1] == v]
        m = [e for e in mine if e[1] == v]
        with unless(session["excuse"]):     # a period the DAW missed brings it several notes at one instant
            assert [p for _, _, p in d] == [p for _, _, p in m], v
        diff += [a[0] - b[0] for a, b in zip(d, m)]
    err = np.array(diff) - np.median(diff)    # the DAW's clock and the session's differ by a constant
    late = np.abs(err) > BLOCK / RATE
    print(f"DAW vs session: {len(err)} notes, |error| p50 {np.median(np.abs(err)) * 1e3:.2f} ms, "
          f"max {np.max(np.abs(err)) * 1e3:.2f} ms, {late.sum()} over one block; {session['xruns']} xruns")
    if not session["xruns"]:
        assert not late.any()
    else:
        # a period the server missed shifts JACK's time against the audio stream's frame counter (the engine's
        # clock) for the notes around it; the rest stay within one block
        with unless(session["excuse"]):
            assert late.mean() <= 0.2
        if late.any():
            warnings.warn(f"{late.sum()} of {len(err)} notes over one block off, around {session['xruns']} xruns")


def test_no_note_is_left_on_after_exit(session):
    assert left_sounding(session["daw"]) == set()
    assert any(m[0] & 0xF0 == 0xB0 and m[1] == 123 for _, m in session["daw"])


def test_captured_audio_is_the_session_wav(session):
    cap = session["audio"]
    wav, rate = session["wav"]
    assert rate == RATE
    d = lag_of(cap, wav, 0, len(cap) - 1)          # the capture started before the instrument
    a = cap[d:d + len(wav)]
    b = wav[:len(a)]
    assert len(a) > 4 * RATE
    with unless(session["excuse"]):           # a period the capture client missed is a hole in its recording
        assert np.max(np.abs(a - b)) < 3 / 32768      # the same samples, up to the WAV's 16-bit rounding


def test_captured_audio_plays_every_note_of_the_session_file_at_its_time(session):
    cap = session["audio"]
    score = session["score"]
    ref, _ = render_score(score, rate=RATE, tail=0.0)
    d = lag_of(cap, ref.astype(np.float64), 0, len(cap) - 1)
    worst = 0
    for e in ev.normalize(score).events:
        if e.pitch is None:
            continue
        i = round(e.time * RATE / ev.TICKS_PER_SECOND)
        lo, hi = i - 480, i + 1440                    # 10 ms before to 30 ms after the note
        if lo < 0 or hi + d > len(cap) or hi > len(ref):
            continue
        local = lag_of(cap[lo + d:hi + d].astype(np.float64), ref[lo:hi].astype(np.float64), -2 * BLOCK, 2 * BLOCK)
        worst = max(worst, abs(local))
    print(f"audio vs session: worst local lag {worst} frames")
    with unless(session["excuse"]):
        assert worst <= BLOCK
