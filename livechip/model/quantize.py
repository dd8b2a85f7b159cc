"""Optional int8 form of a TransformerXL, for faster generation on CPU. The network code knows nothing of it.

Every nn.Linear (attention projections, feed-forward, output layer) becomes an `Int8Linear`: int8 weights with
one float32 scale per output row (symmetric, scale = max |w| / 127), activations left in float32 (weight-only
quantization). A batch-1 step is limited by the bytes it streams, and this reads a quarter of the float32
weight bytes; the cached step's numba kernels convert each weight as they go (livechip.model.kernels), and the
segment forward (training, evaluation) multiplies by the dequantized weight. Embedding, LayerNorm, biases and
the attention arithmetic stay float32.

With `kv=True` (the default) the attention's keys, values and positional keys are rounded to int8 too, one
scale per head and position (a row of d_head numbers): the generation cache stores them so, which divides the
bytes a step reads from it by four (at LakhNES size and mem_len 512 the cache is as many bytes as the int8
weights), and the segment forward rounds them the same way, so evaluation measures what generation computes.

Weight-only rather than dynamic quantization (fbgemm, which also rounds the activations to int8): it is more
exact, and per call the numba loop beats fbgemm's at batch 1 on this CPU; `torch._weight_int8pack_mm` has no
fast kernel here. See `bench/bench_inference.py`.
"""

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livechip.model.txl import TransformerXL


class Int8Linear(nn.Module):
    """y = x @ (weight * scale[:, None]).T + bias, weight int8 [out, in], scale float32 [out]."""

    def __init__(self, lin: nn.Linear):
        super().__init__()
        w = lin.weight.detach().float()
        scale = w.abs().amax(1).clamp(min=1e-12) / 127
        self.register_buffer("weight", (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if lin.bias is None else lin.bias.detach().float().clone())
        self.in_features, self.out_features = lin.in_features, lin.out_features

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype) * self.scale.to(x.dtype)[:, None], self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weight-only"


def quantize_int8(model: TransformerXL, kv: bool = True) -> TransformerXL:
    """A copy of `model` (eval mode, float32) with int8 linear layers (and int8 keys, values and positional
    keys with `kv`); call setup_cache on the copy."""
    model = copy.copy(model)
    model.cache = None                      # never deep-copy a cache
    model = copy.deepcopy(model).float().eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    for layer in model.layers:
        layer.attn.kv_int8 = kv
    return model
