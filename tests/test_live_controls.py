"""The live controls on a running `livechip play` (its default model process, a JACK server on the dummy driver,
real UDP OSC, a test DAW on MIDI out, a test keyboard on MIDI in, the take it records):

- volume 0 (the UI's mute and solo set it too) silences a voice in the APU and sends no note-on, the triangle
  included;
- panic silences the APU from the next audio block on and sends All Sound Off and All Notes Off;
- a preset's horizon holds when no --horizon is given;
- each setting sent over OSC changes what the model process does: horizon (the schedule's lead), tempo (the
  spacing of the notes, already scheduled ones re-timed), top_k and top_p (greedy choices), recall (the pitch
  classes the player played), timbres (the APU's output), channel map, split and drum map (where the player's
  notes go); --seed makes the music reproducible.
"""

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from livechip.apu import vgm
from livechip.apu.apu import NTSC
from livechip.apu.render import read_wav
from livechip.formats.midi import NOISE_TO_DRUM
from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import (JackServer, MidiRecorder, jackd_available, left_sounding, note_happy_model,
                                start_play, unless)
from tests.jam_helpers import LIVECHIP_IN, Keyboard

pytestmark = [pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed"),
              pytest.mark.jack, pytest.mark.slow]

RATE, BLOCK = 48000, 256
NOTE_ON, CC = 0x90, 0xB0
STARTS = (0x4003, 0x4007, 0x400B, 0x400F)    # the registers a note-on writes last: the channel (re)starts


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


@contextlib.contextmanager
def live(*args, model, keyboard=False, connect=True, rate=RATE, period=BLOCK, watch=False):
    """`livechip play --no-tui --osc-port P ARGS` on a JACK server of its own, with a test DAW on its MIDI out
    and a test keyboard on its MIDI in (`connect`: connected here, not by livechip), and an OSC client; ends
    with SIGTERM. The namespace it yields gets the exit status (`rc`) and livechip's stderr (`err`) once the
    block is left. `watch`: the server watches its own clock (JackServer.excuse can say the machine stopped it)."""
    with JackServer(period=period, rate=rate, watch=watch) as jack:
        daw = MidiRecorder()
        kbd = Keyboard() if keyboard else None
        port = free_udp_port()
        proc = start_play(jack, "--osc-port", str(port), *args, model=model)
        s = types.SimpleNamespace(jack=jack, daw=daw, kbd=kbd, proc=proc, osc=Client(port), rc=None, err="")
        try:
            jack.wait_for_port("livechip:livechip")
            if connect:
                jack.connect("livechip:livechip", daw.port)
            if kbd is not None and connect:
                jack.wait_for_port(LIVECHIP_IN)
                jack.connect(kbd.port, LIVECHIP_IN)
            _wait_for_osc(s)
            yield s
            proc.send_signal(signal.SIGTERM)
            _, s.err = proc.communicate(timeout=60)
            s.rc = proc.returncode
        except BaseException:
            if s.rc is None:
                proc.kill()
                print(f"livechip said:\n{proc.communicate()[1]}")
            raise
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            s.osc.close()
            if kbd is not None:
                kbd.close()
            time.sleep(0.1)
            daw.close()
    assert "Traceback" not in s.err, s.err


def _wait_for_osc(s, timeout=90.0):
    """Until the instrument answers OSC (it starts its OSC server once the model plays)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if s.proc.poll() is not None:
            raise AssertionError(f"livechip play exited: {s.proc.communicate()[1]}")
        s.osc.send("/livechip/ping", 1)
        try:
            s.osc.wait_for("/livechip/pong", 0.5)
            return
        except AssertionError:
            continue
    raise AssertionError("no OSC answer from livechip play")


def put(s, address, value):
    """Set a setting over OSC; returns the monotonic time once the instrument has answered with it."""
    s.osc.send(address, value)
    got = s.osc.ask(address)
    assert got and (got[0] == value or got[0] == pytest.approx(value)), (address, value, got)
    return time.monotonic()


def act(s, address):
    """Run an action over OSC; returns the monotonic time it was sent."""
    t = time.monotonic()
    s.osc.send(address)
    assert s.osc.wait_for("/livechip/done") == [address]
    return t


def info(s, name):
    s.osc.send("/livechip/info")
    return s.osc.wait_for(f"/livechip/info/{name}")[0]


def ons(messages, t0=-1e18, t1=1e18, channel=None):
    """(time, channel, note, velocity) of the note-ons in [t0, t1), on one channel (0-3) or all."""
    return [(t, m[0] & 15, m[1], m[2]) for t, m in messages
            if t0 <= t < t1 and len(m) == 3 and m[0] & 0xF0 == NOTE_ON and m[2] > 0
            and (channel is None or m[0] & 15 == channel)]


def take_files(folder):
    wav = max(folder.glob("*.wav"), key=lambda p: p.stat().st_mtime)
    samples, rate = read_wav(wav)
    assert rate == RATE
    return samples, vgm.read(wav.with_suffix(".vgm"))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def motion(x):
    """RMS of the sample-to-sample change: large for a sounding voice, tiny for the offset a silenced chip
    leaves while the output filters take it away (a stopped triangle holds its last step, as on the console)."""
    return rms(np.diff(x))


# --- a take: volume, the triangle, timbre and panic, in the APU and on MIDI ------------------------------------

TAKE_PRESET = """
name = "take"
description = "P2 and NO turned down; P1 loud and held (a panic that only released it would ring for seconds)"
horizon = 1.5
[voices.P2]
volume = 0.0
[voices.NO]
volume = 0.0
[voices.P1.timbre]
volume = 15
decay = 0
sustain = 15
release = 0.05
"""


@pytest.fixture(scope="module")
def take(model, tmp_path_factory):
    """One session: three panics; TR turned down (P1 alone); P1's timbre quieter; P1 turned down too (all four
    voices at volume 0). Each change is followed by a panic, whose register writes ($4015 = 0: the channels
    off) mark the moment in the take: on a busy machine the audio can miss periods, so the take's frames and
    this process's clock drift apart. `t`: monotonic times of the changes; `at`: the take's frames of the marks."""
    out = tmp_path_factory.mktemp("take")
    preset = out / "take.toml"
    preset.write_text(TAKE_PRESET)
    folder = out / "rec"
    with live("--preset", str(preset), "--horizon", "0.7", "--record", str(folder), "--seed", "3", model=model) as s:
        asked = {a: s.osc.ask(f"/livechip/{a}")[0] for a in ("horizon", "voice/p2/volume", "voice/p1/timbre/volume")}
        time.sleep(1.0)
        t = {"panics": []}
        for _ in range(3):
            t["panics"].append(act(s, "/livechip/panic"))
            time.sleep(0.8)
        time.sleep(0.7)
        for name, changes in (("tr_off", [("voice/tr/volume", 0.0)]),
                              ("p1_soft", [("voice/p1/timbre/sustain", 3), ("voice/p1/timbre/volume", 3)]),
                              ("p1_off", [("voice/p1/volume", 0.0)])):
            for path, value in changes:
                t[name] = put(s, f"/livechip/{path}", value)
            time.sleep(0.3)
            act(s, "/livechip/panic")
            time.sleep(3.0)
    assert s.rc == 0, s.err
    samples, log = take_files(folder)
    marks = (log.cycles[(log.addrs == 0x4015) & (log.values == 0)] * RATE / NTSC).astype(int)
    assert len(marks) == 7, f"{len(marks)} panics in the take's register log (3, 3 marks and the stop's)"
    at = dict(zip(("panic1", "panic2", "panic3", "tr_off", "p1_soft", "p1_off", "end"), marks))
    return types.SimpleNamespace(t=t, at=at, asked=asked, daw=s.daw.messages, samples=samples, log=log,
                                 err=s.err)


def test_voices_at_volume_0_send_no_note_on_the_triangle_included(take):
    t, daw = take.t, take.daw
    assert ons(daw, channel=1) == [] and ons(daw, channel=3) == [], "P2 and NO are at volume 0 from the start"
    assert len(ons(daw, t1=t["tr_off"], channel=2)) >= 3, "TR played too little before it was turned down"
    assert ons(daw, t["tr_off"] + 0.1, channel=2) == [], "TR at volume 0 still sends note-ons"
    assert len(ons(daw, t["tr_off"], t["p1_off"], channel=0)) >= 3, "P1 stopped when TR was turned down"
    assert ons(daw, t["p1_off"] + 0.1) == [], "a note-on with every voice at volume 0"


def window(take, since, until):
    """The take from 0.2 s after the mark `since` to the mark `until`."""
    a, b = take.at[since] + int(0.2 * RATE), take.at[until] - BLOCK
    marks = {k: round(f / RATE, 2) for k, f in take.at.items()}
    assert b - a > RATE // 2, f"{(b - a) / RATE:.2f} s of take from {since} to {until}: marks at {marks} s, " \
                              f"the changes at {take.t} s"
    return take.samples[a:b]


def test_the_triangle_at_volume_0_is_silent_in_the_apu(take):
    before = window(take, "panic3", "tr_off")            # P1 and TR sound
    silent = window(take, "p1_off", "end")               # every voice at volume 0, TR too
    print(f"\nrms with P1 and TR {rms(before):.4f}; with every voice at volume 0: rms {rms(silent):.5f}, "
          f"peak {np.abs(silent).max():.5f}")
    assert len(silent) > RATE and rms(before) > 0.02, (len(silent), rms(before))
    assert np.abs(silent).max() < 0.003, f"the take is not silent with every voice at volume 0: " \
                                         f"peak {np.abs(silent).max():.4f}, rms {rms(silent):.4f}"


def test_a_timbre_sent_over_osc_changes_the_apus_output(take):
    loud = window(take, "tr_off", "p1_soft")             # P1 alone, timbre volume 15
    soft = window(take, "p1_soft", "p1_off")             # P1 alone, timbre volume 3
    peak = [np.percentile(np.abs(w), 99.5) for w in (loud, soft)]
    print(f"\nP1's level at timbre volume 15 and 3: {peak}")
    assert peak[0] > 0.02 and peak[1] < 0.4 * peak[0], peak


def test_panic_silences_the_apu_from_the_next_block_and_sends_all_sound_off_and_all_notes_off(take):
    x, log, daw = take.samples, take.log, take.daw
    heard = 0
    for mark in ("panic1", "panic2", "panic3", "tr_off", "p1_soft"):
        f = take.at[mark]                # a panic turns the channels off ($4015 = 0) at a block's first frame
        cycle = f * NTSC / RATE
        later = log.cycles[np.isin(log.addrs, STARTS) & (log.cycles > cycle)]
        until = int(later[0] * RATE / NTSC) if len(later) else f + RATE
        after = x[f + 64: min(until, f + RATE // 10)]           # 64 frames: the output filters settle
        before = motion(x[f - BLOCK: f])
        print(f"\npanic: motion {before:.5f} before, {motion(after):.6f} in the {len(after)} frames after")
        if before > 0.002 and len(after) > 240:
            heard += 1
            assert motion(after) < 0.0002, f"the APU still sounds {len(after)} frames after a panic: " \
                                           f"motion {motion(after):.5f}, {before:.5f} before"
    assert heard >= 2, "too few panics came while the APU was sounding"
    # six panics: each sends All Sound Off and All Notes Off on the four channels (the stop adds All Notes Off)
    for ch in range(4):
        ccs = [m[1] for _, m in daw if m[0] == CC | ch]
        assert ccs.count(120) == 6 and ccs.count(123) >= 6, (ch + 1, ccs)


# --- the preset's horizon, and horizon and tempo sent over OSC ---------------------------------------------------

def wait_for_lead(s, ok, timeout=8.0):
    end = time.monotonic() + timeout
    lead = None
    while time.monotonic() < end:
        lead = info(s, "ahead")
        if ok(lead):
            return lead
        time.sleep(0.2)
    raise AssertionError(f"the schedule's lead is {lead} s")


def spacing(messages, t0, t1):
    """Median time between successive instants with a note-on (any channel), in [t0, t1)."""
    times = sorted({round(t, 3) for t, *_ in ons(messages, t0, t1)})
    gaps = [b - a for a, b in zip(times, times[1:]) if b - a > 0.002]
    assert len(gaps) >= 5, f"only {len(gaps)} note gaps in {t1 - t0:.1f} s"
    return statistics.median(gaps)


def test_a_presets_horizon_holds_and_horizon_and_tempo_over_osc_reach_the_model_process(model):
    with live("--preset", "sparse-ambient", model=model, watch=True) as s:
        assert s.osc.ask("/livechip/horizon") == [pytest.approx(2.0)]
        wait_for_lead(s, lambda lead: lead > 1.5)                    # the model keeps 2 s ahead
        put(s, "/livechip/horizon", 0.3)
        wait_for_lead(s, lambda lead: lead < 0.6)
        put(s, "/livechip/horizon", 2.0)
        wait_for_lead(s, lambda lead: lead > 1.5)
        put(s, "/livechip/top_p", 1.0)                               # denser music: enough notes to time
        put(s, "/livechip/tempo", 0.5)
        time.sleep(2.5)                                              # the 2 s ahead are at the new tempo too
        slow = time.monotonic()
        time.sleep(5.0)
        fast = put(s, "/livechip/tempo", 2.0)
        time.sleep(1.5)
        end = time.monotonic()
        daw = s.daw.messages
        # what was already scheduled (2 s ahead) is re-timed: faster at once, not 2 s later
        ratio = spacing(daw, slow, fast) / spacing(daw, fast + 0.1, end)
        excuse = s.jack.excuse("testdaw")
    assert s.rc == 0, s.err
    with unless(excuse):           # a stopped machine bunches the notes it holds up: their spacing measures it
        assert ratio > 2.0, ratio


def test_a_horizon_flag_wins_over_the_presets_horizon_and_the_rest_of_the_preset_holds(take):
    assert take.asked == {"horizon": pytest.approx(0.7), "voice/p2/volume": 0.0, "voice/p1/timbre/volume": 15}


# --- sampling: --seed, top_k and top_p over OSC ---------------------------------------------------------------

def first_notes(s, n=16, timeout=30.0):
    end = time.monotonic() + timeout
    while len(ons(s.daw.messages)) < n:
        assert time.monotonic() < end, f"only {len(ons(s.daw.messages))} notes"
        time.sleep(0.05)
    return [(ch, note) for _, ch, note, _ in ons(s.daw.messages)[:n]]


def variety(messages, t0, t1):
    """Distinct (channel, note) pairs played in [t0, t1), and how many notes."""
    notes = ons(messages, t0, t1)
    return len({(ch, n) for _, ch, n, _ in notes}), len(notes)


SAMPLING = ("--temperature", "2.0", "--no-audio")


@pytest.fixture(scope="module")
def sampling(model):
    """One session at --seed 5: its first notes, then the variety of its notes as top_k and top_p change."""
    with live("--seed", "5", *SAMPLING, model=model) as s:
        first = first_notes(s)
        assert s.osc.ask("/livechip/temperature") == [pytest.approx(2.0)] and s.osc.ask("/livechip/seed") == [5]
        phases = []
        for address, value in (("/livechip/top_k", 0), ("/livechip/top_k", 1), ("/livechip/top_k", 0),
                               ("/livechip/top_p", 0.001), ("/livechip/top_p", 1.0)):
            t = put(s, address, value)
            time.sleep(3.0)
            phases.append(variety(s.daw.messages, t + 0.5, time.monotonic()))
    assert s.rc == 0, s.err
    return first, phases


def test_seed_makes_the_music_reproducible(model, sampling):
    runs = {}
    for seed in ("5", "6"):
        with live("--seed", seed, *SAMPLING, model=model) as s:
            runs[seed] = first_notes(s)
        assert s.rc == 0, s.err
    assert runs["5"] == sampling[0]
    assert runs["6"] != sampling[0]


def test_top_k_and_top_p_over_osc_make_the_model_process_greedy(sampling):
    phases = sampling[1]
    (free, n0), (greedy, n1), (free2, n2), (nucleus, n3), (free3, n4) = phases
    print(f"\ndistinct notes (of notes played): {phases}")
    assert min(n0, n2, n4) >= 10, phases
    # greedy, this model repeats itself or waits: a few notes at most, where it played many different ones
    assert greedy * 2 < free and greedy * 2 < free2, phases
    assert nucleus * 2 < free2 and nucleus * 2 < free3, phases


def test_recall_over_osc_leans_the_model_process_to_the_pitch_classes_the_player_plays(model):
    """The player plays C, E and G on P1; the model's P2 and TR notes keep to those pitch classes once recall is
    sent (2.0) where, at recall 0, they were spread over the octave."""
    def phase(s):
        t = time.monotonic()
        for i in range(9):
            played(s, [NOTE_ON, (60, 64, 67)[i % 3] + 12 * (i % 2), 100], wait=0.15)
        time.sleep(2.0)
        return [n for _, ch, n, _ in ons(s.daw.messages, t + 1.0) if ch in (1, 2)]   # P2, TR

    with live("--seed", "3", "--human", "P1", "--recall", "0", "--no-audio", model=model, keyboard=True) as s:
        assert s.osc.ask("/livechip/recall") == [0.0]
        before = phase(s)
        put(s, "/livechip/recall", 2.0)
        after = phase(s)
    assert s.rc == 0, s.err
    share = {k: sum(n % 12 in (0, 4, 7) for n in ns) / max(len(ns), 1) for k, ns in (("0", before), ("2", after))}
    print(f"\nP2 and TR notes on C, E or G: recall 0 {share['0']:.2f} of {len(before)}, 2 {share['2']:.2f} of "
          f"{len(after)}")
    assert len(before) >= 20 and len(after) >= 20
    assert share["2"] >= 0.7 and share["2"] > share["0"] + 0.3


# --- the player's notes: channel map, split and drum map over OSC ------------------------------------------

def played(s, msg, wait=0.3):
    """Send one key (note-on, then its note-off) from the test keyboard; the note-ons that came out."""
    t = time.monotonic()
    s.kbd.send(msg)
    time.sleep(wait)
    s.kbd.send([0x80 | (msg[0] & 15), msg[1], 0])
    time.sleep(0.1)
    return [(ch, note) for _, ch, note, _ in ons(s.daw.messages, t)]


def test_channel_map_split_and_drum_map_over_osc_route_the_players_notes(model):
    with live("--human", "P1,P2,TR,NO", "--split", "60", "--no-audio", model=model, keyboard=True, watch=True) as s:
        time.sleep(0.5)
        assert played(s, [0x90, 48, 100]) == [(2, 48)]            # --split 60: below goes to TR ...
        assert played(s, [0x90, 72, 100]) == [(0, 72)]            # ... the rest to P1
        put(s, "/livechip/split/point", 50)
        assert played(s, [0x90, 55, 100]) == [(0, 55)]            # now above the split

        assert played(s, [0x94, 64, 100]) == []                    # channel 5 is not mapped
        put(s, "/livechip/channel/5", "P2")
        assert played(s, [0x94, 64, 100]) == [(1, 64)]

        assert played(s, [0x99, 40, 100]) == [(3, NOISE_TO_DRUM[8])]   # the default drum map: 40 -> noise 8
        put(s, "/livechip/drum/40", 3)
        assert played(s, [0x99, 40, 100]) == [(3, NOISE_TO_DRUM[3])]

        put(s, "/livechip/voice/p2/volume", 0.0)                   # the player's voice turned down
        time.sleep(0.05)                                           # the engine takes a setting on its next cycle
        got = played(s, [0x94, 64, 100])
        with unless(s.jack.excuse("testdaw", "kbd")):
            assert got == []

        s.kbd.send([0x90, 72, 100])                                # held on P1 while P1 is turned down:
        time.sleep(0.5)                                            # its note ends then, not when let go
        down = put(s, "/livechip/voice/p1/volume", 0.0)
        time.sleep(0.5)
        s.kbd.send([0x80, 72, 0])
        time.sleep(0.2)
        offs = [tm for tm, m in s.daw.messages if tm > down - 0.2 and m[:2] == [0x80, 72]]
        assert offs and offs[0] < down + 0.2, (down, offs)
    assert s.rc == 0, s.err
    assert left_sounding(s.daw.messages) == set()


# --- the flags of `livechip play` that no other test plays with ---------------------------------------------

def test_device_worker_and_timeout_flags_reach_the_engine(model, tmp_path):
    with live("--worker", "thread", "--threads", "2", "--rate", "44100", "--block-size", "128",
              "--audio-device", "system", "--midi-port", "testdaw", "--midi-in", "kbd", "--osc-host", "127.0.0.1",
              "--note-timeout", "1", "--human", "P1", "--record", str(tmp_path),
              model=model, keyboard=True, connect=False, rate=44100, period=128) as s:
        time.sleep(0.5)
        s.kbd.send([0x90, 64, 100])          # held down, never let go: the note timeout releases it
        time.sleep(2.5)
    assert s.rc == 0, s.err
    for line in ("audio: system (JACK Audio Connection Kit), 44100 Hz, block 128", "MIDI out: port 'testdaw:in'",
                 "MIDI in: port 'kbd:out'", "in the engine thread", "OSC on 127.0.0.1:"):
        assert line in s.err, s.err
    daw = s.daw.messages
    on = next(tm for tm, m in daw if m == [0x90, 64, 100])
    off = next(tm for tm, m in daw if tm > on and m[0] == 0x80 and m[1] == 64)
    assert 0.8 < off - on < 1.8, off - on
    assert len(ons(daw)) > 5, "the model played nothing (the DAW got the port without being connected here)"
    assert read_wav(next(tmp_path.glob("*.wav")))[1] == 44100


def test_an_audio_device_that_is_not_there_is_one_clear_error(model):
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"none{os.getpid()}", "JACK_NO_START_SERVER": "1"}
    r = subprocess.run([sys.executable, "-m", "livechip", "play", "--no-tui", "--no-osc", "--no-midi",
                        "--audio-device", "nosuchcard", "--duration", "1", "--model", str(model)],
                       capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).resolve().parents[1])
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "audio device 'nosuchcard'" in r.stderr, r.stderr
