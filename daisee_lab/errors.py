"""The root of every exception the library raises on purpose.

Each module derives its own types from :class:`DaiseeError`, so a caller can catch
everything daisee-lab raises with one ``except`` and still tell the causes apart.
"""

__all__ = ["DaiseeError", "PerimeterError", "SettlementError"]


class DaiseeError(Exception):
    """Base class of all daisee-lab errors. Messages say what was wrong and what to do."""


class SettlementError(DaiseeError, ValueError):
    """Bad input to a settlement or an allocation: the message names the argument and the fault.

    A ValueError too, so callers that caught ValueError before keep working.
    """


class PerimeterError(DaiseeError, ValueError):
    """Bad description of a collective self-consumption operation's sites (coordinates, roles,
    powers): the message names the participant and the field."""
