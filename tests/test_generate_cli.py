"""`livechip generate` end to end: a real model folder (the tiny fixture checkpoint saved in livechip's format),
real TX1 and MIDI files from the shared data, the command's own entry point (`livechip.cli.main.main`, in-process
to keep the suite fast; Ctrl-C is tested on the real command in a subprocess)."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from livechip.core import events as ev
from livechip.core import places
from livechip.cli.main import main
from livechip.formats import files
from tests.generate_helpers import tiny_txl

EXAMPLE = "225_MegaMan2_01_02Title"
ENV = dict(os.environ, OMP_NUM_THREADS="1")   # the test machine's two cores are shared
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_dir(shared, tmp_path_factory):
    from livechip.model.checkpoint import save_model
    d = tmp_path_factory.mktemp("model") / "tiny"
    save_model(tiny_txl(shared), d)
    return d


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys):
    def run(*args, check=True):
        capsys.readouterr()
        code = main(["generate", "-q", *map(str, args)])
        out, err = capsys.readouterr()
        if check:
            assert code == 0, err
        return Result(code, out, err)
    return run


def by_voice(events, voice):
    return [e for e in events if e.voice == voice]


def test_missing_model_folder_is_one_clear_line(tmp_path, run):
    out = tmp_path / "x.tx1.txt"
    p = run("-o", out, "--model", tmp_path / "nope", "--seconds", 1, check=False)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "model folder not found" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()


def test_without_model_flag_uses_the_default_folder(tmp_path, run, monkeypatch):
    monkeypatch.setattr(places, "SHIPPED_MODELS", tmp_path / "models")
    p = run("-o", tmp_path / "x.mid", check=False)
    assert p.returncode == 2 and "pass --model DIR" in p.stderr and str(tmp_path / "models") in p.stderr


@pytest.mark.parametrize("args, message", [
    (["-o", "x.wav"], "unknown file type"),
    (["-o", "x.mid", "--temperature", "-1"], "temperature"),
    (["-o", "x.mid", "--rhythm", "a.mid"], "--rhythm and --keep go together"),
    (["-o", "x.mid", "--rhythm", "a.mid", "--keep", "P9"], "unknown voice"),
    (["-o", "x.mid", "--prime", "missing.tx1.txt"], "no such file"),
])
def test_bad_arguments_are_one_clear_line(tmp_path, model_dir, run, args, message):
    args = [tmp_path / a if a.endswith((".wav", ".mid", ".txt")) else a for a in args]
    p = run(*args, "--model", model_dir, check=False)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr
    assert not list(tmp_path.iterdir())


def test_fixed_seed_reproducible(tmp_path, model_dir, run):
    a, b, c = tmp_path / "a.tx1.txt", tmp_path / "b.tx1.txt", tmp_path / "c.tx1.txt"
    run("-o", a, "--model", model_dir, "--seconds", 8, "--seed", 42)
    run("-o", b, "--model", model_dir, "--seconds", 8, "--seed", 42)
    run("-o", c, "--model", model_dir, "--seconds", 8, "--seed", 43)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    score = files.read_score(a)
    assert score.end == 8 * ev.TICKS_PER_SECOND and score.events


def test_int8_generates_reproducibly(tmp_path, model_dir, run):
    a, b = tmp_path / "a.tx1.txt", tmp_path / "b.tx1.txt"
    run("-o", a, "--model", model_dir, "--seconds", 8, "--seed", 42, "--int8")
    run("-o", b, "--model", model_dir, "--seconds", 8, "--seed", 42, "--int8")
    assert a.read_bytes() == b.read_bytes()
    assert files.read_score(a).events


def test_events_count_and_midi_output(tmp_path, model_dir, run):
    out = tmp_path / "song.mid"
    p = run("-o", out, "--model", model_dir, "--events", 40, "--seed", 1, "--top-p", 0.9)
    assert "40 generated events" in p.stdout
    import mido
    mid = mido.MidiFile(out)
    channels = {m.channel for t in mid.tracks for m in t if m.type == "note_on"}
    assert channels and channels <= {0, 1, 2, 3}


@pytest.mark.parametrize("suffix", [".tx1.txt", ".mid"])
def test_prime_output_begins_with_the_primer(tmp_path, model_dir, shared, run, suffix):
    primer_path = shared / "data" / "examples" / (EXAMPLE + suffix)
    primer = files.read_score(primer_path)
    out = tmp_path / "cont.tx1.txt"
    run("-o", out, "--model", model_dir, "--prime", primer_path, "--seconds", 5, "--seed", 7)
    got = files.read_score(out)
    assert got.end == primer.end + 5 * ev.TICKS_PER_SECOND
    before = [e for e in primer.events if e.time < primer.end]
    assert got.events[:len(before)] == before                  # everything before the primer's end, exactly
    for v in ev.VOICES:                                        # and at its last tick, each voice in order
        mine = by_voice(primer.events, v)
        assert by_voice(got.events, v)[:len(mine)] == mine
    assert len(got.events) > len(primer.events)                # and the model went on


def test_rhythm_keeps_voices_exactly(tmp_path, model_dir, shared, run):
    rhythm_path = shared / "data" / "examples" / (EXAMPLE + ".tx1.txt")
    rhythm = files.read_score(rhythm_path)
    out = tmp_path / "acc.tx1.txt"
    run("-o", out, "--model", model_dir, "--rhythm", rhythm_path, "--keep", "tr,NO", "--seconds", 10, "--seed", 3)
    got = files.read_score(out)
    end = 10 * ev.TICKS_PER_SECOND
    assert got.end == end
    for v in ("TR", "NO"):
        assert by_voice(got.events, v) == [e for e in by_voice(rhythm.events, v) if e.time < end]
    assert by_voice(got.events, "P1") + by_voice(got.events, "P2")       # the model wrote the others
    assert by_voice(got.events, "P1") != [e for e in by_voice(rhythm.events, "P1") if e.time < end]


def test_ctrl_c_writes_what_exists(tmp_path, model_dir):
    out = tmp_path / "long.tx1.txt"
    p = subprocess.Popen([sys.executable, "-m", "livechip", "generate", "-o", str(out), "--model", str(model_dir),
                          "--seconds", "100000", "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV)
    err = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: p.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not re.search(r"\| *(?!0\.0/)[0-9.]+/100000", "".join(err)):   # progress > 0: generation is running
        assert time.monotonic() < deadline and p.poll() is None, "".join(err)
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, _ = p.communicate(timeout=60)
    assert p.returncode == 130
    assert "interrupted: wrote" in stdout
    score = files.read_score(out)
    assert 0 < score.end < 100000 * ev.TICKS_PER_SECOND
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".part")]
