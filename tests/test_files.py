"""`livechip convert` and `livechip info`, and what they do with bad input."""

import csv
import json
import subprocess
import sys

import pytest

from livechip.cli import main as cli
from livechip.formats import files, tx1
from livechip.formats import midi
from tests.files_helpers import malformed_files, midi_bytes, off, on

BAD = malformed_files()


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_there_are_enough_bad_files():
    assert len(BAD) >= 20
    assert len({name for name, _, _ in BAD}) == len(BAD)


@pytest.mark.parametrize("name,data,what", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(tmp_path, capsys, name, data, what):
    src = tmp_path / name
    src.write_bytes(data)
    for out in ("out.tx1.txt", "out.mid", "out.nesmdb.mid"):
        code, stdout, err = run(capsys, "convert", src, "-o", tmp_path / out)
        assert code == 2, what
        assert err.count("\n") == 1 and err.startswith("livechip: error: ") and str(src) in err, err
        assert "Traceback" not in err
    code, _, err = run(capsys, "info", src)
    assert code == 2 and err.count("\n") == 1 and str(src) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no temporary left behind


def test_the_real_command_gives_exit_status_2_and_one_line(tmp_path):
    src = tmp_path / "broken.mid"
    src.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x05\x01\xe0MTrk\x00\x00")
    out = tmp_path / "x.tx1.txt"
    r = subprocess.run([sys.executable, "-m", "livechip", "convert", str(src), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "broken.mid" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_a_bad_conversion_keeps_an_existing_output(tmp_path, capsys):
    out = tmp_path / "keep.tx1.txt"
    out.write_text("WT_5")
    bad = tmp_path / "bad.tx1.txt"
    bad.write_text("WT_5\nNOPE")
    code, _, err = run(capsys, "convert", bad, "-o", out)
    assert code == 2 and "bad.tx1.txt (line 2)" in err
    assert out.read_text() == "WT_5"


def test_missing_file_and_unknown_types(tmp_path, capsys):
    code, _, err = run(capsys, "convert", tmp_path / "none.mid", "-o", tmp_path / "a.tx1.txt")
    assert code == 2 and "none.mid: no such file" in err
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    code, _, err = run(capsys, "convert", tmp_path / "a.wav", "-o", tmp_path / "a.tx1.txt")
    assert code == 2 and "unknown file type" in err
    code, _, err = run(capsys, "convert", tmp_path / "a.tx1.txt", "-o", tmp_path / "a.mp3")
    assert code == 2 and "a.mp3: unknown file type" in err


def test_convert_between_every_form(shared, tmp_path, capsys):
    ex = shared / "data" / "examples" / "324_SuperMarioBros_3_06_07CourseClearFanfare"
    text = ex.with_suffix(".tx1.txt").read_text()
    steps = [(ex.with_suffix(".mid"), "a.tx1.txt.gz"), ("a.tx1.txt.gz", "b.nesmdb.mid"),
             ("b.nesmdb.mid", "c.tx1.txt"), ("c.tx1.txt", "d.mid"), ("d.mid", "e.tx1.txt")]
    for src, dst in steps:
        code, out, err = run(capsys, "convert", tmp_path / src, "-o", tmp_path / dst)
        assert code == 0 and err == "" and dst in out
    assert tx1.read(tmp_path / "a.tx1.txt.gz") == tx1.read(ex.with_suffix(".tx1.txt"))
    assert (tmp_path / "c.tx1.txt").read_text() == text
    assert midi.read_report(tmp_path / "b.nesmdb.mid")[1].format == "nesmdb"
    d = midi.parse((tmp_path / "d.mid").read_bytes())
    assert d.ticks_per_beat == 960 and d.tracks[1].name == "P1 pulse 1"
    # the DAW file keeps timing to its 0.5 ms tick: same notes, each within 23 samples
    a, e = tx1.read(tmp_path / "c.tx1.txt"), tx1.read(tmp_path / "e.tx1.txt")
    code, _, _ = run(capsys, "convert", tmp_path / "c.tx1.txt", "-o", tmp_path / "f.mid", "--midi", "nesmdb")
    assert midi.read_report(tmp_path / "f.mid")[1].format == "nesmdb"
    assert abs(a.end - e.end) <= 23
    on_a = [(x.voice, x.pitch) for x in a.events if x.pitch is not None]
    on_e = [(x.voice, x.pitch) for x in e.events if x.pitch is not None]
    assert len(on_e) >= 0.9 * len(on_a)  # notes of one or two samples can merge at 0.5 ms resolution


def test_general_midi_convert_reports_what_changed(tmp_path, capsys):
    src = tmp_path / "song.mid"
    src.write_bytes(midi_bytes([[on(1, 10), on(1, 64), off(1, 10, 480), off(1, 64), on(6, 60), off(6, 60, 10)]]))
    code, out, err = run(capsys, "convert", src, "-o", tmp_path / "song.tx1.txt")
    assert code == 0
    assert "2 notes onto the four voices: 1 changed pitch" in out and "1 on unmapped channels (6)" in out
    code, out, _ = run(capsys, "convert", src, "-o", tmp_path / "six.tx1.txt", "--channels", "6=TR")
    assert tx1.read(tmp_path / "six.tx1.txt").events[0].voice == "TR"
    code, _, err = run(capsys, "convert", src, "-o", tmp_path / "x.tx1.txt", "--channels", "17=P1")
    assert code == 2 and "bad channel map entry" in err


def test_info_matches_the_data_set_table(shared, capsys):
    ex = shared / "data" / "examples"
    rows = {r["name"]: r for r in csv.DictReader((shared / "data" / "nesmdb_tx1" / "songs.tsv").open(),
                                                 delimiter="\t")}
    paths = sorted(ex.glob("*.tx1.txt")) + sorted(ex.glob("*.mid"))
    code, out, _ = run(capsys, "info", "--json", *paths)
    assert code == 0
    infos = json.loads(out)
    assert len(infos) == 16
    for d in infos:
        name = d["file"].rsplit("/", 1)[1].split(".")[0]
        r = rows[name]
        assert d["format"] in ("TX1", "NES-MDB MIDI")
        assert d["events"] == int(r["events"]) and d["samples"] == int(r["samples_44k1"])
        assert d["wait_events"] == int(r["wait_events"])
        for v in ("P1", "P2", "TR", "NO"):
            assert d["voices"][v]["notes"] == int(r[f"{v.lower()}_noteon"])
        assert sum(s["noteoffs"] for s in d["voices"].values()) == int(r["noteoff"])
        assert d["events_per_second"] == pytest.approx(int(r["events"]) / float(r["seconds"]), rel=1e-3)


def test_info_text(shared, capsys):
    path = shared / "data" / "examples" / "145_Golgo13_TopSecretEpisode_01_02Opening.tx1.txt"
    code, out, _ = run(capsys, "info", path)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(f"{path}: TX1, 25.2 s,") and "events/s)" in lines[0]
    assert lines[1] == "  P1  no notes" and lines[2] == "  P2  no notes"  # triangle and noise only
    assert lines[3].startswith("  TR ") and "notes" in lines[3] and lines[4].startswith("  NO ")
    assert "noise" in lines[4]


def test_note_names():
    assert [files.note_name(p) for p in (21, 60, 69, 108)] == ["A0", "C4", "A4", "C8"]
