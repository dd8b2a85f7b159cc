"""Write docs/reference.md from the tables of livechip.control.settings: every setting, compound path and action.

    .venv/bin/python docs/gen_reference.py          # rewrites docs/reference.md

tests/test_reference_docs.py fails when docs/reference.md is not what this script writes.
"""

from pathlib import Path

from livechip.core.events import VOICES
from livechip.control.settings import ACTION_TABLE, GROUPS, PREFIX, READ_ONLY, SETTINGS, TYPE_NAMES, WILDCARDS

OUT = Path(__file__).resolve().parent / "reference.md"

HEAD = f"""# Reference: settings, OSC addresses and keys

Written by `docs/gen_reference.py` from the tables in `livechip/control/settings.py` (do not edit by hand). Every
setting's OSC address is `{PREFIX}/` + its path: one argument sets it, none asks for it (see [osc.md](osc.md)).
In a path, `<v>` is a voice ({", ".join(f"`{v.lower()}`" for v in VOICES)}), `<ch>` a MIDI channel 1..16 and
`<note>` a MIDI note 0..127. A number outside its range is clamped to the nearest end (one at or below an
open end, `> 0`, is refused); a value that is not of the setting's type is refused and changes nothing.
"""


def _num(x):
    return "2^63-1" if x == 2**63 - 1 else f"{x:g}"


def _range(s):
    if s.type in ("int", "float", "seed"):
        lo, hi = s.range
        text = f"> {_num(lo)} .. {_num(hi)}" if s.low_open else f"{_num(lo)} .. {_num(hi)}"
    elif s.type == "mode":
        text = ", ".join(f"`{w}`" for w in s.range) + f" (or 0-{len(s.range) - 1})"
    elif s.type in ("voice", "scale", "word"):
        text = ", ".join(f"`{w}`" for w in s.range)
    elif s.type == "key":
        text = ", ".join(f"`{w}`" for w in s.range) + " (flats too: `Db`, ...; or 0-11), `off`"
    else:
        text = "`on` / `off` (1 / 0)"
    if s.path in READ_ONLY:
        text += "; read-only"
    words = [f"`{w}`" if w != "" else '`""`' for w in s.none]
    return text + (f"; {' / '.join(words)} = none" if words else "")


def _default(s):
    d = s.default
    if isinstance(d, dict):
        return ", ".join(f"{k} {v}" for k, v in d.items())
    if d is None:
        return "none"
    if isinstance(d, bool):
        return "on" if d else "off"
    return f"{d}"


def _keys(s):
    return "; ".join(" ".join(f"`{k}`" for k in key.keys.split()) + f": {key.help}" for key in s.keys)


def settings_table():
    rows = ["| path | OSC address | type | range | default | TUI keys | what it does |",
            "|---|---|---|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.path}` | `{s.address}` | {TYPE_NAMES[s.type]} | {_range(s)} | {_default(s)} "
                    f"| {_keys(s)} | {s.help} |")
    return rows


def groups_table():
    rows = ["| path | OSC address | takes |", "|---|---|---|"]
    for g in GROUPS:
        if g.settable:
            rows.append(f"| `{g.path}` | `{PREFIX}/{g.path}` | {g.help} |")
    return rows


def actions_table():
    rows = ["| address | argument | reply | what it does |", "|---|---|---|---|"]
    for a in ACTION_TABLE:
        reply = a.reply.replace("ADDRESS", f"{PREFIX}/{a.address}")
        rows.append(f"| `{PREFIX}/{a.address}` | {a.arg or '—'} | `{reply}` | {a.help} |")
    return rows


def render():
    wild = ", ".join(f"`{w}`" for w in WILDCARDS)
    return "\n".join([
        HEAD,
        "## Settings", "",
        *settings_table(), "",
        "## Compound paths", "",
        f"Set with a table of the settings under them (a map is replaced whole), asked for as one table; the "
        f"reply is a bundle of single settings. Patterns ({wild}) stand for every voice, channel or note.", "",
        *groups_table(), "",
        "## Actions", "",
        "An action with no argument also takes one number, as a controller's button sends it: non-zero runs it, "
        "0 is ignored. A refused action replies `/livechip/error ADDRESS REASON`.", "",
        *actions_table(), "",
    ])


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
