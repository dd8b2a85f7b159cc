"""`livechip play` and `livechip devices` on a machine with no sound card and no MIDI system (this one).

The instrument must say in one line what it is doing without, keep playing with what exists (the APU still
renders, for the recording) and write its recording; never a traceback.
"""

import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from livechip.core import events as ev
from livechip.formats import tx1
from livechip.formats import midi
from tests.jack_helpers import note_happy_model

ROOT = Path(__file__).resolve().parents[1]


def livechip(*args, timeout=180, env=None):
    env = {**os.environ, **(env or {}), "JACK_DEFAULT_SERVER": f"none{os.getpid()}"}   # no JACK server by that name
    return subprocess.run([sys.executable, "-m", "livechip", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


def test_play_without_devices_plays_for_its_duration_and_records(model, tmp_path):
    r = livechip("play", "--no-tui", "--duration", "5", "--record", str(tmp_path), "--model", str(model),
                 "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert any("audio: no audio output device" in line for line in lines), r.stderr
    assert any("MIDI out: no MIDI system" in line for line in lines), r.stderr
    files = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    assert files == ["mid", "tx1.txt", "vgm", "wav"], files
    stem = next(tmp_path.glob("*.wav")).with_suffix("")
    with wave.open(str(stem) + ".wav") as w:
        seconds = w.getnframes() / w.getframerate()
    assert 4.5 < seconds < 7.0
    score = tx1.read(str(stem) + ".tx1.txt")
    assert len(score.events) >= 5
    assert 4.5 < score.seconds < 7.0
    assert [(e.voice, e.pitch) for e in midi.read(str(stem) + ".mid").events] == \
        [(e.voice, e.pitch) for e in ev.normalize(score).events]


@pytest.mark.parametrize("flag, int8", [((), True), (("--int8",), True), (("--no-int8",), False)])
def test_play_runs_the_model_process_on_the_int8_form_unless_told_not_to(model, tmp_path, flag, int8):
    r = livechip("play", "--no-tui", "--duration", "3", "--record", str(tmp_path), "--model", str(model),
                 "--seed", "1", *flag)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert (f"model: {model.name} (int8) in its own process" in r.stderr) == int8, r.stderr
    assert len(tx1.read(str(next(tmp_path.glob("*.tx1.txt")))).events) >= 3


def test_devices_says_there_are_none_here(capsys, monkeypatch):
    from livechip.cli.main import main
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"none{os.getpid()}")
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Audio outputs:\n  none" in out and "MIDI:\n  none" in out, out


@pytest.mark.parametrize("args, word", [
    (["--duration", "0"], "--duration"),
    (["--model", "/nonexistent/model"], "not a model folder"),
    (["--temperature", "nan"], "temperature"),
    (["--block-size", "3"], "--block-size"),
    (["--threads", "0"], "--threads"),
])
def test_play_refuses_bad_arguments_in_one_line(args, word, capsys):
    from livechip.cli.main import main
    assert main(["play", "--no-tui", *args]) == 2
    err = capsys.readouterr().err
    assert word in err and len(err.strip().splitlines()) == 1, err
