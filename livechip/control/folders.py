"""The folders that files named over OSC stay in.

A path sent with an OSC action (`/livechip/reprime`, `record/save`, `preset/load`, `preset/save`) is a name inside
that action's folder: relative, without `..`, without control characters (NUL, newline), at most MAX_NAME
characters, and not leading out through a symlink. Anything else is refused before the action runs.
`livechip play --osc-any-path` lifts the rule; paths from the terminal UI and the command line are never confined.

    folders = Folders(recordings=Path("takes"))
    folders.path("record_save", "jam/first")      # -> "/abs/takes/jam/first"
    folders.path("reprime", "../secret.mid")      # ControlError
"""

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from livechip.control.surface import ControlError
from livechip.core.places import SHIPPED_PRESETS, USER_PRESETS

MAX_NAME = 1024      # characters; far above any real file name, far below a flood
FOLDER_OF = {"reprime": "primes", "record_save": "recordings", "preset_load": "presets", "preset_save": "presets"}
TAKE_FILES = (".mid", ".tx1.txt", ".wav", ".vgm")   # what record/save writes beside its stem (livechip.realtime.record)


@dataclass(frozen=True)
class Folders:
    """Where each OSC path action may read or write. `preset/load` also reads the shipped presets."""
    presets: Path = USER_PRESETS
    recordings: Path = Path("recordings")
    primes: Path = Path("primes")

    def path(self, action, name):
        """The absolute path `name` stands for in `action`'s folder; ControlError if it would leave it."""
        folder = getattr(self, FOLDER_OF[action])
        if action.startswith("preset_"):
            name = name if name.endswith(".toml") else name + ".toml"   # as save_preset names the file
        path = inside(folder, name)
        if action == "record_save":          # each file of the take, not only its stem
            stem = PurePosixPath(name)
            stem = stem.with_suffix("") if stem.suffix in (".mid", ".wav", ".vgm", ".txt") else stem
            for ext in TAKE_FILES:
                inside(folder, str(stem) + ext)
        if action == "preset_load" and not path.is_file():
            shipped = inside(SHIPPED_PRESETS, name)
            if shipped.is_file():
                return str(shipped)
            raise ControlError(f"no preset {_show(name)} in {folder} or {SHIPPED_PRESETS}")
        return str(path)


def inside(folder, name):
    """`folder / name` resolved (symlinks followed), if `name` is a plain relative name that stays inside
    `folder`; ControlError saying why not otherwise."""
    why = _bad_name(name)
    if why:
        raise ControlError(f"{_show(name)}: {why} (a name inside {folder} is allowed)")
    root = Path(folder).resolve()
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError) as e:     # a symlink loop
        raise ControlError(f"{_show(name)}: {e}") from None
    if path == root or not path.is_relative_to(root):
        raise ControlError(f"{_show(name)}: not a file inside {folder} (a symlink leads out?)")
    return path


def _bad_name(name):
    if not isinstance(name, str) or not name:
        return "not a file name"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a control character (NUL, newline, ...) in the name"
    if PurePosixPath(name).is_absolute():
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in the path"
    return None


def _show(name):
    s = repr(name)
    return s if len(s) <= 60 else s[:57] + "..."
