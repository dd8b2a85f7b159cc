"""The Transformer-XL of LakhNES: the network in one file (its generation cache is cache.py).

Same arithmetic as LakhNES's `MemTransformerLM` (relative positional attention with one pair of learned biases
shared by all layers, memory of past layer inputs, clamp_len, same_length, pre- or post-LayerNorm, an optional
projection when d_embed != d_model, tied or untied output weight), written batch-first.

Two ways to run it:
- `forward(tokens, mems)`: a segment at a time (training, evaluation). Memory holds the *inputs* of every layer
  (n_layer + 1 tensors [B, M, d_model]; the last one, the final output, is carried but never read), exactly as
  LakhNES carries it, so published evaluation numbers are reproduced.
- `setup_cache` / `step` / `rollback`: incremental generation with a `Cache` (cache.py). Each layer keeps the
  projected keys and values of the last `mem_len + max_rollback` positions in preallocated buffers, and the
  relative-position keys are computed once per distance. A step therefore costs one token's projections plus
  attention over the cache, and gives what LakhNES's token-at-a-time sampler gives: token p attends to itself
  and the `mem_len` positions before it (`mem_len - 1` with same_length). Rolling back moves a write index;
  nothing is copied. On the CPU (float32, float64, or int8 weights from quantize.py) a one-token step runs in
  numba kernels, one call per layer (livechip.model.kernels); several tokens at once, or another device, take
  the torch path (`Cache.attend`).
"""

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livechip.core.errors import CheckpointError
from livechip.model.cache import Cache, through_int8


@dataclass
class TXLConfig:
    n_token: int = 631
    n_layer: int = 12
    n_head: int = 8
    d_head: int = 64
    d_model: int = 512
    d_embed: int | None = None      # None or -1: same as d_model (no projection)
    d_inner: int = 2048
    tgt_len: int = 512              # training segment length
    mem_len: int = 512              # memory length (training; eval and generation may pass their own)
    clamp_len: int = -1             # relative distances above this use this one's encoding (<= 0: no clamping)
    same_length: bool = False       # every query sees exactly mem_len keys
    pre_lnorm: bool = False
    tie_weight: bool = True         # output weight is the embedding weight
    dropout: float = 0.1
    dropatt: float = 0.0

    def __post_init__(self):
        if self.d_embed is None or self.d_embed < 0:
            self.d_embed = self.d_model

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TXLConfig":
        """Build from a dict; keys that are not fields (e.g. LakhNES's ext_len, attn_type) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def sinusoid(pos: Tensor, d_model: int) -> Tensor:
    """[len(pos), d_model] = [sin(pos * inv_freq) | cos(pos * inv_freq)], inv_freq = 1 / 10000^(2i / d_model)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0.0, d_model, 2.0) / d_model))
    x = torch.outer(pos.float(), inv_freq)
    return torch.cat([x.sin(), x.cos()], -1)


def distances(cfg: TXLConfig, n: int) -> Tensor:
    """The relative distances 0..n-1 as the positional encoding sees them (clamped at clamp_len)."""
    d = torch.arange(n, dtype=torch.float32)
    return d.clamp(max=cfg.clamp_len) if cfg.clamp_len > 0 else d


def rel_shift(x: Tensor) -> Tensor:
    """x [..., T, K] scored by distance, column c for distance K-1-c, the T queries being the last T of the K
    positions; returns the scores by key: out[i, j] = x[i, j + T-1-i], the distance of query i to key j. Entries
    for keys after their query (j > K-T+i) are left over from the next row: mask them. One padded copy."""
    *lead, T, K = x.shape
    return F.pad(x, (1, 0)).view(*lead, K + 1, T)[..., 1:, :].reshape(*lead, T, K)


class Attention(nn.Module):
    def __init__(self, cfg: TXLConfig):
        super().__init__()
        self.n_head, self.d_head = cfg.n_head, cfg.d_head
        self.kv_int8 = False       # keys, values and positional keys rounded to int8 rows (quantize.py sets it)
        self.scale = 1 / math.sqrt(cfg.d_head)
        self.wqkv = nn.Linear(cfg.d_model, 3 * cfg.n_head * cfg.d_head, bias=False)
        self.wr = nn.Linear(cfg.d_model, cfg.n_head * cfg.d_head, bias=False)
        self.wo = nn.Linear(cfg.n_head * cfg.d_head, cfg.d_model, bias=False)
        self.dropatt = nn.Dropout(cfg.dropatt)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: Tensor, n_q: int, rk: Tensor, mask: Tensor, r_w_bias, r_r_bias) -> Tensor:
        """h [B, K, d] memory + segment (normed if pre-LN); the last n_q rows are the queries.
        rk [H, K, Dh]: positional keys for distances K-1..0; mask [n_q, K] True = hidden."""
        B, K, _ = h.shape
        H, Dh = self.n_head, self.d_head
        q, k, v = self.wqkv(h).view(B, K, 3, H, Dh).permute(2, 0, 3, 1, 4)   # each [B, H, K, Dh]
        q = q[:, :, K - n_q:]
        if self.kv_int8:
            k, v, rk = through_int8(k), through_int8(v), through_int8(rk)
        ac = (q + r_w_bias[:, None]) @ k.transpose(-1, -2)                     # [B, H, n_q, K] by key
        bd = rel_shift((q + r_r_bias[:, None]) @ rk.transpose(-1, -2))         # [B, H, n_q, K] by key
        score = ((ac + bd) * self.scale).masked_fill(mask, float("-inf"))
        p = self.dropatt(score.softmax(-1))
        y = (p @ v).transpose(1, 2).reshape(B, n_q, H * Dh)
        return self.drop(self.wo(y))


class FeedForward(nn.Module):
    def __init__(self, cfg: TXLConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.d_inner)
        self.w2 = nn.Linear(cfg.d_inner, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.w2(self.drop(F.relu(self.w1(x)))))


class Block(nn.Module):
    def __init__(self, cfg: TXLConfig):
        super().__init__()
        self.pre_lnorm = cfg.pre_lnorm
        self.attn = Attention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)
        self.ff_norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x, mem, rk, mask, r_w_bias, r_r_bias):
        h = torch.cat([mem, x], 1) if mem is not None else x
        if self.pre_lnorm:        # pre-LN normalizes memory and segment alike before the projections
            h = self.attn_norm(h)
        return self.finish(x, self.attn(h, x.size(1), rk, mask, r_w_bias, r_r_bias))

    def finish(self, x, y):
        """The rest of the block after attention output y: residuals, LayerNorms and feed-forward."""
        if self.pre_lnorm:
            x = x + y
            return x + self.ff(self.ff_norm(x))
        x = self.attn_norm(x + y)
        return self.ff_norm(x + self.ff(x))


class TransformerXL(nn.Module):
    def __init__(self, cfg: TXLConfig):
        super().__init__()
        self.cfg = cfg
        self.gen_mem_len = None     # memory length when generating (config.json "generation"); None: cfg.mem_len
        self.gen_wait_temperature = 1.0    # the waits' temperature among themselves when generating (the same)
        self.emb_scale = math.sqrt(cfg.d_model)
        self.tok_emb = nn.Embedding(cfg.n_token, cfg.d_embed)
        self.emb_proj = nn.Linear(cfg.d_embed, cfg.d_model, bias=False) if cfg.d_embed != cfg.d_model else None
        self.r_w_bias = nn.Parameter(torch.zeros(cfg.n_head, cfg.d_head))
        self.r_r_bias = nn.Parameter(torch.zeros(cfg.n_head, cfg.d_head))
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_embed, bias=False) if cfg.d_embed != cfg.d_model else None
        self.output = nn.Linear(cfg.d_embed, cfg.n_token)
        if cfg.tie_weight:
            self.output.weight = self.tok_emb.weight
        self.apply(self._init)
        self.cache = None

    @staticmethod
    def _init(m):
        # train.py's scheme: weights N(0, 0.02), biases 0, LayerNorm N(1, 0.02)
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, TransformerXL):
            nn.init.normal_(m.r_w_bias, 0.0, 0.02)
            nn.init.normal_(m.r_r_bias, 0.0, 0.02)

    def embed(self, tokens: Tensor) -> Tensor:
        x = self.tok_emb(tokens)
        if self.emb_proj is not None:
            x = self.emb_proj(x)
        return x * self.emb_scale

    def head(self, h: Tensor) -> Tensor:
        if self.out_proj is not None:
            h = self.out_proj(h)
        return self.output(h)

    # --- segment forward (training, evaluation) ---

    def forward(self, tokens: Tensor, mems: list[Tensor] | None = None, mem_len: int | None = None):
        """tokens [B, T]; mems: None or the list this returned last time. Returns (logits [B, T, V], new_mems).

        mem_len (default cfg.mem_len) is how many past positions the returned memory keeps; with same_length it
        is also how far back a query can see. new_mems is None when mem_len is 0."""
        cfg = self.cfg
        mem_len = cfg.mem_len if mem_len is None else mem_len
        B, T = tokens.shape
        M = mems[0].size(1) if mems else 0
        K = M + T
        dist = (torch.arange(M, K)[:, None] - torch.arange(K)[None, :]).to(tokens.device)  # [T, K]
        mask = dist < 0
        if cfg.same_length:
            mask = mask | (dist >= mem_len)
        pos = self.drop(sinusoid(distances(cfg, K).flip(0), cfg.d_model).to(self.r_w_bias))   # K-1..0
        x = self.drop(self.embed(tokens))
        hids = [x]
        for i, layer in enumerate(self.layers):
            rk = layer.attn.wr(pos).view(K, cfg.n_head, cfg.d_head).transpose(0, 1)
            x = layer(x, mems[i] if mems else None, rk, mask, self.r_w_bias, self.r_r_bias)
            hids.append(x)
        logits = self.head(self.drop(x))
        new_mems = None
        if mem_len > 0:
            with torch.no_grad():
                new_mems = [(torch.cat([m, h], 1) if mems else h)[:, -mem_len:].detach()
                            for m, h in zip(mems or hids, hids)]
        return logits, new_mems

    # --- incremental generation with a cache (cache.py) ---

    def rel_keys(self, n: int) -> list[Tensor]:
        """Each layer's positional keys [H, n, Dh] for distances n-1..0 (no dropout), for the cache."""
        cfg = self.cfg
        pos = sinusoid(distances(cfg, n).flip(0), cfg.d_model).to(self.r_w_bias)
        return [layer.attn.wr(pos).view(n, cfg.n_head, cfg.d_head).transpose(0, 1).contiguous()
                for layer in self.layers]

    def setup_cache(self, batch_size: int = 1, max_rollback: int = 1024, mem_len: int | None = None):
        """Allocate the cache for `batch_size` streams and reset it. mem_len defaults to cfg.mem_len; call this
        again whenever the weights change (the positional keys are computed here once)."""
        self.cache = Cache(self, batch_size, max_rollback, self.cfg.mem_len if mem_len is None else mem_len)

    def reset_cache(self):
        self._cache().pos = self._cache().hi = 0

    def _cache(self) -> Cache:
        if self.cache is None:
            raise RuntimeError("call setup_cache() first")
        return self.cache

    @property
    def position(self) -> int:
        """Tokens fed since the cache was set up or reset (moved back by rollback)."""
        return self.cache.pos if self.cache is not None else 0

    def rollback(self, position: int):
        """Return to the state after `position` tokens; O(1). Reaches back max_rollback tokens."""
        c = self._cache()
        lo = max(0, c.hi - c.max_rollback)
        if not lo <= position <= c.pos:
            raise ValueError(f"cannot roll back to position {position}: the cache holds positions {lo}..{c.pos}")
        c.pos = position

    def step(self, tokens: Tensor) -> Tensor:
        """Feed tokens [B, n] after the cached ones; logits [B, n, V]. Token p sees itself and the mem_len
        positions before it (mem_len - 1 with same_length), exactly as LakhNES's one-token sampler does."""
        c = self._cache()
        B, n = tokens.shape
        if B != c.B:
            raise ValueError(f"the cache was set up for batch size {c.B}, got {B} streams")
        if n == 0:
            return torch.empty(B, 0, self.cfg.n_token, dtype=c.ks[0].dtype, device=tokens.device)
        if n > c.max_rollback:
            return torch.cat([self.step(tokens[:, i:i + c.max_rollback])
                              for i in range(0, n, c.max_rollback)], 1)
        with torch.no_grad():
            if n == 1 and c.numba:
                logits = c.step1(self, tokens[:, 0])[:, None]
            else:
                x = self.embed(tokens)
                for i, layer in enumerate(self.layers):
                    h = layer.attn_norm(x) if layer.pre_lnorm else x
                    x = layer.finish(x, c.attend(layer.attn, h, i, self.r_w_bias, self.r_r_bias))
                logits = self.head(x)
            c.pos += n
            c.hi = max(c.hi, c.pos)
            return logits

    # --- LakhNES weights ---

    def load_lakhnes_state_dict(self, sd: dict[str, Tensor]):
        """Load a state dict with LakhNES's `MemTransformerLM` key names (see fixtures README 4.4)."""
        cfg = self.cfg
        names = {"r_w_bias": "r_w_bias", "r_r_bias": "r_r_bias", "word_emb.emb_layers.0.weight": "tok_emb.weight",
                 "crit.out_layers.0.bias": "output.bias"}
        if self.emb_proj is not None:
            names["word_emb.emb_projs.0"] = "emb_proj.weight"
        if self.out_proj is not None:
            names["crit.out_projs.0"] = "out_proj.weight"   # transposed below: LakhNES computes h @ P
        if not cfg.tie_weight:
            names["crit.out_layers.0.weight"] = "output.weight"
        for i in range(cfg.n_layer):
            a, f = f"layers.{i}.dec_attn.", f"layers.{i}.pos_ff."
            names.update({a + "qkv_net.weight": f"layers.{i}.attn.wqkv.weight",
                          a + "r_net.weight": f"layers.{i}.attn.wr.weight",
                          a + "o_net.weight": f"layers.{i}.attn.wo.weight",
                          a + "layer_norm.weight": f"layers.{i}.attn_norm.weight",
                          a + "layer_norm.bias": f"layers.{i}.attn_norm.bias",
                          f + "CoreNet.0.weight": f"layers.{i}.ff.w1.weight",
                          f + "CoreNet.0.bias": f"layers.{i}.ff.w1.bias",
                          f + "CoreNet.3.weight": f"layers.{i}.ff.w2.weight",
                          f + "CoreNet.3.bias": f"layers.{i}.ff.w2.bias",
                          f + "layer_norm.weight": f"layers.{i}.ff_norm.weight",
                          f + "layer_norm.bias": f"layers.{i}.ff_norm.bias"})
        optional = {"pos_emb.inv_freq"} | ({"crit.out_layers.0.weight"} if cfg.tie_weight else set())
        missing = [k for k in names if k not in sd]
        extra = [k for k in sd if k not in names and k not in optional]
        if missing or extra:
            raise CheckpointError("LakhNES weights do not match the config: "
                                  + "; ".join(filter(None, [missing and f"missing {', '.join(missing[:4])}",
                                                            extra and f"unexpected {', '.join(extra[:4])}"])))
        own = self.state_dict()
        new = {}
        for src, dst in names.items():
            t = sd[src].t() if src == "crit.out_projs.0" else sd[src]
            if tuple(t.shape) != tuple(own[dst].shape):
                want = tuple(own[dst].shape)[::-1] if src == "crit.out_projs.0" else tuple(own[dst].shape)
                raise CheckpointError(f"LakhNES tensor {src} has shape {tuple(sd[src].shape)}, "
                                      f"the config says {want}")
            new[dst] = t.float()
        if cfg.tie_weight and "crit.out_layers.0.weight" in sd:
            w = sd["crit.out_layers.0.weight"]
            if w.shape != sd["word_emb.emb_layers.0.weight"].shape or not torch.equal(
                    w.float(), sd["word_emb.emb_layers.0.weight"].float()):
                raise CheckpointError("config says the output weight is tied to the embedding, "
                                      "but the LakhNES weights differ")
        if "pos_emb.inv_freq" in sd:
            ref = 1.0 / (10000 ** (torch.arange(0.0, cfg.d_model, 2.0) / cfg.d_model))
            f = sd["pos_emb.inv_freq"]
            if f.shape != ref.shape or not torch.allclose(f.float(), ref, rtol=1e-6, atol=0):
                raise CheckpointError(f"LakhNES pos_emb.inv_freq {tuple(f.shape)} does not match d_model "
                                      f"{cfg.d_model}")
        if cfg.tie_weight:
            new["output.weight"] = new["tok_emb.weight"]
        with torch.no_grad():
            for k, t in new.items():
                own[k].copy_(t)
        self.cache = None
