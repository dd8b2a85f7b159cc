"""livechip: a real-time chiptune instrument driven by a Transformer-XL on the NES APU."""

__version__ = "0.1.0"
