"""The TX1 event language of LakhNES: token ids, waits, note events and timed scores.

A song is a stream of tokens. `WT_n` advances time by n ticks (one tick is one sample at
44.1 kHz); `P1_NOTEON_67` starts a note on pulse 1 (replacing any note it was playing) and
`P1_NOTEOFF` ends it. Events at the same instant come in voice order P1, P2, TR, NO.

The vocabulary has 631 ids, exactly LakhNES's: id 0 is `<S>` (start and end of a song), ids
1-370 are the waits, then for each voice its NOTEOFF followed by its NOTEONs in pitch order.
A wait that is not in the vocabulary snaps to the nearest one, as LakhNES's vocabulary does.

Two views of the same music:

    ids = score_to_tokens(score)      # token ids, waits quantized to the vocabulary
    score = tokens_to_score(ids)      # NoteEvents at absolute times in ticks
"""

import bisect
from dataclasses import dataclass, field
from typing import NewType

import numpy as np

TICKS_PER_SECOND = 44100
# The two clocks of the instrument. The model, scores and files count Ticks; the transport (audio clock, rings,
# MIDI ports, the player's keys) counts Frames. They meet in one place: realtime.clock.TempoMap.
Ticks = NewType("Ticks", int)     # TX1 time, 44 100 a second at tempo 1: the model's context, Scores, files
Frames = NewType("Frames", int)   # transport time: output sample frames since the clock started
VOICES = ("P1", "P2", "TR", "NO")
PITCH_RANGE = {"P1": (33, 108), "P2": (33, 108), "TR": (21, 108), "NO": (1, 16)}
OFF = -1   # the pitch of a note-off where a pitch is a number (rings, schedules, song arrays); a NoteEvent's is None

WAIT_VALUES = (tuple(range(1, 101)) + tuple(range(110, 1001, 10))
               + tuple(range(1100, 10001, 100)) + tuple(range(11000, 100001, 1000)))
MAX_WAIT = WAIT_VALUES[-1]


def _build_vocab():
    texts = ["<S>"] + [f"WT_{n}" for n in WAIT_VALUES]
    for v in VOICES:
        lo, hi = PITCH_RANGE[v]
        texts.append(f"{v}_NOTEOFF")
        texts += [f"{v}_NOTEON_{p}" for p in range(lo, hi + 1)]
    return tuple(texts)


VOCAB = _build_vocab()
START = 0
N_TOKENS = len(VOCAB)  # 631

_ID = {text: i for i, text in enumerate(VOCAB)}
_NOTEOFF_ID = {v: _ID[f"{v}_NOTEOFF"] for v in VOICES}
_VOICE_INDEX = {v: k for k, v in enumerate(VOICES)}

# Per id: the voice index (-1 for <S> and waits), the pitch (-1 for waits, <S> and NOTEOFFs),
# and the ticks the token advances time (0 for everything but waits).
_ID_VOICE = np.full(N_TOKENS, -1, dtype=np.int64)
_ID_PITCH = np.full(N_TOKENS, -1, dtype=np.int64)
_ID_TICKS = np.zeros(N_TOKENS, dtype=np.int64)
_ID_TICKS[1:len(WAIT_VALUES) + 1] = WAIT_VALUES
for _v in VOICES:
    _lo, _hi = PITCH_RANGE[_v]
    _off = _NOTEOFF_ID[_v]
    _ID_VOICE[_off:_off + _hi - _lo + 2] = _VOICE_INDEX[_v]
    _ID_PITCH[_off + 1:_off + _hi - _lo + 2] = np.arange(_lo, _hi + 1)
_VOICE_OF = tuple(None if k < 0 else VOICES[k] for k in _ID_VOICE.tolist())
_PITCH_OF = tuple(None if p < 0 else p for p in _ID_PITCH.tolist())
_TICKS_OF = tuple(_ID_TICKS.tolist())

# LakhNES snaps an unknown wait with min() over a Python set of the vocabulary waits, so a wait
# exactly halfway between two vocabulary waits goes to whichever the set yields first. These are
# the midpoints that go to the upper neighbour; every other midpoint goes down.
_MIDPOINTS_UP = frozenset([
    2050, 2150, 4050, 4150, 6150, 6250, 8150, 8250, 10500, 12500, 14500, 16500, 18500, 20500,
    22500, 24500, 26500, 28500, 30500, 32500, 34500, 36500, 39500, 41500, 43500, 45500, 47500,
    49500, 51500, 53500, 55500, 57500, 59500, 61500, 63500, 65500, 67500, 69500, 71500, 73500,
    75500, 77500, 79500, 81500, 83500, 86500, 88500, 90500, 92500, 94500, 96500, 98500,
])


def token_id(text):
    """The id of a token text. A wait not in the vocabulary (`WT_105`) snaps like LakhNES's."""
    i = _ID.get(text)
    if i is not None:
        return i
    if text.startswith("WT_") and text[3:].isdigit():
        return _snap_wait(int(text[3:]))
    raise ValueError(f"not a TX1 token: {text!r}")


def token_text(i):
    """The text of a token id, e.g. 'P1_NOTEON_60' or 'WT_100'."""
    return VOCAB[i]


def is_wait(i):
    return 1 <= i <= len(WAIT_VALUES)


def wait_ticks(i):
    """How many ticks token `i` advances time: its length for a wait, 0 for any other token."""
    return _TICKS_OF[i]


def voice_of(i):
    """'P1', 'P2', 'TR' or 'NO' for a note token; None for waits and <S>."""
    return _VOICE_OF[i]


def pitch_of(i):
    """The pitch of a NOTEON token; None for NOTEOFF, waits and <S>."""
    return _PITCH_OF[i]


def is_note_on(i):
    return _PITCH_OF[i] is not None


def is_note_off(i):
    return _VOICE_OF[i] is not None and _PITCH_OF[i] is None


def note_token(voice, pitch):
    """The id of `voice`'s NOTEON at `pitch`, or of its NOTEOFF when `pitch` is None."""
    if voice not in _NOTEOFF_ID:
        raise ValueError(f"unknown voice {voice!r} (voices are {', '.join(VOICES)})")
    if pitch is None:
        return _NOTEOFF_ID[voice]
    lo, hi = PITCH_RANGE[voice]
    if not lo <= pitch <= hi:
        raise ValueError(f"{voice} pitch {pitch} is outside {lo}-{hi}")
    return _NOTEOFF_ID[voice] + 1 + pitch - lo


def voice_token_mask(voices):
    """A bool array over the 631 ids, True for every NOTEON and NOTEOFF of the given voices."""
    if isinstance(voices, str):
        voices = [voices]
    wanted = [_VOICE_INDEX[v] for v in voices]
    return np.isin(_ID_VOICE, wanted)


def _snap_wait(ticks):
    """The id of the vocabulary wait nearest to `ticks`, ties broken exactly as LakhNES does."""
    if ticks <= 1:
        return 1
    if ticks >= MAX_WAIT:
        return len(WAIT_VALUES)
    k = bisect.bisect_left(WAIT_VALUES, ticks)  # WAIT_VALUES[k-1] < ticks <= WAIT_VALUES[k]
    hi = WAIT_VALUES[k]
    if hi == ticks:
        return k + 1
    lo = WAIT_VALUES[k - 1]
    d_lo, d_hi = ticks - lo, hi - ticks
    if d_hi < d_lo or (d_hi == d_lo and ticks in _MIDPOINTS_UP):
        return k + 1
    return k


def quantize_wait(ticks, split=False):
    """Token ids for a gap of `ticks`, exactly as LakhNES would emit them.

    A gap of 0 needs no token. Any other gap becomes one `WT_` token: the nearest vocabulary wait,
    at most WT_100000 (2.27 s), as LakhNES's vocabulary maps a raw wait. With `split=True` a gap
    longer than that becomes several WT_100000 tokens followed by the snapped remainder, so long
    silences keep their length (LakhNES itself never does this; its data clamps).
    """
    ticks = int(ticks)
    if ticks < 0:
        raise ValueError(f"negative wait: {ticks}")
    if ticks == 0:
        return []
    if not split or ticks <= MAX_WAIT:
        return [_snap_wait(ticks)]
    n, rest = divmod(ticks, MAX_WAIT)
    return [len(WAIT_VALUES)] * n + ([_snap_wait(rest)] if rest else [])


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """A note starting (`pitch` set) or ending (`pitch` None) on one voice at `time`: Ticks in a Score and the
    model's context; the jam router's events carry the player's Frames until the engine maps them (TempoMap)."""
    time: Ticks | Frames
    voice: str
    pitch: int | None


@dataclass
class Score:
    """Note events at absolute times, sorted by (time, voice order); `end` is the song's length.

    A NOTEON on a voice that is already sounding replaces its note (each voice is monophonic).
    """
    events: list[NoteEvent] = field(default_factory=list)
    end: Ticks = 0

    @property
    def seconds(self):
        return self.end / TICKS_PER_SECOND

    def sort(self):
        """Put the events in the ordering rule's order (stable for one voice at one time)."""
        self.events.sort(key=event_order)
        return self


def event_order(e):
    """Sort key of the ordering rule: time, then voice in P1, P2, TR, NO order."""
    return e.time, _VOICE_INDEX[e.voice]


def normalize(score):
    """The plainest Score that sounds the same: what a round trip through a MIDI file gives.

    Every voice is silent at `end` (a note still sounding gets a NOTEOFF there); at one instant
    a voice keeps only its last event; a NOTEOFF on a silent voice is dropped. Times and `end`
    are unchanged (`end` grows to the last event if it was earlier).
    """
    end = max([score.end] + [e.time for e in score.events])
    last = {}  # (time, voice) -> the last event of that voice at that time
    for e in score.events:
        last[e.time, e.voice] = e
    for v in VOICES:
        last[end, v] = NoteEvent(end, v, None)
    events = []
    sounding = dict.fromkeys(VOICES)
    for e in sorted(last.values(), key=event_order):
        if e.pitch is None and sounding[e.voice] is None:
            continue
        sounding[e.voice] = e.pitch
        events.append(e)
    return Score(events, end)


def tokens_to_score(ids):
    """Token ids (with or without <S> framing) -> Score. Waits add up exactly."""
    t = 0
    events = []
    for i in ids:
        i = int(i)
        if not 0 <= i < N_TOKENS:
            raise ValueError(f"not a TX1 token id: {i}")
        v = _VOICE_OF[i]
        if v is None:
            t += _TICKS_OF[i]
        else:
            events.append(NoteEvent(t, v, _PITCH_OF[i]))
    events.sort(key=event_order)
    return Score(events, t)


def score_to_tokens(score, framed=False, split=False):
    """Score -> token ids: events in voice order, each gap quantized with `quantize_wait`.

    `framed` puts <S> before and after, as LakhNES frames a song. A trailing gap up to
    `score.end` becomes a final wait. See `quantize_wait` for `split`.
    """
    ids = [START] if framed else []
    t = 0
    for e in sorted(score.events, key=event_order):
        if e.time < t:
            raise ValueError(f"event before time 0: {e}")
        if e.time > t:
            ids += quantize_wait(e.time - t, split)
            t = e.time
        ids.append(note_token(e.voice, e.pitch))
    if score.end > t:
        ids += quantize_wait(score.end - t, split)
    if framed:
        ids.append(START)
    return ids
