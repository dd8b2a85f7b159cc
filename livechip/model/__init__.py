"""The Transformer-XL network (txl), its optional int8 form (quantize), LakhNES import and sampling."""

from livechip.model.txl import TransformerXL, TXLConfig

__all__ = ["TransformerXL", "TXLConfig"]
