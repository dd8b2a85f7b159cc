"""livechip's model folder: `model.safetensors` + `config.json` (+ a `README.md` model card).

    save_model(model, "models/mine", card="# My model\n...")
    model = load_model("models/mine")              # a TransformerXL in eval mode; load_model() the default
    import_lakhnes("pretrained/LakhNES/model.pt", "models/lakhnes")

`config.json` holds `{"format": "livechip-txl", "version": 1, "model": <TXLConfig fields>, "dtype": ...}` and
optionally a `"source"` record and `"generation": {"mem_len": N, "wait_temperature": T}`: the memory the
instrument generates with (its ears), which may be longer than the training segment's `model.mem_len`, and the
temperature of its waits among themselves (`livechip.model.sampling.temper_waits`; 1 when absent). Weights
are stored once per tensor (a tied output weight is stored under the embedding's name only). float16/bfloat16
files are upcast to float32 on load. Every problem with the folder
(missing, truncated or corrupt files, a config that does not match the weights) is a `CheckpointError`.
"""

import hashlib
import json
from dataclasses import fields
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from livechip.core import events, places
from livechip.core.errors import CheckpointError, DeviceError
from livechip.core.fileio import atomic_write
from livechip.model.lakhnes import load_lakhnes
from livechip.model.sampling import WAIT_TEMPERATURE
from livechip.model.txl import TransformerXL, TXLConfig

FORMAT = "livechip-txl"
VERSION = 1
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _aliases(sd):
    """{key: earlier key it shares memory with} for tensors that are the same weight (tied)."""
    seen, out = {}, {}
    for k, v in sd.items():
        ident = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), v.stride())
        if ident in seen:
            out[k] = seen[ident]
        else:
            seen[ident] = k
    return out


def save_model(model, dir, card=None, dtype="float32", source=None):
    """Write `model` to folder `dir` (created if needed): weights, config and, if given, the model card.

    card: Markdown text for README.md. dtype: "float32", "float16" or "bfloat16" storage. source: a dict
    recorded in config.json (where the weights came from). Each file is written atomically.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    dir = Path(dir)
    sd = model.state_dict()
    tied = _aliases(sd)
    tensors = {k: v.detach().to("cpu", DTYPES[dtype]).contiguous() for k, v in sd.items() if k not in tied}
    config = {"format": FORMAT, "version": VERSION, "model": model.cfg.to_dict(), "dtype": dtype}
    gen = {"mem_len": model.gen_mem_len, "wait_temperature": getattr(model, "gen_wait_temperature", 1.0)}
    gen = {k: v for k, v in gen.items() if v is not None and (k, v) != ("wait_temperature", 1.0)}
    if gen:
        config["generation"] = gen
    if source:
        config["source"] = source
    data = st_save(tensors, metadata={"format": "pt", "livechip": FORMAT})
    with atomic_write(dir / WEIGHTS) as f:
        f.write(data)
    with atomic_write(dir / CONFIG, "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    if card is not None:
        with atomic_write(dir / CARD, "w") as f:
            f.write(card if card.endswith("\n") else card + "\n")
    return dir


def read_config(dir):
    """The parsed config.json of model folder `dir` (checked), without loading weights."""
    dir = Path(dir)
    if not dir.is_dir():
        raise CheckpointError(f"{dir}: model folder not found")
    path = dir / CONFIG
    hint = "; it holds a model.pt: convert it with `livechip import-lakhnes`" if (dir / "model.pt").exists() else ""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing: a model folder needs {CONFIG} and {WEIGHTS}{hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a livechip model config (\"format\" is not \"{FORMAT}\"){hint}")
    if config.get("version") != VERSION:
        raise CheckpointError(f"{path}: config version {config.get('version')!r} is not supported "
                              f"(this livechip reads version {VERSION})")
    m = config.get("model")
    names = [f.name for f in fields(TXLConfig)]
    if not isinstance(m, dict) or any(k not in m for k in names):
        missing = [k for k in names if not isinstance(m, dict) or k not in m]
        raise CheckpointError(f"{path}: \"model\" lacks {', '.join(missing)}")
    types = {f.name: f.type for f in fields(TXLConfig)}
    bad = [k for k in names if not (isinstance(m[k], bool) if types[k] is bool else
                                    isinstance(m[k], (int, float)) and not isinstance(m[k], bool))]
    if bad:
        raise CheckpointError(f"{path}: \"model\" has bad values for {', '.join(bad)}")
    gen = config.get("generation", {})
    mem = gen.get("mem_len") if isinstance(gen, dict) else None
    wt = gen.get("wait_temperature", 1.0) if isinstance(gen, dict) else None
    if (not isinstance(gen, dict) or "mem_len" in gen and not (type(mem) is int and 0 <= mem <= 65536)
            or type(wt) not in (int, float) or not WAIT_TEMPERATURE[0] <= wt <= WAIT_TEMPERATURE[1]):
        raise CheckpointError(f"{path}: \"generation\" must be {{\"mem_len\": a whole number 0..65536, "
                              f"\"wait_temperature\": a number {WAIT_TEMPERATURE[0]:g}..{WAIT_TEMPERATURE[1]:g}}}")
    return config


def load_model(dir=None, device="cpu"):
    """The TransformerXL saved in model folder `dir`, float32, in eval mode, on `device`. `dir` is a path or a
    model's name (`places.find_model`: the user's models, then the shipped ones); None: the shipped default."""
    hint = " (no default model is installed: pass --model DIR)" if dir is None else ""
    dir = places.find_model(dir)
    if not dir.is_dir():
        raise CheckpointError(f"{dir}: model folder not found{hint}")
    config = read_config(dir)
    try:
        cfg = TXLConfig.from_dict(config["model"])
        model = TransformerXL(cfg)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{dir / CONFIG}: unusable model config ({e})") from None
    model.gen_mem_len = config.get("generation", {}).get("mem_len")
    model.gen_wait_temperature = float(config.get("generation", {}).get("wait_temperature", 1.0))
    path = dir / WEIGHTS
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing: the folder has {CONFIG} but no weights") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for every malformed file
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({str(e)[:120]})") from None
    own = model.state_dict()
    tied = _aliases(own)
    missing = [k for k in own if k not in tensors and k not in tied]
    extra = [k for k in tensors if k not in own or k in tied]
    if missing or extra:
        parts = [f"missing {', '.join(missing[:4])}" if missing else "",
                 f"unexpected {', '.join(extra[:4])}" if extra else ""]
        raise CheckpointError(f"{path}: weights do not match {CONFIG}: {'; '.join(p for p in parts if p)}")
    for k in own:               # in the model's order, so the first wrong tensor is named
        t = tensors.get(k)
        if t is None:
            continue
        if tuple(t.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{path}: {k} has shape {list(t.shape)}, {CONFIG} needs {list(own[k].shape)}")
        if t.dtype not in DTYPES.values():
            raise CheckpointError(f"{path}: {k} is {t.dtype}; weights must be float32, float16 or bfloat16")
    with torch.no_grad():
        for k, t in tensors.items():
            own[k].copy_(t.float())
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError) as e:
        raise DeviceError(f"cannot put the model on device {device!r} ({str(e)[:120]})") from None
    return model.eval()


def lakhnes_card(src, sha256, cfg, n_params):
    """Model card text for a model imported from a LakhNES checkpoint."""
    c = cfg.to_dict()
    rows = "\n".join(f"| {k} | {v} |" for k, v in c.items())
    return f"""# LakhNES checkpoint (imported)

Transformer-XL weights from a LakhNES `model.pt` (Donahue et al., *LakhNES: Improving multi-instrumental music
generation with cross-domain pre-training*, ISMIR 2019), converted to livechip's format by
`livechip import-lakhnes` without executing any code from the file.

- Source file: `{Path(src).name}`, sha256 `{sha256}`
- Parameters: {n_params:,}
- Vocabulary: TX1, {cfg.n_token} tokens (`<S>` + LakhNES `tx1_vocab.txt`)
- Data and training: as published by the LakhNES authors (NES-MDB, with Lakh MIDI pre-training for the
  LakhNES variants); see their README. Paper perplexities (test): NES 3.501, NESAug 2.741, Lakh100k 2.545,
  Lakh200k 2.472, LakhNES 2.460.
- Evaluate: `livechip eval --model <this folder> <NES-MDB tx1 test folder>` (the paper's settings are the
  defaults: 10 streams, tgt_len 128, mem_len 896).
- Generation speed on your machine: `python3 bench/bench_stream.py --model <this folder>`.

| hyperparameter (read from the pickled model) | value |
|---|---|
{rows}
"""


def import_lakhnes(src, out_dir):
    """Convert a LakhNES checkpoint (model.pt, or the folder holding it) into a livechip model folder."""
    src = Path(src)
    if src.is_dir():
        src = src / "model.pt"
    sd, hp = load_lakhnes(src)
    if hp["n_token"] != events.N_TOKENS:
        raise CheckpointError(f"{src}: the model has {hp['n_token']} tokens; livechip plays the TX1 vocabulary "
                              f"({events.N_TOKENS} tokens)")
    vocab = src.parent / "vocab.txt"
    if vocab.is_file():
        lines = [ln.strip().split(",")[-1] for ln in vocab.read_text(encoding="utf-8", errors="replace").split("\n")
                 if ln.strip()]
        if ["<S>"] + lines != list(events.VOCAB):
            raise CheckpointError(f"{vocab}: not the TX1 vocabulary livechip uses (the model's token ids would "
                                  "mean different events)")
    cfg = TXLConfig.from_dict(hp)
    model = TransformerXL(cfg)
    model.load_lakhnes_state_dict(sd)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    n_params = sum(p.numel() for p in model.parameters())
    card = lakhnes_card(src, sha, cfg, n_params)
    save_model(model, out_dir, card=card, source={"lakhnes": src.name, "sha256": sha})
    return model
