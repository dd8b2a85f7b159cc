"""VGM files with NES APU data: read them into a register log, write a register log as one.

A `Log` is the register writes of a song as three int64 arrays (absolute CPU cycle, address $4000-$4017,
value) plus the clock and the length in samples at 44.1 kHz. Reading follows the VGM 1.61 layout: header
fields at fixed offsets, then commands (`B4 aa dd` APU write, `61 nn nn` / `62` / `63` / `7n` waits, `67` data
blocks, `66` end).

What reading refuses, with a one-line `FileFormatError` naming the file and byte offset: files that are not
VGM, truncated files, unknown command bytes, writes to another sound chip and writes to the Famicom Disk
System's channel (livechip plays only the 2A03). `ignore_other_chips=True` drops those writes instead and plays
the 2A03 part, as NES-MDB's scores do. DMC sample data blocks are skipped (the DMC is not emulated). A PAL or
Dendy clock is kept, and the APU then uses the PAL tables. Like VGMPlay and NSF players, `read` starts the log
with `$4015 = $0F`, because many logs assume the four channels are already enabled.
"""

import dataclasses
import struct

import numpy as np

from livechip.apu.apu import NTSC, check_log
from livechip.core.errors import FileFormatError
from livechip.core.fileio import atomic_write, gunzip_limited, read_limited

VGM_RATE = 44100
MAX_BYTES = 64 << 20      # far above NES-MDB's largest VGM (1 MB); stops gzip bombs
FDS_FLAG = 0x80000000

# length in bytes (command included) of VGM commands for other chips, so they can be skipped
_OTHER_CHIPS = {0x4F: "SN76489 (Game Gear stereo)", 0x50: "SN76489", 0x51: "YM2413", 0x52: "YM2612",
                0x53: "YM2612", 0x54: "YM2151", 0x55: "YM2203", 0x56: "YM2608", 0x57: "YM2608",
                0x58: "YM2610", 0x59: "YM2610", 0x5A: "YM3812", 0x5B: "YM3526", 0x5C: "Y8950",
                0x5D: "YMZ280B", 0x5E: "YMF262", 0x5F: "YMF262", 0xA0: "AY-3-8910", 0xB0: "RF5C68",
                0xB1: "RF5C164", 0xB2: "PWM", 0xB3: "Game Boy DMG", 0xB5: "MultiPCM", 0xB6: "uPD7759",
                0xB7: "OKIM6258", 0xB8: "OKIM6295", 0xB9: "HuC6280", 0xBA: "K053260", 0xBB: "Pokey",
                0xBC: "WonderSwan", 0xBD: "SAA1099", 0xBE: "ES5506", 0xBF: "GA20"}


def _command_length(cmd):
    """Bytes taken by a command of another chip, by the VGM spec's ranges (None if not a known command)."""
    if cmd in (0x4F, 0x50) or 0x30 <= cmd <= 0x3F:
        return 2
    if 0x40 <= cmd <= 0x5F or 0xA0 <= cmd <= 0xBF:
        return 3
    if 0xC0 <= cmd <= 0xDF:
        return 4
    if 0xE0 <= cmd <= 0xFF:
        return 5
    return None


@dataclasses.dataclass
class Log:
    """A 2A03 register log: writes at absolute CPU cycles, and the song's length in 44.1 kHz samples."""
    cycles: np.ndarray
    addrs: np.ndarray
    values: np.ndarray
    samples: int
    clock: int = NTSC

    @property
    def seconds(self):
        return self.samples / VGM_RATE

    @property
    def pal(self):
        return self.clock < 1_700_000


def read(path, ignore_other_chips=False):
    """Read a .vgm (or gzip-compressed .vgz) file into a `Log`."""
    data = read_limited(path, MAX_BYTES)
    if len(data) > MAX_BYTES:
        raise FileFormatError(path, f"larger than {MAX_BYTES >> 20} MiB")
    return parse(data, path, ignore_other_chips)


def parse(data, path="<bytes>", ignore_other_chips=False):
    """Parse VGM bytes (plain or gzip-compressed) into a `Log` (see `read`)."""
    data = gunzip_limited(data, MAX_BYTES, path)
    start, total, clock = _header(data, path, ignore_other_chips)
    song = _Song(data, path, clock, ignore_other_chips)
    song.run(start)
    return Log(*check_log(song.cycles, song.addrs, song.values, what=str(path)), samples=max(song.sample, total),
               clock=clock)


def _u32(data, off):
    return struct.unpack_from("<I", data, off)[0] if off + 4 <= len(data) else 0


def _header(data, path, ignore_other_chips):
    """(data offset, length in samples, NES APU clock in Hz) from the header, checked."""
    if len(data) < 0x40 or data[:4] != b"Vgm ":
        raise FileFormatError(path, "not a VGM file (no 'Vgm ' header)")
    version = _u32(data, 0x08)
    start = 0x34 + _u32(data, 0x34) if version >= 0x150 and _u32(data, 0x34) else 0x40
    if start >= len(data):
        raise FileFormatError(path, f"data offset 0x{start:X} lies beyond the end of the file ({len(data)} bytes)")
    clock = _u32(data, 0x84) if version >= 0x161 and start > 0x84 else 0
    if clock & FDS_FLAG:
        if not ignore_other_chips:
            raise FileFormatError(path, "uses the Famicom Disk System sound channel (FDS flag in the NES clock "
                                        "field); livechip plays only the 2A03 (ignore_other_chips to play that part)")
        clock &= ~FDS_FLAG
    clock &= 0x3FFFFFFF
    if clock == 0:
        raise FileFormatError(path, "has no NES APU clock in its header (not an NES VGM, or older than VGM 1.61)")
    if not 1_500_000 <= clock <= 2_000_000:
        raise FileFormatError(path, f"NES APU clock {clock} Hz is not an NTSC, PAL or Dendy 2A03 clock")
    return start, _u32(data, 0x18), clock


class _Song:
    """The commands read so far: the 2A03's writes (starting with `$4015 = $0F`) and the time in samples."""

    def __init__(self, data, path, clock, ignore_other_chips):
        self.data, self.path, self.ignore = data, path, ignore_other_chips
        self.ratio = clock / VGM_RATE
        self.sample = 0
        self.cycles, self.addrs, self.values = [0], [0x4015], [0x0F]

    def run(self, i):
        """Read the commands from byte `i` up to the end command (0x66)."""
        data, n = self.data, len(self.data)
        while i < n:
            cmd = data[i]
            if cmd == 0x66:
                return
            command = _COMMANDS.get(cmd)
            if command is None:
                raise FileFormatError(self.path, f"unknown VGM command byte 0x{cmd:02X}", f"byte 0x{i:X}")
            after = command(self, cmd, i)
            if after is None:               # the command runs past the end of the data
                break
            i = after
        raise FileFormatError(self.path, "truncated: the data stops without the end command (0x66)", f"byte 0x{i:X}")


# Each command reads itself at byte `i` and returns the byte after it (None if the data ends inside it).

def _write(song, cmd, i):
    """`B4 aa dd`: APU register aa = dd."""
    if i + 3 > len(song.data):
        return None
    aa, dd = song.data[i + 1], song.data[i + 2]
    if aa <= 0x17:
        song.cycles.append(round(song.sample * song.ratio))
        song.addrs.append(0x4000 + aa)
        song.values.append(dd)
    elif aa > 0x1F and not song.ignore:         # 0x18-0x1F: unused register numbers
        raise FileFormatError(song.path, f"writes to the Famicom Disk System channel (register 0x{aa:02X})"
                                         "; livechip plays only the 2A03", f"byte 0x{i:X}")
    return i + 3


def _long_wait(song, cmd, i):
    """`61 nn nn`: wait nnnn samples."""
    if i + 3 > len(song.data):
        return None
    song.sample += song.data[i + 1] | (song.data[i + 2] << 8)
    return i + 3


_SHORT_WAITS = {0x62: 735, 0x63: 882, **{0x70 + k: k + 1 for k in range(16)}}   # one-byte waits, in samples


def _short_wait(song, cmd, i):
    song.sample += _SHORT_WAITS[cmd]
    return i + 1


def _block(song, cmd, i):
    """`67 66 tt ss ss ss ss` and ss bytes: a data block (DMC samples, or other), skipped."""
    if i + 7 > len(song.data):
        return None
    size = _u32(song.data, i + 3) & 0x7FFFFFFF
    if i + 7 + size > len(song.data):
        return None
    return i + 7 + size


def _other_chip(song, cmd, i):
    """A command for another sound chip: refused, or skipped with `ignore_other_chips`."""
    if not song.ignore:
        chip = _OTHER_CHIPS.get(cmd, "another sound chip")
        raise FileFormatError(song.path, f"writes to {chip} (command 0x{cmd:02X}); livechip plays only the "
                                         "NES 2A03", f"byte 0x{i:X}")
    length = _command_length(cmd)
    if i + length > len(song.data):
        return None
    return i + length


_COMMANDS = {**{cmd: _other_chip for cmd in range(256) if _command_length(cmd)},
             **dict.fromkeys(_SHORT_WAITS, _short_wait), 0xB4: _write, 0x61: _long_wait, 0x67: _block}


def dumps(log):
    """The bytes of a VGM 1.61 file holding `log` (its writes placed at the nearest 44.1 kHz sample)."""
    cycles, addrs, values = check_log(log.cycles, log.addrs, log.values)
    samples = np.rint(cycles * (VGM_RATE / log.clock)).astype(np.int64)
    body = bytearray()
    now = 0
    for t, a, v in zip(samples.tolist(), addrs.tolist(), values.tolist()):
        _wait(body, t - now)
        now = t
        body += bytes((0xB4, a - 0x4000, v))
    total = max(int(log.samples), now)
    _wait(body, total - now)
    body.append(0x66)
    header = bytearray(0xC0)
    header[0:4] = b"Vgm "
    struct.pack_into("<I", header, 0x04, len(header) + len(body) - 4)
    struct.pack_into("<I", header, 0x08, 0x161)
    struct.pack_into("<I", header, 0x18, total)
    struct.pack_into("<I", header, 0x34, 0xC0 - 0x34)
    struct.pack_into("<I", header, 0x84, int(log.clock))
    return bytes(header + body)


def _wait(body, n):
    while n > 0:
        if n <= 16:
            body.append(0x70 + n - 1)
            return
        if n == 735 or n == 882:
            body.append(0x62 if n == 735 else 0x63)
            return
        k = min(n, 0xFFFF)
        body += bytes((0x61, k & 0xFF, k >> 8))
        n -= k


def write(path, log):
    """Write `log` as a VGM file (atomically)."""
    with atomic_write(path) as fh:
        fh.write(dumps(log))
