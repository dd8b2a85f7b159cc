"""LakhNES TX1 text files: exact reading and writing, plain and gzip, and clear errors."""

import gzip

import pytest

from livechip.formats import tx1
from livechip.core.errors import FileFormatError
from livechip.core.events import NoteEvent, Score


def test_examples_round_trip_byte_for_byte(shared, tmp_path):
    examples = sorted((shared / "data" / "examples").glob("*.tx1.txt"))
    assert len(examples) == 8
    for path in examples:
        score = tx1.read(path)
        out = tmp_path / path.name
        tx1.write(out, score)
        assert out.read_bytes() == path.read_bytes(), path.name


def test_reading_gives_exact_times():
    score = tx1.loads("WT_243\nP1_NOTEON_67\nWT_4\nP2_NOTEON_43\nP1_NOTEOFF\nWT_919517")
    assert score == Score([NoteEvent(243, "P1", 67), NoteEvent(247, "P1", None), NoteEvent(247, "P2", 43)],
                          243 + 4 + 919517)
    assert tx1.dumps(score) == "WT_243\nP1_NOTEON_67\nWT_4\nP1_NOTEOFF\nP2_NOTEON_43\nWT_919517"


def test_gzip_files_are_what_the_data_set_stores(shared, tmp_path):
    src = next((shared / "data" / "nesmdb_tx1" / "test").glob("*.tx1.txt.gz"))
    score = tx1.read(src)
    out = tmp_path / "copy.tx1.txt.gz"
    tx1.write(out, score)
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(src.read_bytes())
    assert tx1.read(out) == score


def test_windows_line_ends_blank_lines_and_a_final_newline_are_fine():
    assert tx1.loads("WT_5\r\nNO_NOTEON_3\r\n\r\nWT_2\r\nNO_NOTEOFF\r\n") == \
        Score([NoteEvent(5, "NO", 3), NoteEvent(7, "NO", None)], 7)


@pytest.mark.parametrize("text,line", [
    ("WT_5\nP1_NOTEON_60\nP1_NOTEON_109", 3),
    ("WT_5\nTR_NOTEON_20", 2),
    ("P1_NOTEOFF\nWT_x", 2),
    ("WT_1.5", 1),
    ("P1_NOTEON_60 WT_5", 1),
    ("<S>\nWT_5", 1),
])
def test_bad_lines_are_named(text, line):
    with pytest.raises(FileFormatError, match=rf"song\.tx1\.txt \(line {line}\): not a TX1 event"):
        tx1.loads(text, "song.tx1.txt")


def test_a_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "x.tx1.txt"
    with pytest.raises(ValueError):
        tx1.write(out, Score([NoteEvent(0, "P1", 12)], 5))
    assert list(tmp_path.iterdir()) == []
