"""`livechip eval`: LakhNES's model/eval.py protocol reproduced, and scoring every token on request."""

import gzip
import json
import math
import re

import numpy as np
import pytest
import torch

from livechip.core import events
from livechip.cli.main import build_parser
from livechip.model.checkpoint import import_lakhnes, load_model
from livechip.formats.tx1 import find_files
from livechip.model.evaluate import PAPER_MEM_LEN, batches, evaluate, song_tokens
from tests.checkpoint_helpers import FIXTURES, fixtures, reference, run_cli

torch.set_num_threads(1)


@pytest.fixture(scope="module", params=FIXTURES)
def imported(request, shared, tmp_path_factory):
    """(model folder, model, fixture name) of a fixture checkpoint imported with import_lakhnes."""
    d = tmp_path_factory.mktemp(request.param)
    import_lakhnes(fixtures(shared) / request.param / "model.pt", d)
    return d, load_model(d), request.param


def write_tx1(path, ids):
    text = "\n".join(events.token_text(int(i)) for i in ids)
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if path.name.endswith(".gz") else text.encode())
    return path


def test_reproduces_the_reference_segment_evaluation(shared, imported):
    """The fixture's seg_mean_nll: eval.py's loop over the 64 reference tokens, 1 stream, segments of 16."""
    _, model, name = imported
    ref = reference(shared, name)
    r = evaluate(model, [ref["tokens"].tolist()], batch_size=1, tgt_len=16, mem_len=16, all_tokens=True)
    assert r["tokens"] == 63 and r["segments"] == 4
    assert abs(r["nll"] - float(ref["seg_mean_nll"])) < 1e-5
    assert f"{r['perplexity']:.4g}" == f"{math.exp(float(ref['seg_mean_nll'])):.4g}"


def test_cli_on_a_tx1_file_reproduces_the_original_numbers(shared, imported, tmp_path, capsys):
    """A file is framed <S> events <S>: the reference's 63 predictions plus the final <S> (seg_logprobs[63, 0])."""
    d, _, name = imported
    ref = reference(shared, name)
    want = (ref["seg_nll"].astype(np.float64).sum() - float(ref["seg_logprobs"][63, 0])) / 64
    # leading and trailing waits are dropped, as LakhNES's trim_padding does; gzip is read too
    f = write_tx1(tmp_path / "song.tx1.txt.gz", [events.token_id("WT_500"), *ref["tokens"][1:], events.token_id("WT_9")])
    rc, out, err = run_cli(capsys, "eval", "--model", d, f, "--batch-size", 1, "--tgt-len", 16, "--mem-len", 16,
                           "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["tokens"] == 64 and r["files"] == 1 and r["unscored_tokens"] == 0
    assert abs(r["nll"] - want) < 1e-5
    assert f"{r['perplexity']:.4g}" == f"{math.exp(want):.4g}"
    rc, out, err = run_cli(capsys, "eval", "--model", d, f, "--batch-size", 1, "--tgt-len", 16, "--mem-len", 16, "-q")
    assert rc == 0 and "mean NLL per event: " in out
    printed = float(re.search(r"perplexity: (\S+)", out).group(1))
    assert f"{printed:.4g}" == f"{math.exp(want):.4g}"
    # the int8 form (what `--int8` generates with) scores the same tokens, close to float32 but not equal
    rc, out, err = run_cli(capsys, "eval", "--model", d, f, "--batch-size", 1, "--tgt-len", 16, "--mem-len", 16,
                           "--json", "--int8")
    assert rc == 0, err
    q = json.loads(out)
    assert q["tokens"] == 64 and q["nll"] != r["nll"] and abs(q["nll"] - r["nll"]) < 0.02 * r["nll"]


def reference_batches(songs, B, T):
    """LakhNES's eval iterator (data_utils.LMShuffledIterator.stream_iterator), simulated one token at a time."""
    it = iter(songs)
    cur, pos, out = [None] * B, [0] * B, []
    while True:
        inp, tgt = np.zeros((B, T), np.int64), np.zeros((B, T), np.int64)
        for i in range(B):
            for t in range(T):
                if cur[i] is None or pos[i] >= len(cur[i]) - 1:   # a stream keeps a song's last token only as target
                    cur[i], pos[i] = next(it, None), 0
                    if cur[i] is None:
                        return out                                  # the incomplete batch is dropped
                inp[i, t], tgt[i, t] = cur[i][pos[i]], cur[i][pos[i] + 1]
                pos[i] += 1
        out.append((inp, tgt))


def random_songs(seed, n, lo=2, hi=60):
    rng = np.random.default_rng(seed)
    return [np.array([0, *rng.integers(1, 631, rng.integers(lo, hi) - 2), 0]) for _ in range(n)]


@pytest.mark.parametrize("B,T", [(1, 5), (3, 4), (10, 16), (4, 1)])
def test_batches_follow_lakhnes_stream_order(B, T):
    songs = random_songs(B * 7 + T, 40)
    got = list(batches(songs, B, T))
    want = reference_batches(songs, B, T)
    assert len(got) == len(want) > 0
    for (gi, gt), (wi, wt) in zip(got, want):
        assert np.array_equal(gi, wi) and np.array_equal(gt, wt)


def test_all_tokens_scores_every_target_once():
    songs = random_songs(3, 25)
    got = list(batches(songs, 4, 6, all_tokens=True))
    assert len(got) >= len(reference_batches(songs, 4, 6))
    scored = sum(int((t >= 0).sum()) for _, t in got)
    assert scored == sum(len(s) - 1 for s in songs)


def full_context_nll(model, streams):
    """Mean NLL when every stream is run as one sequence with all of its context: what segment-wise
    evaluation with memory must give while the memory reaches back to each stream's start."""
    total, count = 0.0, 0
    with torch.no_grad():
        for inp, tgt in streams:
            lp = torch.log_softmax(model(torch.as_tensor(inp)[None], None, mem_len=0)[0][0], -1)
            total += -lp[torch.arange(len(tgt)), torch.as_tensor(tgt)].double().sum().item()
            count += len(tgt)
    return total / count


def segment_loop_nll(model, streams, T, M):
    """Each stream alone (batch 1), segment by segment with its memory, as eval.py's loop does for one column."""
    total, count = 0.0, 0
    with torch.no_grad():
        for inp, tgt in streams:
            mems = None
            for i in range(0, len(inp), T):
                lg, mems = model(torch.as_tensor(inp[i:i + T])[None], mems, mem_len=M)
                lp = torch.log_softmax(lg[0], -1)
                total += -lp[torch.arange(len(tgt[i:i + T])), torch.as_tensor(tgt[i:i + T])].double().sum().item()
                count += len(tgt[i:i + T])
    return total / count


def test_memory_is_carried_across_segments_and_songs(imported):
    _, model, name = imported
    songs = random_songs(11, 12, lo=10, hi=30)
    B, T = 3, 8
    ref = reference_batches(songs, B, T)
    streams = [(np.concatenate([b[0][i] for b in ref]), np.concatenate([b[1][i] for b in ref])) for i in range(B)]
    for M in (12, 10_000):
        r = evaluate(model, [s.tolist() for s in songs], batch_size=B, tgt_len=T, mem_len=M)
        assert r["tokens"] == sum(len(s[1]) for s in streams)
        assert abs(r["nll"] - segment_loop_nll(model, streams, T, M)) < 1e-4
    if not model.cfg.same_length:
        # memory that reaches back to the start of each stream gives what one pass over the whole stream gives
        assert abs(r["nll"] - full_context_nll(model, streams)) < 1e-4
    short = evaluate(model, [s.tolist() for s in songs], batch_size=B, tgt_len=T, mem_len=4)
    assert abs(short["nll"] - r["nll"]) > 1e-3


def test_short_songs_skipped_and_last_batch_dropped(imported):
    _, model, _ = imported
    songs = [list(s) for s in random_songs(5, 9, lo=3, hi=40)]
    r = evaluate(model, songs, batch_size=2, tgt_len=5, mem_len=8)
    kept = [s for s in songs if len(s) >= 10]
    n_batches = len(reference_batches(kept, 2, 5))
    assert r["skipped_songs"] == len(songs) - len(kept) > 0
    assert r["tokens"] == n_batches * 10
    assert r["unscored_tokens"] == sum(len(s) - 1 for s in kept) - r["tokens"] > 0
    every = evaluate(model, songs, batch_size=2, tgt_len=5, mem_len=8, all_tokens=True)
    assert every["tokens"] == sum(len(s) - 1 for s in songs) and every["skipped_songs"] == 0


def lakhnes_encoding(path):
    """How LakhNES's Vocab.encode_file reads a file for evaluation (add_double_eos, trim_padding)."""
    raw = gzip.open(path, "rt").read() if str(path).endswith(".gz") else path.read_text()
    lines = raw.strip().splitlines()
    if lines and lines[0][:2] == "WT":
        lines = lines[1:]
    if lines and lines[-1][:2] == "WT":
        lines = lines[:-1]
    return [0] + [events.token_id(s) for s in " ".join(lines).split()] + [0]


def test_song_framing_equals_lakhnes_encoding_on_real_songs(shared):
    data = shared / "data"
    paths = sorted((data / "examples").glob("*.tx1.txt")) + sorted((data / "nesmdb_tx1" / "test").glob("*.gz"))[:40]
    if not paths:
        pytest.skip("no TX1 songs in ../shared/data")
    for p in paths:
        assert song_tokens(p) == lakhnes_encoding(p), p.name


def test_files_are_taken_in_sorted_order(imported, tmp_path, capsys):
    d, model, _ = imported
    songs = random_songs(21, 3, lo=20, hi=40)
    names = ["c.tx1.txt", "a.tx1.txt.gz", "b.tx1.txt"]
    for n, s in zip(names, songs):
        write_tx1(tmp_path / n, s[1:-1])
    write_tx1(tmp_path / "ignored.txt", songs[0][1:-1])
    assert [p.name for p in find_files([tmp_path])] == sorted(names)
    rc, out, _ = run_cli(capsys, "eval", "--model", d, tmp_path, "--batch-size", 1, "--tgt-len", 7, "--json")
    r = json.loads(out)
    want = evaluate(model, [song_tokens(tmp_path / n) for n in sorted(names)], batch_size=1, tgt_len=7, mem_len=896)
    other = evaluate(model, [song_tokens(tmp_path / n) for n in names], batch_size=1, tgt_len=7, mem_len=896)
    assert abs(other["nll"] - want["nll"]) > 1e-4          # the order matters, since memory is carried
    assert rc == 0 and r["files"] == 3 and abs(r["nll"] - want["nll"]) < 1e-9


def test_defaults_are_the_paper_evaluation_settings(shared):
    paper = json.loads((fixtures(shared) / "lakhnes_config.json").read_text())["runtime"]["paper_eval"]["value"]
    args = build_parser().parse_args(["eval", "--model", "m", "x"])
    assert (args.batch_size, args.tgt_len) == (paper["batch_size"], paper["tgt_len"])
    assert args.mem_len is None and PAPER_MEM_LEN == paper["mem_len"]   # None: the paper's (--music: generation's)
    assert not args.all_tokens
    defaults = evaluate.__defaults__
    assert defaults[:3] == (paper["batch_size"], paper["tgt_len"], paper["mem_len"])


def test_cli_errors_are_one_line(shared, imported, tmp_path, capsys):
    d, _, _ = imported
    song = write_tx1(tmp_path / "s.tx1.txt", random_songs(1, 1, 30, 31)[0][1:-1])
    bad = tmp_path / "bad.tx1.txt"
    bad.write_text("P1_NOTEON_60\nNOT_AN_EVENT\n")
    lakhnes_dir = fixtures(shared) / "tiny_txl"          # a LakhNES folder, not yet imported
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((d / "config.json").read_bytes())
    (broken / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:1000])
    cases = [(["--model", d, tmp_path / "missing.tx1.txt"], "no such file"),
             (["--model", d, bad], "line 2"),
             (["--model", lakhnes_dir, song], "import-lakhnes"),
             (["--model", broken, song], "truncated or corrupt"),
             (["--model", d, song], "nothing to score")]
    for args, words in cases:
        rc, out, err = run_cli(capsys, "eval", *args, "-q")
        assert rc == 2 and out == "", (args, out)
        assert err.startswith("livechip: error: ") and err.count("\n") == 1 and words in err, err
