"""A rough keyboard on a real JACK server: random notes at up to 200 messages/s on four channels with
malformed messages, stray data bytes (running status), SysEx, clock, controllers, note-offs of keys never
pressed, and the cable pulled and replugged every few seconds. The engine keeps going, the player's notes
merge into the model's context throughout, and when the cable is pulled for good nothing is left sounding.
(15 s here; `bench/bench_jam.py --stress 60` runs the minute-long version.)"""

import time

import numpy as np
import pytest
import torch

from livechip.control.surface import Control
from livechip.engine.engine import Engine, EngineConfig
from livechip.model.checkpoint import save_model
from tests.jack_helpers import JackServer, MidiRecorder, jackd_available
from tests.jam_helpers import Keyboard, play, rough_stream, still_sounding
from tests.txl_helpers import random_model

pytestmark = pytest.mark.skipif(not jackd_available(), reason="jackd is not installed")
torch.set_num_threads(1)
SECONDS = 15.0


def test_rough_keyboard_with_pulled_cables_leaves_nothing_stuck(tmp_path):
    control = Control()
    for v in ("P1", "P2", "TR"):                  # the model keeps the noise voice (channel 10 is ignored)
        control.set(f"voice/{v}/mode", "human")
    control.set("voice/NO/mode", "model")
    save_model(random_model(seed=2, mem_len=16), tmp_path / "model")
    with JackServer(period=256) as jack:
        kbd = Keyboard()
        engine = Engine(tmp_path / "model", EngineConfig(audio=False, horizon=0.3, midi_in="kbd",
                                            note_timeout=5.0), control=control, log=lambda m: None)
        engine.start()
        daw = MidiRecorder("daw")
        try:
            jack.connect("livechip:livechip", daw.port)
            t0 = time.monotonic()
            pulls = 0
            while time.monotonic() - t0 < SECONDS:
                play(kbd, rough_stream(min(3.0, SECONDS - (time.monotonic() - t0)), 200, seed=pulls))
                kbd.close()                              # pulled mid-phrase: keys are still down
                pulls += 1
                time.sleep(0.8)                          # the port check runs twice a second
                assert not engine.player.router.holding, "the player's notes outlived the port"
                if time.monotonic() - t0 < SECONDS:
                    kbd.reopen()
                    time.sleep(0.8)                      # found again
            time.sleep(0.5)
            sounding = {ch: k for ch, k in still_sounding(daw.messages).items() if ch < 3}
            failed = engine.failed
            alive = engine.alive and engine.player.alive
            dropped, merged = engine.player.router.dropped, len(engine.player.played)
            lat = engine.stats.reactions
            lag = np.array(engine.stats.human_lag) * 1000
            checks = np.array(engine.stats.port_checks) * 1000
            send = engine.sender.timing() * 1000
        finally:
            engine.stop()
            daw.close()
            kbd.close()
    lat_ms = np.array(lat) * 1000
    print(f"\nstress {SECONDS:g} s, {pulls} pulled cables: {merged} player's events, {dropped} messages dropped; "
          f"reaction (note in -> the model's next note scheduled) over {len(lat_ms)} notes, ms: "
          f"p50 {np.median(lat_ms):.2f} p99 {np.percentile(lat_ms, 99):.2f} max {lat_ms.max():.2f}; "
          f"MIDI in -> player's thread ms p50 {np.median(lag):.2f} p99 {np.percentile(lag, 99):.2f} max {lag.max():.2f}; "
          f"MIDI out lateness ms p50 {np.median(send):.2f} p99 {np.percentile(send, 99):.2f} max {send.max():.2f}; "
          f"port check ms max {checks.max():.1f}")
    assert failed is None and alive
    assert pulls >= 3 and dropped > 100 and merged > 500 and len(lat) > 50
    assert sounding == {}, f"notes left sounding on livechip out: {sounding}"
