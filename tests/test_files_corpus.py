"""The whole shared data set: every TX1 file and every NES-MDB MIDI file (5 278 songs each).

- every .tx1.txt.gz reads and writes back to the same text (and gzip holds the same bytes), and `describe`
  agrees with the data set's own table (songs.tsv);
- every NES-MDB MIDI file (read straight from the tarball) gives the TX1 that LakhNES made from it;
- every TX1 score written as NES-MDB MIDI and read back is the same score.

The MIDI half parses about 23 million MIDI messages with mido (16 million in the data set, 7 million
written back), so it is the slowest test in the default run: about 8 CPU minutes, spread over one process per
core. `-m "not slow"` leaves both out.
"""

import csv
import gzip
import os
import tarfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from livechip.formats import files, tx1
from livechip.formats import midi


@pytest.fixture(scope="module")
def tx1_dir(shared):
    d = shared / "data" / "nesmdb_tx1"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d


def _fail(failures, name, what):
    failures.append(f"{name}: {what}")


@pytest.mark.slow
def test_every_tx1_file_round_trips_byte_for_byte(tx1_dir, tmp_path):
    rows = list(csv.DictReader((tx1_dir / "songs.tsv").open(), delimiter="\t"))
    assert len(rows) == 5278
    failures = []
    out = tmp_path / "x.tx1.txt.gz"
    for k, r in enumerate(rows):
        path = tx1_dir / r["split"] / f"{r['name']}.tx1.txt.gz"
        score = tx1.read(path)
        raw = path.read_bytes()
        if tx1.dumps(score).encode() != gzip.decompress(raw):
            _fail(failures, path.name, "text differs")
        if k % 10 == 0:  # gzip -9 is slow: write and re-read every tenth file
            tx1.write(out, score)
            if gzip.decompress(out.read_bytes()) != gzip.decompress(raw) or tx1.read(out) != score:
                _fail(failures, path.name, "written .tx1.txt.gz differs")
        d = files.describe(score)
        want = (int(r["events"]), int(r["samples_44k1"]), int(r["wait_events"]),
                [int(r[f"{v}_noteon"]) for v in ("p1", "p2", "tr", "no")], int(r["noteoff"]))
        got = (d["events"], d["samples"], d["wait_events"],
               [d["voices"][v]["notes"] for v in ("P1", "P2", "TR", "NO")],
               sum(s["noteoffs"] for s in d["voices"].values()))
        if got != want:
            _fail(failures, path.name, f"describe {got} != songs.tsv {want}")
    assert not failures, f"{len(failures)} files: " + "; ".join(failures[:5])


def _check_midi(item):
    """One NES-MDB MIDI file (its bytes) against the shared TX1: what is wrong with it, or None."""
    name, data, tx1_path = item
    mid = midi.parse(data, name)
    if not midi.is_nesmdb(mid):
        return f"{name}: not read as NES-MDB MIDI"
    score, _ = midi.to_score(mid, name)
    want = tx1.read(tx1_path)
    if score != want:
        return f"{name}: MIDI -> TX1 differs from the shared TX1"
    back = midi.parse(midi.to_bytes(midi.to_nesmdb(want)))
    if midi.to_score(back, "round trip")[0] != want:
        return f"{name}: TX1 -> NES-MDB MIDI -> TX1 differs"
    return None


def _midi_files(tar, tx1_dir):
    for member in tar:
        if member.isfile():
            _, split, name = member.name.split("/")
            yield member.name, tar.extractfile(member).read(), tx1_dir / split / (name[:-4] + ".tx1.txt.gz")


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 8 CPU minutes, mostly mido parsing; one process per core
def test_every_nesmdb_midi_file_gives_lakhnes_tx1_and_round_trips(shared, tx1_dir):
    with tarfile.open(shared / "data" / "nesmdb_midi.tar.xz", "r:xz") as tar, \
            ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_check_midi, _midi_files(tar, tx1_dir), chunksize=32))
    failures = [r for r in results if r]
    assert len(results) == 5278
    assert not failures, f"{len(failures)} files: " + "; ".join(failures[:5])
