"""`livechip train`: the command's options as a TrainConfig, then `livechip.model.train.train`."""

import os
from dataclasses import fields

from livechip.core.errors import LivechipError
from livechip.model.train import TrainConfig, train


def config_from_args(args) -> TrainConfig:
    """The TrainConfig of the options given (None: the TrainConfig default)."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def train_command(args):
    cfg = config_from_args(args)
    if cfg.init and cfg.resume:
        raise LivechipError("use either --init (start from a model) or --resume (continue a run), not both")
    if cfg.save_dtype not in ("float32", "float16", "bfloat16"):
        raise LivechipError("--save-dtype must be float32, float16 or bfloat16")
    model, best = train(cfg)
    if os.environ.get("RANK", "0") == "0":
        print(f"{cfg.out}/best: validation perplexity {best:.3f}")
    return 0
