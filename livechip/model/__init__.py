"""The Transformer-XL network (txl), its optional int8 form (quantize), LakhNES import and sampling.

`TransformerXL` and `TXLConfig` are loaded on first use, so that `livechip.model.steer` (steering values, read by
the control surface) can be imported without torch."""

__all__ = ["TransformerXL", "TXLConfig"]


def __getattr__(name):
    if name in __all__:
        from livechip.model import txl
        return getattr(txl, name)
    raise AttributeError(f"module 'livechip.model' has no attribute {name!r}")
