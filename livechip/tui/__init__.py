"""The terminal UI (Textual): `run_tui(control, monitor)` in-process, `livechip tui --connect` over OSC."""


def run_tui(control, monitor, **kw):
    """See `livechip.tui.app.run_tui` (imported here lazily: Textual loads only when the UI is shown)."""
    from livechip.tui.app import run_tui as run
    return run(control, monitor, **kw)
