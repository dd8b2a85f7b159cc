"""Reading and writing VGM register logs: NES-MDB's files play, malformed ones get a one-line error."""

import gzip
import struct
import tarfile

import numpy as np
import pytest

from livechip.apu import render, vgm
from livechip.apu.apu import NTSC, PAL
from livechip.core.errors import FileFormatError


def _vgm(commands, clock=NTSC, version=0x161):
    """A minimal VGM file: the standard 0xC0-byte header, then the command bytes."""
    header = bytearray(0xC0)
    header[0:4] = b"Vgm "
    struct.pack_into("<I", header, 0x04, 0xC0 + len(commands) - 4)
    struct.pack_into("<I", header, 0x08, version)
    struct.pack_into("<I", header, 0x34, 0xC0 - 0x34)
    struct.pack_into("<I", header, 0x84, clock)
    return bytes(header) + bytes(commands)


TONE = [0xB4, 0x00, 0xBF, 0xB4, 0x01, 0x08, 0xB4, 0x02, 0xFD, 0xB4, 0x03, 0xF8, 0x61, 0x44, 0xAC]  # 1 s of A4


@pytest.fixture
def game(shared):
    path = shared / "data" / "examples" / "202_LawnMower_02_03LevelClear.vgm"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def test_reading_a_game_log(game):
    log = vgm.read(game)
    assert log.clock in (1789772, 1789773) and not log.pal
    assert log.addrs[0] == 0x4015 and log.values[0] == 0x0F      # channels enabled first, as NSF players do
    assert np.all(np.diff(log.cycles) >= 0)
    assert set(np.unique(log.addrs)) <= set(range(0x4000, 0x4018))
    assert 2.5 < log.seconds < 3.0                              # the README gives 2.7 s


def test_write_then_read_gives_the_same_log_and_sound(game, tmp_path):
    log = vgm.read(game)
    out = tmp_path / "copy.vgm"
    vgm.write(out, log)
    again = vgm.read(out)
    # writes land on the nearest 44.1 kHz sample, so the leading $4015 we add on reading is now doubled
    assert np.array_equal(again.cycles[1:], log.cycles)
    assert np.array_equal(again.addrs[1:], log.addrs) and np.array_equal(again.values[1:], log.values)
    assert again.samples == log.samples and again.clock == log.clock
    np.testing.assert_array_equal(render.render_log(again), render.render_log(log))


def test_a_log_without_4015_writes_still_plays(tmp_path):
    # 692 NES-MDB logs never write $4015: the reader enables the four channels first
    path = tmp_path / "tone.vgm"
    path.write_bytes(_vgm(TONE + [0x66]))
    x = render.render_vgm(path)
    assert x[20000:40000].std() > 0.03


def test_pal_clock_plays_at_pal_pitch(tmp_path):
    path = tmp_path / "pal.vgm"
    path.write_bytes(_vgm(TONE + [0x66], clock=PAL))
    log = vgm.read(path)
    assert log.pal and log.clock == PAL
    x = render.render_log(log, filters=False)[4410:]
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1 / 44100)[np.argmax(spec)]
    assert abs(f - PAL / (16 * 254)) < 1.5                       # 409 Hz, not NTSC's 440


def test_gzip_compressed_vgz(tmp_path):
    path = tmp_path / "tone.vgz"
    path.write_bytes(gzip.compress(_vgm(TONE + [0x66])))
    assert len(vgm.read(path).cycles) == 5


def test_gzip_bomb_is_refused(tmp_path):
    # 65 MiB of zeros behind a valid header compress to ~65 KB: refused before they are unpacked in full
    path = tmp_path / "bomb.vgz"
    path.write_bytes(gzip.compress(_vgm([0x66]) + bytes(65 << 20), compresslevel=1))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(FileFormatError, match="decompresses to more than 64 MiB"):
        vgm.read(path)


def test_waits_and_data_blocks(tmp_path):
    # 62 = 735 samples, 63 = 882, 7n = n + 1; a 67 data block (DMC samples) is skipped
    block = [0x67, 0x66, 0xC2, 0x04, 0x00, 0x00, 0x00, 0x00, 0xC0, 0xAA, 0x55]
    cmds = [0x62, 0x63, 0x73] + block + [0xB4, 0x00, 0x3F, 0x66]
    path = tmp_path / "waits.vgm"
    path.write_bytes(_vgm(cmds))
    log = vgm.read(path)
    assert log.cycles[-1] == round((735 + 882 + 4) * NTSC / 44100)
    assert log.samples == 735 + 882 + 4


@pytest.mark.parametrize("data,match", [
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100), "not a VGM file"),
    (b"", "not a VGM file"),
    (b"\x1f\x8b\x08\x00" + bytes(40), "gzip data"),
    (_vgm(TONE)[:-2], "truncated"),
    (_vgm(TONE), "truncated"),                                             # no end command
    (_vgm([0xB4, 0x00]), "truncated"),
    (_vgm([0xA0, 0x07, 0x38, 0x66]), "AY-3-8910"),
    (_vgm([0x51, 0x10, 0x20, 0x66]), "YM2413"),
    (_vgm([0xB4, 0x20, 0x01, 0x66]), "Famicom Disk System"),
    (_vgm([0x66], clock=NTSC | 0x80000000), "Famicom Disk System"),
    (_vgm([0x00, 0x66]), r"\(byte 0xC0\): unknown VGM command byte 0x00"),
    (_vgm([0x66], clock=0), "no NES APU clock"),
    (_vgm([0x66], clock=3579545), "not an NTSC, PAL or Dendy"),
    (_vgm([0x66], version=0x150), "no NES APU clock"),
])
def test_malformed_files_get_one_line_errors(tmp_path, data, match):
    path = tmp_path / "bad.vgm"
    path.write_bytes(data)
    with pytest.raises(FileFormatError, match=match) as info:
        vgm.read(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_error_says_where(tmp_path):
    path = tmp_path / "bad.vgm"
    path.write_bytes(_vgm(TONE + [0x00, 0x66]))
    with pytest.raises(FileFormatError, match=r"\(byte 0xCF\)"):
        vgm.read(path)


def test_other_chips_can_be_ignored_to_play_the_2a03_part(tmp_path):
    path = tmp_path / "two_chips.vgm"
    path.write_bytes(_vgm([0xA0, 0x07, 0x38, 0xB4, 0x20, 0x01] + TONE + [0x66], clock=NTSC | 0x80000000))
    log = vgm.read(path, ignore_other_chips=True)
    assert list(log.addrs) == [0x4015, 0x4000, 0x4001, 0x4002, 0x4003]


def test_nesmdb_lagrange_point_file_is_refused_clearly(shared, tmp_path):
    # NES-MDB's one VGM that no parser accepts: it also writes to a YM2413, and with other chips ignored it
    # still holds a command byte 00. Both get a one-line error naming the offset.
    archive = shared / "data" / "nesmdb_vgm.tar.xz"
    if not archive.exists():
        pytest.skip(f"{archive} not found")
    name = "nesmdb_vgm/train/200_LagrangePoint_05_06SatelliteBase.vgm"
    with tarfile.open(archive, "r:xz") as tar:
        member = next(m for m in tar if m.name == name)
        path = tmp_path / "lagrange.vgm"
        path.write_bytes(tar.extractfile(member).read())
    with pytest.raises(FileFormatError, match="YM2413"):
        vgm.read(path)
    with pytest.raises(FileFormatError, match=r"\(byte 0x122\): unknown VGM command byte 0x00"):
        vgm.read(path, ignore_other_chips=True)


def test_written_vgm_has_a_valid_header(tmp_path):
    log = vgm.Log(np.array([0, 100_000]), np.array([0x4015, 0x4000]), np.array([0x0F, 0x3F]), samples=44100)
    data = vgm.dumps(log)
    assert data[:4] == b"Vgm "
    assert struct.unpack_from("<I", data, 0x04)[0] == len(data) - 4
    assert struct.unpack_from("<I", data, 0x18)[0] == 44100
    assert struct.unpack_from("<I", data, 0x84)[0] == NTSC
    assert data[-1] == 0x66
