"""The one exception type that carries a message meant for the user.

Raise :class:`FpaError` for bad input (a missing folder, an unknown preset, a
checkpoint of the wrong kind ...). The ``fpa`` command prints its message as a
single line, ``error: <message>``, and exits with status 2; no traceback.
The message should say what was wrong and what to do about it.
"""


class FpaError(Exception):
    """A user-facing error: one line that says what was wrong and how to fix it."""
