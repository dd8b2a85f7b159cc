"""The engine: generation kept ahead of a clock.

`livechip.model.stream.Stream` is the generation core that offline generation and the live instrument share;
`livechip.engine.engine.Engine` is the live daemon. Importing this package imports neither (nor torch): the
live engine's process stays free of torch while the model runs in its own process.
"""


def __getattr__(name):
    if name == "Stream":
        from livechip.model.stream import Stream
        return Stream
    if name == "SamplingSettings":
        from livechip.model.sampling import SamplingSettings
        return SamplingSettings
    raise AttributeError(name)


__all__ = ["Stream", "SamplingSettings"]
