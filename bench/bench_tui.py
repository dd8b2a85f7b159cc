"""What the terminal UI costs the music. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_tui.py                 # in-process costs (no JACK needed), about 40 s
    .venv/bin/python bench/bench_tui.py --jack 24       # also the live engine on JACK dummy, 24 s each: no UI, UI, UI process

In-process (the UI shares the interpreter, so the GIL, with the engine thread and the MIDI sender):
- Monitor: the engine's cost per pushed note, and a viewer's snapshot.
- Frame: CPU time per screen refresh at 80x24 and 160x48 (snapshots + drawing + Textual's compositor), and the
  share of one core at the UI's refresh rate.
- Wake-up lateness of a thread that wants the GIL every 2.9 ms (as the MIDI sender and the audio callback do),
  without and with the UI refreshing at 15 Hz headless (at the default GIL switch interval and at the one
  run_tui sets), p50/p99/max, and the ratios.
With --jack: the live engine of `livechip play` on a JACK dummy server (48 kHz, 256 frames), a test DAW on its
MIDI port, in one run, alternating: SECONDS without the UI, SECONDS with the UI drawn in the engine's process
(headless: all its drawing at its refresh rate), SECONDS with the UI in a process of its own as run_tui runs it
(headless too): xruns, MIDI send time minus scheduled time p50/p99/max, audio callback lateness; ratios.
"""

import argparse
import asyncio
import gc
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livechip.control.surface import Control                    # noqa: E402
from livechip.core.events import TICKS_PER_SECOND            # noqa: E402
from livechip.control.monitor import Monitor                    # noqa: E402

SHARED = ROOT.parent / "shared"


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] if xs else float("nan")


def feed(m, score, until, ahead=TICKS_PER_SECOND, start=0):
    for e in score.events:
        if start <= e.time <= until + ahead:
            m.note(e.voice, e.pitch, e.time, None, speculative=e.time > until)
    m.now(until)


def song():
    from livechip.formats import tx1
    return tx1.read(SHARED / "data" / "examples" / "045_Castlevania_01_02VampireKiller.tx1.txt")


def bench_monitor():
    m = Monitor()
    n = 200_000
    t0 = time.perf_counter()
    for k in range(n):
        m.note("P1", 60 + k % 24, k * 500, None, speculative=True)
    push = (time.perf_counter() - t0) / n
    m.now(n * 500 - 4 * TICKS_PER_SECOND)
    t0 = time.perf_counter()
    for _ in range(200):
        snap = m.snapshot(past_ticks=6 * TICKS_PER_SECOND, ahead_ticks=2 * TICKS_PER_SECOND)
    shot = (time.perf_counter() - t0) / 200
    print(f"monitor: note() {push * 1e9:.0f} ns per call; snapshot of a full history ({len(m._events)} events, "
          f"{len(snap.notes)} in view) {shot * 1e3:.2f} ms")


async def _frames(size, n, score):
    from livechip.tui.app import LivechipApp
    m = Monitor()
    c = Control()
    feed(m, score, 8 * TICKS_PER_SECOND)
    m.stats(tokens_per_s=500.0, lead_s=1.0, latency_ms=10.0, xruns=0, model_name="bench")
    app = LivechipApp(c, m, fps=0)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        step = TICKS_PER_SECOND // 15
        now = 8 * TICKS_PER_SECOND
        cpu = []
        for _ in range(n):
            feed(m, score, now + step, start=now + TICKS_PER_SECOND + 1)
            now += step
            t0 = time.process_time()
            app.refresh_view()
            await pilot.pause()
            cpu.append(time.process_time() - t0)
    return cpu


def bench_frames(score, fps=15):
    for size in ((80, 24), (160, 48)):
        cpu = asyncio.run(_frames(size, 150, score))
        med = statistics.median(cpu)
        print(f"frame {size[0]}x{size[1]}: CPU per refresh p50 {med * 1e3:.1f} ms, p99 {pct(cpu, 99) * 1e3:.1f} ms;"
              f" at {fps} Hz {med * fps * 100:.0f}% of one core")


def lateness(seconds, period=0.0029):
    """A thread that sleeps `period` at a time and measures how late it wakes: a thread waiting for its time
    (the MIDI sender) must get the GIL back from whatever else runs Python."""
    late = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        t0 = time.monotonic()
        time.sleep(period)
        late.append(time.monotonic() - t0 - period)
    return late


async def _ui_running(seconds, score, size=(80, 24)):
    """The UI refreshing at 15 Hz headless while the song comes into its Monitor in real time."""
    from livechip.tui.app import LivechipApp
    m = Monitor()
    app = LivechipApp(Control(), m, fps=15)
    events = score.events
    result = {}
    async with app.run_test(size=size) as pilot:
        t = threading.Thread(target=lambda: result.setdefault("late", lateness(seconds)))
        t0 = time.monotonic()
        k = 0
        t.start()
        while t.is_alive():
            now = round((time.monotonic() - t0) * TICKS_PER_SECOND) % score.end
            if now < 0.1 * TICKS_PER_SECOND and k == len(events):
                k = 0
                m.clear()
            while k < len(events) and events[k].time <= now + TICKS_PER_SECOND:
                e = events[k]
                m.note(e.voice, e.pitch, e.time, None, speculative=e.time > now)
                k += 1
            m.now(now)
            await pilot.pause(0.01)
        t.join()
    return result["late"]


def bench_gil(score, seconds=10.0):
    from livechip.tui.app import SWITCH_INTERVAL
    default = sys.getswitchinterval()
    runs = [("without UI", default, lateness(seconds))]
    for switch in (default, SWITCH_INTERVAL):
        sys.setswitchinterval(switch)
        runs.append(("with UI 15 Hz", switch, asyncio.run(_ui_running(seconds, score))))
    sys.setswitchinterval(default)
    for name, switch, late in runs:
        print(f"2.9 ms sleeper thread {name} (GIL switch interval {switch * 1e3:g} ms): late "
              f"p50 {pct(late, 50) * 1e3:.2f} ms, p99 {pct(late, 99) * 1e3:.2f} ms, max {max(late) * 1e3:.2f} ms")
    quiet = pct(runs[0][2], 99)
    print("ratio p99 with / without UI: " + ", ".join(f"{pct(late, 99) / max(quiet, 1e-6):.2f} at {switch * 1e3:g} ms"
                                                       for _, switch, late in runs[1:]))


# --- `livechip play`'s engine on JACK dummy: the same run without, then with, the UI ---------------------

class Drain:
    """Keeps every entry of a ring of recent figures (`read()` oldest first, `count()` = entries ever written)."""

    def __init__(self, read, count):
        self.read, self.count, self.seen, self.out = read, count, count(), []

    def __call__(self):
        vals, n = self.read(), self.count()
        new = min(n - self.seen, len(vals))
        if new > 0:
            self.out.extend(vals[len(vals) - new:].tolist())
        self.seen = n

    def take(self):
        self()
        out, self.out = self.out, []
        return out


def _process_phase(seconds, monitor, control, fps=None):
    """The UI in a process of its own, as run_tui runs it (headless: its drawing, no terminal)."""
    from livechip.tui.app import FPS, _run_in_process
    end = time.monotonic() + seconds
    _run_in_process(control, monitor, lambda: time.monotonic() >= end, False, False, fps or FPS, headless=True)


async def _phase(seconds, engine, monitor, control, with_ui, size=(80, 24), fps=None, switch_interval=None):
    """Let the engine play `seconds`; with_ui: with the UI refreshing at its rate (headless: all of its drawing,
    none of the terminal's writing, which Textual does on its own thread)."""
    from livechip.tui.app import FPS, SWITCH_INTERVAL, LivechipApp
    fps = fps or FPS
    switch_interval = switch_interval or SWITCH_INTERVAL
    if not with_ui:
        await asyncio.sleep(seconds)
        return
    switch = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)                   # as run_tui does
    gc.freeze()
    try:
        app = LivechipApp(control, monitor, fps=fps)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(seconds)
    finally:
        sys.setswitchinterval(switch)


def bench_model(path):
    """The model to play: `path`, else the shipped default, else (none installed) the busy random network of
    tests/test_osc_engine.py, which plays many notes, so the UI has plenty to draw."""
    from livechip.core import places
    from livechip.model.checkpoint import load_model
    path = places.find_model(path or None)
    if (path / "config.json").exists():
        return load_model(path), path
    from tests.test_osc_engine import busy_model
    print(f"note: no model at {path}; playing a small random network")
    return busy_model(), None


def bench_jack(seconds, period=256, rate=48000, model_path=None, rounds=4, fps=None, switch_interval=None):
    import inspect

    import numpy as np
    import torch

    from livechip.engine.engine import Engine, EngineConfig
    from tests.jack_helpers import JackServer, MidiRecorder

    torch.set_num_threads(1)
    control = Control()
    monitor = Monitor()
    model, model_dir = bench_model(model_path)
    kw = {"monitor": monitor} if "monitor" in inspect.signature(Engine).parameters else {}
    if not kw:
        print("note: the engine takes no Monitor yet; the UI shows the settings and figures but no notes")
    with JackServer(period=period, rate=rate) as jack:
        daw = MidiRecorder()
        engine = Engine(model, EngineConfig(horizon=control.get("horizon")), control, model_dir=model_dir,
                        log=lambda m: print(f"  {m}"), **kw)
        engine.start()
        jack.wait_for_port("livechip:livechip", timeout=10)
        jack.connect("livechip:livechip", daw.port)
        time.sleep(1.0)
        v, snd = engine.synth, engine.sender
        cb = Drain(v.timing, lambda: v.blocks)
        mid = Drain(snd.timing, lambda: snd.n)
        phases = (("--no-tui", False), ("TUI", True), ("TUI proc", "process"))
        out = {name: dict(xruns=0, pa_xruns=0, midi=[], late=[]) for name, _ in phases}
        for _ in range(rounds):                  # alternating, so a busy moment of the machine hits all
            for name, ui in phases:
                x0, px0 = jack.xruns(), engine.audio.xruns
                cb.take(), mid.take()
                if ui == "process":
                    _process_phase(seconds / rounds, monitor, control, fps=fps)
                else:
                    asyncio.run(_phase(seconds / rounds, engine, monitor, control, ui, fps=fps,
                                       switch_interval=switch_interval))
                t = np.asarray(cb.take(), dtype=np.float64).reshape(-1, 3)
                e = t[:, 0] - t[:, 2] / rate
                w = int(rate / period)
                r = out[name]
                r["xruns"] += jack.xruns() - x0
                r["pa_xruns"] += engine.audio.xruns - px0
                r["midi"] += mid.take()
                r["late"] += [x for i in range(0, len(e), w) for x in (e[i:i + w] - e[i:i + w].min()).tolist()]
        engine.stop()
        time.sleep(0.2)
        daw.close()

    def q(xs, p):
        return float(np.percentile(xs, p)) * 1e3 if len(xs) else float("nan")

    from livechip.tui.app import FPS, SWITCH_INTERVAL
    print(f"livechip play's engine on JACK dummy {rate} Hz / {period} frames, {seconds:g} s without and "
          f"{seconds:g} s with the UI at {fps or FPS:g} Hz, GIL switch interval "
          f"{(switch_interval or SWITCH_INTERVAL) * 1e3:g} ms ({rounds} alternating rounds), same run:")
    for name, r in out.items():
        print(f"  {name:8s}: xruns {r['xruns']} (server) {r['pa_xruns']} (PortAudio); MIDI send - scheduled "
              f"p50/p99/max {q(r['midi'], 50):.3f} / {q(r['midi'], 99):.3f} / {q(r['midi'], 100):.3f} ms "
              f"({len(r['midi'])} events); audio callback late p99 {q(r['late'], 99):.3f} ms")
    b = out["--no-tui"]
    for name in ("TUI", "TUI proc"):
        a = out[name]
        print(f"  ratio {name} / --no-tui: MIDI p99 {q(a['midi'], 99) / max(q(b['midi'], 99), 1e-6):.2f}, "
              f"audio callback late p99 {q(a['late'], 99) / max(q(b['late'], 99), 1e-6):.2f}, "
              f"xruns {a['xruns']} vs {b['xruns']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jack", type=float, metavar="SECONDS", help="also run the engine on JACK dummy, "
                                                                  "SECONDS without and SECONDS with the UI")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the GIL measurement (default 10)")
    ap.add_argument("--only-jack", action="store_true", help="skip the in-process measurements")
    ap.add_argument("--model", metavar="DIR", help="model for --jack (default: models/default)")
    ap.add_argument("--fps", type=float, help="UI refresh rate for --jack (default: the UI's)")
    ap.add_argument("--switch-interval", type=float, help="GIL switch interval with the UI, seconds (default: "
                                                          "what run_tui sets)")
    args = ap.parse_args()
    if not args.only_jack:
        score = song()
        bench_monitor()
        bench_frames(score)
        bench_gil(score, args.seconds)
    if args.jack:
        bench_jack(args.jack, model_path=args.model, fps=args.fps, switch_interval=args.switch_interval)


if __name__ == "__main__":
    main()
