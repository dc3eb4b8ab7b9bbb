"""The root of every exception the library raises on purpose.

Each module derives its own types from :class:`DaiseeError`, so a caller can catch
everything daisee-lab raises with one ``except`` and still tell the causes apart.
"""

from collections.abc import Iterator

__all__ = ["DaiseeError", "PerimeterError", "SettlementError", "wrapped_errors"]


class DaiseeError(Exception):
    """Base class of all daisee-lab errors. Messages say what was wrong and what to do."""


class SettlementError(DaiseeError, ValueError):
    """Bad input to a settlement or an allocation: the message names the argument and the fault.

    A ValueError too, so callers that caught ValueError before keep working.
    """


class PerimeterError(DaiseeError, ValueError):
    """Bad description of a collective self-consumption operation's sites (coordinates, roles,
    powers): the message names the participant and the field."""


def wrapped_errors(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then every exception it wraps, nearest first, each once: its cause, its context,
    a ``reason`` attribute (urllib3) and exceptions among its arguments (requests). An HTTP
    library's error wraps the socket's refusal a few levels down."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop(0)
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending += [error.__cause__, error.__context__, getattr(error, "reason", None),
                    *error.args]
