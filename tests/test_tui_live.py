"""The terminal UI of a running `livechip play` (its default process worker, its UI in a process of its own),
end to end: a real terminal (tmux), a real JACK server (dummy driver), a test keyboard playing into
`livechip in` (P1 `human`), a test DAW on `livechip`, `--record` on. Everything on the screen comes from the
engine: the player's notes, the level meters, the reaction time, MIDI in and REC. The display keys (zoom,
help, the preset picker, the sampling settings, the voices' modes, panic, quit) are pressed in the terminal and
checked on the screen and, over real UDP OSC, in the instrument's state.
"""

import re
import shutil

import pytest

from tests.control_helpers import Client, free_udp_port
from tests.jack_helpers import JackServer, MidiRecorder, jackd_available, note_happy_model
from tests.jam_helpers import LIVECHIP_IN, Keyboard
from tests.tmux_helpers import Terminal, lane, livechip, now_column, roll

pytestmark = [pytest.mark.jack, pytest.mark.slow,
              pytest.mark.skipif(not jackd_available() or shutil.which("tmux") is None,
                                 reason="needs jackd and tmux")]

WIDTH, HEIGHT = 200, 34      # wide enough for the ports' names on the figures line
MODEL_VOICES = ("P2", "TR", "NO")


def row(text, i):
    """Row i of the screen, blank rows at the bottom left out ("" if there is no such row)."""
    r = text.rstrip().splitlines()
    return r[i] if -len(r) <= i < len(r) else ""


def label(text, voice, i):
    """Row i of a voice's lane ("" if there is none)."""
    rs = lane(text, voice)
    return rs[i] if i < len(rs) else ""


def mode_shown(text, voice):
    """The voice's name and mode at the start of its lane (the rest of the row moves with the notes)."""
    return label(text, voice, 0).split("│")[0].strip()


def model_notes_shown(text):
    return any("●" in r for v in MODEL_VOICES for r in roll(lane(text, v)))


def meter(text, voice):
    """How many of the 8 meter cells of a voice's lane are lit (its level 0..1 in eighths)."""
    rs = lane(text, voice)
    return rs[1][:13].count("▮") if len(rs) > 1 else 0


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    model = note_happy_model(tmp_path_factory.mktemp("model"))
    rec = tmp_path_factory.mktemp("rec")
    port = free_udp_port()
    seen = {}
    with JackServer() as jack:
        daw = MidiRecorder()
        kbd = Keyboard()
        osc = Client(port)
        term = Terminal(livechip("play", "--model", model, "--human", "P1", "--record", rec, "--seed", "1",
                                 "--osc-port", port, env=(("JACK_DEFAULT_SERVER", jack.name),
                                                          ("JACK_NO_AUDIO_RESERVATION", "1"))),
                        WIDTH, HEIGHT)
        try:
            try:
                jack.wait_for_port("livechip:livechip")
                jack.wait_for_port(LIVECHIP_IN)
            except TimeoutError as e:
                raise AssertionError(f"{e}; the terminal shows:\n{term.screen()}") from None
            jack.connect("livechip:livechip", daw.port)
            jack.connect(kbd.port, LIVECHIP_IN)
            seen["start"] = term.wait(model_notes_shown, timeout=60)
            seen["meters"] = term.wait(lambda t: any(0 < meter(t, v) < 8 for v in ("P2", "NO")), timeout=10)
            # a key held down: the player's note in P1's lane, its meter, the model's reaction
            kbd.send([0x90, 64, 100])
            seen["held"] = term.wait(lambda t: "note E4" in label(t, "P1", 2) and 0 < meter(t, "P1") < 8
                                     and any("◆" in r for r in roll(lane(t, "P1"))), timeout=5)
            seen["react"] = term.wait(lambda t: re.search(r"react \d+ms", row(t, 1)), timeout=5)
            kbd.send([0x80, 64, 0])
            seen["released"] = term.wait(lambda t: "note --" in label(t, "P1", 2), timeout=5)
            # zoom: in (more columns for the same horizon, so "now" moves left), then out twice
            seen["cols"] = [now_column(term.screen())]
            for k in ("+", "-", "-"):
                before = seen["cols"][-1]
                term.keys(k)
                term.wait(lambda t: now_column(t) != before, timeout=3)
                seen["cols"].append(now_column(term.screen()))
            term.keys("+")
            term.keys("?")
            seen["help"] = term.wait(lambda t: "zoom out / in" in t, timeout=3)
            term.keys("Escape")
            seen["closed"] = term.wait(lambda t: "zoom out / in" not in t and lane(t, "P1"), timeout=3)
            term.keys("l")
            seen["presets"] = term.wait(lambda t: "sparse-ambient" in t, timeout=3)
            term.keys("Escape")
            term.wait(lambda t: "sparse-ambient" not in t, timeout=3)
            term.keys("T", "k", "p")
            seen["settings"] = term.wait(lambda t: "temp 1.05  top-k 16  top-p 0.95" in row(t, 0), timeout=3)
            seen["osc"] = {a: osc.ask(f"/livechip/{a}")[0] for a in ("temperature", "top_k", "top_p")}
            term.keys("t", "K", "P")
            seen["back"] = term.wait(lambda t: "temp 1.00  top-k 32  top-p 1.00" in row(t, 0), timeout=3)
            seen["modes"] = []
            for key, voice in (("1", "P1"), ("3", "TR"), ("4", "NO")):
                was = osc.ask(f"/livechip/voice/{voice.lower()}/mode")[0]
                shown = mode_shown(term.screen(), voice)
                term.keys(key)
                text = term.wait(lambda t: mode_shown(t, voice) != shown, timeout=3)
                now = osc.ask(f"/livechip/voice/{voice.lower()}/mode")[0]
                seen["modes"].append((voice, was, now, label(text, voice, 0)))
            term.keys("x")
            seen["panic"] = term.wait(lambda t: "panic: all notes off" in row(t, -1), timeout=3)
            term.keys("C-q")
            seen["end"] = term.wait(lambda t: "EXIT=" in t, timeout=60)
        finally:
            term.close()
            osc.close()
            kbd.close()
            daw.close()
    seen["files"] = sorted(p.name.split(".", 1)[1] for p in rec.iterdir() if p.is_file())
    seen["daw"] = daw.messages
    return seen


def test_the_player_s_held_note_shows_in_its_lane_with_its_meter(session):
    text = session["held"]
    p1 = lane(text, "P1")
    assert p1[0].startswith("P1 human"), text
    # the APU's level, not a full bar: P1's default timbre holds at 8 of 15 (a meter of 4 of 8 cells)
    assert "note E4" in p1[2] and 0 < meter(text, "P1") < 8, text
    assert any("◆" in r for r in roll(p1)), text
    assert "note --" in label(session["released"], "P1", 2), session["released"]


def test_the_model_s_voices_meters_show_the_apu_s_levels(session):
    # P2's default timbre never goes above 7 of 15, the noise's above 12: a full bar would be a made-up level
    text = session["meters"]
    assert any(0 < meter(text, v) < 8 for v in ("P2", "NO")), text
    assert meter(session["start"], "P1") == 0, session["start"]      # the player has not played yet


def test_the_figures_line_shows_the_reaction_midi_in_and_the_top_line_rec(session):
    stats = row(session["react"], 1)
    assert re.search(r"react \d+ms", stats), stats
    assert "in virtual port 'livechip in' (JACK)" in stats, stats
    assert "REC" in row(session["start"], 0), session["start"]


def test_zoom_keys_move_now_on_the_screen(session):
    default, zin, back, zout = session["cols"]
    assert zin < default and back == default and zout > default, session["cols"]


def test_help_and_preset_picker_open_and_close(session):
    assert "zoom out / in" in session["help"] and "cycle the mode" in session["help"]
    assert lane(session["closed"], "P1"), session["closed"]
    assert "sparse-ambient" in session["presets"] and "default" in session["presets"]


def test_sampling_keys_reach_the_instrument(session):
    assert "temp 1.05  top-k 16  top-p 0.95" in row(session["settings"], 0), session["settings"]
    osc = session["osc"]
    assert osc["temperature"] == pytest.approx(1.05) and osc["top_k"] == 16 and osc["top_p"] == pytest.approx(0.95)
    assert "temp 1.00  top-k 32  top-p 1.00" in row(session["back"], 0), session["back"]


def test_mode_keys_change_the_voice_on_screen_and_in_the_instrument(session):
    print("\n(voice, mode before, after, its label):", session["modes"])
    for voice, was, now, shown in session["modes"]:
        assert now != was, (voice, was, now)
        assert shown.startswith(f"{voice} {now}"), (voice, now, shown)     # auto shows as auto:mdl / auto:you


def test_panic_says_so_and_quit_ends_the_session_with_its_recording(session):
    assert "panic: all notes off" in row(session["panic"], -1), session["panic"]
    assert "EXIT=0" in session["end"], session["end"]
    assert session["files"] == ["mid", "tx1.txt", "vgm", "wav"], session["files"]
