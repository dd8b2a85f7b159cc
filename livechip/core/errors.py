"""One error type for everything a user can get wrong.

A `LivechipError` carries a message meant for a person: it names the file (and the line or
byte offset where that helps) and says what is wrong. The CLI prints it as one line and exits
non-zero; it never shows a traceback for one.
"""


class LivechipError(Exception):
    """A problem with the user's input, files, devices or settings (not a bug in livechip)."""


class FileFormatError(LivechipError):
    """A file that cannot be read as the format its name or contents claim."""

    def __init__(self, path, reason, where=None):
        self.path, self.reason, self.where = str(path), reason, where
        loc = f" ({where})" if where else ""
        super().__init__(f"{self.path}{loc}: {reason}")


class CheckpointError(LivechipError):
    """A model checkpoint that is corrupt, truncated, mismatched or unsafe to load."""


class DeviceError(LivechipError):
    """An audio or MIDI device that is missing or cannot be opened."""
