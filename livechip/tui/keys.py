"""The app's keys: bindings built from the settings table, and their help as the key bar and help screen show it.

The app's `BINDINGS` are the one source of key help: each binding's description is its word on the key bar,
its tooltip its line on the help screen.
"""

from textual.binding import Binding

from livechip.core.events import VOICES
from livechip.control.settings import ROW


def setting_keys(path):
    """The bindings of the keys that the settings table names for `path`: one per voice, or down and up."""
    out = []
    for k in ROW[path].keys:
        args = [f"'{v}'" for v in VOICES] if "<v>" in path else [f"'{path}', -1", f"'{path}', 1"]
        out += [Binding(key, f"{k.action}({a})", k.label, show=False, tooltip=k.help)
                for key, a in zip(k.keys.split(), args)]
    return out


def key_rows(bindings):
    """[(keys, label, help)]: bindings in a row with the same help share one line of key help."""
    rows = []
    for b in bindings:
        key = b.key_display or b.key
        if rows and rows[-1][2] == b.tooltip:
            rows[-1][0].append(key)
        else:
            rows.append(([key], b.description, b.tooltip))
    return rows


def short_keys(keys):
    """Keys as the key bar shows them: 1-4, qwer, t/T, ^q."""
    keys = [k.replace("ctrl+", "^") for k in keys]
    if len(keys) > 2 and all(k.isdigit() for k in keys):
        return f"{keys[0]}-{keys[-1]}"
    return ("/" if len(keys) == 2 else "").join(keys)


def help_lines(bindings):
    """(keys, what they do): the help screen's lines, from an app's bindings."""
    return tuple((" / ".join(keys) if len(keys) == 2 else " ".join(keys), what)
                 for keys, _, what in key_rows(bindings))
