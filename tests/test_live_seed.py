"""Settings that reach a running `livechip play` (its default model process, a JACK server on the dummy driver,
real UDP OSC, a test DAW on MIDI out) from outside, end to end:

- a seed sent over OSC while the instrument plays reaches the model process: stopped, seeded, reset and played
  again, it plays the same notes for the same seed and others for another one;
- the UI's preset picker (`l`, then Enter) loads a shipped preset into the instrument, and ctrl+c quits the UI
  as ctrl+q does (the key table in docs/playing.md).
"""

import shutil
import time

import pytest

from livechip.control import presets
from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import JackServer, MidiRecorder, jackd_available, note_happy_model
from tests.test_live_controls import SAMPLING, act, live, ons, put
from tests.test_tui_live import HEIGHT, WIDTH, model_notes_shown, row
from tests.tmux_helpers import Terminal, livechip

pytestmark = [pytest.mark.jack, pytest.mark.slow,
              pytest.mark.skipif(not jackd_available(), reason="jackd (Debian package jackd2) is not installed")]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return note_happy_model(tmp_path_factory.mktemp("model"))


# --- the seed over OSC ---------------------------------------------------------------------------------------

def new_song(s, seed, n=16, timeout=20.0):
    """Stop the transport, set the seed, clear the model's memory, play: the (channel, note) of the model's
    first `n` note-ons from then on. Stopped, the model is asked for nothing, so the notes are the new song's
    from its first token, whatever the clock did meanwhile."""
    act(s, "/livechip/transport/stop")
    time.sleep(0.3)                       # within the horizon: the reset comes before the stop's lead is over
    put(s, "/livechip/seed", seed)
    act(s, "/livechip/reset")
    t = act(s, "/livechip/transport/play")
    end = time.monotonic() + timeout
    while len(ons(s.daw.messages, t)) < n:
        assert time.monotonic() < end, f"only {len(ons(s.daw.messages, t))} notes after play"
        time.sleep(0.05)
    return [(ch, note) for _, ch, note, _ in ons(s.daw.messages, t)[:n]]


def test_a_seed_sent_over_osc_while_playing_reaches_the_model_process(model):
    with live(*SAMPLING, model=model) as s:             # no --seed: the session starts at a random one
        songs = [new_song(s, seed) for seed in (7, 8, 7)]
    assert s.rc == 0, s.err
    print("\nfirst notes at seeds 7, 8 and 7:", *songs, sep="\n")
    seven, eight, again = songs
    assert again == seven, "seed 7 again, after seed 8, played other notes"
    assert eight != seven, "seeds 7 and 8 played the same notes"


# --- the preset picker and ctrl+c, in the UI of a running `livechip play` ---------------------------------------

@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_the_preset_picker_loads_a_shipped_preset_into_the_instrument_and_ctrl_c_quits(model, tmp_path):
    shipped = sorted(p.stem for p in presets.SHIPPED.glob("*.toml"))
    want = presets.load_preset(presets.SHIPPED / "sparse-ambient.toml")
    port = free_udp_port()
    with JackServer() as jack:
        daw = MidiRecorder()
        osc = Client(port)
        # XDG_CONFIG_HOME: an empty folder for the user's presets, so the picker lists the shipped ones alone
        env = (("JACK_DEFAULT_SERVER", jack.name), ("JACK_NO_AUDIO_RESERVATION", "1"),
               ("XDG_CONFIG_HOME", tmp_path))
        term = Terminal(livechip("play", "--model", model, "--osc-port", port, env=env), WIDTH, HEIGHT)
        try:
            jack.wait_for_port("livechip:livechip")
            jack.connect("livechip:livechip", daw.port)
            started = term.wait(model_notes_shown, timeout=60)
            assert model_notes_shown(started), started
            assert osc.ask("/livechip/horizon") == [pytest.approx(0.5)]
            term.keys("l")
            picker = term.wait(lambda t: all(name in t for name in shipped), timeout=5)
            # End: the last name, then up to sparse-ambient (whatever the list highlights first)
            term.keys("End", *["Up"] * (len(shipped) - 1 - shipped.index("sparse-ambient")), "Enter")
            loaded = term.wait(lambda t: "preset sparse-ambient loaded" in row(t, -1), timeout=5)
            got = {a: osc.ask(f"/livechip/{a}")[0] for a in ("horizon", "tempo", "temperature", "top_k", "top_p")}
            lead = None
            end = time.monotonic() + 8
            while time.monotonic() < end and not (lead and lead > 1.5):
                osc.send("/livechip/info")
                lead = osc.wait_for("/livechip/info/ahead")[0]
                time.sleep(0.2)
            term.keys("C-c")
            ended = term.wait(lambda t: "EXIT=" in t, timeout=60)
        finally:
            term.close()
            osc.close()
            daw.close()
    assert "Load a preset" in picker and all(name in picker for name in shipped), picker
    assert "preset sparse-ambient loaded" in row(loaded, -1), loaded
    sampling = want["sampling"]
    assert got == {"horizon": pytest.approx(want["horizon"]), "tempo": pytest.approx(want["tempo"]),
                   "temperature": pytest.approx(sampling["temperature"]), "top_k": sampling["top_k"],
                   "top_p": pytest.approx(sampling["top_p"])}, got
    assert lead > 1.5, f"the schedule's lead is {lead} s with the preset's horizon of {want['horizon']} s"
    assert "EXIT=0" in ended, ended
