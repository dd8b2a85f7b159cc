"""How fast the model answers the player, and what one rollback costs.

Reaction latency: a test keyboard on a private JACK server (dummy driver) plays notes into `livechip in`
(channel 1, P1 `human`); the engine runs with the model in its own process (as `livechip play` does) and
records, for each of the player's notes, the time from the note's arrival to the first note the model
generated after it being in the schedule. Printed as p50/p99/max over `--notes` notes, for the default model
and for a LakhNES-size network (random weights: same cost, no music).

Rollback cost: a Stream with a horizon of music generated ahead, then `merge` of one player's note (revoke the
speculation, roll the cache back, append the wait and the note) and the first token sampled after it.

Also the jam stress run: random MIDI at up to 200 messages/s with garbage, SysEx, running status and pulled
cables, for `--stress` seconds (60 by default), ending with the cable pulled: no stuck note.

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_jam.py                     # default model and LakhNES size, 200 notes each, 60 s stress
    .venv/bin/python bench/bench_jam.py --notes 50 --stress 15 --skip-lakhnes
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.jack_helpers import JackServer, MidiRecorder  # noqa: E402
from tests.jam_helpers import LIVECHIP_IN, Keyboard, play, rough_stream, still_sounding  # noqa: E402

DEFAULT = ROOT / "models" / "default"
LAKHNES = dict(n_layer=12, n_head=8, d_head=64, d_model=512, d_inner=2048, tgt_len=512, mem_len=512)


def pct(xs, qs=(50, 99, 100)):
    xs = np.asarray(xs, dtype=np.float64)
    if not len(xs):
        return "n/a"
    return " / ".join(f"{np.percentile(xs, q) * 1000:.2f}" for q in qs)


def engine_for(model_dir, *human, midi_in=None, horizon=0.5, worker="process"):
    from livechip.control.surface import Control
    from livechip.engine.engine import Engine, EngineConfig
    control = Control()
    control.set("seed", 1)
    for v in human:
        control.set(f"voice/{v}/mode", "human")
    cfg = EngineConfig(audio=False, midi=True, worker=worker, horizon=horizon, midi_in=midi_in)
    return Engine(model_dir, cfg, control=control, model_dir=model_dir, log=lambda m: None)


def reaction(model_dir, label, notes, gap):
    with JackServer(period=256) as jack:
        engine = engine_for(model_dir, "P1")
        engine.start()
        kbd = Keyboard()
        try:
            jack.connect(kbd.port, LIVECHIP_IN)
            time.sleep(1.0)
            keys = [60, 62, 64, 65, 67, 69, 71, 72]
            tune = []
            for i in range(notes):
                tune += [(i * gap, [0x90, keys[i % 8], 100]), (i * gap + gap / 2, [0x80, keys[i % 8], 0])]
            play(kbd, tune)
            time.sleep(1.0)
            r = np.array(engine.stats.reactions[-2 * notes:])
            print(f"{label}: reaction latency (note arriving -> first model note after it scheduled), ms "
                  f"p50/p99/max: {pct(r)} over {len(r)} player's events; "
                  f"merge (revoke + roll back + append) in the engine, ms p50/p99/max: "
                  f"{pct(engine.stats.merge_times)}; MIDI in -> the player's thread ms p50/p99/max "
                  f"{pct(engine.stats.human_lag)}; xruns {jack.xruns()}", flush=True)
        finally:
            engine.stop()
            kbd.close()


def rollback_cost(model, label, repeats=50):
    import torch
    from livechip.core import events as ev
    from livechip.engine import SamplingSettings, Stream
    torch.set_num_threads(1)
    with torch.inference_mode():
        s = Stream(model.eval(), SamplingSettings(seed=0), masked_voices=("P1",), max_rollback=2048)
        s.generate_until(4 * ev.TICKS_PER_SECOND, max_tokens=400)
        revoke, append, first, k = [], [], [], []
        for i in range(repeats):
            s.generate_until(s.frontier + ev.TICKS_PER_SECOND // 2, max_tokens=100)   # the horizon ahead
            t = max(s.frontier - ev.TICKS_PER_SECOND // 2, s.history[0][1] + 1)
            p = s.position
            a = time.perf_counter()
            s.revoke_after(t)
            b = time.perf_counter()
            k.append(p - s.position)
            s.append([ev.NoteEvent(t, "P1", 60 + i % 12)])
            c = time.perf_counter()
            s.generate_until(s.frontier + 1, max_tokens=1)
            d = time.perf_counter()
            revoke.append(b - a)
            append.append(c - b)
            first.append(d - c)
    print(f"{label}: one rollback (revoke_after, {np.median(k):.0f} tokens back, median), ms p50/p99/max: "
          f"{pct(revoke)}; appending the wait + note: {pct(append)}; the first token after it: {pct(first)}",
          flush=True)


def stress(model_dir, seconds, rate=200):
    """Random streams with garbage, pulled cables every few seconds; ends with the cable pulled."""
    with JackServer(period=256) as jack:
        kbd = Keyboard()
        engine = engine_for(model_dir, "P1", "P2", "TR", "NO", midi_in="kbd", worker="process")
        engine.start()
        daw = MidiRecorder("daw")
        try:
            jack.connect("livechip:livechip", daw.port)
            t0 = time.monotonic()
            chunk = 0
            while time.monotonic() - t0 < seconds:
                play(kbd, rough_stream(min(4.0, seconds - (time.monotonic() - t0)), rate, seed=chunk))
                kbd.close()                       # the cable is pulled mid-note
                time.sleep(0.7)
                chunk += 1
                if time.monotonic() - t0 < seconds:
                    kbd.reopen()
                    time.sleep(0.7)
            time.sleep(1.0)
            sounding = still_sounding(daw.messages)
            alive = engine.alive and engine.failed is None
            lat = engine.sender.timing()
            print(f"stress {seconds:g} s at {rate} msgs/s, {chunk} pulled cables: engine alive {alive}; "
                  f"notes still sounding on livechip out after the last pull: {sounding or 'none'}; "
                  f"messages dropped as malformed {engine.player.router.dropped}, MIDI out send error ms "
                  f"p50/p99/max {pct(lat)}; MIDI in -> the player's thread ms p50/p99/max "
                  f"{pct(engine.stats.human_lag)}; xruns {jack.xruns()}", flush=True)
        finally:
            engine.stop()
            daw.close()
            kbd.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.25, help="seconds between the player's notes")
    ap.add_argument("--stress", type=float, default=60.0, help="seconds of the stress run (0: skip)")
    ap.add_argument("--model", default=str(DEFAULT))
    ap.add_argument("--skip-lakhnes", action="store_true")
    args = ap.parse_args()
    import torch
    from livechip.model.checkpoint import load_model, save_model
    from livechip.model.txl import TransformerXL, TXLConfig
    rollback_cost(load_model(args.model), f"model {Path(args.model).name}")
    reaction(Path(args.model), f"model {Path(args.model).name}", args.notes, args.gap)
    if not args.skip_lakhnes:
        torch.manual_seed(0)
        big = TransformerXL(TXLConfig(**LAKHNES, dropout=0.0))
        rollback_cost(big, "LakhNES size", repeats=8)
        with tempfile.TemporaryDirectory() as d:
            save_model(big, Path(d) / "lakhnes")
            reaction(Path(d) / "lakhnes", "LakhNES size", args.notes, args.gap)
    if args.stress > 0:
        stress(Path(args.model), args.stress)


if __name__ == "__main__":
    main()
