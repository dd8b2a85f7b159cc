"""The generation cache of the Transformer-XL (txl.py): keys and values of the recent positions of every layer.

`TransformerXL.setup_cache` builds one `Cache`; `step` and `rollback` use it. The cache knows the model only
through its layers (`attn.wqkv`, `attn.wo`, the norms and feed-forward), `embed`, the output layers and
`rel_keys`, so the network file stays the network. A one-token step on the CPU runs in numba kernels
(livechip.model.kernels); several tokens, or another device, take the torch path (`attend`). With int8 weights
(quantize.py, kv=True) keys, values and positional keys are kept as int8 rows (`int8_rows`).
"""

import math

import numpy as np
import torch
from torch import Tensor, nn

from livechip.model import kernels


def int8_rows(x: Tensor) -> tuple[Tensor, Tensor]:
    """Each row of x (last dim) as int8 with one scale, max |row| / 127: (int8 [..., n], scale [...]).
    (Written as products with reciprocals, the way the cached step's kernel computes it, bit for bit.)"""
    s = x.abs().amax(-1).clamp(min=1e-12) * (1 / 127)
    return (x * (1 / s)[..., None]).round().clamp(-127, 127).to(torch.int8), s


def through_int8(x: Tensor) -> Tensor:
    """x rounded to int8 rows and back: what an int8 cache holds of it."""
    q, s = int8_rows(x)
    return q.to(x.dtype) * s[..., None]


class Cache:
    """Keys and values of the last C = mem_len + max_rollback positions of every layer, and the positional keys.

    Position q lives at slot q % C and again at q % C + C of a [2 (k, v), B * H, 2C, Dh] buffer, so any C
    consecutive positions are one contiguous slice: attention reads a slice, rollback moves `pos`, nothing is
    ever moved. `rr[l][:, i]` is layer l's positional key for distance mem_len - i ([H, mem_len + 1, Dh]), so the
    positional keys of a window ending at the query are the tail of `rr[l]`, in the window's order.
    With an int8 model (quantize.py, kv=True) keys, values and positional keys are int8 rows of Dh with one scale
    each (`ks`, `rs`; ones for a float cache): a quarter of the bytes a step reads from the cache.
    """

    def __init__(self, model: nn.Module, batch_size: int, max_rollback: int, mem_len: int):
        cfg = model.cfg
        if max_rollback < 1:
            raise ValueError(f"max_rollback must be >= 1, got {max_rollback}")
        if mem_len < (1 if cfg.same_length else 0):
            raise ValueError(f"mem_len must be >= {1 if cfg.same_length else 0}, got {mem_len}")
        self.mem_len, self.max_rollback = mem_len, max_rollback
        self.span = mem_len - 1 if cfg.same_length else mem_len   # how far back a query sees
        self.C = C = mem_len + max_rollback
        self.pos = self.hi = 0      # tokens fed; highest position ever written (slots below hi - C are stale)
        self.B, self.H, self.Dh = batch_size, cfg.n_head, cfg.d_head
        w = model.r_w_bias
        self.int8 = any(layer.attn.kv_int8 for layer in model.layers)
        shape = (2, batch_size * cfg.n_head, 2 * C)
        self.kv = [torch.zeros(*shape, cfg.d_head, dtype=torch.int8 if self.int8 else w.dtype, device=w.device)
                   for _ in model.layers]
        self.ks = [torch.ones(shape, dtype=w.dtype, device=w.device) for _ in model.layers]   # int8 row scales
        self.scale = 1 / math.sqrt(cfg.d_head)
        with torch.no_grad():
            rr = model.rel_keys(mem_len + 1)
            if self.int8:
                rows = [int8_rows(r) for r in rr]
                self.rr, self.rs = [q for q, _ in rows], [scale for _, scale in rows]
            else:
                self.rr, self.rs = rr, [torch.ones(r.shape[:2], dtype=w.dtype, device=w.device) for r in rr]
            self.bias = torch.stack([model.r_w_bias, model.r_r_bias]) * self.scale   # [2, H, Dh]
        self.numba = self._numba_args(model)

    def write(self, buf: Tensor, new: Tensor):
        """Store new [2, B * H, n, ...] at positions pos..pos+n-1 of buf [2, B * H, 2C, ...] (both copies)."""
        C, n, j = self.C, new.size(2), self.pos % self.C
        buf[:, :, j:j + n] = new
        m = min(n, C - j)                          # the mirror copy: +C for the first m, -C for the rest
        buf[:, :, j + C:j + C + m] = new[:, :, :m]
        if m < n:
            buf[:, :, :n - m] = new[:, :, m:]

    def step1(self, model: nn.Module, tokens: Tensor) -> Tensor:
        """The hot path: one new position per stream (tokens [B]) through every layer, in the numba kernels;
        returns the logits [B, V]."""
        C, p = self.C, self.pos
        a = max(0, p - self.span)                  # oldest visible position
        x = model.embed(tokens).contiguous()
        xn = x.numpy()
        for args in self.fast:
            kernels.block(xn, *args, p % C, C, a % C, p + 1 - a, *self.scratch)
        for lin in self.head:
            out = torch.empty(x.size(0), lin[0].shape[0], dtype=x.dtype)
            kernels.linear(*lin, xn, out.numpy())
            x, xn = out, out.numpy()
        return x

    def _numba_args(self, model: nn.Module) -> bool:
        """Numpy views, for kernels.block, of each layer's weights and cache (`fast`), of the output layers
        (`head`) and scratch rows; False where the kernels do not apply (not on the CPU, not float32/64)."""
        w = model.r_w_bias
        if w.device.type != "cpu" or w.dtype not in (torch.float32, torch.float64):
            return False
        one = np.float32 if w.dtype == torch.float32 else np.float64
        self.fast = []
        for layer, kv, ks, rr, rs in zip(model.layers, self.kv, self.ks, self.rr, self.rs):
            at, ln1, ff, ln2 = layer.attn, layer.attn_norm, layer.ff, layer.ff_norm
            self.fast.append((layer.pre_lnorm, one(ln1.eps), *_np(ln1.weight, ln1.bias),
                              *_np_linear(at.wqkv, one)[:2], *_np_linear(at.wo, one)[:2],
                              *_np(ln2.weight, ln2.bias), *_np_linear(ff.w1, one), *_np_linear(ff.w2, one),
                              *_np(self.bias), one(self.scale), *_np(kv, ks, rr, rs), self.int8))
        self.head = [_np_linear(lin, one) for lin in (model.out_proj, model.output) if lin is not None]
        cfg = model.cfg
        HD = cfg.n_head * cfg.d_head
        rows = (cfg.d_model, 3 * HD, HD, cfg.d_model, cfg.d_inner)     # h, qkv, y, a, f; score, qw, qr
        heads = self.B * cfg.n_head
        self.scratch = ([np.zeros((self.B, n), one) for n in rows]
                        + [np.zeros((heads, n), one) for n in (self.mem_len + 1, cfg.d_head, cfg.d_head)])
        return True

    def attend(self, attn: nn.Module, h: Tensor, layer: int, r_w_bias, r_r_bias):
        """Attention output [B, n, d] of n new positions h [B, n, d] (already normed if pre-LN) in a layer;
        writes their keys and values at positions pos..pos+n-1."""
        B, n, _ = h.shape
        H, Dh, C, M = self.H, self.Dh, self.C, self.mem_len
        kv, ks, rr = self.kv[layer], self.ks[layer], self.rr[layer]
        q, k, v = attn.wqkv(h).view(B, n, 3, H, Dh).permute(2, 0, 3, 1, 4)  # each [B, H, n, Dh]
        new = torch.stack([k, v]).view(2, B * H, n, Dh)
        if self.int8:
            new, scale = int8_rows(new)
            self.write(ks, scale)
            rr = rr.to(h.dtype) * self.rs[layer][..., None]
        self.write(kv, new)
        p0 = self.pos
        a = max(0, p0 - self.span)                 # oldest position any of the n queries sees
        W = p0 + n - a
        s = a % C
        kw, vw = (kv[i].view(B, H, 2 * C, Dh)[:, :, s:s + W] for i in (0, 1))
        if self.int8:
            sk, sv = (ks[i].view(B, H, 2 * C)[:, :, s:s + W, None] for i in (0, 1))
            kw, vw = kw.to(h.dtype) * sk, vw.to(h.dtype) * sv
        ac = (q + r_w_bias[:, None]) @ kw.transpose(-1, -2)                   # [B, H, n, W]
        dist = (torch.arange(p0, p0 + n)[:, None] - torch.arange(a, a + W)[None, :]).to(h.device)
        bd = (q + r_r_bias[:, None]) @ rr.transpose(-1, -2)                   # [B, H, n, M + 1] by distance M - i
        bd = bd.gather(-1, (M - dist).clamp(0, M).expand(B, H, n, W))
        mask = (dist < 0) | (dist > self.span)
        score = ((ac + bd) * self.scale).masked_fill(mask, float("-inf"))
        y = (score.softmax(-1) @ vw).transpose(1, 2).reshape(B, n, H * Dh)
        return attn.wo(y)


def _np(*ts: Tensor) -> list[np.ndarray]:
    """Numpy views (no copies) of tensors."""
    return [t.detach().contiguous().numpy() for t in ts]


def _np_linear(lin: nn.Module, one) -> tuple:
    """(weight, scale per output row, bias or empty) of a Linear, float or int8 (quantize.Int8Linear)."""
    w = lin.weight.detach()
    scale = getattr(lin, "scale", None)
    scale = np.ones(w.size(0), one) if scale is None else scale.numpy().astype(one)
    bias = np.zeros(0, one) if lin.bias is None else lin.bias.detach().numpy()
    return w.contiguous().numpy(), scale, bias
