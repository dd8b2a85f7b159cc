"""The `livechip` command: one entry point, one subcommand per job.

Argument definitions live here, in one place; each handler imports the module that does the
work only when it runs, so `livechip --help` stays fast. A `LivechipError` becomes one line on
stderr and exit status 2, never a traceback.
"""

import argparse
import sys

from livechip.errors import LivechipError


# --- files (events, TX1, MIDI) ---------------------------------------------------------------

def _convert(args):
    from livechip import files
    return files.convert_command(args)


def _info(args):
    from livechip import files
    return files.info_command(args)


def _add_file_commands(sub):
    p = sub.add_parser("convert", help="convert between .tx1.txt(.gz), NES-MDB .mid and DAW .mid")
    p.add_argument("input", help="input file (.tx1.txt, .tx1.txt.gz, .mid)")
    p.add_argument("-o", "--output", required=True, help="output file; its extension picks the format")
    p.set_defaults(func=_convert)

    p = sub.add_parser("info", help="duration, events per voice, note ranges and density of a file")
    p.add_argument("input", nargs="+")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_info)


# --- parser ----------------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(
        prog="livechip",
        description="A real-time chiptune instrument: a Transformer-XL jams with you on the NES APU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_file_commands(sub)
    return parser


def _version():
    from livechip import __version__
    return __version__


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
