"""The root of every exception the library raises on purpose.

Each module derives its own types from :class:`DaiseeError`, so a caller can catch
everything daisee-lab raises with one ``except`` and still tell the causes apart.
"""


class DaiseeError(Exception):
    """Base class of all daisee-lab errors. Messages say what was wrong and what to do."""
