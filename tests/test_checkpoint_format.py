"""livechip's model folder (model.safetensors + config.json + README.md) and `livechip import-lakhnes`."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from livechip.core.errors import CheckpointError
from livechip.model.checkpoint import import_lakhnes, load_model, save_model
from tests.txl_helpers import random_model
from tests.checkpoint_helpers import (CONTAINERS, FIXTURES, MARKER, fixtures, livechip, no_marker,  # noqa: F401
                                      reference, run_cli)

torch.set_num_threads(1)


small_model = random_model   # a small network with random, peaked weights (tests/txl_helpers.py)


def logits(model, tokens, mem_len=None):
    with torch.no_grad():
        return model(torch.as_tensor(tokens)[None], None, mem_len=mem_len)[0][0]


TOKENS = [0, 372, 449, 526, 615, 230, 614, 230, 376, 613, 5, 371, 448, 1]


@pytest.mark.parametrize("kw", [{}, dict(d_embed=12, tie_weight=False, pre_lnorm=True, same_length=True,
                                         clamp_len=5)])
def test_save_and_load_round_trip_exactly(tmp_path, kw):
    model = small_model(**kw)
    save_model(model, tmp_path / "m", card="# test model")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    back = load_model(tmp_path / "m")
    assert back.cfg == model.cfg and not back.training
    own, got = model.state_dict(), back.state_dict()
    assert list(own) == list(got) and all(torch.equal(own[k], got[k]) for k in own)
    assert torch.equal(logits(model, TOKENS), logits(back, TOKENS))
    assert (tmp_path / "m" / "README.md").read_text() == "# test model\n"


def test_tied_weight_is_stored_once_and_stays_tied(tmp_path):
    model = small_model()
    save_model(model, tmp_path)
    stored = load_file(tmp_path / "model.safetensors")
    assert "tok_emb.weight" in stored and "output.weight" not in stored
    back = load_model(tmp_path)
    assert back.output.weight is back.tok_emb.weight


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_files_are_upcast_on_load(tmp_path, dtype):
    model = small_model()
    save_model(model, tmp_path, dtype=dtype)
    assert {t.dtype for t in load_file(tmp_path / "model.safetensors").values()} == {getattr(torch, dtype)}
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == dtype
    back = load_model(tmp_path)
    assert {p.dtype for p in back.parameters()} == {torch.float32}
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v.to(getattr(torch, dtype)).float()), k


def test_missing_and_corrupt_files_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="model folder not found"):
        load_model(tmp_path / "nothing")
    d = tmp_path / "m"
    save_model(small_model(), d)
    weights = (d / "model.safetensors").read_bytes()
    config = (d / "config.json").read_text()

    (d / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(d)
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        load_model(d)
    (d / "model.safetensors").write_bytes(weights)

    (d / "config.json").write_text(config[:40])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(d)
    (d / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_model(d)
    c = json.loads(config)
    del c["model"]["d_inner"]
    (d / "config.json").write_text(json.dumps(c))
    with pytest.raises(CheckpointError, match="lacks d_inner"):
        load_model(d)
    c = json.loads(config)
    c["format"] = "something-else"
    (d / "config.json").write_text(json.dumps(c))
    with pytest.raises(CheckpointError, match="not a livechip model config"):
        load_model(d)


def test_weights_that_do_not_match_the_config_name_the_key(tmp_path):
    d = tmp_path / "m"
    save_model(small_model(), d)
    c = json.loads((d / "config.json").read_text())
    c["model"]["d_inner"] = 40
    (d / "config.json").write_text(json.dumps(c))
    with pytest.raises(CheckpointError, match=r"layers\.0\.ff\.w1\.weight has shape \[32, 16\].*\[40, 16\]"):
        load_model(d)
    c["model"]["d_inner"], c["model"]["n_layer"] = 32, 3
    (d / "config.json").write_text(json.dumps(c))
    with pytest.raises(CheckpointError, match=r"missing layers\.2\."):
        load_model(d)
    c["model"]["n_layer"] = 2
    (d / "config.json").write_text(json.dumps(c))
    tensors = load_file(d / "model.safetensors")
    tensors["extra.weight"] = torch.ones(2)
    save_file(tensors, d / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"unexpected extra\.weight"):
        load_model(d)


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("container", CONTAINERS)
def test_imported_lakhnes_model_matches_the_original_code(shared, tmp_path, name, container):
    """import -> save -> load gives log-probs within 1e-4 of LakhNES's own (segment-wise with memory, full)."""
    import_lakhnes(fixtures(shared) / name / container, tmp_path / "m")
    model = load_model(tmp_path / "m")
    ref = reference(shared, name)
    tokens = torch.as_tensor(ref["tokens"])[None]
    out, mems = [], None
    with torch.no_grad():
        for i in range(0, 64, 16):
            lg, mems = model(tokens[:, i:i + 16], mems, mem_len=16)
            out.append(lg[0])
        full = model(tokens, None, mem_len=64)[0][0]
    seg = torch.log_softmax(torch.cat(out), -1).numpy()
    assert np.abs(seg - ref["seg_logprobs"]).max() < 1e-4
    assert np.abs(full.numpy() - ref["full_logits"]).max() < 1e-4
    card = (tmp_path / "m" / "README.md").read_text()
    assert "LakhNES" in card and f"| n_layer | {model.cfg.n_layer} |" in card
    assert json.loads((tmp_path / "m" / "config.json").read_text())["source"]["lakhnes"] == container


def test_import_accepts_the_checkpoint_folder(shared, tmp_path):
    model = import_lakhnes(fixtures(shared) / "tiny_txl_b", tmp_path / "m")
    assert model.cfg.d_embed == 24 and model.cfg.tie_weight is False


def test_import_refuses_a_vocab_that_is_not_tx1(shared, tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "model.pt").write_bytes((fixtures(shared) / "tiny_txl" / "model.pt").read_bytes())
    (d / "vocab.txt").write_text("WT_1\nWT_2\n")
    with pytest.raises(CheckpointError, match="not the TX1 vocabulary"):
        import_lakhnes(d, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_import_lakhnes(shared, tmp_path, capsys):
    rc, out, err = run_cli(capsys, "import-lakhnes", fixtures(shared) / "tiny_txl" / "model_torch1_0_layout.pt",
                           "-o", tmp_path / "m")
    assert rc == 0, err
    assert "2 layers" in out and "39,767 parameters" in out
    assert load_model(tmp_path / "m").cfg.n_layer == 2


@pytest.mark.parametrize("bad", ["evil_model.pt", "evil_model_legacy.pt", "evil_state_dict.pt", "truncated_model.pt",
                                 "truncated_model_zip.pt", "wrong_shapes/model.pt", "wrong_shapes/model_ntoken685.pt"])
def test_cli_refuses_hostile_and_broken_files_in_one_line(shared, tmp_path, capsys, bad, no_marker):
    rc, out, err = run_cli(capsys, "import-lakhnes", fixtures(shared) / "hostile" / bad, "-o", tmp_path / "out")
    assert rc == 2 and out == ""
    assert err.startswith("livechip: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(fixtures(shared) / "hostile" / bad) in err
    assert not (tmp_path / "out").exists()       # nothing written
    assert not MARKER.exists()


def test_cli_refusal_exit_status_from_a_real_process(shared, tmp_path, no_marker):
    r = livechip("import-lakhnes", fixtures(shared) / "hostile" / "evil_model_legacy.pt", "-o", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "refused" in r.stderr
    assert not (tmp_path / "out").exists() and not MARKER.exists()
