"""Ableton Link (`--sync link`, the optional extra livechip[link]): livechip and a Link test peer on this machine
agree on tempo and beat phase, and `livechip play --sync link` follows the peer's tempo.

The peer is a plain `link.Link` in this process; Link finds peers over the network interfaces (loopback
included), as two programs on one machine find each other.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livechip.realtime.beat import BeatClock
from livechip.realtime.clock import Clock
from livechip.realtime.link import QUANTUM, LinkSession
from tests.control_helpers import Client, free_udp_port
from tests.sync_helpers import wait_for_osc

link = pytest.importorskip("link", reason="Ableton Link is the optional extra: pip install 'livechip[link]'")

RATE = 48000
ROOT = Path(__file__).resolve().parents[1]


def livechip_process(*args):
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"none{os.getpid()}"}     # no sound card, no MIDI: not needed
    return subprocess.Popen([sys.executable, "-m", "livechip", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def joined(peer, timeout=10.0):
    end = time.monotonic() + timeout
    while peer.numPeers() < 1:
        assert time.monotonic() < end, "no Link peer found within 10 s"
        time.sleep(0.05)


def set_tempo(peer, bpm):
    state = peer.captureSessionState()
    state.setTempo(bpm, peer.clock().micros())
    peer.commitSessionState(state)


def phase_errors(peer, session, n=40):
    """(ms between livechip's beat and the peer's at the same moment, livechip's bpm, the peer's) n times."""
    clock = Clock(RATE)
    clock.start()
    beats = BeatClock(RATE)
    out = []
    for _ in range(n):
        session.steer(beats, clock)
        before = time.monotonic()
        micros = peer.clock().micros()
        mono = (before + time.monotonic()) / 2
        state = peer.captureSessionState()
        theirs, bpm = state.beatAtTime(micros, QUANTUM), state.tempo()
        ours = beats.beat((mono - clock.monotonic_at(0)) * RATE)
        out.append((abs(ours - theirs) * 60 / bpm * 1000, beats.bpm, bpm))
        time.sleep(0.02)
    return out


def test_livechip_and_a_link_peer_agree_on_tempo_and_phase_within_2_ms():
    peer = link.Link(132.0)
    peer.enabled = True
    session = LinkSession(120.0)
    try:
        joined(peer)
        time.sleep(0.3)
        for bpm in (132.0, 97.5):
            set_tempo(peer, bpm)
            time.sleep(0.5)
            rows = phase_errors(peer, session)
            worst = max(ms for ms, _, _ in rows)
            print(f"{bpm} bpm: phase apart at most {worst:.3f} ms")
            assert worst < 2.0
            assert all(abs(ours - bpm) < 0.01 and abs(theirs - bpm) < 0.01 for _, ours, theirs in rows)
    finally:
        session.close()
        peer.enabled = False


def test_play_sync_link_follows_the_peer_s_tempo():
    peer = link.Link(132.0)
    peer.enabled = True
    port = free_udp_port()
    proc = livechip_process("play", "--no-tui", "--no-audio", "--no-midi", "--sync", "link", "--osc-port", str(port),
                            "--duration", "30")
    osc = Client(port)
    try:
        wait_for_osc(proc, osc)
        assert osc.ask("/livechip/sync") == ["link"]
        answers = []
        for bpm in (132.0, 100.0):
            set_tempo(peer, bpm)
            end = time.monotonic() + 5
            while time.monotonic() < end:
                answers.append((bpm, osc.ask("/livechip/bpm")[0]))
                if abs(answers[-1][1] - bpm) < 0.05:
                    break
                time.sleep(0.2)
            assert abs(answers[-1][1] - bpm) < 0.05, answers
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        osc.close()
        peer.enabled = False
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "sync: following Ableton Link" in err
