"""JACK clients that play the player's part in the jam tests: a keyboard that sends MIDI, and a trivial echo
client (the floor of MIDI latency through JACK: what it takes for a message to go in and straight out).

    kbd = Keyboard()                     # JACK client `kbd`, port `kbd:out`
    jack.connect(kbd.port, "livechip-in:livechip in")
    kbd.send([0x90, 60, 100])

Both use python-rtmidi on JACK, like the daemon, so they add nothing the daemon does not also pay.
"""

import random
import time

from livechip.realtime.midi_out import open_client

KBD_PORT = "kbd:out"
LIVECHIP_IN = "livechip-in:livechip in"


class Keyboard:
    """A test keyboard: a JACK MIDI output `name:out`. `close()` and `reopen()` pull and replug the cable."""

    def __init__(self, name="kbd"):
        self.name = name
        self.port = f"{name}:out"
        self.midi = None
        self.reopen()

    def reopen(self):
        import rtmidi
        self.midi = open_client(rtmidi.MidiOut, rtmidi.API_UNIX_JACK, self.name)
        self.midi.open_virtual_port("out")

    def send(self, msg):
        self.midi.send_message(msg)

    def close(self):
        if self.midi is not None:
            self.midi.close_port()
            self.midi.delete()
            self.midi = None


class Echo:
    """Sends every message it receives straight out again, from the rtmidi callback (client `name`, ports
    `name:in` and `name:out`)."""

    def __init__(self, name="echo"):
        import rtmidi
        self.out = open_client(rtmidi.MidiOut, rtmidi.API_UNIX_JACK, name)
        self.out.open_virtual_port("out")
        self.inp = open_client(rtmidi.MidiIn, rtmidi.API_UNIX_JACK, name + "-in")
        self.inp.open_virtual_port("in")
        self.inp.set_callback(lambda event, data=None: self.out.send_message(event[0]))
        self.port_in, self.port_out = f"{name}-in:in", f"{name}:out"

    def close(self):
        self.inp.cancel_callback()
        for p in (self.inp, self.out):
            p.close_port()
            p.delete()


def melody(n=16, start=60):
    """A known tune for channel 1: (seconds after start, message) pairs, note on then off."""
    steps = [0, 2, 4, 5, 7, 5, 4, 2]
    out = []
    for i in range(n):
        key = start + steps[i % len(steps)] + 12 * (i // len(steps) % 2)
        out.append((0.25 * i, [0x90, key, 100]))
        out.append((0.25 * i + 0.15, [0x80, key, 0]))
    return out


def rough_stream(seconds, rate=200, seed=0, channels=(1, 2, 3, 10)):
    """A random MIDI stream at about `rate` messages/s: notes on the given channels, plus garbage: truncated
    and over-long messages, stray data bytes (running status), SysEx, clock, controllers, note-offs of keys
    never pressed. (seconds, message) pairs."""
    rnd = random.Random(seed)
    out, t = [], 0.0
    held = []
    while t < seconds:
        t += rnd.expovariate(rate)
        r = rnd.random()
        ch = rnd.choice(channels) - 1
        if r < 0.35:
            key = rnd.randrange(20, 110)
            held.append((ch, key))
            msg = [0x90 | ch, key, rnd.randrange(1, 128)]
        elif r < 0.65 and held:
            c, key = held.pop(rnd.randrange(len(held)))
            msg = [0x80 | c, key, 0] if rnd.random() < 0.5 else [0x90 | c, key, 0]
        elif r < 0.70:
            msg = [0x80 | ch, rnd.randrange(128), 0]                      # a release out of order
        elif r < 0.75:
            msg = [0xF0] + [rnd.randrange(128) for _ in range(rnd.randrange(1, 20))] + [0xF7]
        elif r < 0.80:
            msg = [rnd.randrange(128), rnd.randrange(128)]               # running status: data bytes only
        elif r < 0.85:
            msg = [0x90 | ch, rnd.randrange(128)]                        # truncated
        elif r < 0.90:
            msg = [0xB0 | ch, rnd.randrange(128), rnd.randrange(128)]
        elif r < 0.95:
            msg = [0xF8]
        else:
            msg = [0xE0 | ch, rnd.randrange(128), rnd.randrange(128)]
        out.append((t, msg))
    return out


def play(kbd, timeline, t0=None):
    """Send (seconds, message) pairs at their times; returns the monotonic time of each send."""
    t0 = time.monotonic() if t0 is None else t0
    sent = []
    for t, msg in timeline:
        d = t0 + t - time.monotonic()
        if d > 0:
            time.sleep(d)
        kbd.send(msg)
        sent.append(time.monotonic())
    return sent


def still_sounding(messages):
    """{channel: key} of the notes a recorded MIDI stream leaves sounding (All Notes/Sound Off end them)."""
    on = {}
    for _, m in messages:
        if len(m) == 3 and m[0] & 0xF0 in (0x80, 0x90):
            ch = m[0] & 0x0F
            if m[0] & 0xF0 == 0x90 and m[2] > 0:
                on[ch] = m[1]
            elif on.get(ch) == m[1]:
                del on[ch]
        elif len(m) == 3 and m[0] & 0xF0 == 0xB0 and m[1] in (120, 123):
            on.pop(m[0] & 0x0F, None)
    return on
