"""The `livechip` command: one entry point, one subcommand per job.

Argument definitions live here, in one place; each command's handler is its own module in this folder
(`cli/generate.py`, `cli/train.py`, ...), the only code that reads an argparse Namespace: it turns the options
into plain arguments for the layers below. A handler is imported only when its command runs, so `livechip
--help` stays fast. A `LivechipError` becomes one line on stderr and exit status 2, never a traceback.
"""

import argparse
import importlib
import sys

from livechip import __version__
from livechip.core import places
from livechip.core.errors import LivechipError
from livechip.model.steer import SamplingSettings as SAMPLING
from livechip.realtime.beat import GRIDS, SOURCES

RECALL_HELP = ("lean the model towards the pitch classes, noise sounds and rhythm it heard (a primer, a player), "
               f"0 = the network alone (default {SAMPLING.recall}; docs/model.md)")
INT8_HELP = ("run the model's int8 form (int8 weights, keys and values): about twice as fast on a CPU for a "
             "large model, slightly different choices (docs/transformer.md)")
MODEL_HELP = (f"model folder (model.safetensors + config.json), or the name of one of yours in {places.USER_MODELS} "
              "or of a shipped one (default: the shipped model 'default')")



def _command(module, name):
    """The handler `livechip.cli.<module>.<name>(args)`, imported when the command runs (so `livechip --help`
    and each command load only what they use)."""
    def run(args):
        return getattr(importlib.import_module(f"livechip.cli.{module}"), name)(args)
    return run


# --- files (events, TX1, MIDI) ---------------------------------------------------------------

def _add_file_commands(sub):
    p = sub.add_parser("convert", help="convert between .tx1.txt(.gz), NES-MDB .mid and DAW .mid")
    p.add_argument("input", help="input file (.tx1.txt, .tx1.txt.gz, .mid)")
    p.add_argument("-o", "--output", required=True, help="output file; its extension picks the format")
    p.add_argument("--midi", choices=("daw", "nesmdb"), help="MIDI output layout: daw (P1, P2, TR, NO on "
                   "channels 1-4; the default) or nesmdb (also chosen by a name ending in .nesmdb.mid)")
    _add_map_options(p)
    p.set_defaults(func=_command("convert", "convert_command"))

    p = sub.add_parser("info", help="duration, events per voice, note ranges and density of a file")
    p.add_argument("input", nargs="+")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_map_options(p)
    p.set_defaults(func=_command("info", "info_command"))


def _add_map_options(p):
    p.add_argument("--channels", metavar="MAP", help="MIDI in: channel to voice, e.g. 1=P1,2=P2,3=TR,10=NO "
                   "(default 1=P1,2=P2,3=TR,4=NO,10=NO; other channels are left out)")
    p.add_argument("--drum-map", metavar="MAP", help="noise value to drum note, e.g. 1=35,9=38,16=42, or a "
                   ".json file; used for MIDI out and, inverted, for MIDI in (default: General MIDI drums)")


# --- generate (offline generation) ----------------------------------------------------------

def _add_generate_commands(sub):
    p = sub.add_parser("generate", help="write new music: free, continuing a file, or around kept voices",
                       description="Generate music offline (as fast as the model runs) and write it as .tx1.txt "
                                   "or .mid. Ctrl-C stops and writes what exists so far.")
    p.add_argument("-o", "--output", help="output file: .tx1.txt or .mid (DAW MIDI); required but with --write-primes")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    p.add_argument("--write-primes", type=int, metavar="N",
                   help="instead: write N warm primes (the model's own music, which `play` starts from) into the "
                        "model folder's primes/, replacing those there (docs/model.md)")
    n = p.add_mutually_exclusive_group()
    n.add_argument("--seconds", type=float, help="seconds of new music (default 30, or the rhythm's length)")
    n.add_argument("--events", type=int, help="number of new note events instead")
    p.add_argument("--temperature", type=float, default=SAMPLING.temperature,
                   help=f"0 = greedy (default {SAMPLING.temperature})")
    p.add_argument("--top-k", type=int, default=SAMPLING.top_k,
                   help=f"keep the k most probable tokens, 0 = all (default {SAMPLING.top_k})")
    p.add_argument("--top-p", type=float, default=SAMPLING.top_p,
                   help=f"nucleus sampling mass, 1 = off (default {SAMPLING.top_p})")
    p.add_argument("--recall", type=float, default=SAMPLING.recall, help=RECALL_HELP)
    p.add_argument("--seed", type=int, help="random seed, for a reproducible result")
    p.add_argument("--prime", metavar="FILE", help="continue this .mid or .tx1.txt file (output starts with it)")
    p.add_argument("--int8", action="store_true", help=INT8_HELP)
    p.add_argument("--rhythm", metavar="FILE", help="keep voices of this file and let the model write the others")
    p.add_argument("--keep", metavar="VOICES", help="voices of --rhythm to keep, e.g. NO or TR,NO")
    _add_steering_options(p, density=1.0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_command("generate", "generate_command"))


def _add_steering_options(p, density):
    """--key, --scale, --density, --low, --high (read by cli/steer.py); `play` leaves out what is not given
    (density None), so a preset's values stay."""
    g = p.add_argument_group("steering (docs/steering.md)")
    g.add_argument("--key", metavar="NOTE", help="keep P1, P2 and TR in this key: C .. B with # or b, e.g. F# or Bb "
                                                 "(default: no key)")
    g.add_argument("--scale", metavar="NAME", help="the key's scale (default major): chromatic, major, minor, "
                                                   "harmonic_minor, dorian, phrygian, lydian, mixolydian, "
                                                   "pentatonic_major, pentatonic_minor, blues")
    g.add_argument("--density", type=float, default=density,
                   help="how readily the model starts notes: 0.25 .. 4, 1 = its own rate (default 1)")
    g.add_argument("--low", metavar="VOICE:NOTE", action="append",
                   help="lowest note a voice may start, e.g. P1:60 (MIDI note; NO: noise value 1-16); repeatable")
    g.add_argument("--high", metavar="VOICE:NOTE", action="append",
                   help="highest note a voice may start, e.g. P1:72; repeatable")


# --- apu (rendering) -------------------------------------------------------------------------

def _add_apu_commands(sub):
    p = sub.add_parser("render", help="render .tx1.txt, .mid or .vgm to a WAV file through the NES APU")
    p.add_argument("input", help="input file (.tx1.txt, .tx1.txt.gz, .mid, .vgm, .vgz)")
    p.add_argument("-o", "--output", required=True, help="output .wav (16-bit mono)")
    p.add_argument("--rate", type=int, default=44100, choices=(44100, 48000), help="sample rate (default 44100)")
    p.add_argument("--timbre", "--preset", dest="timbre", metavar="NAME|FILE",
                   help="timbres for scores: a preset (default, lakhnes) or a .toml/.json file of P1/P2/TR/NO tables")
    p.add_argument("--vgm", metavar="OUT.vgm", help="also write the register log as a VGM file")
    p.add_argument("--no-filter", action="store_true",
                   help="leave out the console's output filters (raw mixer output, as VGMPlay renders)")
    p.add_argument("--ignore-other-chips", action="store_true",
                   help="VGM input: play only the 2A03 part of logs that also use FDS or another chip")
    p.set_defaults(func=_command("render", "render_command"))


# --- checkpoint (LakhNES import, evaluation) -------------------------------------------------

def _add_checkpoint_commands(sub):
    p = sub.add_parser("import-lakhnes", help="convert a LakhNES model.pt into a livechip model folder",
                       description="Read a LakhNES checkpoint (model.pt as its train.py wrote it, any torch "
                                   "container) without running code from it, and write model.safetensors, "
                                   "config.json and README.md into DIR.")
    p.add_argument("src", metavar="SRC", help="LakhNES model.pt, or the folder holding it")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="model folder to write")
    p.set_defaults(func=_command("import_lakhnes", "import_command"))

    p = sub.add_parser("eval", help="perplexity of a model on TX1 files, or with --music what it plays",
                       description="Evaluate a model on .tx1.txt(.gz) files exactly as LakhNES's model/eval.py "
                                   "does (defaults: the paper's settings), or on every token with --all-tokens. "
                                   "With --music: how well it keeps the key and groove of songs it continues, "
                                   "and how dense, silent and choppy its unprimed takes are against the files.")
    p.add_argument("inputs", nargs="+", metavar="FILES_OR_DIRS", help=".tx1.txt(.gz) files or folders of them")
    p.add_argument("--model", metavar="DIR", required=True, help="model folder (model.safetensors + config.json)")
    p.add_argument("--batch-size", type=int, default=10, help="parallel streams (default 10)")
    p.add_argument("--tgt-len", type=int, default=128, help="tokens scored per segment (default 128)")
    p.add_argument("--mem-len", type=int, help="memory length in tokens (default 896; with --music: the model "
                                                "folder's generation memory, else 512)")
    p.add_argument("--all-tokens", action="store_true",
                   help="score every token: keep short songs and the last incomplete batch")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--int8", action="store_true", help="evaluate the model's int8 form (what --int8 generates with)")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice; with --music 1, as play)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("music (--music; defaults in livechip.model.music.MusicConfig)")
    g.add_argument("--music", action="store_true", help="music metrics instead of perplexity (docs/model.md)")
    g.add_argument("--songs", type=int, help="songs continued (default 24; 0: none)")
    g.add_argument("--prime-seconds", type=float, help="seconds of each song the model hears (default 10)")
    g.add_argument("--continue-seconds", type=float, help="seconds it continues them (default 20)")
    g.add_argument("--takes", type=int, help="unprimed takes, one seed each (default 6; 0: none)")
    g.add_argument("--take-seconds", type=float, help="seconds of each unprimed take (default 60)")
    g.add_argument("--temperature", type=float,
                   help=f"sampling temperature, 0 = greedy (default {SAMPLING.temperature}, as play)")
    g.add_argument("--top-k", type=int, help=f"keep the k most probable tokens, 0 = all (default {SAMPLING.top_k})")
    g.add_argument("--top-p", type=float, help=f"nucleus sampling mass, 1 = off (default {SAMPLING.top_p})")
    g.add_argument("--recall", type=float, help=RECALL_HELP)
    g.add_argument("--wait-temperature", type=float,
                   help="the waits' temperature among themselves (default: the model folder's; docs/model.md)")
    g.add_argument("--seed", type=int, help="first seed: song i uses seed + i, take j seed + j (default 0)")
    g.add_argument("--cold-start", action="store_true",
                   help="unprimed takes from nothing, not from the model folder's warm primes as `play` starts")
    p.set_defaults(func=_command("eval", "eval_command"))


# --- play (the live instrument) -------------------------------------------------------------

def _add_play_commands(sub):
    p = sub.add_parser("play", help="play live: the model streams music to the APU and the `livechip` MIDI port",
                       description="Start the instrument: the model generates ahead of the clock, the NES APU "
                                   "plays it on the audio device and the notes go out on the virtual MIDI port "
                                   "`livechip` (channels 1-4 = P1, P2, TR, NO). Missing parts (no sound card, no "
                                   "MIDI system) are reported in one line each and the rest keeps running. "
                                   "Ctrl-C (or SIGTERM) stops with every note released.")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    p.add_argument("--no-tui", action="store_true", help="no terminal UI, log lines only")
    p.add_argument("--preset", metavar="NAME|PATH",
                   help=f"start from a preset: the name of one of yours in {places.USER_PRESETS} or of a shipped "
                        "one, or a .toml file")
    p.add_argument("--osc-host", default="127.0.0.1", help="address the OSC server binds (default 127.0.0.1)")
    p.add_argument("--osc-port", type=int, default=9000, help="OSC port (default 9000; 0 picks a free one)")
    p.add_argument("--osc-any-path", action="store_true",
                   help="let OSC name any file (default: only names inside the presets, recordings and primes "
                        "folders)")
    p.add_argument("--primes", metavar="DIR", default="primes",
                   help="folder of the songs /livechip/reprime may name over OSC (default: primes)")
    p.add_argument("--no-osc", action="store_true", help="no OSC server")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop cleanly after this many seconds")
    p.add_argument("--record", metavar="DIR", help="record the session into DIR on exit (.mid, .tx1.txt, .wav, .vgm); "
                   "takes (record/start, ctrl+r) go there too (default: recordings)")
    p.add_argument("--seed", type=int, help="random seed for the model's choices")
    p.add_argument("--cold-start", action="store_true",
                   help="start the model from nothing (the opening of a song) instead of from a few seconds of "
                        "its own music it only hears (the model folder's warm primes)")
    p.add_argument("--temperature", type=float, help=f"sampling temperature (default {SAMPLING.temperature})")
    p.add_argument("--recall", type=float, help=RECALL_HELP)
    p.add_argument("--horizon", type=float, metavar="SECONDS",
                   help="how far ahead of now the model keeps the music generated")
    p.add_argument("--audio-device", metavar="NAME|INDEX", help="audio output (see `livechip devices`)")
    p.add_argument("--block-size", type=int, metavar="FRAMES", help="audio block size (default: the device's)")
    p.add_argument("--rate", type=int, metavar="HZ", help="sample rate (default: the device's, 48000 without one)")
    p.add_argument("--no-audio", action="store_true", help="no audio device: render for the recording only")
    p.add_argument("--no-midi", action="store_true", help="no MIDI out")
    p.add_argument("--midi-port", metavar="NAME", help="send to this existing MIDI port instead of a virtual one")
    p.add_argument("--worker", choices=("process", "thread"), default="process",
                   help="run the model in its own process (default) or in the engine's thread")
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                   help="run the model's int8 form (int8 weights, keys and values; the default: about twice as fast "
                        "at the default model's 768-token memory, the same perplexity); --no-int8: float32")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for the model (default 1: leave the other cores to audio and MIDI)")
    _add_jam_options(p)
    _add_steering_options(p, density=None)
    _add_sync_options(p)
    p.set_defaults(func=_command("play", "play_command"))

    p = sub.add_parser("devices", help="list audio outputs and MIDI ports")
    p.set_defaults(func=_command("play", "devices_command"))


def _add_jam_options(p):
    """MIDI in: what the player plays (docs/playing.md#jamming)."""
    p.add_argument("--midi-in", metavar="NAME|INDEX",
                   help="play along from this MIDI input port (part of its name, or its index; `none`: no MIDI "
                        "in); default: a virtual port `livechip in`")
    p.add_argument("--human", metavar="VOICES",
                   help="voices you play from MIDI in, e.g. P1 or P1,TR (channel 1 P1, 2 P2, 3 TR, 4 and 10 NO); "
                        "the model leaves them to you")
    p.add_argument("--split", type=int, metavar="NOTE",
                   help="one-channel keyboard split: keys below NOTE on channel 1 play TR, the others P1")
    p.add_argument("--note-timeout", type=float, default=20.0, metavar="SECONDS",
                   help="release a key held this long without its note-off (default 20)")


def _add_sync_options(p):
    """In time with the band: where the beat comes from, the tempo, the grid, and leading (docs/sync.md)."""
    g = p.add_argument_group("in time with the band (docs/sync.md)")
    g.add_argument("--sync", choices=SOURCES, default="free",
                   help="follow the band's tempo and transport: midi (MIDI clock on `livechip in` or --sync-port), "
                        "jack (JACK transport), link (Ableton Link: pip install 'livechip[link]'); default free")
    g.add_argument("--sync-port", metavar="NAME|INDEX", help="take MIDI clock from this existing port")
    g.add_argument("--bpm", type=float, help="the session's tempo while free (default 120)")
    g.add_argument("--clock-out", action="store_true",
                   help="lead: send MIDI clock (Start, Stop, 24 a beat) on the MIDI out port at the session's tempo")
    g.add_argument("--quantize", choices=tuple(GRIDS),
                   help="place the model's note-ons on this grid of the beat (default 1/16 when synced, else off)")


# --- train (training, fine-tuning, MIDI adaptation) -----------------------------------------

def _add_train_commands(sub):
    # Defaults left as None fall back to livechip.model.train.TrainConfig (named in each help text).
    p = sub.add_parser("train", help="train or fine-tune a Transformer-XL on .tx1.txt(.gz) / NES-MDB .mid files",
                       description="Transformer-XL training over segments with memory, with the LakhNES "
                                   "augmentations; keeps the best model by validation perplexity in OUT/best "
                                   "and the latest state in OUT/last (for --resume).")
    p.add_argument("data", help="folder of .tx1.txt(.gz) or NES-MDB .mid files; with train/ and valid/ "
                                "subfolders those are the splits")
    p.add_argument("-o", "--out", default="runs/train", help="run folder (default runs/train)")
    p.add_argument("--valid", metavar="DIR", help="validation folder (default DATA/valid, else 1 song in 20 of DATA)")
    p.add_argument("--init", metavar="MODEL", help="fine-tune: start from this model folder (keeps its architecture)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (weights, optimizer, step)")
    g = p.add_argument_group("model (a new one; ignored with --init and --resume, except --tgt-len and --mem-len, "
                             "which change an --init model's)")
    for name, default in (("n-layer", 4), ("n-head", 4), ("d-head", 64), ("d-model", 256), ("d-inner", 1024),
                          ("tgt-len", 128), ("mem-len", 128)):
        g.add_argument("--" + name, type=int, help=f"default {default}")
    g.add_argument("--dropout", type=float, help="default 0.1")
    g.add_argument("--dropatt", type=float, help="attention dropout, default 0")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int, help="parallel streams, i.e. songs per step (default 32)")
    g.add_argument("--max-steps", type=int, help="training steps (default 20000)")
    g.add_argument("--lr", type=float, help="peak learning rate of AdamW (default 5e-4)")
    g.add_argument("--min-lr", type=float, help="learning rate at the end of the cosine decay (default 5e-5)")
    g.add_argument("--warmup", type=int, help="linear warm-up steps (default 500)")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay of matrices (default 0.01)")
    g.add_argument("--grad-clip", type=float, help="clip the gradient norm at this (default 0.25)")
    g.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="train on the songs as they are (default: the LakhNES augmentations)")
    g.add_argument("--shuffle", choices=("melodic", "pulses"),
                   help="augmentation: permute the P1/P2/TR parts, or only swap P1 and P2 (default melodic)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g = p.add_argument_group("evaluation, checkpoints, hardware")
    g.add_argument("--eval-every", type=int, help="steps between validations and checkpoints (default 500)")
    g.add_argument("--eval-tokens", type=int, help="validation tokens scored each time, 0 = all (default 100000)")
    g.add_argument("--max-minutes", type=float, help="stop and save after this many minutes (default: no limit)")
    g.add_argument("--piece-minutes", type=float,
                   help="end this command after this many minutes, saved: --resume goes on with the same schedule "
                        "(--max-minutes counts every piece)")
    g.add_argument("--save-dtype", choices=("float32", "float16", "bfloat16"), help="weights in OUT/best (default float32)")
    g.add_argument("--device", help="auto (default: cuda when there is one), cpu, cuda, cuda:1, ...")
    g.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no mixed precision on GPU")
    g.add_argument("--cpu-bf16", action="store_true", default=None,
                   help="bfloat16 autocast on the CPU (faster where the CPU multiplies bfloat16 natively)")
    g.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    g.add_argument("-q", "--quiet", dest="progress", action="store_false", default=None, help="no progress bar")
    p.set_defaults(func=_command("train", "train_command"))
    _add_adapt_command(sub)


def _add_adapt_command(sub):
    p = sub.add_parser("adapt", help="turn multi-instrument MIDI files into NES four-voice TX1 training data",
                       description="The LakhNES transfer mapping: monophonic melodic instruments in NES range are "
                                   "assigned to P1, P2 and TR in several random ways per song, a percussion part "
                                   "goes to the noise voice.")
    p.add_argument("input", help="folder of .mid files (searched recursively), or one file")
    p.add_argument("-o", "--output", required=True, help="output folder for .tx1.txt.gz files")
    p.add_argument("--per-song", type=int, default=16, help="at most this many voice assignments per song (default 16)")
    p.add_argument("--noise", choices=("random", "gm"), default="random",
                   help="drum note to noise value: a random map per assignment, as LakhNES (default), or "
                        "General MIDI drums by sound (kick dark, hi-hat bright)")
    p.add_argument("--min-seconds", type=float, default=5.0, help="skip songs shorter than this (default 5)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="skip songs longer than this (default 600)")
    p.add_argument("--clip-seconds", type=float, default=180.0, help="cut each output at this length (default 180)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_command("adapt", "adapt_command"))


# --- tui (the terminal UI) ------------------------------------------------------------------

def _add_tui_commands(sub):
    p = sub.add_parser("tui", help="the terminal UI of a livechip already playing (attached over OSC)",
                       description="Watch and steer a running `livechip play` from another terminal or over "
                                   "SSH: the four lanes, the figures and every key of the UI `livechip play` "
                                   "shows, through its OSC port. Quitting (ctrl+q) detaches; the music goes on.")
    p.add_argument("--connect", metavar="HOST:PORT", default="127.0.0.1:9000",
                   help="where the instrument listens for OSC (default 127.0.0.1:9000)")
    p.add_argument("--ascii", action="store_true", help="plain ASCII glyphs (for terminals without Unicode)")
    p.set_defaults(func=_command("tui", "tui_command"))


# --- parser ----------------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(
        prog="livechip",
        description="A real-time chiptune instrument: a Transformer-XL jams with you on the NES APU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_file_commands(sub)
    _add_generate_commands(sub)
    _add_apu_commands(sub)
    _add_checkpoint_commands(sub)
    _add_play_commands(sub)
    _add_train_commands(sub)
    _add_tui_commands(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except LivechipError as e:
        print(f"livechip: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("livechip: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
