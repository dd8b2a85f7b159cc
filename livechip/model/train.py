"""`livechip train`: Transformer-XL training on segments with memory, as LakhNES trains on NES-MDB.

    livechip train ../shared/data/nesmdb_tx1 -o runs/mine              # train/ and valid/ inside
    livechip train songs/ -o runs/ft --init models/default --lr 1e-4   # fine-tune a model in our format
    livechip train ../shared/data/nesmdb_tx1 -o runs/mine --resume     # continue where runs/mine stopped
    torchrun --nproc_per_node 4 -m livechip train ...                  # several GPUs (DistributedDataParallel)

The run folder holds `best/` (the model with the lowest validation perplexity so far, in our format),
`last/` (the latest weights) with `last/train_state.pt` (optimizer and step state for --resume: tensors and
plain values only, loaded with weights_only=True), `config.json` (this run's TrainConfig, with the architecture
it trains) and `log.jsonl`.
"""

import json
import math
import os
import time
import zlib
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from livechip.core.errors import LivechipError
from livechip.core.fileio import atomic_write
from livechip.model import data
from livechip.model.checkpoint import load_model, save_model
from livechip.model.evaluate import nll
from livechip.model.txl import TransformerXL, TXLConfig


@dataclass
class TrainConfig:
    data: str = "../shared/data/nesmdb_tx1"   # folder with train/ and valid/, or a folder of songs
    valid: str | None = None                  # validation folder (default: DATA/valid, else 5% of DATA)
    out: str = "runs/train"
    init: str | None = None                   # start from this model folder (fine-tuning); its architecture wins
    resume: bool = False
    # model (ignored with init or resume, except the segment and memory lengths, which init may change)
    n_layer: int = 4
    n_head: int = 4
    d_head: int = 64
    d_model: int = 256
    d_inner: int = 1024
    dropout: float = 0.1
    dropatt: float = 0.0
    tgt_len: int | None = None                # training segment (None: 128, or the init model's)
    mem_len: int | None = None                # training memory (None: 128, or the init model's)
    # optimisation
    batch_size: int = 32                      # parallel streams: many songs per step generalise far better
    max_steps: int = 20000
    lr: float = 5e-4
    min_lr: float = 5e-5
    warmup: int = 500
    weight_decay: float = 0.01
    grad_clip: float = 0.25
    augment: bool = True
    shuffle: str = "melodic"                  # augmentation: "melodic" (P1, P2, TR) or "pulses" (P1, P2)
    # evaluation and checkpoints
    eval_every: int = 500                     # steps between validations (and checkpoints)
    eval_tokens: int = 100_000                # validation tokens scored each time (0: the whole split)
    eval_batch: int = 10
    max_minutes: float = 0                    # time budget: the schedule ends at whichever of max_steps
                                              # and max_minutes comes first (0: steps only)
    piece_minutes: float = 0                  # this invocation stops, saved for --resume, after this many
                                              # minutes of its own (a machine lent by the slot); 0: no limit
    save_dtype: str = "float32"
    # hardware
    device: str = "auto"                      # auto: cuda if available
    amp: bool = True                          # mixed precision on GPU (bfloat16 or float16)
    cpu_bf16: bool = False                    # bfloat16 autocast on the CPU (bench/bench_train.py measures it)
    threads: int = 0                          # CPU threads (0: torch's default)
    seed: int = 0
    progress: bool = True


def model_config(cfg: TrainConfig) -> TXLConfig:
    return TXLConfig(n_layer=cfg.n_layer, n_head=cfg.n_head, d_head=cfg.d_head, d_model=cfg.d_model,
                     d_inner=cfg.d_inner, tgt_len=cfg.tgt_len or 128, mem_len=cfg.mem_len or 128,
                     dropout=cfg.dropout, dropatt=cfg.dropatt)


def progress(step: int, elapsed: float, cfg: TrainConfig) -> float:
    """How far the run is, 0..1: by steps, or by time when max_minutes is set and time runs out first."""
    done = step / cfg.max_steps
    if cfg.max_minutes:
        done = max(done, elapsed / (cfg.max_minutes * 60))
    return min(1.0, done)


def lr_at(step: int, cfg: TrainConfig, done: float | None = None) -> float:
    """Linear warm-up to cfg.lr over cfg.warmup steps, then cosine decay to cfg.min_lr at the end of the run
    (`done` = progress(); by default step / max_steps)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if done is None:
        done = step / cfg.max_steps
    w = cfg.warmup / cfg.max_steps
    frac = min(1.0, max(0.0, (done - w) / max(1e-9, 1 - w)))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * frac))


def optimizer(model, cfg: TrainConfig, fused: bool | None = None, foreach: bool | None = None):
    """AdamW with weight decay on the matrices only. `fused` / `foreach`: torch's implementations (None: its
    default, a loop over the tensors on a CPU)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99),
                             fused=fused, foreach=foreach)


def train_step(model, opt, scaler, x, y, mems, grad_clip: float, autocast=nullcontext):
    """One step on a batch x, y [B, T]: forward with memory, backward, clipped AdamW update. (loss, new mems)"""
    with autocast():
        logits, mems = model(x, mems)                                             # (B, T, V)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], grad_clip)
    scaler.step(opt)
    scaler.update()
    return loss, mems


def segments(stream: torch.Tensor, tgt_len: int):
    """(inputs, targets) [B, <= tgt_len] of a [B, N] token stream in order, the targets one token on."""
    for i in range(0, stream.size(1) - 1, tgt_len):
        y = stream[:, i + 1:i + 1 + tgt_len]                                          # (B, T)
        yield stream[:, i:i + y.size(1)], y


def evaluate(model, stream: torch.Tensor, tgt_len: int, mem_len: int, autocast=nullcontext) -> float:
    """Mean negative log-likelihood (nats per token) of a [B, N] token stream, segment by segment with memory."""
    total, count = nll(model, segments(stream, tgt_len), mem_len, autocast)
    return total / count


def split_data(cfg: TrainConfig, progress: bool):
    """(train songs, validation songs, skipped files) from cfg.data / cfg.valid."""
    root = Path(cfg.data)
    train_dir = root / "train" if (root / "train").is_dir() else root
    valid_dir = Path(cfg.valid) if cfg.valid else (root / "valid" if (root / "valid").is_dir() else None)
    skipped = []
    train = data.load_songs(train_dir, progress, skipped)
    if valid_dir is not None:
        return train, data.load_songs(valid_dir, progress, skipped), skipped
    if len(train) < 2:
        raise LivechipError(f"{root}: need at least 2 songs, or a --valid folder")
    held = {i for i, s in enumerate(train) if zlib.crc32(s.name.encode()) % 20 == 0} or {len(train) - 1}
    return [s for i, s in enumerate(train) if i not in held], [train[i] for i in sorted(held)], skipped


def valid_subset(songs, n_tokens: int, seed: int = 0):
    """A fixed random subset of songs holding about n_tokens tokens (all songs when n_tokens is 0)."""
    if not n_tokens:
        return songs
    out, total = [], 0
    for i in np.random.default_rng(seed).permutation(len(songs)):
        out.append(songs[i])
        total += len(data.tokens(songs[i]))
        if total >= n_tokens:
            break
    return out


def card(cfg: TrainConfig, model, step, tokens_seen, val_ppl, seconds, hardware) -> str:
    c = model.cfg
    n_params = sum(p.numel() for p in model.parameters())
    return f"""# livechip model (trained with `livechip train`)

- Data: `{cfg.data}` (validation: `{cfg.valid or 'valid/ split or 5% of the songs'}`), augmentation {'on' if cfg.augment else 'off'}
- Architecture: Transformer-XL, {c.n_layer} layers, {c.n_head}x{c.d_head} heads, d_model {c.d_model}, d_inner {c.d_inner}, tgt_len {c.tgt_len}, mem_len {c.mem_len}, {n_params:,} parameters
- Steps: {step}, tokens seen: {tokens_seen:,}, wall time: {seconds / 3600:.2f} h on {hardware}
- Validation perplexity: {val_ppl:.3f} (subset of {cfg.eval_tokens or 'all'} tokens, tgt_len {c.tgt_len}, mem_len {c.mem_len})

Training settings: `{json.dumps(asdict(cfg))}`
"""


@dataclass
class Hardware:
    """Where this process trains: its rank among `world` processes (torchrun), its device and precision."""
    rank: int
    world: int
    device: str
    amp_dtype: torch.dtype
    use_amp: bool

    @property
    def ddp(self) -> bool:
        return self.world > 1

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def autocast(self):
        return torch.autocast("cuda" if self.cuda else "cpu", dtype=self.amp_dtype) if self.use_amp else nullcontext()

    def name(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.cuda else f"CPU, {torch.get_num_threads()} thread(s)"
        return name + (f" x{self.world}" if self.ddp else "")


@dataclass
class State:
    """How far the run is; saved in last/train_state.pt beside the optimizer's state."""
    step: int = 0
    tokens: int = 0
    best: float = math.inf      # lowest validation NLL so far
    elapsed: float = 0.0        # seconds of training, over all resumes


def hardware(cfg: TrainConfig) -> Hardware:
    """Join the process group under torchrun (WORLD_SIZE > 1), pick the device and the mixed precision."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda"):
            torch.cuda.set_device(device)
    else:
        rank, world = 0, 1
        device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)
    if device.startswith("cuda"):
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Hardware(rank, world, device, amp_dtype, cfg.amp)
    return Hardware(rank, world, device, torch.bfloat16, cfg.cpu_bf16)


def initial_model(cfg: TrainConfig, device: str):
    """The model to train: the run's last one (resume), a model folder's (init, with cfg's dropout and, where
    given, segment and memory lengths) or a new one."""
    last = Path(cfg.out) / "last"
    if cfg.resume:
        if not (last / "train_state.pt").is_file():
            raise LivechipError(f"{Path(cfg.out)}: nothing to resume (no last/train_state.pt)")
        return load_model(last, device)
    if not cfg.init:
        return TransformerXL(model_config(cfg)).to(device)
    model = load_model(cfg.init, device)
    model.cfg.dropout, model.cfg.dropatt = cfg.dropout, cfg.dropatt
    model.cfg.tgt_len = cfg.tgt_len or model.cfg.tgt_len
    model.cfg.mem_len = cfg.mem_len or model.cfg.mem_len
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = cfg.dropout
    return model


def resume(cfg: TrainConfig, device: str, opt, scaler) -> State:
    """The State of the run in cfg.out, its optimizer and scaler state loaded into opt and scaler."""
    st = torch.load(Path(cfg.out) / "last" / "train_state.pt", map_location=device, weights_only=True)
    opt.load_state_dict(st["optimizer"])
    scaler.load_state_dict(st["scaler"])
    return State(st["step"], st["tokens"], st["best"], st["elapsed"])


def load_data(cfg: TrainConfig, hw: Hardware, model, step: int):
    """(training batches from `step` on, validation stream [B, N]); the master writes config.json and says what
    it trains on."""
    train_songs, valid_songs, skipped = split_data(cfg, cfg.progress and hw.master)
    aug = data.AugmentConfig(shuffle=cfg.shuffle) if cfg.augment else None
    batches = data.Batches(train_songs, cfg.batch_size, model.cfg.tgt_len, aug, seed=cfg.seed * 1000 + step,
                           rank=hw.rank, world=hw.world)
    val = data.eval_stream(valid_subset(valid_songs, cfg.eval_tokens, cfg.seed), cfg.eval_batch)
    if not hw.master:
        return batches, val
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    arch = {k: getattr(model.cfg, k) for k in ("n_layer", "n_head", "d_head", "d_model", "d_inner", "tgt_len",
                                                "mem_len")}
    with atomic_write(out / "config.json", "w") as f:      # the architecture trained, also with init or resume
        json.dump(asdict(cfg) | arch, f, indent=1)
    n_params = sum(p.numel() for p in model.parameters())
    n_train = data.count_tokens(train_songs)
    print(f"livechip train: {len(train_songs)} songs ({n_train:,} tokens) to train on, "
          f"{len(valid_songs)} to validate ({val.numel():,} tokens scored); {n_params:,} parameters; "
          f"{hw.device}{' x' + str(hw.world) if hw.ddp else ''}"
          f"{', ' + str(hw.amp_dtype).split('.')[-1] + ' autocast' if hw.use_amp else ''}", flush=True)
    for line in skipped[:5]:
        print(f"  skipped {line}")
    if len(skipped) > 5:
        print(f"  ... and {len(skipped) - 5} more unreadable files")
    return batches, val


def save(cfg: TrainConfig, hw: Hardware, model, opt, scaler, state: State, best_too: bool):
    """The weights and training state in OUT/last; with best_too the model in OUT/best as well."""
    last_dir, state_path = Path(cfg.out) / "last", Path(cfg.out) / "last" / "train_state.pt"
    save_model(model, last_dir, dtype="float32")
    torch.save({"optimizer": opt.state_dict(), "scaler": scaler.state_dict(), **asdict(state),
                "config": asdict(cfg)}, str(state_path) + ".tmp")
    os.replace(str(state_path) + ".tmp", state_path)
    if best_too:
        ppl = math.exp(state.best)
        save_model(model, Path(cfg.out) / "best", dtype=cfg.save_dtype,
                   card=card(cfg, model, state.step, state.tokens, ppl, state.elapsed, hw.name()),
                   source={"trained": {"step": state.step, "tokens": state.tokens, "valid_ppl": round(ppl, 4)}})


def evaluate_and_save(cfg: TrainConfig, hw: Hardware, model, opt, scaler, state: State, val, loss, lr, epoch,
                      say=print) -> float:
    """Validate, save (OUT/best too when the model improved), log a line to OUT/log.jsonl; the perplexity."""
    nll = evaluate(model, val, model.cfg.tgt_len, model.cfg.mem_len, hw.autocast)
    val_ppl = math.exp(nll)
    improved = nll < state.best
    state.best = min(state.best, nll)
    save(cfg, hw, model, opt, scaler, state, improved)
    line = {"step": state.step, "tokens": state.tokens, "loss": round(loss.item(), 4), "lr": lr,
            "valid_ppl": round(val_ppl, 4), "best_ppl": round(math.exp(state.best), 4),
            "elapsed_s": round(state.elapsed, 1), "epoch": epoch}
    with open(Path(cfg.out) / "log.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
    say(f"step {state.step}: loss {loss.item():.3f}, valid ppl {val_ppl:.3f}{' (best, saved)' if improved else ''}, "
        f"{state.tokens:,} tokens, {state.elapsed / 60:.1f} min")
    return val_ppl


def shared_clock(hw: Hardware, cfg: TrainConfig, elapsed: float) -> float:
    """With several processes and a time budget, the slowest one's clock, so all agree on the lr and the stop."""
    if not (hw.ddp and cfg.max_minutes):
        return elapsed
    clock = torch.tensor(elapsed, device=hw.device, dtype=torch.float64)
    dist.all_reduce(clock, op=dist.ReduceOp.MAX)
    return clock.item()


def show(bar, state: State, loss, lr, val_ppl, mark):
    """Loss, lr, tokens per second since `mark` (time, tokens) and validation perplexity on the bar; the new mark."""
    now = time.time()
    rate = (state.tokens - mark[1]) / max(1e-9, now - mark[0])
    bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", tok_s=f"{rate:,.0f}", val_ppl=f"{val_ppl:.3f}",
                    refresh=False)
    bar.update(state.step - bar.n)
    return now, state.tokens


def train(cfg: TrainConfig):
    """Train as cfg says; (the model, its best validation perplexity)."""
    hw = hardware(cfg)
    raw_model = initial_model(cfg, hw.device)
    raw_model.train()
    model = DistributedDataParallel(raw_model, device_ids=[hw.device] if hw.cuda else None) if hw.ddp else raw_model
    opt = optimizer(raw_model, cfg, fused=hw.cuda or None)
    scaler = torch.amp.GradScaler("cuda", enabled=hw.use_amp and hw.amp_dtype == torch.float16)
    state = resume(cfg, hw.device, opt, scaler) if cfg.resume else State()
    batches, val = load_data(cfg, hw, raw_model, state.step)

    bar = None
    if hw.master and cfg.progress:
        bar = tqdm(total=cfg.max_steps, initial=state.step, unit="step", dynamic_ncols=True)
    mems, val_ppl = None, float("nan")
    t0, mark = time.time() - state.elapsed, (time.time(), state.tokens)
    piece_end = time.time() + cfg.piece_minutes * 60 if cfg.piece_minutes else math.inf
    while progress(state.step, state.elapsed, cfg) < 1:
        lr = lr_at(state.step, cfg, progress(state.step, state.elapsed, cfg))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = next(batches)                                                          # (B, T)
        x, y = x.to(hw.device, non_blocking=True), y.to(hw.device, non_blocking=True)
        loss, mems = train_step(model, opt, scaler, x, y, mems, cfg.grad_clip, hw.autocast)
        state.step += 1
        state.tokens += x.numel() * hw.world
        state.elapsed = shared_clock(hw, cfg, time.time() - t0)
        if bar is not None and (state.step % 10 == 0 or state.step == cfg.max_steps):
            mark = show(bar, state, loss, lr, val_ppl, mark)
        stop = progress(state.step, state.elapsed, cfg) >= 1 or time.time() >= piece_end
        if state.step % cfg.eval_every == 0 or stop:
            if hw.master:
                val_ppl = evaluate_and_save(cfg, hw, raw_model, opt, scaler, state, val, loss, lr, batches.epoch,
                                            bar.write if bar is not None else print)
            if hw.ddp:
                dist.barrier()
        if stop:
            break
    if bar is not None:
        bar.close()
    if hw.ddp:
        dist.destroy_process_group()
    return raw_model, math.exp(state.best)
