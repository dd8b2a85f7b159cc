"""Snapshots of the main screen at 80x24 and 160x48, compared with the stored ones.

Time is frozen: the Monitor stands 8 s into a session replayed from the tests' own song (tests/tui_helpers.py:
the real Monitor API, fed as the engine feeds it), the refresh timer is off, and the figures are fixed, so the same
code draws the same screen. The stored screens are plain text (tests/__snapshots__/test_tui_snapshot/*.txt, with
an .svg of each in colour for a person to look at). After an intended change of the screen, look at the new
screens and store them with:  LIVECHIP_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_tui_snapshot.py
"""

import difflib
import os

import pytest

from livechip.control.surface import Control
from livechip.tui.app import LivechipApp
from tests.tui_helpers import SNAPSHOTS, run, screen_svg, screen_text, session_monitor

UPDATE = os.environ.get("LIVECHIP_UPDATE_SNAPSHOTS") == "1"


def capture(folder, size, **kw):
    control = Control()
    control.set("voice/p1/mode", "human")     # the player has P1, as in session_monitor
    app = LivechipApp(control, session_monitor(folder), fps=0, **kw)

    async def go():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return screen_text(app), screen_svg(app)

    return run(go())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen(size, tmp_path):
    text, svg = capture(tmp_path, size)
    assert text == capture(tmp_path, size)[0], "the same state must draw the same screen"
    rows = text.splitlines()
    assert len(rows) == size[1] and max(len(r) for r in rows) <= size[0]
    name = f"main_{size[0]}x{size[1]}"
    stored = SNAPSHOTS / "test_tui_snapshot" / f"{name}.txt"
    if UPDATE or not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(text, encoding="utf-8")
        stored.with_suffix(".svg").write_text(svg, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"no stored screen yet: wrote {stored}; look at it (and the .svg), then run again")
    want = stored.read_text(encoding="utf-8")
    if text != want:
        (tmp_path / f"{name}.svg").write_text(svg, encoding="utf-8")
        diff = "\n".join(difflib.unified_diff(want.splitlines(), rows, "stored", "now", lineterm=""))
        pytest.fail(f"the screen changed (new screen: {tmp_path / name}.svg):\n{diff}")


def test_main_screen_ascii_80x24(tmp_path):
    text, _ = capture(tmp_path, (80, 24), ascii=True)
    assert all(ord(ch) < 128 for ch in text), "plain ASCII for terminals without Unicode"
    for voice in ("P1 human", "P2 auto:mdl", "TR auto:mdl", "NO auto:mdl"):
        assert voice in text
