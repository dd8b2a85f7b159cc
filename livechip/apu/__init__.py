"""The NES APU (2A03): register-level emulator, band-limited synthesis, note driver, VGM and rendering."""

from livechip.apu.apu import NTSC, PAL, Apu, RegisterError

__all__ = ["Apu", "NTSC", "PAL", "RegisterError"]
