"""JACK transport: follow a JACK session's play, stop and locate, and its tempo and bars when a timebase master
(a DAW) gives them.

livechip talks to libjack itself with ctypes (the library every JACK program loads; no Python package is
needed): the client only asks the server for the transport's state and position (jack_transport_query), and
never runs on JACK's thread. The server stamps each position with the time its period began, on JACK's
clock (not the monotonic clock: jackd2's runs apart from it, by 10 ppm here); read beside the monotonic clock
at each query, it meets livechip's transport clock exactly, and no smoothing is needed.

    sync = JackTransport()                # a JACK client `livechip-sync` on the running server
    sync.steer(beats, clock)              # set a BeatClock to the transport as of its latest period
    sync.close()

With a timebase master the beat is its bar, beat and tick ((bar - 1) * beats per bar + beat - 1 + tick /
ticks per beat) and the tempo its beats per minute; without one, JACK has frames only: frame 0 is beat 0 and
the beat clock keeps its own tempo.
"""

import ctypes
import ctypes.util
import time

from livechip.realtime.beat import BPM
from livechip.core.errors import DeviceError
from livechip.realtime.system import quiet_stderr

STOPPED, ROLLING, LOOPING, STARTING = range(4)     # jack_transport_state_t
BBT = 0x10                                        # JackPositionBBT: bar, beat, tick and tempo are valid
NO_START_SERVER = 0x01


class Position(ctypes.Structure):
    """jack_position_t (jack/types.h), packed."""
    _pack_ = 1
    _fields_ = [("unique_1", ctypes.c_uint64), ("usecs", ctypes.c_uint64), ("frame_rate", ctypes.c_uint32),
                ("frame", ctypes.c_uint32), ("valid", ctypes.c_int), ("bar", ctypes.c_int32),
                ("beat", ctypes.c_int32), ("tick", ctypes.c_int32), ("bar_start_tick", ctypes.c_double),
                ("beats_per_bar", ctypes.c_float), ("beat_type", ctypes.c_float),
                ("ticks_per_beat", ctypes.c_double), ("beats_per_minute", ctypes.c_double),
                ("frame_time", ctypes.c_double), ("next_time", ctypes.c_double), ("bbt_offset", ctypes.c_uint32),
                ("audio_frames_per_video_frame", ctypes.c_float), ("video_offset", ctypes.c_uint32),
                ("padding", ctypes.c_int32 * 7), ("unique_2", ctypes.c_uint64)]


def line(state, pos, bpm):
    """(beat, bpm, seconds on JACK's clock, running) of a transport state and position; `bpm`: the
    tempo to keep when no timebase master gives one."""
    if pos.valid & BBT and pos.ticks_per_beat > 0 and pos.beats_per_minute > 0:
        beat = (pos.bar - 1) * pos.beats_per_bar + pos.beat - 1 + pos.tick / pos.ticks_per_beat
        bpm = pos.beats_per_minute
    else:
        beat = pos.frame / pos.frame_rate * bpm / 60.0
    return beat, bpm, pos.usecs / 1e6, state == ROLLING


def _lib():
    path = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise DeviceError(f"JACK transport needs libjack: {e}") from None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_transport_query.restype = ctypes.c_int
    lib.jack_transport_query.argtypes = [ctypes.c_void_p, ctypes.POINTER(Position)]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    lib.jack_get_time.restype = ctypes.c_uint64
    return lib


class JackTransport:
    """A JACK client that reads the transport. DeviceError when no JACK server runs."""

    def __init__(self, name="livechip-sync"):
        self.lib = _lib()
        status = ctypes.c_int()
        with quiet_stderr():     # libjack's own complaints; the error below says it in one line
            self.client = self.lib.jack_client_open(name.encode(), NO_START_SERVER, ctypes.byref(status))
        if not self.client:
            raise DeviceError(f"cannot follow JACK transport: no JACK server (status 0x{status.value:x})")
        self.pos = Position()

    def query(self):
        """(state, Position, JACK's clock minus the monotonic clock in seconds) as of the latest period."""
        state = self.lib.jack_transport_query(self.client, ctypes.byref(self.pos))
        ahead = self.lib.jack_get_time() / 1e6 - time.monotonic()
        return state, self.pos, ahead

    def steer(self, beats, clock):
        """Set `beats` (a BeatClock) to the transport: its line from the start of JACK's latest period, in the
        frames of `clock` (the transport clock). Returns (beat, bpm, running) as read."""
        state, pos, ahead = self.query()
        beat, bpm, at, run = line(state, pos, beats.bpm)
        frame = (at - ahead - clock.monotonic_at(0)) * clock.rate
        beats.set(beat, min(max(bpm, BPM[0]), BPM[1]), frame, run)
        return beat, bpm, run

    def close(self):
        if self.client:
            self.lib.jack_client_close(self.client)
            self.client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
