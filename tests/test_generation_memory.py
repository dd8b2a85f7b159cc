"""A model folder's generation defaults (config.json "generation": {"mem_len": N, "wait_temperature": T}): the
memory, separate from training's, and the waits' temperature."""

import json

import pytest
import torch

from livechip.model.stream import Stream
from livechip.core.errors import CheckpointError
from livechip.model.checkpoint import load_model, save_model
from livechip.model.quantize import quantize_int8
from livechip.core import events as ev
from livechip.model.sampling import SamplingSettings
from tests.txl_helpers import random_model

torch.set_num_threads(1)


def test_the_generation_memory_is_saved_loaded_and_used_by_a_stream(tmp_path):
    model = random_model()
    model.gen_mem_len = model.cfg.mem_len * 3
    save_model(model, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["generation"] == {"mem_len": model.cfg.mem_len * 3}
    back = load_model(tmp_path / "m")
    assert back.gen_mem_len == model.cfg.mem_len * 3
    assert Stream(back).model.cache.mem_len == model.cfg.mem_len * 3
    assert Stream(quantize_int8(back)).model.cache.mem_len == model.cfg.mem_len * 3
    assert Stream(back, mem_len=7).model.cache.mem_len == 7       # an explicit length wins


def test_without_a_generation_entry_the_training_memory_is_used(tmp_path):
    model = random_model()
    save_model(model, tmp_path / "m")
    assert "generation" not in json.loads((tmp_path / "m" / "config.json").read_text())
    back = load_model(tmp_path / "m")
    assert back.gen_mem_len is None and Stream(back).model.cache.mem_len == model.cfg.mem_len


@pytest.mark.parametrize("bad", [{"mem_len": -1}, {"mem_len": 1.5}, {"mem_len": "512"}, {"mem_len": True}, [512],
                                 {"mem_len": 10 ** 9}, {"wait_temperature": 0}, {"wait_temperature": "1.3"},
                                 {"wait_temperature": 100}, {"wait_temperature": float("nan")},
                                 {"wait_temperature": True}])
def test_a_bad_generation_entry_is_a_clear_error(tmp_path, bad):
    save_model(random_model(), tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    config["generation"] = bad
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="generation"):
        load_model(tmp_path / "m")


def test_the_wait_temperature_is_saved_loaded_and_used_by_a_stream(tmp_path):
    model = random_model()
    model.gen_wait_temperature = 1.3
    save_model(model, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["generation"] == {"wait_temperature": 1.3}
    back = load_model(tmp_path / "m")
    assert back.gen_wait_temperature == 1.3
    stream = Stream(back, SamplingSettings(top_k=0))      # every token: no top-k to move the waits' share
    assert stream.wait_temperature == 1.3 and Stream(quantize_int8(back)).wait_temperature == 1.3
    stream.prime()
    tempered = stream.next_probs()
    stream.wait_temperature = 1.0
    plain = stream.next_probs()
    waits = torch.tensor([ev.is_wait(i) for i in range(ev.N_TOKENS)])
    assert not torch.allclose(tempered[waits], plain[waits])             # which wait changes ...
    assert tempered[waits].sum() == pytest.approx(float(plain[waits].sum()), abs=1e-5)   # ... never whether


def test_without_a_wait_temperature_the_waits_are_the_network_s(tmp_path):
    save_model(random_model(), tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.gen_wait_temperature == 1.0 and Stream(back).wait_temperature == 1.0
