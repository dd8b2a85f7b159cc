"""`livechip info`: duration, events per voice, note ranges and density of music files, as text or JSON."""

import json
import sys

from livechip.cli.convert import maps, report_line
from livechip.formats import midi
from livechip.formats.files import describe, note_name, read_score_report


def _format_name(path, report):
    if report is None:
        return "TX1 (gzip)" if str(path).lower().endswith(".gz") else "TX1"
    return "NES-MDB MIDI" if report.format == "nesmdb" else "MIDI"


def _print(d):
    print(f"{d['file']}: {d['format']}, {d['seconds']:.1f} s, {d['events']} events "
          f"({d['events_per_second']:.1f} events/s)")
    for v, s in d["voices"].items():
        if not s["notes"]:
            print(f"  {v}  no notes")
            continue
        lo, hi = s["lowest"], s["highest"]
        rng = f"noise {lo}-{hi}" if v == "NO" else f"{note_name(lo)}-{note_name(hi)} ({lo}-{hi})"
        print(f"  {v}  {s['notes']:6d} notes  {rng}")
    if "import" in d:
        print("  " + report_line(midi.ImportReport("midi", **d["import"])))


def info_command(args):
    cmap, dmap = maps(args)
    results = []
    for path in args.input:
        score, report = read_score_report(path, cmap, dmap)
        d = {"file": str(path), "format": _format_name(path, report)}
        d.update(describe(score))
        if report is not None and report.format == "midi":
            d["import"] = {"notes": report.notes, "changed": report.changed, "hidden": report.hidden,
                           "ignored": report.ignored, "ignored_channels": report.ignored_channels}
        results.append(d)
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return 0
    for d in results:
        _print(d)
    return 0
