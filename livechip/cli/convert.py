"""`livechip convert`: a music file to another format, the extension of each name picking it
(`livechip.formats.files`)."""

from livechip.core.errors import LivechipError
from livechip.formats.files import (describe, kind_of, parse_channel_map, parse_drum_map, read_score_report,
                                    write_score)


def maps(args):
    """(channel map, drum map) of `--channels` and `--drum-map` (None: the default)."""
    cmap, dmap = args.channels, args.drum_map
    return (parse_channel_map(cmap) if cmap else None), (parse_drum_map(dmap) if dmap else None)


def report_line(r):
    """What reading an ordinary MIDI file changed, in one line."""
    line = (f"{r.notes} notes onto the four voices: {r.changed} changed pitch to fit a voice's range, "
            f"{r.hidden} never sounded (one note at a time per voice)")
    if r.ignored:
        chans = ", ".join(str(c) for c in r.ignored_channels)
        line += f", {r.ignored} on unmapped channels ({chans}) left out"
    return line


def convert_command(args):
    cmap, dmap = maps(args)
    kind_of(args.output)  # refuse an unknown output type before reading anything
    score, report = read_score_report(args.input, cmap, dmap)
    if not score.events and not score.end:
        hint = " (try --channels)" if report is not None and report.ignored else ""
        raise LivechipError(f"{args.input}: nothing to convert: no notes on the four voices{hint}")
    nesmdb = True if args.midi == "nesmdb" else None
    write_score(args.output, score, nesmdb=nesmdb, drum_map=dmap)
    d = describe(score)
    print(f"{args.output}: {d['seconds']:.1f} s, {d['note_events']} note events")
    if report is not None and report.format == "midi":
        print(report_line(report))
    return 0
