"""A model folder's generation memory (config.json "generation": {"mem_len": N}), separate from training's."""

import json

import pytest
import torch

from livechip.model.stream import Stream
from livechip.core.errors import CheckpointError
from livechip.model.checkpoint import load_model, save_model
from livechip.model.quantize import quantize_int8
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
                                 {"mem_len": 10 ** 9}])
def test_a_bad_generation_entry_is_a_clear_error(tmp_path, bad):
    save_model(random_model(), tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    config["generation"] = bad
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="generation"):
        load_model(tmp_path / "m")
