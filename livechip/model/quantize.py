"""Optional int8 form of a TransformerXL, for faster generation on CPU. The network code knows nothing of it.

Every nn.Linear (attention projections, feed-forward, output layer) becomes a dynamically quantized one: int8
weights with one scale per output channel, the activation row quantized on the fly (fbgemm kernels). Embedding,
LayerNorm, biases, the cache and the attention arithmetic stay float32. A step reads about a quarter of the
weight bytes, which is what limits a batch-1 step on CPU.

Weight-only int8 (int8 weights dequantized inside a float matmul, `torch._weight_int8pack_mm`) was measured
slower than float32 on this kind of CPU (no native kernel for it), so it is not offered; see
`bench/bench_inference.py`.
"""

import copy
import warnings

import torch
from torch import nn

from livechip.model.txl import TransformerXL


def quantize_int8(model: TransformerXL) -> TransformerXL:
    """A copy of `model` (eval mode) with int8 linear layers; call setup_cache on the copy before stepping."""
    model = copy.copy(model)
    model.cache = None                      # never deep-copy a cache
    model = copy.deepcopy(model).eval()
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    with warnings.catch_warnings():         # torch marks eager-mode quantization deprecated; it still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8,
                                                      inplace=True)
