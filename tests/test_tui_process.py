"""The UI in a process of its own (how `livechip play` shows it): the pipe between the UI and the instrument's
Control and Monitor carries snapshots one way and keys the other."""

import multiprocessing
import threading
import time

import pytest

from livechip.control.surface import Control
from livechip.tui.app import LivechipApp
from livechip.tui.link import LinkedControl, LinkedMonitor, _answer, _Link, _run_in_process
from tests.tui_helpers import run, screen_text, session_monitor


def serve(conn, control, monitor, stop, messages):
    """The instrument's side of the pipe, as run_tui's loop answers it."""
    while not stop.is_set():
        if conn.poll(0.02):
            try:
                msg = conn.recv()
            except EOFError:
                return
            conn.send(_answer(msg, control, monitor, lambda: False, messages))


def test_keys_in_the_ui_process_change_the_instrument_s_control(tmp_path):
    control, monitor = Control(), session_monitor(tmp_path)
    calls = []
    control.on_action("panic", lambda: calls.append("panic"))
    here, there = multiprocessing.Pipe()
    stop, messages = threading.Event(), ["livechip: a line the engine printed"]
    t = threading.Thread(target=serve, args=(here, control, monitor, stop, messages))
    t.start()
    link = _Link(there)
    app = LivechipApp(LinkedControl(link), LinkedMonitor(link), fps=0)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            first = screen_text(app)
            await pilot.press("T", "3", "x", "C")
            await pilot.pause()
            return first, screen_text(app)

    try:
        first, last = run(go())
    finally:
        stop.set()
        t.join()
    assert "a line the engine printed" in first.splitlines()[-1]
    assert "◆" in first and "●" in first                      # the Monitor's notes came through the pipe
    assert control.get("temperature") == pytest.approx(1.05) and control.get("voice/tr/mode") == "model"   # auto -> model
    assert calls == ["panic"]
    assert "temp 1.05" in last.splitlines()[0]
    assert "reset: no engine is running" in last.splitlines()[-1]   # a refusal comes back as a message


def test_run_in_process_serves_a_real_ui_process_until_done(tmp_path):
    """A real second Python process (headless: no terminal here) asks for snapshots until told to stop."""
    control, monitor = Control(), session_monitor(tmp_path)
    asked = []
    real = monitor.snapshot

    def counting(*a):
        asked.append(time.monotonic())
        return real(*a)

    monitor.snapshot = counting
    end = time.monotonic() + 6.0
    t0 = time.monotonic()
    _run_in_process(control, monitor, lambda: time.monotonic() >= end, False, False, 15, headless=True)
    assert time.monotonic() - t0 < 12.0                        # it closed soon after being told to
    assert len(asked) >= 5, "the UI process asked for the Monitor's snapshot as it refreshed"
