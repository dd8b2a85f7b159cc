"""The app's modal screens: the key help and the preset picker."""

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from livechip.tui.draw import HUMAN, VOICE_COLOURS
from livechip.tui.keys import help_lines


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q,enter,space", "app.pop_screen", "close")]

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("livechip: keys\n\n", "bold")
        for keys, what in help_lines(self.app.BINDINGS):
            t.append(f"  {keys:<9}", "bold #ffd700")
            t.append(f"{what}\n")
        t.append("\nRoll: time flows right to left past the | line (now). ", "#808080")
        t.append("●━ model", f"bold {VOICE_COLOURS['P1']}")
        t.append("  ")
        t.append("◆═ you", f"bold {HUMAN}")
        t.append("  ")
        t.append("○╌ ahead (not heard yet)", f"dim {VOICE_COLOURS['P1']}")
        t.append("\nEsc closes this help.", "#808080")
        yield Static(t, id="help")


class PresetScreen(ModalScreen):
    """A small picker of the presets found (user presets, then shipped ones)."""
    BINDINGS = [Binding("escape,l", "app.pop_screen", "cancel")]

    def __init__(self, names):
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="presets"):
            yield Static("Load a preset (Enter loads, Esc cancels)", id="presets-title")
            yield OptionList(*self.names, id="preset-list")

    def on_option_list_option_selected(self, event):
        self.app.pop_screen()
        self.app.load_preset(self.names[event.option_index])
