"""Where livechip's own files are: the shipped model and presets (read-only) and the user's folders.

The shipped files are package data. An installed wheel holds them in `livechip/shipped/` (pyproject.toml maps
the top-level `models/` and `presets/` folders there); a checkout, and an editable install of one, reads those
top-level folders themselves. The user's presets and models live in the user's folders (platformdirs; on Linux
~/.config/livechip/presets and ~/.local/share/livechip/models); a user's file hides a shipped one of its name.

    SHIPPED_PRESETS / "lakhnes.toml"
    find_model(None)        # the shipped default model's folder
    find_model("mine")      # USER_MODELS / "mine" if it is there, else the shipped "mine", else Path("mine")
"""

import os
from importlib import resources
from pathlib import Path

import platformdirs

USER_PRESETS = platformdirs.user_config_path("livechip") / "presets"
USER_MODELS = platformdirs.user_data_path("livechip") / "models"
DEFAULT_MODEL = "default"
PRIMES = "primes"       # a model folder's warm primes (livechip.model.primes): its own music, .tx1.txt


def shipped(kind):
    """The shipped `kind` folder ("models" or "presets"): package data in an installed wheel, else the
    checkout's top-level folder."""
    package = resources.files("livechip")
    data = package / "shipped" / kind
    if isinstance(data, Path) and data.is_dir():
        return data
    return Path(str(package)).resolve().parent / kind


SHIPPED_MODELS = shipped("models")
SHIPPED_PRESETS = shipped("presets")


def find_model(name_or_path=None):
    """The model folder `--model` names: a path (with a slash, or a folder that exists here), else a name
    among the user's models and then the shipped ones; None is the shipped default model."""
    if name_or_path is None:
        return SHIPPED_MODELS / DEFAULT_MODEL
    s = str(name_or_path)
    path = Path(s).expanduser()
    if "/" in s or os.sep in s or path.is_dir():
        return path
    for d in (USER_MODELS, SHIPPED_MODELS):
        if (d / s).is_dir():
            return d / s
    return path


def warm_primes(model_dir):
    """The warm primes of a model folder (`primes/*.tx1.txt`), sorted; none for a folder without them."""
    return sorted((Path(model_dir) / PRIMES).glob("*.tx1.txt")) if model_dir is not None else []
