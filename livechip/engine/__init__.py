"""The engine: generation kept ahead of a clock. `Stream` is the generation core that offline generation and
the live instrument share."""

from livechip.engine.stream import Stream
from livechip.model.sampling import SamplingSettings

__all__ = ["Stream", "SamplingSettings"]
