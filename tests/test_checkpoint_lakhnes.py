"""Reading LakhNES checkpoints safely: every container of the fixtures, hostile and broken files refused.

The fixtures (../shared/fixtures, README sections 4 and 9) were written by the original LakhNES code.
"""

import json
import re
import sys
import zipfile

import pytest
import torch

from livechip.core.errors import CheckpointError
from livechip.model.lakhnes import expected_shapes, load_lakhnes
from tests.checkpoint_helpers import CONTAINERS, FIXTURES, MARKER, ROOT, fixtures, no_marker  # noqa: F401


@pytest.fixture(params=FIXTURES)
def name(request):
    return request.param


def test_all_containers_give_bit_identical_tensors_with_lakhnes_keys(shared, name):
    """Legacy, zip and torch-1.0/CUDA-tagged files hold the same weights; keys and shapes are LakhNES's."""
    table = json.loads((fixtures(shared) / name / "config.json").read_text())["state_dict"]
    loaded = [load_lakhnes(fixtures(shared) / name / c) for c in CONTAINERS]
    for sd, hp in loaded:
        assert list(sd) == list(table)                       # same keys, in state_dict() order
        for k, info in table.items():
            assert list(sd[k].shape) == info["shape"], k
            assert sd[k].dtype == torch.float32
        assert hp == loaded[0][1]
    ref = loaded[0][0]
    for sd, _ in loaded[1:]:
        for k in ref:
            assert torch.equal(sd[k], ref[k]), k              # bit-exact, not just close
    # the weights are real: no element exactly 0 or 1 (README section 2), so nothing was left unfilled
    assert all(((t != 0) & (t != 1)).all() for k, t in ref.items() if k != "pos_emb.inv_freq")


def test_hyperparameters_come_from_the_pickled_attributes(shared, name):
    cfg = json.loads((fixtures(shared) / name / "config.json").read_text())
    args = cfg["constructor_args"]
    for c in CONTAINERS:
        _, hp = load_lakhnes(fixtures(shared) / name / c)
        want = {k: args[k] for k in ("n_token", "n_layer", "n_head", "d_head", "d_model", "d_embed", "d_inner",
                                     "tgt_len", "mem_len", "clamp_len", "same_length", "pre_lnorm", "tie_weight",
                                     "dropout", "dropatt")}
        assert hp == want, c


def test_tied_weight_appears_under_both_keys_sharing_storage(shared):
    sd, hp = load_lakhnes(fixtures(shared) / "tiny_txl" / "model.pt")
    assert hp["tie_weight"] is True
    a, b = sd["word_emb.emb_layers.0.weight"], sd["crit.out_layers.0.weight"]
    assert a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() and torch.equal(a, b)
    sd, hp = load_lakhnes(fixtures(shared) / "tiny_txl_b" / "model.pt")
    assert hp["tie_weight"] is False
    assert not torch.equal(sd["word_emb.emb_layers.0.weight"], sd["crit.out_layers.0.weight"])


@pytest.mark.parametrize("evil", ["evil_model.pt", "evil_model_legacy.pt", "evil_state_dict.pt"])
def test_hostile_files_are_refused_without_running_their_payload(shared, evil, no_marker):
    path = fixtures(shared) / "hostile" / evil
    with pytest.raises(CheckpointError) as e:
        load_lakhnes(path)
    msg = str(e.value)
    assert str(path) in msg and "__builtin__.exec" in msg and "\n" not in msg
    assert not MARKER.exists()


def test_hostile_refusal_in_a_fresh_process_has_no_side_effect(shared, no_marker):
    """In a clean interpreter: refused, nothing created, and no LakhNES/torch-module class was imported."""
    import subprocess
    code = ("import sys\nfrom livechip.model.lakhnes import load_lakhnes\nfrom livechip.core.errors import CheckpointError\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        load_lakhnes(p)\n        print('LOADED', p)\n"
            "    except CheckpointError as e:\n        print('REFUSED', e)\n"
            "print('IMPORTED', [m for m in ('mem_transformer', 'proj_adaptive_softmax') if m in sys.modules])\n")
    files = [fixtures(shared) / "hostile" / f for f in ("evil_model.pt", "evil_model_legacy.pt", "evil_state_dict.pt")]
    out = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("REFUSED") == 3 and "LOADED" not in out.stdout
    assert "IMPORTED []" in out.stdout
    assert not MARKER.exists()


def _zip_checkpoint(path, payload_pickle):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload_pickle)
        z.writestr("archive/version", "3\n")


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("fn", ["os.system", "builtins.eval", "subprocess.Popen", "no_such_module_xyz.f",
                                "torch.load", "torch._utils._rebuild_tensor", "__builtin__.getattr"])
def test_any_other_global_is_refused_before_it_is_imported(tmp_path, fn):
    module, name = fn.rsplit(".", 1)
    # a GLOBAL opcode for `fn` followed by a call, protocol 2, as a malicious torch file would contain it
    data = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\nX\x04\x00\x00\x00true\x85R."
    path = tmp_path / "model.pt"
    _zip_checkpoint(path, data)
    with pytest.raises(CheckpointError, match=re.escape(f"{module}.{name}")):
        load_lakhnes(path)
    assert "no_such_module_xyz" not in sys.modules


def test_set_is_allowed_only_by_name(tmp_path):
    data = b"\x80\x02c__builtin__\nfrozenset\n)R."
    _zip_checkpoint(tmp_path / "m.pt", data)
    with pytest.raises(CheckpointError, match="__builtin__.frozenset"):
        load_lakhnes(tmp_path / "m.pt")


def test_truncated_files_are_named_truncated(shared):
    for f in ("truncated_model.pt", "truncated_model_zip.pt"):
        path = fixtures(shared) / "hostile" / f
        with pytest.raises(CheckpointError, match="truncated") as e:
            load_lakhnes(path)
        assert str(path) in str(e.value)


@pytest.mark.parametrize("container", ["model.pt", "model_zip.pt", "model_torch1_0_layout.pt"])
def test_every_cut_of_a_checkpoint_is_a_checkpoint_error(shared, tmp_path, container):
    """Cut anywhere (header, pickle, storage list, data): always a clear CheckpointError, never a crash."""
    data = (fixtures(shared) / "tiny_txl_b" / container).read_bytes()
    for n in (0, 1, 5, 16, 40, 200, 1000, 5000, len(data) // 3, len(data) // 2, len(data) - 9, len(data) - 1):
        p = tmp_path / f"cut{n}.pt"
        p.write_bytes(data[:n])
        with pytest.raises(CheckpointError) as e:
            load_lakhnes(p)
        assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_flipped_bytes_never_crash(shared, tmp_path):
    data = bytearray((fixtures(shared) / "tiny_txl" / "model.pt").read_bytes())
    gen = torch.Generator().manual_seed(1)
    for trial in range(30):
        bad = bytearray(data)
        for i in torch.randint(0, 12000, (3,), generator=gen).tolist():   # inside the object pickle
            bad[i] ^= 0x5A
        p = tmp_path / f"flip{trial}.pt"
        p.write_bytes(bytes(bad))
        try:
            sd, _ = load_lakhnes(p)          # a flip inside a string or a float may still load; then it is whole
            assert all(torch.isfinite(t).all() for t in sd.values())
        except CheckpointError as e:         # anything else (a crash, another exception type) fails the test
            assert str(p) in str(e) and "\n" not in str(e)


def test_wrong_shapes_name_the_wrong_key(shared):
    d = fixtures(shared) / "hostile" / "wrong_shapes"
    with pytest.raises(CheckpointError, match=r"layers\.1\.pos_ff\.CoreNet\.0\.weight has shape \[48, 32\].*"
                                              r"needs \[64, 32\]"):
        load_lakhnes(d / "model.pt")
    with pytest.raises(CheckpointError, match=r"word_emb\.emb_layers\.0\.weight has shape \[685, 32\].*"
                                              r"needs \[631, 32\]"):
        load_lakhnes(d / "model_ntoken685.pt")


def test_other_files_are_not_models(shared, tmp_path):
    with pytest.raises(CheckpointError, match="not a LakhNES model"):
        load_lakhnes(fixtures(shared) / "tiny_txl" / "optimizer.pt")     # the Adam state train.py also writes
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_lakhnes(fixtures(shared) / "tiny_txl" / "vocab.txt")
    with pytest.raises(CheckpointError, match="cannot open"):
        load_lakhnes(tmp_path / "missing.pt")
    p = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(2)}, p)          # a plain tensor dict in the zip container
    with pytest.raises(CheckpointError, match="not a LakhNES model"):
        load_lakhnes(p)


def test_expected_shapes_match_the_fixture_tables(shared, name):
    cfg = json.loads((fixtures(shared) / name / "config.json").read_text())
    shapes = expected_shapes(cfg["constructor_args"])
    assert {k: list(v) for k, v in shapes.items()} == {k: v["shape"] for k, v in cfg["state_dict"].items()}


def test_package_never_calls_torch_load_without_weights_only():
    """Grep the whole package: every torch.load( call passes weights_only=True."""
    calls = []
    for f in sorted((ROOT / "livechip").rglob("*.py")):
        text = f.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            calls.append((f, text[m.start():i]))
    bad = [(str(f.relative_to(ROOT)), c) for f, c in calls if not re.search(r"weights_only\s*=\s*True", c)]
    assert not bad, f"torch.load without weights_only=True: {bad}"
    # the LakhNES reader itself does not use torch.load or a bare pickle.load at all
    src = (ROOT / "livechip" / "model" / "lakhnes.py").read_text()
    assert "torch.load(" not in src and "pickle.load(" not in src and "pickle.loads(" not in src


def test_a_pickle_cannot_reconfigure_the_admitted_callables(tmp_path):
    """BUILD with slot state on an admitted global (here: replacing a function's defaults) is refused."""
    data = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x0c\x00\x00\x00__defaults__K\x01\x85s\x86b.")
    _zip_checkpoint(tmp_path / "m.pt", data)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_lakhnes(tmp_path / "m.pt")


def test_forged_memo_index_is_refused_before_allocating(tmp_path):
    # BININT1 1, LONG_BINPUT 0x7fffffff, STOP: the C unpickler would grow its memo to 2**31 slots
    # (16 GB) to store one int. The opcode scan refuses it first.
    p = tmp_path / "memo.pt"
    p.write_bytes(b"\x80\x02K\x01r\xff\xff\xff\x7f.")
    with pytest.raises(CheckpointError, match="memo index"):
        load_lakhnes(p)
