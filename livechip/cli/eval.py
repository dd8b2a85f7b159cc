"""`livechip eval`: perplexity (`livechip.model.evaluate`) or, with --music, music metrics
(`livechip.model.music`) of a model on TX1 files, printed as text or JSON."""

import json
import shlex
import time
from dataclasses import fields

import torch

from livechip.core import places
from livechip.core.errors import LivechipError
from livechip.formats import tx1
from livechip.formats.tx1 import find_files
from livechip.model import music
from livechip.model.checkpoint import load_model
from livechip.model.evaluate import MIN_SONG_TOKENS, PAPER_MEM_LEN, evaluate, song_tokens
from livechip.model.quantize import quantize_int8


def _load(args):
    """The model of `--model`, int8 with `--int8`."""
    model = load_model(args.model, device=args.device)
    if args.int8:
        model = quantize_int8(model)
    return model


def options(args):
    """The MusicConfig fields among the command's arguments (None: not given)."""
    return {f.name: getattr(args, f.name, None) for f in fields(music.MusicConfig)}


def command_line(args, settings):
    """The `livechip eval --music` line that gives these figures, every setting spelled out (`settings`: the
    MusicConfig's fields as the run resolved them)."""
    words = ["livechip", "eval", "--music", "--model", str(args.model), *map(str, args.inputs)]
    for k, v in settings.items():
        words += [f"--{k.replace('_', '-')}", f"{v:g}" if isinstance(v, float) else str(v)]
    words += ["--int8"] * bool(args.int8) + ["--threads", str(args.threads or 1)]
    words += ["--cold-start"] * args.cold_start
    return " ".join(map(shlex.quote, words))


def music_command(args):
    from livechip.model import kernels   # numba: compiled only for --music

    cfg = music.MusicConfig(**{k: v for k, v in options(args).items() if v is not None})
    paths = find_files(args.inputs)
    torch.set_num_threads(args.threads or 1)       # one thread unless told, as `livechip play` generates
    kernels.set_threads(args.threads or 1)
    model = _load(args)
    primes = [] if args.cold_start else [tx1.read(p) for p in places.warm_primes(places.find_model(args.model))]
    t = time.time()
    r = music.music_metrics(model, paths, cfg, progress=not (args.json or args.quiet), primes=primes)
    r["model"], r["int8"] = str(args.model), bool(args.int8)
    r["command"] = command_line(args, r["settings"])
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(r["command"])
    print(music.table(r))
    print(f"({time.time() - t:.0f} s, {r['files']} files)")
    return 0


def eval_command(args):
    if args.music:
        return music_command(args)
    stray = [k for k, v in options(args).items() if v is not None and k not in ("mem_len", "recall")]
    if stray:
        raise LivechipError(f"--{stray[0].replace('_', '-')} goes with --music")
    mem_len = PAPER_MEM_LEN if args.mem_len is None else args.mem_len
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = find_files(args.inputs)
    model = _load(args)
    songs = [song_tokens(p) for p in paths]
    r = evaluate(model, songs, args.batch_size, args.tgt_len, mem_len, args.all_tokens,
                 progress=not (args.json or args.quiet), recall=args.recall or 0.0)
    r["files"] = len(paths)
    r["model"] = str(args.model)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"mean NLL per event: {r['nll']:.6f} nats")
    print(f"perplexity: {r['perplexity']:.4f}")
    how = ("every token scored" if r["all_tokens"] else
           f"LakhNES eval.py protocol: {r['skipped_songs']} songs shorter than {MIN_SONG_TOKENS} tokens skipped, "
           f"{r['unscored_tokens']:,} tokens in the dropped last batch")
    lean = f", recall {r['recall']:g}" if r["recall"] else ""
    print(f"{r['tokens']:,} events from {r['files']} files in {r['segments']} segments of {r['batch_size']} streams "
          f"x {r['tgt_len']} tokens, mem_len {r['mem_len']}{lean} ({how})")
    return 0
