"""`livechip play` (the instrument) and `livechip devices` (what it can play through)."""

import os
import random
import signal
import sys
import time
from pathlib import Path

from livechip.cli.steer import steer_settings
from livechip.control.folders import Folders
from livechip.control.monitor import Monitor
from livechip.control.osc import start_osc_server
from livechip.control.presets import apply_preset, find_preset, load_preset
from livechip.control.surface import Control, ControlError
from livechip.core import places
from livechip.core.errors import LivechipError
from livechip.core.events import VOICES
from livechip.engine.engine import Engine, EngineConfig
from livechip.formats import tx1
from livechip.realtime import audio, midi_out as midi
from livechip.tui import run_tui


def play_command(args):
    control = _control(args)
    _check(args)
    record_dir = _record_dir(args)
    model_dir, model = _model(args)
    engine, monitor = _engine(args, control, model, model_dir, record_dir)
    if not _play(args, control, engine, monitor, record_dir):
        return 0        # stopped while the model was loading: nothing played, nothing to report
    return _report(engine, record_dir)


def _control(args):
    """The control surface with the preset, then the flags, applied (a flag not given keeps the preset's value)."""
    control = Control()
    try:
        if args.preset:
            preset = find_preset(args.preset)
            apply_preset(control, load_preset(preset))
            print(f"livechip: preset {preset}", file=sys.stderr)
        for path in ("temperature", "recall", "seed", "horizon", "bpm", "quantize"):
            if getattr(args, path) is not None:
                control.set(path, getattr(args, path))
        if args.sync != "free" and args.quantize is None and not args.preset:
            control.set("quantize", "1/16")          # synced, the model plays on the band's 16th notes
        for v in _voices(args.human):
            control.set(f"voice/{v}/mode", "human")
        control.set_many(steer_settings(args))      # --key, --scale, --density, --low, --high, checked together
        if args.split is not None:
            control.set("split/point", args.split)
            if args.human is None:   # a split keyboard plays both of its voices
                for what in ("low", "high"):
                    control.set(f"voice/{control.get(f'split/{what}')}/mode", "human")
    except ControlError as e:
        raise LivechipError(str(e)) from None
    return control


def _check(args):
    if args.note_timeout is not None and not args.note_timeout > 0:
        raise LivechipError(f"--note-timeout must be > 0 seconds, got {args.note_timeout}")
    if args.duration is not None and not args.duration > 0:
        raise LivechipError(f"--duration must be > 0 seconds, got {args.duration}")
    if not 1 <= args.threads <= 256:
        raise LivechipError(f"--threads must be 1..256, got {args.threads}")
    if args.block_size is not None and not 16 <= args.block_size <= 8192:
        raise LivechipError(f"--block-size must be 16..8192 frames, got {args.block_size}")
    if args.clock_out and args.no_midi:
        raise LivechipError("--clock-out sends MIDI clock on the MIDI out port: not with --no-midi")
    if args.clock_out and args.sync == "midi":
        raise LivechipError("--clock-out leads with MIDI clock and --sync midi follows it: choose one")


def _record_dir(args):
    """The `--record` folder, made now so that a bad one is told before playing (None without --record)."""
    if not args.record:
        return None
    record_dir = Path(args.record)
    try:
        record_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LivechipError(f"--record {record_dir}: {e.strerror}") from None
    return record_dir


def _model(args):
    """(model folder, model): the loaded model for the thread worker, the folder for the model process."""
    model_dir = places.find_model(args.model)
    if not (model_dir / "config.json").is_file():
        hint = (" (no default model is installed: pass --model DIR)" if not args.model else
                f" (a name is looked for in {places.USER_MODELS} and {places.SHIPPED_MODELS})"
                if model_dir.name == args.model else "")
        raise LivechipError(f"{model_dir}: not a model folder (no config.json){hint}")
    print(f"livechip: model folder {model_dir}", file=sys.stderr)
    if args.worker == "thread":
        from livechip.model.checkpoint import load_model   # torch: only this worker loads it in this process
        return model_dir, load_model(model_dir)
    return model_dir, model_dir    # loaded by the model process; this one stays free of torch


def _engine(args, control, model, model_dir, record_dir):
    """(engine, monitor): the engine, not started yet, and the UI's monitor (None without the UI)."""
    device = args.audio_device
    if device is not None and device.isdigit():
        device = int(device)
    cfg = EngineConfig(horizon=control.get("horizon"), rate=args.rate, block=args.block_size, audio_device=device,
                       audio=not args.no_audio, midi=not args.no_midi, midi_port=args.midi_port,
                       worker=args.worker, midi_in=_midi_in(args.midi_in), note_timeout=args.note_timeout,
                       int8=args.int8, threads=args.threads, sync=args.sync, sync_port=_midi_in(args.sync_port),
                       clock_out=args.clock_out)
    if not args.no_tui and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("livechip: not a terminal: running without the UI (as with --no-tui)", file=sys.stderr)
        args.no_tui = True
    monitor = None
    if not args.no_tui:
        monitor = Monitor()
    engine = Engine(model, cfg, control=control, model_dir=model_dir, monitor=monitor,
                    primer=() if args.cold_start else _warm_prime(model_dir, control.get("seed")))
    if record_dir is not None:
        engine.takes.folder = record_dir     # record/start .. record/stop takes go there too
    return engine, monitor


def _play(args, control, engine, monitor, record_dir):
    """Start the engine, OSC and the recording, and play until the duration, Ctrl-C or the UI's quit; then stop
    them all. False if Ctrl-C came while the model was loading."""
    def on_signal(signum, frame):
        engine.request_stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    osc = None
    try:
        try:
            engine.start()
        except LivechipError as e:
            if not engine.stopping:
                raise
            print(f"livechip: {e}", file=sys.stderr)     # Ctrl-C while the model was loading: as asked
            return False
        osc = None if args.no_osc else _start_osc(control, args, engine.takes.folder)
        if record_dir is not None:
            engine.record(record_dir)
        how = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
        print(f"livechip: playing {how}", file=sys.stderr, flush=True)
        if monitor is None:
            engine.run(args.duration)
        else:
            run_tui(control, monitor, duration=args.duration, stopped=lambda: engine.stopping)
    finally:
        if osc is not None:
            osc.close()
        engine.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return True


def _report(engine, record_dir):
    """Tell what was played, save the recording; the exit code (1 if the engine failed)."""
    st = engine.status()
    print(f"livechip: stopped after {st['now']:.1f} s: {st['tokens']} tokens, {len(engine.played().events)} "
          f"note events, {st['xruns']} xruns", file=sys.stderr)
    if record_dir is not None:
        stem = record_dir / time.strftime("session-%Y%m%d-%H%M%S")
        paths = engine.save(stem)
        print(f"livechip: recorded {', '.join(str(p) for p in paths)}", file=sys.stderr)
        engine.recorder.close()
    code = 1 if engine.failed else 0
    if engine.device_hung:
        # everything is written and every note released; PortAudio's exit handler would wait on the same
        # server that no longer answers, so leave without it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _warm_prime(model_dir, seed):
    """One of the model folder's warm primes, by the session's seed (None: any): the model starts from it
    without playing it; () where the folder has none."""
    found = places.warm_primes(model_dir)
    if not found:
        return ()
    path = found[random.Random(seed).randrange(len(found))]
    print(f"livechip: the model starts from its own music ({path.name}, heard, not played)", file=sys.stderr)
    return tx1.read(path)


def _start_osc(control, args, recordings):
    """The OSC control surface; a port already in use is one line, and the music goes on without it."""
    host, port = args.osc_host, args.osc_port
    folders = None if args.osc_any_path else Folders(recordings=recordings, primes=Path(args.primes))
    try:
        server = start_osc_server(control, host, port, folders)
    except OSError as e:
        print(f"livechip: no OSC server: cannot bind {host}:{port} ({e.strerror or e})", file=sys.stderr)
        return None
    print(f"livechip: OSC on {host}:{server.port} (/livechip/...)", file=sys.stderr, flush=True)
    return server


def _voices(text):
    """`--human P1,TR` -> ["P1", "TR"]."""
    if not text:
        return []
    voices = [v.strip().upper() for v in text.split(",") if v.strip()]
    bad = [v for v in voices if v not in VOICES]
    if bad:
        raise LivechipError(f"--human: unknown voice {bad[0]!r} (voices are {', '.join(VOICES)})")
    return voices


def _midi_in(text):
    """`--midi-in` -> EngineConfig.midi_in: None (the virtual port), False (none), an index or a name."""
    if text is None:
        return None
    if text.lower() in ("none", "off", "no"):
        return False
    return int(text) if text.isdigit() else text


def devices_command(args):
    outs = audio.output_devices()
    print("Audio outputs:")
    if not outs:
        print("  none (no sound card and no JACK server)")
    for idx, name, api, ch, rate in outs:
        print(f"  {idx:3d}  {name} ({api}), {ch} channels, {rate:g} Hz")
    print("MIDI:")
    ports = midi.list_ports()
    if not ports:
        print("  none (no JACK server and no ALSA sequencer)")
    for api, p in ports.items():
        print(f"  {api} outputs: {', '.join(p['out']) or 'none'}")
        print(f"  {api} inputs:  {', '.join(p['in']) or 'none'}")
    return 0
