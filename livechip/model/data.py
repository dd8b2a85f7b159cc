"""Training data: songs from a folder, the LakhNES augmentations, token ids, and [B, T] batches.

A song is kept as three parallel arrays (event time in ticks, voice index, pitch, OFF (-1) for a NOTEOFF),
so an augmentation is a few numpy operations and a song becomes token ids in one pass:

    songs = load_songs("nesmdb_tx1/train")               # .tx1.txt, .tx1.txt.gz, NES-MDB .mid
    ids = tokens(augment(songs[0], rng))                  # <S> events <S>, waits snapped as LakhNES
    for x, y in Batches(songs, batch_size=16, tgt_len=128, augment=AugmentConfig()):
        ...                                               # x, y: LongTensor [B, T], y is x shifted by one

Framing follows LakhNES: a song is `<S> events <S>` with its leading and trailing wait trimmed, and
consecutive songs in one stream share the `<S>` between them. Each of the B streams runs through songs
one after another, so segment k+1 of stream b continues segment k: the model's memory carries over.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from livechip.core import events
from livechip.formats import files
from livechip.core.errors import FileFormatError, LivechipError
from livechip.core.events import PITCH_RANGE, START, VOICES, NoteEvent, Score

SUFFIXES = (".tx1.txt", ".tx1.txt.gz", ".txt", ".txt.gz", ".mid", ".midi")
MELODIC = (0, 1, 2)          # P1, P2, TR as voice indices
MIN_SONG_TOKENS = 10         # LakhNES skips shorter songs (both <S> counted)

_LO = np.array([PITCH_RANGE[v][0] for v in VOICES])
_HI = np.array([PITCH_RANGE[v][1] for v in VOICES])
_OFF_ID = np.array([events.note_token(v, None) for v in VOICES])
_SNAP = None  # _SNAP[n] = token id of a gap of n ticks (n <= MAX_WAIT), built on first use


@dataclass
class Song:
    """One song as arrays sorted by (time, voice): `time` ticks, `voice` index into VOICES, `pitch` (OFF: off)."""
    name: str
    time: np.ndarray
    voice: np.ndarray
    pitch: np.ndarray
    end: int

    def __len__(self):
        return len(self.time)

    def replace(self, time=None, voice=None, pitch=None, end=None, keep=None):
        """A copy with some arrays replaced, keeping only events where `keep` is True, re-sorted."""
        t = self.time if time is None else time
        v = self.voice if voice is None else voice
        p = self.pitch if pitch is None else pitch
        if keep is not None:
            t, v, p = t[keep], v[keep], p[keep]
        order = np.lexsort((v, t))   # by time, then voice; stable, so one voice keeps its order
        return Song(self.name, t[order], v[order], p[order], self.end if end is None else end)


def song_from_score(score: Score, name: str = "") -> Song:
    e = score.events
    time = np.fromiter((x.time for x in e), np.int64, len(e))
    voice = np.fromiter((VOICES.index(x.voice) for x in e), np.int8, len(e))
    pitch = np.fromiter((events.OFF if x.pitch is None else x.pitch for x in e), np.int16, len(e))
    return Song(name, time, voice, pitch, score.end).replace()


def song_to_score(song: Song) -> Score:
    evs = [NoteEvent(int(t), VOICES[v], None if p == events.OFF else int(p))
           for t, v, p in zip(song.time, song.voice, song.pitch)]
    return Score(evs, int(song.end))


def find_files(folder) -> list[Path]:
    """Every music file under `folder` (recursively), sorted by path."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise LivechipError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


def load_songs(folder, progress=False, skipped=None) -> list[Song]:
    """All songs under `folder`, sorted by path. A file that cannot be read raises FileFormatError, or with a
    `skipped` list is left out and its one-line error appended there."""
    paths = find_files(folder)
    if not paths:
        raise LivechipError(f"{folder}: no .tx1.txt, .tx1.txt.gz or .mid files found")
    if progress:
        paths = tqdm(paths, desc=f"reading {Path(folder).name}", unit="song", leave=False)
    songs = []
    for p in paths:
        try:
            songs.append(song_from_score(files.read_score(p), p.name))
        except FileFormatError as e:
            if skipped is None:
                raise
            skipped.append(str(e))
    return songs


# --- token ids -----------------------------------------------------------------------------------

def _snap_table():
    global _SNAP
    if _SNAP is None:
        _SNAP = np.array([0] + [events.quantize_wait(n)[0] for n in range(1, events.MAX_WAIT + 1)], np.int64)
    return _SNAP


def tokens(song: Song, trim=True) -> np.ndarray:
    """Token ids `<S> events <S>` (int64). Each gap becomes one WT_ token snapped as LakhNES snaps it; `trim`
    drops the wait before the first event and after the last, as LakhNES does for NES-MDB."""
    t, v, p = song.time, song.voice.astype(np.int64), song.pitch.astype(np.int64)
    n = len(t)
    note = _OFF_ID[v] + np.where(p == events.OFF, 0, p - _LO[v] + 1)
    gaps = np.diff(t, prepend=t[0] if (trim and n) else 0)
    has_wait = gaps > 0
    tail = 0 if trim else int(song.end) - (int(t[-1]) if n else 0)
    out = np.empty(n + int(has_wait.sum()) + 2 + (tail > 0), np.int64)
    out[0] = START
    pos = np.arange(n) + np.cumsum(has_wait) + 1          # where each note token goes
    out[pos] = note
    snap = _snap_table()
    out[pos[has_wait] - 1] = snap[np.minimum(gaps[has_wait], events.MAX_WAIT)]
    if tail > 0:
        out[-2] = snap[min(tail, events.MAX_WAIT)]
    out[-1] = START
    return out


# --- augmentations (each a pure function of a Song) ----------------------------------------------

def transpose(song: Song, semitones: int) -> Song:
    """Move the melodic voices (P1, P2, TR) by `semitones`; the noise is untouched. As LakhNES does, a NOTEON
    that leaves its voice's range is dropped (the voice keeps what it was doing); NOTEOFFs stay."""
    if semitones == 0:
        return song
    v, p = song.voice.astype(np.int64), song.pitch.astype(np.int64)
    moves = (v < 3) & (p != events.OFF)
    new = np.where(moves, p + semitones, p)
    keep = ~moves | ((new >= _LO[v]) & (new <= _HI[v]))
    return song.replace(pitch=new.astype(np.int16), keep=keep)


def stretch(song: Song, speed: float) -> Song:
    """Play `speed` times as fast: every time t becomes round(t / speed), as LakhNES's tx1_stretch."""
    if speed == 1:
        return song
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    time = np.rint(song.time / speed).astype(np.int64)
    return song.replace(time=time, end=int(round(song.end / speed)))


def keep_voices(song: Song, voices) -> Song:
    """Only the events of `voices` (names or indices), the others dropped."""
    idx = [VOICES.index(x) if isinstance(x, str) else int(x) for x in voices]
    return song.replace(keep=np.isin(song.voice, idx))


def remap_voices(song: Song, mapping: dict) -> Song:
    """Give each voice's part to another voice, e.g. {"P1": "P2", "P2": "P1"}. Notes outside the new voice's
    range are dropped as in `transpose` (only possible when the triangle's lowest notes move to a pulse)."""
    table = np.arange(len(VOICES))
    for a, b in mapping.items():
        table[VOICES.index(a) if isinstance(a, str) else a] = VOICES.index(b) if isinstance(b, str) else b
    v = table[song.voice.astype(np.int64)]
    p = song.pitch.astype(np.int64)
    keep = (p == events.OFF) | ((p >= _LO[v]) & (p <= _HI[v]))
    return song.replace(voice=v.astype(np.int8), keep=keep)


def voices_present(song: Song) -> list[int]:
    return sorted(set(np.unique(song.voice[song.pitch != events.OFF]).tolist()))


@dataclass
class AugmentConfig:
    """The LakhNES paper's augmentations and how often each is applied to a song."""
    transpose: tuple = (-6, 5)          # semitones, both ends included, melodic voices only
    speed: float = 0.05                 # playback speed uniform in [1 - speed, 1 + speed]
    p_drop: float = 0.5                 # chance of dropping some voices (at least one with notes stays)
    p_shuffle: float = 0.5              # chance of shuffling which voice plays which part
    shuffle: str = "melodic"            # "melodic": permute P1, P2, TR; "pulses": swap P1 and P2 (LakhNES code)


def augment(song: Song, rng: np.random.Generator, cfg: AugmentConfig | None = None) -> Song:
    """One random variant of `song`: drop voices, shuffle parts, transpose, change speed (LakhNES's order)."""
    cfg = cfg or AugmentConfig()
    present = voices_present(song)
    if len(present) > 1 and rng.random() < cfg.p_drop:
        n = int(rng.integers(1, len(present)))             # keep 1 .. all-but-one of the voices with notes
        song = keep_voices(song, rng.choice(present, n, replace=False))
    if rng.random() < cfg.p_shuffle:
        parts = list(MELODIC if cfg.shuffle == "melodic" else MELODIC[:2])
        perm = list(parts)
        while perm == parts:
            perm = list(rng.permutation(parts))
        song = remap_voices(song, dict(zip(parts, perm)))
    lo, hi = cfg.transpose
    song = transpose(song, int(rng.integers(lo, hi + 1)))
    if cfg.speed:
        song = stretch(song, float(rng.uniform(1 - cfg.speed, 1 + cfg.speed)))
    return song


# --- batches -------------------------------------------------------------------------------------

class Batches:
    """Endless training batches: B streams, each running through songs in a shuffled order (a new order and
    new augmentations every epoch), cut into segments of `tgt_len`. Yields (x, y) LongTensors [B, T].

    With `rank`/`world` (distributed training) each process takes every world-th song of the shuffled order.
    """

    def __init__(self, songs, batch_size, tgt_len, augment=None, seed=0, rank=0, world=1):
        self.songs = [s for s in songs if len(tokens(s)) >= MIN_SONG_TOKENS]
        if not self.songs:
            raise LivechipError("no song long enough to train on")
        if len(self.songs) < world:
            raise LivechipError(f"only {len(self.songs)} songs to train on, fewer than the {world} processes")
        self.B, self.T = batch_size, tgt_len
        self.aug = augment
        self.rng = np.random.default_rng(seed)
        self.rank, self.world = rank, world
        self.epoch = 0
        self._order = iter(())
        self.buf = [np.empty(0, np.int64) for _ in range(batch_size)]

    def _next_song(self):
        for i in self._order:
            s = self.songs[i]
            ids = tokens(augment(s, self.rng, self.aug) if self.aug else s)
            if len(ids) >= MIN_SONG_TOKENS:
                return ids
        self.epoch += 1
        perm = np.random.default_rng([self.epoch, int(self.rng.integers(1 << 31))]).permutation(len(self.songs))
        self._order = iter(perm[self.rank::self.world].tolist())
        return self._next_song()

    def __iter__(self):
        return self

    def __next__(self):
        x = np.empty((self.B, self.T + 1), np.int64)
        for b in range(self.B):
            buf = self.buf[b]
            while len(buf) < self.T + 1:
                # the song's leading <S> doubles as the end of the previous song in this stream
                nxt = self._next_song()
                buf = np.concatenate([buf, nxt[1:]]) if len(buf) else nxt
            x[b] = buf[:self.T + 1]
            self.buf[b] = buf[self.T:]
        x = torch.from_numpy(x)
        return x[:, :-1], x[:, 1:]


def eval_stream(songs, batch_size) -> torch.Tensor:
    """Unaugmented songs, one <S> between songs, cut into `batch_size` equal rows [B, N] (the remainder is
    dropped): what an evaluation runs through segment by segment with memory."""
    ids = [tokens(s) for s in songs]
    ids = [t for t in ids if len(t) >= MIN_SONG_TOKENS]
    if not ids:
        raise LivechipError("no song long enough to evaluate on")
    flat = np.concatenate([ids[0]] + [t[1:] for t in ids[1:]])
    n = len(flat) // batch_size
    if n < 2:
        raise LivechipError("too few tokens to evaluate on")
    return torch.from_numpy(flat[:n * batch_size].reshape(batch_size, n))


def count_tokens(songs) -> int:
    return sum(len(tokens(s)) - 1 for s in songs)
