"""How many xruns does the JACK dummy server have on this machine with no livechip at all?

The soak (`bench_soak.py`) counts xruns of the whole instrument. This runs the same server (dummy driver,
48 kHz, 256-frame periods) with clients of the same kinds and nothing else: a PortAudio output stream whose
callback only writes a sine (as `livechip-audio` does, without the APU), a python-rtmidi JACK output port
sending a note every 50 ms (as `livechip` does) and the test DAW recording it; optionally with N processes
spinning at normal priority on the CPU (the model process does that when it generates non-stop). What it
counts here is the floor the machine and the server set, below which no change to livechip can go.

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_jack_baseline.py --seconds 300            # idle machine
    .venv/bin/python bench/bench_jack_baseline.py --seconds 300 --load 2   # both cores busy at normal priority
    .venv/bin/python bench/bench_jack_baseline.py --seconds 300 --load 2 --clients c   # one C client (jack_metro) only
    .venv/bin/python bench/bench_jack_baseline.py --seconds 90 --churn 16  # plus a thread churning 16 MB arrays
"""

import argparse
import collections
import ctypes
import multiprocessing
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livechip.realtime.midi_out import open_client  # noqa: E402
from tests.jack_helpers import JackServer, MidiRecorder  # noqa: E402


def spin(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def churn(n, done):
    """Map, fault in and unmap n bytes again and again (numpy lets the GIL go while it fills)."""
    while not done.is_set():
        a = np.ones(n, dtype=np.uint8)
        del a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--load", type=int, default=0, help="processes spinning at normal priority")
    ap.add_argument("--churn", type=float, default=0, metavar="MB",
                    help="a thread of this process allocates, fills and frees arrays of MB megabytes non-stop "
                         "(what a process's memory work does to its own real-time threads)")
    ap.add_argument("--clients", choices=("python", "c"), default="python",
                    help="python: PortAudio sine + python-rtmidi out + test DAW (default); c: jack_metro alone")
    args = ap.parse_args()
    if args.clients == "c":
        return c_only(args)

    import rtmidi
    import sounddevice as sd

    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    with JackServer(period=args.period, rate=args.rate) as jack:
        lib = ctypes.CDLL(sd._libname)
        name = ctypes.create_string_buffer(b"baseline-audio")
        lib.PaJack_SetClientName(name)
        sd._terminate()
        sd._initialize()
        api = [i for i, h in enumerate(sd.query_hostapis()) if "JACK" in h["name"]][0]
        dev = sd.query_hostapis(api)["default_output_device"]
        phase = np.zeros(1)
        step = 2 * np.pi * 440 / args.rate
        ramp = np.arange(args.period, dtype=np.float64)
        buf = np.empty(args.period, dtype=np.float64)
        underflows = [0]

        def callback(out, frames, time_info, status):
            if status.output_underflow:
                underflows[0] += 1
            np.multiply(ramp[:frames], step, out=buf[:frames])
            buf[:frames] += phase[0]
            np.sin(buf[:frames], out=buf[:frames])
            out[:, 0] = buf[:frames] * 0.1
            phase[0] = (phase[0] + frames * step) % (2 * np.pi)

        stream = sd.OutputStream(device=dev, channels=1, samplerate=args.rate, blocksize=args.period,
                                 dtype="float32", callback=callback)
        stream.start()
        out = open_client(rtmidi.MidiOut, rtmidi.API_UNIX_JACK, "baseline")
        out.open_virtual_port("out")
        daw = MidiRecorder(keep=False)
        jack.wait_for_port("baseline:out")
        jack.connect("baseline:out", daw.port)
        done = threading.Event()

        def notes():
            k = 0
            while not done.wait(0.05):
                out.send_message([0x90 | (k % 4), 60 + k % 12, 100])
                out.send_message([0x80 | ((k - 1) % 4), 60 + (k - 1) % 12, 0])
                k += 1

        sender = threading.Thread(target=notes, daemon=True)
        sender.start()
        if args.churn:
            threading.Thread(target=churn, args=(int(args.churn * 2**20), done), daemon=True).start()
        time.sleep(1.0)
        xr0, uf0 = jack.xruns(), underflows[0]
        log0 = len(jack.log())
        t0 = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - t0
        xruns, uf = jack.xruns() - xr0, underflows[0] - uf0
        late = collections.Counter(re.findall(r"client = (\S+) was not finished", jack.log()[log0:]))
        done.set()
        sender.join()
        stream.stop()
        stream.close()
        sd._terminate()
        out.close_port()
        daw.close()
    stop.set()
    for p in spinners:
        p.join()
    print(f"JACK baseline: {wall:.0f} s on the dummy driver, {args.rate} Hz / {args.period} frames, "
          f"{args.load} spinning processes" + (f", {args.churn:g} MB churn thread" if args.churn else ""))
    print(f"xruns: {xruns} (server log), {uf} (PortAudio underflow flags); "
          f"{daw.count} MIDI messages received")
    print(f"clients the server found not finished: {dict(late) or 'none'}")


def c_only(args):
    """The server and one client written in C (jack_metro, from jackd2's example clients), no Python."""
    import subprocess
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    with JackServer(period=args.period, rate=args.rate) as jack:
        metro = subprocess.Popen(["jack_metro", "-b", "120"], env=jack.env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        jack.wait_for_port("metro:120_bpm")
        time.sleep(1.0)
        xr0, log0 = jack.xruns(), len(jack.log())
        t0 = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - t0
        xruns = jack.xruns() - xr0
        late = collections.Counter(re.findall(r"client = (\S+) was not finished", jack.log()[log0:]))
        metro.terminate()
        metro.wait()
    stop.set()
    for p in spinners:
        p.join()
    print(f"JACK baseline: {wall:.0f} s on the dummy driver, {args.rate} Hz / {args.period} frames, "
          f"{args.load} spinning processes, one C client (jack_metro)")
    print(f"xruns: {xruns} (server log)")
    print(f"clients the server found not finished: {dict(late) or 'none'}")


if __name__ == "__main__":
    main()
