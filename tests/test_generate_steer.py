"""`livechip generate` steered by --key, --scale, --density, --low and --high: the shipped model (models/default,
int8 as play runs it), short takes with fixed seeds, the written files read back. The command's entry point runs
in-process (`livechip.cli.main.main`) to keep the suite fast; one bad name goes through the real command. Each take
continues the first seconds of a song from the shared data (an unprimed take can open with seconds of silence), and
only the notes the model wrote after it are checked."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from livechip.core import events as ev
from livechip.formats import files
from livechip.cli.main import main
from livechip.model.steer import Steering

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "default"
EXAMPLE = "225_MegaMan2_01_02Title.tx1.txt"
PRIME = 3 * ev.TICKS_PER_SECOND
D_MAJOR = {2, 4, 6, 7, 9, 11, 1}     # D E F# G A B C#

pytestmark = pytest.mark.skipif(not (MODEL / "model.safetensors").exists(), reason="models/default not installed")


@pytest.fixture(scope="module")
def primer(shared, tmp_path_factory):
    song = files.read_score(shared / "data" / "examples" / EXAMPLE)
    path = tmp_path_factory.mktemp("primer") / "primer.tx1.txt"
    files.write_score(path, ev.normalize(ev.Score([e for e in song.events if e.time < PRIME], PRIME)))
    return path


@pytest.fixture
def gen(tmp_path, capsys, primer):
    torch.set_num_threads(1)   # as play runs the model; the test machine's cores are shared

    def gen(name, *args, check=True):
        out = tmp_path / name
        capsys.readouterr()
        code = main(["generate", "-q", "--int8", "--model", str(MODEL), "--prime", str(primer), "-o", str(out),
                     *map(str, args)])
        err = capsys.readouterr().err
        if check:
            assert code == 0, err
            return files.read_score(out)
        return code, err, out
    return gen


def note_ons(score, voices=("P1", "P2", "TR", "NO")):
    """The note-ons the model wrote (after the primer)."""
    return [e for e in score.events if e.pitch is not None and e.voice in voices and e.time >= PRIME]


def test_key_and_scale_keep_every_melodic_note_in_the_key(gen):
    score = gen("d.tx1.txt", "--key", "D", "--scale", "major", "--seconds", 3, "--seed", 1)
    notes = note_ons(score, ("P1", "P2", "TR"))
    assert len(notes) >= 20
    outside = [e for e in notes if e.pitch % 12 not in D_MAJOR]
    assert not outside, outside[:5]


def test_key_alone_means_its_major_scale_and_flats_work(gen):
    score = gen("bb.tx1.txt", "--key", "Bb", "--seconds", 2, "--seed", 2)
    pcs = Steering(key="Bb", scale="major").pitch_classes
    notes = note_ons(score, ("P1", "P2", "TR"))
    assert notes and all(e.pitch % 12 in pcs for e in notes)


def test_a_range_keeps_every_p1_note_inside_also_through_midi(gen):
    score = gen("r.mid", "--low", "P1:60", "--high", "p1:72", "--seconds", 3, "--seed", 1)
    p1 = note_ons(score, ("P1",))
    assert len(p1) >= 5 and all(60 <= e.pitch <= 72 for e in p1), sorted({e.pitch for e in p1})
    others = note_ons(score, ("P2", "TR"))
    assert any(not 60 <= e.pitch <= 72 for e in others)   # only P1 was narrowed


def test_density_3_plays_at_least_4x_the_notes_of_density_quarter(gen):
    counts = {}
    for density in (0.25, 3):
        counts[density] = sum(len(note_ons(gen(f"d{density}.tx1.txt", "--density", density, "--seconds", 4,
                                                   "--seed", seed))) for seed in (0, 1, 2))
    assert counts[0.25] > 0 and counts[3] >= 4 * counts[0.25], counts


@pytest.mark.parametrize("args, message", [
    (["--key", "H"], "--key: unknown key 'H'; keys are C, C#, Db, D"),
    (["--key", "D", "--scale", "ionian"], "--scale: unknown scale 'ionian'; scales are chromatic, major, minor"),
    (["--scale", "minor"], "--scale minor needs a key, e.g. --key D --scale minor"),
    (["--density", "9"], "--density: density must be a number 0.25..4"),
    (["--low", "P1"], "--low: expected VOICE:NOTE, e.g. P1:60, got 'P1'"),
    (["--high", "P9:60"], "--high: unknown voice 'P9'"),
    (["--low", "P1:80", "--high", "P1:70"], "--low/--high: P1 low 80 is above its high 70"),
    (["--key", "C", "--low", "P1:61", "--high", "P1:61"], "no note of P1 is left inside its range"),
])
def test_bad_steering_is_one_clear_line_and_writes_nothing(gen, args, message):
    code, err, out = gen("x.tx1.txt", *args, check=False)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_the_real_command_refuses_a_bad_key_without_a_traceback(tmp_path):
    out = tmp_path / "x.tx1.txt"
    p = subprocess.run([sys.executable, "-m", "livechip", "generate", "-o", str(out), "--key", "Hb"],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert p.returncode == 2 and "unknown key 'Hb'" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()
