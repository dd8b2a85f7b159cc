"""The terminal UI driven with Textual's Pilot: each key changes the real Control, and the screen shows it.

The screen's notes come from a real Monitor fed by a scripted player (tests/tui_helpers.py) that replays an
song through the same Monitor calls the engine makes. No engine runs here: the keys that need one (panic,
clear, record, quit) are tested on `livechip play` in tests/test_live_actions.py. These are widget tests: what
the engine itself feeds the screen (the player's notes, meters, react, MIDI in, REC) and the display keys are
tested on `livechip play` in tests/test_tui_live.py.
"""

import pytest

from livechip.control.surface import Control
from livechip.core.events import TICKS_PER_SECOND
from livechip.control.monitor import Monitor
from livechip.control.presets import load_preset, preset_state
from livechip.control.surface import state_dict
from livechip.tui.app import KEYS, HelpScreen, LivechipApp, PresetScreen
from tests.tui_helpers import play_into, run, screen_text, session_monitor, song


@pytest.fixture
def monitor(tmp_path):
    return session_monitor(tmp_path)


def drive(control, monitor, keys, size=(80, 24), **kw):
    """Press `keys` one by one; returns the screen text after each and the app."""
    app = LivechipApp(control, monitor, fps=0, **kw)
    screens = []

    async def go():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            screens.append(screen_text(app))
            for k in keys:
                await pilot.press(k)
                await pilot.pause()
                screens.append(screen_text(app))

    run(go())
    return screens, app


def line(screen, start):
    return next(s for s in screen.splitlines() if s.startswith(start))


def test_widgets_draw_the_lanes_settings_and_figures_a_monitor_holds(monitor):
    """A widget test: the figures and notes are the scripted Monitor's. The engine feeding them (the player's
    notes, meters, react, MIDI in, REC) is tested on `livechip play` in tests/test_tui_live.py."""
    [screen], _ = drive(Control(), monitor, [])
    rows = screen.splitlines()
    assert len(rows) == 24 and all(len(r) <= 80 for r in rows)
    for voice in ("P1", "P2", "TR", "NO"):
        assert line(screen, voice).startswith(f"{voice} auto:mdl")     # auto, and the model has it
    assert "temp 1.00" in rows[0] and "top-k 32" in rows[0] and "top-p 1.00" in rows[0] and "default" in rows[0]
    for shown in ("tok/s 512", "ahead 0.98s", "react 11ms", "xruns 0", "audio on", "midi out on", "in on"):
        assert shown in rows[1]
    assert "? help" in rows[-1]
    roll = "\n".join(r[14:] for r in rows[2:-1])
    assert "◆" in roll and "●" in roll and "○" in roll     # the player's, the model's, and speculative notes
    assert all(r[13] == "│" for r in rows[2:-1])           # every lane row has its label column


def test_temperature_top_k_and_top_p_keys(monitor):
    c = Control()
    screens, _ = drive(c, monitor, ["T", "T", "t", "k", "k", "K", "K", "K", "p", "p"])
    assert c.get("temperature") == pytest.approx(1.05)                 # 1.0 -> 1.05 -> 1.1 -> 1.05
    assert "temp 1.10" in screens[2].splitlines()[0]
    assert c.get("top_k") == 64                              # 32 -> 16 -> 8 -> 16 -> 32 -> 64
    assert "top-k 8 " in screens[5].splitlines()[0]
    assert c.get("top_p") == pytest.approx(0.9)
    assert "top-p 0.90" in screens[-1].splitlines()[0]


def test_top_k_steps_to_no_limit_and_back(monitor):
    c = Control()
    c.set("top_k", 256)
    screens, _ = drive(c, monitor, ["K", "K", "k"])
    assert "top-k all" in screens[1].splitlines()[0] and "top-k all" in screens[2].splitlines()[0]
    assert c.get("top_k") == 256


def test_temperature_never_reaches_zero(monitor):
    c = Control()
    c.set("temperature", 0.1)
    drive(c, monitor, ["t", "t", "t"])
    assert c.get("temperature") == pytest.approx(0.05)


def test_number_keys_cycle_each_voice_mode(monitor):
    c = Control()
    screens, _ = drive(c, monitor, ["1", "1", "3", "3", "3", "4", "4", "4", "4"])
    assert line(screens[1], "P1").startswith("P1 model")              # auto -> model -> human -> off -> auto
    assert c.get("voice/p1/mode") == "human" and line(screens[2], "P1").startswith("P1 human")
    assert c.get("voice/tr/mode") == "off" and line(screens[5], "TR").startswith("TR off")
    assert c.get("voice/no/mode") == "auto" and line(screens[-1], "NO").startswith("NO auto:mdl")
    assert c.get("voice/p2/mode") == "auto"


def test_mute_and_solo(monitor):
    c = Control()
    c.set("voice/p2/volume", 0.6)
    screens, _ = drive(c, monitor, ["w", "w", "d", "a", "a"])
    # w: P2 muted, shown as M; w again: back to its own volume
    assert line(screens[1], "P2").rstrip().startswith("P2 auto:mdl M")
    assert "vol   0%" in screens[1]
    assert "M" not in line(screens[2], "P2")[:13]
    # d: TR solo: the others silent
    vols = [l[:13] for l in screens[3].splitlines() if l[:2] in ("P1", "P2", "TR", "NO")]
    assert vols[2].rstrip().endswith("S") and all(v.rstrip().endswith("M") for v in (vols[0], vols[1], vols[3]))
    # a: solo moves to P1; a again: everyone back as before
    assert line(screens[4], "P1")[:13].rstrip().endswith("S") and line(screens[4], "TR")[:13].rstrip().endswith("M")
    assert [c.get(f"voice/{v}/volume") for v in ("p1", "p2", "tr", "no")] == [1.0, 0.6, 1.0, 1.0]
    assert "vol  60%" in screens[5]


def test_mute_solo_volumes_step_by_step(monitor):
    c = Control()
    c.set("voice/p2/volume", 0.6)
    app = LivechipApp(c, monitor, fps=0)
    seen = []

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            for k in ("w", "w", "d", "a", "a"):
                await pilot.press(k)
                seen.append(tuple(c.get(f"voice/{v}/volume") for v in ("p1", "p2", "tr", "no")))

    run(go())
    assert seen == [(1.0, 0.0, 1.0, 1.0), (1.0, 0.6, 1.0, 1.0), (0.0, 0.0, 1.0, 0.0), (1.0, 0.0, 0.0, 0.0),
                    (1.0, 0.6, 1.0, 1.0)]


def test_an_action_without_an_engine_is_a_message_not_a_crash(monitor):
    screens, app = drive(Control(), monitor, ["x"])
    assert "panic: no engine is running" in screens[1].splitlines()[-1]
    assert app.return_code in (None, 0)


def test_preset_picker_loads_a_preset(monitor):
    c = Control()
    c.set("temperature", 2.0)
    app = LivechipApp(c, monitor, fps=0)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("l")
            await pilot.pause()
            assert isinstance(app.screen, PresetScreen)
            names = app.screen.names
            assert "sparse-ambient" in names
            for _ in range(names.index("sparse-ambient")):
                await pilot.press("down")
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, PresetScreen)
            return screen_text(app)

    screen = run(go())
    want = state_dict(preset_state(load_preset("sparse-ambient")))
    got = c.snapshot()
    assert {k: got[k] for k in want} == want
    assert "preset sparse-ambient loaded" in screen.splitlines()[-1]
    assert f"temp {want['temperature']:.2f}" in screen.splitlines()[0]


def test_help_lists_every_key(monitor):
    app = LivechipApp(Control(), monitor, fps=0)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = screen_text(app)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            return text

    text = run(go())
    for keys, what in KEYS:
        assert keys in text and what[:30] in text


def test_the_screen_keeps_refreshing_under_the_help_and_the_preset_picker(tmp_path):
    score = song(tmp_path)
    m = Monitor()
    play_into(m, score, 4 * TICKS_PER_SECOND, TICKS_PER_SECOND)
    c = Control()
    app = LivechipApp(c, m, fps=20)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            for key, screen in (("question_mark", HelpScreen), ("l", PresetScreen)):
                await pilot.press(key)
                await pilot.pause(0.2)
                c.set("temperature", 1.5 if key == "l" else 1.25)
                play_into(m, score, 6 * TICKS_PER_SECOND, TICKS_PER_SECOND, start=5 * TICKS_PER_SECOND + 1)
                await pilot.pause(0.2)
                assert isinstance(app.screen, screen)
                await pilot.press("escape")
                await pilot.pause(0.1)
            return screen_text(app)

    assert "temp 1.50" in run(go()).splitlines()[0]


def test_attached_quit_only_detaches(monitor):
    c = Control()
    calls = []
    c.on_action("panic", lambda: calls.append("panic"))
    app = LivechipApp(c, monitor, fps=0, quit_stops=False)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+q")
            await pilot.pause()

    run(go())
    assert calls == [] and c.get("playing") is True


def test_the_roll_scrolls_as_the_player_plays_on(tmp_path):
    """With the refresh timer running, notes pushed into the Monitor move across the screen."""
    score = song(tmp_path)
    m = Monitor()
    play_into(m, score, 4 * TICKS_PER_SECOND, TICKS_PER_SECOND)
    app = LivechipApp(Control(), m, fps=20)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.15)
            before = screen_text(app)
            play_into(m, score, 6 * TICKS_PER_SECOND, TICKS_PER_SECOND, start=5 * TICKS_PER_SECOND + 1)
            await pilot.pause(0.3)
            return before, screen_text(app)

    before, after = run(go())
    assert before != after
    assert line(before, "P1")[14:] != line(after, "P1")[14:]


def test_the_app_closes_when_the_engine_stops(monitor):
    stopped = []
    app = LivechipApp(Control(), monitor, fps=20, stopped=lambda: bool(stopped))

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            assert app.is_running
            stopped.append(True)
            await pilot.pause(0.3)
            return app.is_running

    assert run(go()) is False


def test_ascii_glyphs(monitor):
    [screen], _ = drive(Control(), monitor, [], ascii=True)
    roll = "\n".join(r[14:] for r in screen.splitlines()[2:-1])
    assert "#" in roll and "o" in roll and "|" in roll
    assert not any(ch in roll for ch in "◆●○━═╌│")


def test_zoom_keys_change_the_time_on_screen(monitor):
    screens, app = drive(Control(), monitor, ["-", "+", "+"])   # out, back, in
    assert screens[1] != screens[0] and screens[2] == screens[0] and screens[3] != screens[0]
    assert app.spc == TICKS_PER_SECOND / 32      # one step in from the default 1/16 s per column
