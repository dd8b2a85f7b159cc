"""`livechip train`: a tiny model learns from a few real songs, saves, resumes, fine-tunes, and plays."""

import json
import math
import shutil

import pytest
import torch

from livechip.core import events
from livechip.cli.main import main
from livechip.model.stream import Stream
from livechip.model import data, train
from livechip.model.checkpoint import load_model
from livechip.model.sampling import SamplingSettings
from livechip.model.txl import TransformerXL

SONGS = ("202_LawnMower_02_03LevelClear", "324_SuperMarioBros_3_06_07CourseClearFanfare",
         "374_Vs_DuckHunt_06_07BreakTime", "191_Kirby_sAdventure_15_16CraneFever")
TINY = ["--n-layer", "2", "--d-model", "64", "--n-head", "2", "--d-head", "32", "--d-inner", "128",
        "--tgt-len", "32", "--mem-len", "32", "--batch-size", "4", "--warmup", "5", "--lr", "3e-3",
        "--threads", "1", "--eval-tokens", "0", "-q"]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def songs_dir(shared, tmp_path_factory):
    d = tmp_path_factory.mktemp("songs")
    for name in SONGS:
        shutil.copy(shared / "data" / "examples" / f"{name}.tx1.txt", d)
    return d


@pytest.fixture(scope="module")
def trained(songs_dir, tmp_path_factory):
    """A tiny model trained for 120 steps on 4 songs as they are, validated on the same songs."""
    out = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    rc = main(["train", str(songs_dir), "--valid", str(songs_dir), "-o", str(out), "--max-steps", "120",
               "--eval-every", "60", "--no-augment", *TINY])
    assert rc == 0
    return out


def nll(model, songs_dir):
    stream = data.eval_stream(data.load_songs(songs_dir), train.TrainConfig.eval_batch)
    return train.evaluate(model, stream, 32, 32)


def test_training_lowers_the_loss_and_keeps_the_best_model(trained, songs_dir):
    best = load_model(trained / "best")
    fresh = TransformerXL(best.cfg)                    # the same architecture before any training
    before, after = nll(fresh, songs_dir), nll(best, songs_dir)
    assert before > math.log(400)                      # close to guessing among 631 tokens
    assert after < before - 1.5                        # a real drop, not noise
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [60, 120]
    assert min(r["valid_ppl"] for r in log) == pytest.approx(math.exp(after), rel=1e-3)
    card = (trained / "best" / "README.md").read_text()
    assert "Validation perplexity" in card and "2 layers" in card


def test_the_trained_model_generates_music(trained):
    model = load_model(trained / "best")
    s = Stream(model, SamplingSettings(temperature=0.9, top_k=20, seed=1))
    notes = s.generate_until(10 * events.TICKS_PER_SECOND, max_tokens=400)
    assert notes and all(n.voice in events.VOICES for n in notes)
    assert s.frontier > 0                              # it waits, so time moves on


def test_resume_continues_from_the_saved_step(trained, songs_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    st = torch.load(run / "last" / "train_state.pt", weights_only=True)
    assert st["step"] == 120 and st["tokens"] == 120 * 4 * 32
    rc = main(["train", str(songs_dir), "--valid", str(songs_dir), "-o", str(run), "--resume",
               "--max-steps", "130", "--eval-every", "10", *TINY])
    assert rc == 0
    st = torch.load(run / "last" / "train_state.pt", weights_only=True)
    assert st["step"] == 130 and st["tokens"] == 130 * 4 * 32
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 130


def test_a_run_in_pieces_stops_saved_and_resumes_on_its_schedule(songs_dir, tmp_path):
    """--piece-minutes ends one command early with everything saved; --resume goes on from that step, and
    the time budget (--max-minutes) counts both pieces."""
    run = tmp_path / "run"
    args = ["--valid", str(songs_dir), "-o", str(run), "--max-steps", "100000", "--max-minutes", "0.2",
            "--eval-every", "1000", *TINY]
    assert main(["train", str(songs_dir), *args, "--piece-minutes", "0.05"]) == 0
    first = torch.load(run / "last" / "train_state.pt", weights_only=True)
    assert first["step"] > 0 and 2.5 < first["elapsed"] < 10
    assert main(["train", str(songs_dir), *args, "--resume"]) == 0
    second = torch.load(run / "last" / "train_state.pt", weights_only=True)
    assert second["step"] > first["step"] and 11.5 < second["elapsed"] < 20     # 0.2 min in all


def test_resume_without_a_run_is_a_clear_error(songs_dir, tmp_path, capsys):
    rc = main(["train", str(songs_dir), "-o", str(tmp_path / "none"), "--resume", *TINY])
    assert rc == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_given_model(trained, songs_dir, tmp_path):
    out = tmp_path / "ft"
    rc = main(["train", str(songs_dir), "--valid", str(songs_dir), "-o", str(out), "--init",
               str(trained / "best"), "--max-steps", "5", "--eval-every", "5", "--n-layer", "3",
               "--batch-size", "4", "--lr", "1e-4", "--warmup", "1", "--eval-tokens", "0", "--threads", "1", "-q"])
    assert rc == 0
    base, tuned = load_model(trained / "best"), load_model(out / "best")
    assert tuned.cfg.n_layer == base.cfg.n_layer == 2       # the init model's architecture, not --n-layer
    assert json.loads((out / "config.json").read_text())["n_layer"] == 2     # and the run's record says so
    # it starts where the base model is: far better than a fresh model after only 5 steps
    assert nll(tuned, songs_dir) < nll(base, songs_dir) + 0.2


def test_fine_tuning_may_change_the_segment_and_memory_lengths(trained, songs_dir, tmp_path):
    out = tmp_path / "longer"
    rc = main(["train", str(songs_dir), "--valid", str(songs_dir), "-o", str(out), "--init",
               str(trained / "best"), "--max-steps", "2", "--eval-every", "2", "--tgt-len", "16", "--mem-len", "96",
               "--batch-size", "4", "--lr", "1e-4", "--warmup", "1", "--eval-tokens", "0", "--threads", "1", "-q"])
    assert rc == 0
    tuned = load_model(out / "best")
    assert (tuned.cfg.tgt_len, tuned.cfg.mem_len) == (16, 96)          # not architecture: the options win
    assert load_model(trained / "best").cfg.mem_len == 32
    assert "tgt_len 16, mem_len 96" in (out / "best" / "README.md").read_text()


def test_learning_rate_warms_up_then_decays_to_the_minimum():
    cfg = train.TrainConfig(lr=1e-3, min_lr=1e-4, warmup=10, max_steps=100)
    lrs = [train.lr_at(s, cfg) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(1e-4)
    # with a time budget the schedule follows whichever of steps and time is further along
    timed = train.TrainConfig(lr=1e-3, min_lr=1e-4, warmup=10, max_steps=1000, max_minutes=1)
    assert train.progress(50, 30.0, timed) == pytest.approx(0.5)
    assert train.lr_at(50, timed, train.progress(50, 60.0, timed)) == pytest.approx(1e-4)


def test_train_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for opt in ("--init", "--resume", "--max-steps", "--no-augment", "--max-minutes", "--n-layer"):
        assert opt in text


def test_without_a_valid_folder_one_song_in_twenty_is_held_out(shared, tmp_path):
    names = sorted(p.name for p in (shared / "data" / "nesmdb_tx1" / "valid").glob("*.gz"))[:60]
    for n in names:
        shutil.copy(shared / "data" / "nesmdb_tx1" / "valid" / n, tmp_path)
    (tmp_path / "broken.tx1.txt").write_text("WT_10\nNOT_AN_EVENT\n")
    tr, va, skipped = train.split_data(train.TrainConfig(data=str(tmp_path)), progress=False)
    assert len(skipped) == 1 and "broken.tx1.txt" in skipped[0] and "line 2" in skipped[0]
    assert 1 <= len(va) <= 10 and len(tr) + len(va) == 60
    assert not {s.name for s in tr} & {s.name for s in va}
    again = train.split_data(train.TrainConfig(data=str(tmp_path)), progress=False)[1]
    assert [s.name for s in again] == [s.name for s in va]      # the same songs every time
