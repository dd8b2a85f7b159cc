"""Test helpers for events, TX1 and MIDI files: token strategies, a hand-built GM song, bad files."""

import gzip
import io
import struct

import mido
from hypothesis import strategies as st

from livechip.core import events as ev

WAIT_IDS = st.integers(1, 370)
NOTE_IDS = st.integers(371, 630)


def token_lists(max_size=60):
    """Random valid token id lists: waits, notes on all voices, an occasional <S>."""
    token = st.one_of(WAIT_IDS, NOTE_IDS, NOTE_IDS, st.just(ev.START))
    return st.lists(token, max_size=max_size)


def canonical_tokens(ids):
    """What a score made of `ids` turns back into: <S> dropped, each run of waits summed and
    snapped once, the notes between two waits put in voice order (stable within a voice)."""
    out, notes, run = [], [], 0
    for i in ids:
        if i == ev.START:
            continue
        if ev.is_wait(i):
            run += ev.wait_ticks(i)
        else:
            if run:
                out += sorted(notes, key=lambda n: ev.VOICES.index(ev.voice_of(n)))
                notes = []
                out += ev.quantize_wait(run)
                run = 0
            notes.append(i)
    out += sorted(notes, key=lambda n: ev.VOICES.index(ev.voice_of(n)))
    if run:
        out += ev.quantize_wait(run)
    return out


def midi_bytes(tracks, ticks_per_beat=480, type=1):
    """A MIDI file made with mido from lists of messages (delta times)."""
    mid = mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat)
    for msgs in tracks:
        mid.tracks.append(mido.MidiTrack(msgs))
    f = io.BytesIO()
    mid.save(file=f)
    return f.getvalue()


def on(ch, note, t=0, vel=100):
    return mido.Message("note_on", channel=ch - 1, note=note, velocity=vel, time=t)


def off(ch, note, t=0):
    return mido.Message("note_off", channel=ch - 1, note=note, velocity=0, time=t)


def _chunk(kind, body, length=None):
    return kind + struct.pack(">I", len(body) if length is None else length) + body


def _header(fmt=1, ntracks=1, division=480, length=6):
    return _chunk(b"MThd", struct.pack(">HHH", fmt, ntracks, division), length)


_NOTE_ON = [0x90, 60, 100]
_END = [0x00, 0xFF, 0x2F, 0x00]
_LONG_OFFS = [0xFF, 0xFF, 0xFF, 0x7F, 0x80, 60, 0]  # the longest legal delta time, then a note-off
GOOD_TRACK = bytes([0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00])


def malformed_files():
    """(file name, bytes, what is wrong): at least 20 inputs that must be refused cleanly."""
    good = _header() + _chunk(b"MTrk", GOOD_TRACK)
    gz_ok = gzip.compress(b"WT_10\nP1_NOTEON_60\nWT_5\nP1_NOTEOFF", mtime=0)
    return [
        ("empty.mid", b"", "empty file"),
        ("not_midi.mid", b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a MIDI file"),
        ("text.mid", b"P1_NOTEON_60\n", "text, not MIDI"),
        ("header_only.mid", b"MThd", "truncated inside the header"),
        ("short_header.mid", _header(length=2)[:10], "header chunk too short"),
        ("no_tracks_data.mid", _header(ntracks=3), "header promises tracks that are missing"),
        ("absurd_track_count.mid", _header(ntracks=65535) + _chunk(b"MTrk", GOOD_TRACK), "65535 tracks claimed"),
        ("bad_track_tag.mid", _header() + _chunk(b"MTrX", GOOD_TRACK), "track chunk with a wrong tag"),
        ("chunk_too_long.mid", _header() + _chunk(b"MTrk", GOOD_TRACK, length=10**6), "track length past the end"),
        ("chunk_too_short.mid", _header() + _chunk(b"MTrk", GOOD_TRACK, length=3), "track length inside a message"),
        ("truncated.mid", good[:-5], "file cut off in a track"),
        ("running_status_garbage.mid", _header() + _chunk(b"MTrk", bytes([0x00, 0x3C, 0x40, 0x00, 0xFF, 0x2F, 0x00])),
         "data bytes with no status byte before them"),
        ("data_byte_high.mid", _header() + _chunk(b"MTrk", bytes([0x00, 0x90, 0xC8, 0x40, 0x00, 0xFF, 0x2F, 0x00])),
         "a note number above 127"),
        ("undefined_status.mid", _header() + _chunk(b"MTrk", bytes([0x00, 0xF4, 0x00, 0xFF, 0x2F, 0x00])),
         "undefined system status byte"),
        ("enormous_delta.mid", _header() + _chunk(b"MTrk", bytes([0x8F] * 40 + [0x7F] + _NOTE_ON + _END)),
         "a delta time hundreds of bits long"),
        ("huge_delta_times.mid", _header() + _chunk(b"MTrk", bytes([0x00] + _NOTE_ON + _LONG_OFFS * 200 + _END)),
         "delta times adding up to days"),
        ("bad_meta_length.mid", _header() + _chunk(b"MTrk", bytes([0x00, 0xFF, 0x51, 0x7F, 0x07, 0xA1, 0x20])),
         "a meta event longer than its track"),
        ("bad_type.mid", _header(fmt=7) + _chunk(b"MTrk", GOOD_TRACK), "MIDI file type 7"),
        ("zero_division.mid", _header(division=0) + _chunk(b"MTrk", GOOD_TRACK), "zero ticks per beat"),
        ("empty.tx1.txt", b"", "empty TX1 file"),
        ("unknown_token.tx1.txt", b"WT_10\nP1_NOTEON_60\nP5_NOTEON_3\nWT_4", "a token no voice has"),
        ("out_of_range.tx1.txt", b"WT_10\nP1_NOTEON_20\nWT_4", "a pulse note below the vocabulary"),
        ("garbage_line.tx1.txt", b"WT_10\nhello world\nWT_4", "a line of prose"),
        ("negative_wait.tx1.txt", b"WT_-10\nP1_NOTEON_60", "a negative wait"),
        ("binary.tx1.txt", bytes(range(256)) * 4, "binary data"),
        ("bad.tx1.txt.gz", b"\x1f\x8b\x08\x00garbage-not-deflate", "corrupt gzip"),
        ("truncated.tx1.txt.gz", gz_ok[:-12], "gzip cut off"),
        ("plain_named_gz.tx1.txt.gz", b"WT_10\nP1_NOTEON_60", "plain text under a .gz name"),
        ("gzip_of_binary.tx1.txt.gz", gzip.compress(b"\x00\xff\xfe" * 100, mtime=0), "gzip of binary"),
        ("endless_wait.tx1.txt", b"WT_99999999999999999999\nP1_NOTEON_60", "a wait of billions of years"),
    ]
