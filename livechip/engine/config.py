"""The engine's configuration: what `livechip play`'s options choose before it starts."""

import dataclasses

from livechip.control.settings import DEFAULT_HORIZON


@dataclasses.dataclass
class EngineConfig:
    horizon: float = DEFAULT_HORIZON    # seconds of music kept generated ahead of now
    rate: int | None = None             # output sample rate; None: the audio device's (48000 without one)
    block: int | None = None            # audio block in frames; None: the device's choice (256 without one)
    audio_device: object = None         # index or name; None: the default output
    audio: bool = True                  # False: no sound card even if there is one (render for recording)
    midi: bool = True
    midi_port: str | None = None        # send to this existing port instead of a virtual `livechip` port
    worker: str = "process"             # "process": the model in its own process; "thread": in the engine's
    threads: int = 1                    # threads for the model (torch's and the step kernels')
    int8: bool = False                  # the model's int8 form (quantize.py): about twice as fast on a CPU
    max_rollback: int = 2048            # tokens that can be revoked (the horizon, with a wide margin)
    preroll: float = 10.0               # at most this many seconds to fill the horizon before the clock starts
    midi_in: object = None              # MIDI in: None = the virtual port `livechip in`; a name or an index:
                                        # that existing port; False = no MIDI in
    note_timeout: float = 20.0          # seconds a player's key may stay down before it counts as stuck
    sync: str = "free"                  # where the beat comes from: free, midi, jack, link (engine.sync)
    sync_port: object = None            # MIDI clock from this existing port (None: on MIDI in)
    clock_out: bool = False             # lead: send MIDI clock for the session's beat on the MIDI out port
