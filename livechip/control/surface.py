"""The control surface: every setting a user can change, in one thread-safe place.

OSC, presets, the TUI and the `livechip play` flags all go through one `Control`. Settings are named by
slash paths, the same names the OSC addresses use after `/livechip/`:

    control.set("temperature", 1.2)          # -> 1.2
    control.set("voice/p1/mode", "human")
    control.set("voice/no/timbre/noise_mode", 1)
    control.get("voice/tr/volume")           # -> 1.0
    control.act("panic")                      # the engine registered a handler with on_action

Every setting and action is a row of one table (`livechip.control.settings`: path, type, range, default, OSC address,
terminal-UI keys, help); every value is checked against its row before it is stored: a wrong type, an
unknown path, NaN or infinity raises `ControlError` (a `LivechipError`) and changes nothing, a number outside
its range is clamped (see `livechip.control.settings`). Paths are case-insensitive ("p1" or "P1").

Readers never wait on writers for long: the lock is held only to copy or swap state, never while a
subscriber, note listener or action handler runs. The engine polls `version` (bumped on every change) and takes
a `snapshot()` between model steps; it never reads Control from the audio callback.
"""

import logging
import threading

from livechip.control import presets
# (some names are here for those who take them from the control surface: the engine, the tests)
from livechip.control.settings import ACTION, ACTION_ADDRESSES, ACTIONS, DEFAULT_CHANNEL_MAP, DEFAULT_DRUM_MAP, MAX_STRING, NEEDS_ENGINE, RANGES, READ_ONLY, VOICE_MODES, ControlError, show
from livechip.control.state import State, VoiceState, clone, leaves, lookup, set_path, state_dict, steering  # noqa: F401

log = logging.getLogger("livechip.control.surface")

# what the control surface does itself (the engine registers handlers for the other actions)
OWN = {"preset_load": lambda control, path: presets.apply_preset(control, presets.load_preset(path)),
       "preset_save": lambda control, path: presets.save_preset(control, path)}


# --- Control -----------------------------------------------------------------------------------------

class Control:
    """Every user setting of one livechip instance; safe to use from any thread.

    `subscribe(fn)`: fn(path, value) after each change, for each changed path, outside the lock, on the
    thread that made the change. `on_note(fn)`: fn(voice, pitch, source, time) for each note the engine
    publishes with `note(...)`. `report(**info)`: the engine's running figures (model name, tokens/s, how far
    ahead, xruns, ...), shown by status and the TUI; they do not bump `version`.
    """

    def __init__(self, state=None):
        self._lock = threading.Lock()
        self._state = clone(state) if state is not None else State()   # never changed in place: replaced
        self._subscribers = []
        self._note_listeners = []
        self._handlers = {name: [] for name in ACTIONS}
        self._info = {}
        self.version = 0

    # --- settings ---

    def get(self, path):
        with self._lock:
            state = self._state
        return lookup(state, path)      # compound values come back as fresh dicts

    def set(self, path, value):
        """Store one setting; returns the value stored (checked, clamped). Raises ControlError, changing nothing."""
        return self.set_many([(path, value)])[0]

    def set_many(self, items):
        """Store several settings at once: all of them, or (on the first bad one) none. Returns the stored values."""
        with self._lock:
            state = self._state
        state = clone(state)
        changes = [set_path(state, path, value) for path, value in items]
        steering(state)      # the settings that hold together (a voice's low and high): ControlError
        return self._commit(state, changes)

    def tell(self, path, value):
        """The engine's value of a setting only it changes (the band's beat, the sync source) or follows (bpm
        while synced): stored and told to subscribers like any change."""
        with self._lock:
            state = self._state
        state = clone(state)
        return self._commit(state, [set_path(state, path, value, owner=True)])[0]

    def replace(self, state):
        """Put a whole State in place (a preset), notifying every setting that changed.

        The transport and recording flags stay as they are (only actions change them), and so do the engine's
        own settings (sync, beat)."""
        if not isinstance(state, State):
            raise ControlError(f"not a State: {show(state)}")
        state = clone(state)
        steering(state)
        with self._lock:
            current = self._state
        for path in READ_ONLY:      # the transport, recording, the band's sync and beat: not a preset's
            setattr(state, path, getattr(current, path))
        old = dict(leaves("", state_dict(current)))
        new = leaves("", state_dict(state))
        changes = [(p, v) for p, v in new if old.get(p, object()) != v]
        changes += [(p, None) for p in old if p not in dict(new)]   # removed channel/drum entries
        self._commit(state, changes)

    def _commit(self, state, changes):
        with self._lock:
            self._state = state
            self.version += 1
            subscribers = list(self._subscribers)
        for path, value in changes:
            for fn in subscribers:
                try:
                    fn(path, value)
                except Exception:
                    log.exception("a control subscriber failed on %s", path)
        return [value for _, value in changes]

    def snapshot(self):
        """The whole state as plain data (a fresh copy), with the engine's figures under "info"."""
        with self._lock:
            state, info, version = self._state, dict(self._info), self.version
        d = state_dict(state)
        d["info"], d["version"] = info, version
        return d

    def state(self):
        """A private copy of the current State."""
        with self._lock:
            state = self._state
        return clone(state)

    def subscribe(self, fn):
        with self._lock:
            self._subscribers.append(fn)

    def unsubscribe(self, fn):
        with self._lock:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

    # --- what the engine publishes ---

    def report(self, **info):
        with self._lock:
            self._info.update(info)

    def info(self):
        with self._lock:
            return dict(self._info)

    def on_note(self, fn):
        with self._lock:
            self._note_listeners.append(fn)

    def note(self, voice, pitch, source="model", time=None):
        """Publish a note the engine played (pitch None = note off); never call this from the audio callback."""
        with self._lock:
            listeners = list(self._note_listeners)
        for fn in listeners:
            try:
                fn(voice, pitch, source, time)
            except Exception:
                log.exception("a note listener failed")

    # --- actions ---

    def on_action(self, name, fn):
        """Register fn(*args) to run when `act(name, *args)` is called (the engine does this)."""
        if name not in ACTIONS:
            raise ControlError(f"no action {name!r} (actions: {', '.join(ACTIONS)})")
        with self._lock:
            self._handlers[name].append(fn)

    def act(self, name, *args):
        """Run an action: panic, reset, reprime PATH, record_start, record_stop, record_save PATH,
        preset_load NAME|PATH, preset_save PATH, play, stop, quit. Returns the last handler's result."""
        if name not in ACTIONS:
            raise ControlError(f"no action {show(name)} (actions: {', '.join(ACTIONS)})")
        action = ACTION[name]
        if len(args) != (1 if action.arg else 0):
            want = "one path" if action.arg else "no arguments"
            raise ControlError(f"{name}: takes {want}, got {len(args)} arguments")
        if action.arg:
            p = args[0]
            if not isinstance(p, str) or not p or "\0" in p or len(p) > MAX_STRING:
                raise ControlError(f"{name}: needs a file name or path (1..{MAX_STRING} characters), got {show(p)}")
        with self._lock:
            handlers = list(self._handlers[name])
        if action.engine and not handlers:
            raise ControlError(f"{name}: no engine is running to do it")
        result = OWN[name](self, *args) if name in OWN else None
        for fn in handlers:
            result = fn(*args)
        if action.sets:
            with self._lock:
                state = self._state
            state = clone(state)
            setattr(state, *action.sets)
            self._commit(state, [action.sets])
        return result
