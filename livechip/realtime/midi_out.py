"""MIDI out: a virtual port named `livechip` (python-rtmidi, on JACK or ALSA), fed just in time.

Channels 1-4 carry P1, P2, TR and NO. Each voice is monophonic, as on the chip: a new note on a channel ends
the one before it. The `Sender` thread (never the audio callback) takes events from the schedule rings and
sends each at its transport time, read from the one clock; everything that stops the music (stop, panic,
SIGINT/SIGTERM, exit, a crash) ends with every sounding note released.

    out = MidiOut()                      # virtual port `livechip` (or MidiOut(port="name") for an existing one)
    sender = Sender(rings, clock, out)
    sender.start(); ...; sender.stop()   # stop() releases every note
"""

import atexit
import threading
import time

import numpy as np
import rtmidi

from livechip.realtime.ring import MIDI, NEVER, Merge
from livechip.core.errors import DeviceError
from livechip.core.events import OFF, VOICES
from livechip.formats.midi import DAW_PROGRAM, NOISE_TO_DRUM
from livechip.realtime.system import (alsa_sequencer_available, jack_client_stalled, jack_clients,
                                      jack_server_running, quiet_stderr, realtime_priority, until_due)

NOTE_ON, NOTE_OFF, CONTROL, PROGRAM = 0x90, 0x80, 0xB0, 0xC0
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123
CHANNELS = {v: i for i, v in enumerate(VOICES)}     # P1 -> channel 1 (0 on the wire), ... NO -> channel 4
NOISE = CHANNELS["NO"]
STATS = 1 << 16


def available_apis():
    """The rtmidi APIs usable here, best first: JACK when a server runs, ALSA when the sequencer exists."""
    compiled = rtmidi.get_compiled_api()
    apis = []
    if rtmidi.API_UNIX_JACK in compiled and jack_server_running():
        apis.append(rtmidi.API_UNIX_JACK)
    if rtmidi.API_LINUX_ALSA in compiled and alsa_sequencer_available():
        apis.append(rtmidi.API_LINUX_ALSA)
    for api in compiled:   # other systems (CoreMIDI, Windows MM) have no probe: take them as they come
        if api not in (rtmidi.API_UNIX_JACK, rtmidi.API_LINUX_ALSA, rtmidi.API_RTMIDI_DUMMY) and api not in apis:
            apis.append(api)
    return apis


def api_name(api):
    return {rtmidi.API_UNIX_JACK: "JACK", rtmidi.API_LINUX_ALSA: "ALSA"}.get(api, rtmidi.get_api_name(api))


def list_ports():
    """{api name: {"out": [...], "in": [...]}} for every usable MIDI system."""
    found = {}
    for api in available_apis():
        with quiet_stderr():
            try:
                o, i = rtmidi.MidiOut(api, name="livechip-probe"), rtmidi.MidiIn(api, name="livechip-probe")
                found[api_name(api)] = {"out": o.get_ports(), "in": i.get_ports()}
                o.delete()
                i.delete()
            except rtmidi.SystemError:
                continue
    return found


def open_port(kind, client, name, port=None):
    """Open a python-rtmidi port (`kind`: rtmidi.MidiOut or rtmidi.MidiIn) for the client named `client`, on the
    first MIDI system that has it: the virtual port `name` when `port` is None, else the existing port `port`
    (an index, or part of its name), opened as `name`. Returns (rtmidi object, API name, port name); raises
    DeviceError with the reason when no system has it."""
    apis = available_apis()
    if not apis:
        raise DeviceError("no MIDI system (no JACK server and no ALSA sequencer)")
    way = "in" if kind is rtmidi.MidiIn else "out"
    err = None
    for api in apis:
        try:
            midi = open_client(kind, api, client)
        except (rtmidi.SystemError, DeviceError) as e:
            err = e
            continue
        try:
            if port is None:
                midi.open_virtual_port(name)
                port_name = name
            else:
                ports = midi.get_ports()
                k = find_port(ports, port)
                if k is None:
                    midi.delete()
                    err = f"no MIDI {way}put port matching {port!r} on {api_name(api)}"
                    continue
                midi.open_port(k, name)
                port_name = ports[k]
        except (rtmidi.SystemError, rtmidi.InvalidPortError, NotImplementedError) as e:
            midi.delete()
            err = e
            continue
        return midi, api_name(api), port_name
    raise DeviceError(f"cannot open MIDI {way}: {err}")


JACK_ATTEMPTS = 3


def open_client(kind, api, client):
    """A python-rtmidi `kind` (rtmidi.MidiIn or rtmidi.MidiOut) on `api`, as a client named `client`. On JACK the
    client is watched for a moment after it opens and opened again if the server never runs it (libjack's race,
    see jack_client_stalled); DeviceError when that happens JACK_ATTEMPTS times in a row. rtmidi.SystemError
    when the MIDI system refuses it."""
    if api != rtmidi.API_UNIX_JACK:
        with quiet_stderr():
            return kind(api, name=client)
    for _ in range(JACK_ATTEMPTS):
        before = jack_clients()
        with quiet_stderr():
            midi = kind(api, name=client)
        # the name the server gave it: `client`, or `client-01`... when that was taken
        mine = [c for c in jack_clients() - before
                if c == client or (c.startswith(client + "-") and c[len(client) + 1:].isdigit())]
        if len(mine) != 1 or not jack_client_stalled(mine[0]):
            return midi
        midi.delete()
    raise DeviceError(f"the JACK server does not run MIDI client {client!r} (opened {JACK_ATTEMPTS} times); "
                      "see the server's log")


def find_port(ports, port):
    """Index of `port` (an index, a digit string, or part of a name) in `ports`, or None."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        k = int(port)
        return k if 0 <= k < len(ports) else None
    hits = [k for k, p in enumerate(ports) if port.lower() in p.lower()]
    return hits[0] if hits else None


class MidiOut:
    """One MIDI output: the virtual port `name`, or the existing port whose name contains `port`."""

    def __init__(self, name="livechip", port=None):
        self.out, self.api, self.port_name = open_port(rtmidi.MidiOut, name, name, port)
        self.lock = threading.Lock()     # rtmidi ports are not safe to send from two threads at once
        self.sent = 0

    def send(self, msg):
        with self.lock:
            self.out.send_message(msg)
            self.sent += 1

    def close(self):
        with self.lock:
            if self.out is not None:
                self.out.close_port()
                self.out.delete()
                self.out = None

    def describe(self):
        return f"virtual port {self.port_name!r} ({self.api})" if self.port_name == "livechip" \
            else f"port {self.port_name!r} ({self.api})"


class Sender:
    """Sends the rings' events at their transport times, monophonic per voice, on its own thread.

    `delay`: seconds added to every event (e.g. the audio output latency, so MIDI and sound line up outside
    JACK). `velocity(voice)`: note-on velocity for a voice (default 100; 0: no note-on). `drums`: noise
    value -> MIDI note for channel 4 (default: the General MIDI drums of `livechip.formats.midi.NOISE_TO_DRUM`, as
    in session .mid files).
    """

    def __init__(self, rings, clock, out, delay=0.0, velocity=None, drums=None):
        self.drums = dict(NOISE_TO_DRUM if drums is None else drums)
        self.merge = Merge(rings, MIDI)   # the schedule's rings, read in time order
        self.clock = clock
        self.out = out
        self.delay = delay
        self.velocity = velocity or (lambda voice: 100)
        self.sounding = [OFF] * len(VOICES)     # MIDI note sounding on each voice's channel
        self.played = np.zeros((len(VOICES), 128), dtype=bool)   # keys given a note-on since the last release
        self.errors = np.zeros(STATS, dtype=np.float64)   # send time minus due time, seconds
        self.n = 0
        self.notes = np.zeros((STATS, 3), dtype=np.int16)   # (channel, note, velocity) of each note sent
        self.n_notes = 0
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livechip-midi-out", daemon=True)
        self.failed = None
        self.realtime = False
        self._panic = False
        self._hush = [False] * len(VOICES)     # voices to release now (turned down to 0)
        atexit.register(self.release_all)

    def start(self):
        self._thread.start()

    def notify(self):
        """New events were scheduled (maybe earlier than the one the sender waits for)."""
        self.wake.set()

    def _run(self):
        self.realtime = realtime_priority()
        try:
            while not self._stop.is_set():
                if self._panic:
                    self._panic = False
                    self.release_all(sound_off=True)
                if True in self._hush:
                    self._release_hushed()
                t = self.merge.next()
                if t == NEVER:
                    self.wake.wait(0.01)
                    self.wake.clear()
                    continue
                if not until_due(self.clock.monotonic_at(t) + self.delay, self.wake):
                    continue                     # new or revoked events are seen then
                self._send_due(time.monotonic())
        except Exception as e:   # noqa: BLE001 - a dead MIDI port must not take the instrument down
            self.failed = e
            self.release_all()
            while not self._stop.wait(0.01):     # keep taking events, so the schedule never fills up
                for r in self.merge.rings:
                    r.begin(MIDI)
                    r.advance(MIDI, r.due(MIDI, NEVER))
                    r.end(MIDI)

    def _send_due(self, now):
        """Send every event whose time has come (taken inside a consumer pass, so none is revoked meanwhile).

        Of several events of one voice at one instant only the last is sent: on the chip it replaces the
        others at once, so a DAW should not record notes of no length."""
        due = []
        with self.merge as m:
            while (t := m.next()) != NEVER and self.clock.monotonic_at(t) + self.delay <= now + 0.0005:
                due.append((t, m.voice(), m.pitch()))
                m.advance()
        for i, (t, v, p) in enumerate(due):
            if any(t2 == t and v2 == v for t2, v2, _ in due[i + 1:]):
                continue
            self._note(v, p)
            self.errors[self.n & (STATS - 1)] = time.monotonic() - (self.clock.monotonic_at(t) + self.delay)
            self.n += 1

    def _note(self, v, pitch):
        ch = v
        old = self.sounding[v]
        if old != OFF:
            self.out.send([NOTE_OFF | ch, old, 0])
            self._keep(ch, old, 0)
            self.sounding[v] = OFF
        velocity = self.velocity(VOICES[v]) if pitch != OFF else 0
        if velocity > 0:     # a voice turned down to 0 sends no note-on
            note = self.drums.get(pitch, pitch) if v == NOISE else pitch
            self.out.send([NOTE_ON | ch, note, velocity])
            self._keep(ch, note, velocity)
            self.sounding[v] = note
            self.played[ch, note] = True

    def _keep(self, ch, note, velocity):
        row = self.notes[self.n_notes & (STATS - 1)]
        row[0], row[1], row[2] = ch, note, velocity
        self.n_notes += 1

    def panic(self):
        """Release every note now (done by the sender thread, or here if it is not running)."""
        if self._thread.is_alive():
            self._panic = True
            self.wake.set()
        else:
            self.release_all(sound_off=True)

    def hush(self, voices):
        """Note-off now for whatever `voices` are sounding (done by the sender thread, or here if it is not
        running)."""
        for v in voices:
            self._hush[CHANNELS[v]] = True
        if self._thread.is_alive():
            self.wake.set()
        else:
            self._release_hushed()

    def _release_hushed(self):
        for v, due in enumerate(self._hush):
            if due:
                self._hush[v] = False
                self._note(v, OFF)

    def program_changes(self):
        """General MIDI programs for the four channels (square leads, synth bass, synth drum), as in .mid files."""
        for v, ch in CHANNELS.items():
            self.out.send([PROGRAM | ch, DAW_PROGRAM[v]])

    def release_all(self, sound_off=False):
        """Note-off for every key played since the last release: the sounding ones, and the others too (a MIDI
        system that drops messages when a client misses its period, as JACK can, may have lost their
        note-offs); then All Notes Off (and All Sound Off for a panic) on 1-4."""
        out = self.out
        if out is None or out.out is None:
            return
        try:
            for ch, key in np.argwhere(self.played):
                out.send([NOTE_OFF | int(ch), int(key), 0])
            self.played[:] = False
            self.sounding = [OFF] * len(VOICES)
            for ch in range(len(VOICES)):
                out.send([CONTROL | ch, ALL_NOTES_OFF, 0])
                if sound_off:
                    out.send([CONTROL | ch, ALL_SOUND_OFF, 0])
        except Exception:   # noqa: BLE001 - a port that is gone has nothing left to release
            pass

    def stop(self):
        """Stop sending and release every note."""
        self._stop.set()
        self.wake.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        self.release_all()

    def sent(self):
        """The recent notes sent from the schedule, oldest first, as (channel, note, velocity) rows (velocity 0:
        a note-off). The releases of stop and panic are not among them."""
        n = min(self.n_notes, STATS)
        k = self.n_notes & (STATS - 1)
        return self.notes[(np.arange(n) + (k - n)) % STATS].copy()

    def timing(self):
        """Send time minus due time (seconds) of the recent events, oldest first."""
        n = min(self.n, STATS)
        k = self.n & (STATS - 1)
        return self.errors[(np.arange(n) + (k - n)) % STATS].copy()
