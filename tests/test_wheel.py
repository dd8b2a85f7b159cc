"""The wheel carries the instrument: built from this checkout and installed into a fresh venv outside it,
`livechip play` runs the shipped model and presets from the installed package, from a folder outside the checkout.

The fresh venv gets this environment's dependencies (torch, numba, ...) through a .pth file, written after the
wheel is installed, instead of downloading them again; the checkout's own `livechip` is not importable there.
The first run in a fresh install compiles the numba kernels (their cache is per install), so it takes longer.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from livechip.core import places

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILES = ("config.json", "model.safetensors", "README.md")


def run(*cmd, cwd, env=None, timeout=300):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """A copy of the checkout's files (tracked and new, not ignored), so that building leaves nothing here."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    out = tmp_path_factory.mktemp("src")
    for name in listed:
        if name and (ROOT / name).is_file():       # a tracked file deleted in the working tree is listed too
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, out / name)
    return out


@pytest.fixture(scope="module")
def wheel(src, tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist,
        src, cwd=src)
    return next(dist.glob("livechip-*.whl"))


def fresh_venv(folder, wheel=None):
    """A venv in `folder` with `wheel` installed, then this environment's packages on its path (written after the
    install, so that pip there sees none of them)."""
    assert not folder.resolve().is_relative_to(ROOT)
    run(sys.executable, "-m", "venv", "--without-pip", folder, cwd=folder)
    py = folder / "bin" / "python"
    if wheel is not None:
        run(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel,
            cwd=folder)
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=folder).stdout.strip())
    deps = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site / "_livechip_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return folder, site


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    return fresh_venv(tmp_path_factory.mktemp("venv"), wheel)


def user_env(folder):
    """No PYTHONPATH leading back here, the user's folders in `folder` (empty), no JACK server, wide help."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "XDG_CONFIG_HOME": str(folder / "config"), "XDG_DATA_HOME": str(folder / "data"),
            "JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": f"none{os.getpid()}", "COLUMNS": "1000"}


@pytest.fixture
def env(tmp_path):
    return user_env(tmp_path)


def test_the_wheel_holds_the_model_the_presets_and_every_module(src, wheel):
    with zipfile.ZipFile(wheel) as z:
        sizes = {i.filename: i.file_size for i in z.infolist()}
    default = src / "models" / "default"
    primes = [p.relative_to(default).as_posix() for p in places.warm_primes(default)]
    assert primes, "the default model ships warm primes"
    for f in (*MODEL_FILES, *primes):
        assert sizes.get(f"livechip/shipped/models/default/{f}") == (src / "models" / "default" / f).stat().st_size, f
    presets = {n.rsplit("/", 1)[1] for n in sizes if n.startswith("livechip/shipped/presets/")}
    assert presets == {p.name for p in (src / "presets").glob("*.toml")} and "lakhnes.toml" in presets
    assert "livechip/tui/app.tcss" in sizes
    modules = {p.relative_to(src).as_posix() for p in (src / "livechip").rglob("*.py")}
    assert modules - set(sizes) == set(), "a package is missing from pyproject.toml's packages"


def test_the_installed_wheel_is_not_the_checkout(venv, tmp_path, env):
    folder, site = venv
    where = run(folder / "bin" / "python", "-c", "import livechip; print(livechip.__file__)", cwd=tmp_path,
                env=env).stdout.strip()
    assert Path(where).resolve() == (site / "livechip" / "__init__.py").resolve()


@pytest.fixture(scope="module")
def plays(venv, tmp_path_factory):
    """`livechip play --no-tui --duration 3 --no-audio --no-midi`, plain and with `--preset lakhnes`, from a folder
    outside the checkout: {what: (exit code, stderr)}. The first compiles the numba kernels in this fresh install."""
    folder, _ = venv
    cwd = tmp_path_factory.mktemp("cwd")
    env = user_env(cwd)
    out = {}
    for what, args in {"plain": (), "lakhnes": ("--preset", "lakhnes")}.items():
        r = subprocess.run([folder / "bin" / "livechip", "play", *args, "--no-tui", "--duration", "3", "--no-audio",
                            "--no-midi", "--osc-port", "0"], cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=300)
        out[what] = r.returncode, r.stderr
    return out


def played(plays, what):
    code, stderr = plays[what]
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    m = re.search(r"stopped after [\d.]+ s: (\d+) tokens", stderr)
    assert m and int(m.group(1)) > 0, stderr
    return stderr


def logged(stderr, what):
    m = re.search(rf"^livechip: {what} (.+)$", stderr, re.M)
    assert m, stderr
    return Path(m.group(1)).resolve()


@pytest.mark.slow
def test_play_from_the_wheel_runs_the_shipped_model(venv, plays):
    _, site = venv
    stderr = played(plays, "plain")
    assert logged(stderr, "model folder") == (site / "livechip/shipped/models/default").resolve()
    assert "model: default (int8) in its own process" in stderr
    assert "the model starts from its own music" in stderr      # the shipped warm primes


@pytest.mark.slow
def test_play_from_the_wheel_with_the_lakhnes_preset(venv, plays):
    _, site = venv
    stderr = played(plays, "lakhnes")
    assert logged(stderr, "preset") == (site / "livechip/shipped/presets/lakhnes.toml").resolve()
    assert logged(stderr, "model folder") == (site / "livechip/shipped/models/default").resolve()


def test_the_user_folders_come_first_and_play_help_names_them(venv, tmp_path, env):
    folder, site = venv
    presets, models = tmp_path / "config/livechip/presets", tmp_path / "data/livechip/models"
    (models / "mine").mkdir(parents=True)
    presets.mkdir(parents=True)
    (presets / "lakhnes.toml").write_text('name = "my lakhnes"\n')
    found = run(folder / "bin" / "python", "-c", "from livechip.core import places; from livechip.control import presets; "
                "print(presets.find_preset('lakhnes')); print(places.find_model('mine')); "
                "print(presets.find_preset('accompany'))", cwd=tmp_path, env=env).stdout.split()
    assert found == [str(presets / "lakhnes.toml"), str(models / "mine"),
                     str(site / "livechip/shipped/presets/accompany.toml")]
    text = run(folder / "bin" / "livechip", "play", "--help", cwd=tmp_path, env=env).stdout
    assert f"one of yours in {presets} " in text and f"one of yours in {models} " in text


def test_a_checkout_and_an_editable_install_read_the_top_level_folders(src, tmp_path_factory, tmp_path, env):
    assert places.SHIPPED_MODELS == ROOT / "models" and places.SHIPPED_PRESETS == ROOT / "presets"   # this one
    where = "import livechip; from livechip.core import places; print(livechip.__file__, places.find_model(), " \
            "places.SHIPPED_PRESETS)"
    want = [str(src / "livechip/__init__.py"), str(src / "models/default"), str(src / "presets")]
    bare, _ = fresh_venv(tmp_path_factory.mktemp("bare"))            # python -m livechip in a checkout's root
    assert run(bare / "bin" / "python", "-c", where, cwd=src, env=env).stdout.split() == want
    dist = tmp_path_factory.mktemp("editable_dist")                  # pip install -e, with this setuptools
    run(sys.executable, "-c", "import sys; from setuptools import build_meta; build_meta.build_editable(sys.argv[1])",
        dist, cwd=src)
    editable, _ = fresh_venv(tmp_path_factory.mktemp("editable"), next(dist.glob("livechip-*.whl")))
    assert run(editable / "bin" / "python", "-c", where, cwd=tmp_path, env=env).stdout.split() == want
