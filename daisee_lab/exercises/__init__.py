"""Checkers for the book's exercises. ``check("1.2", answer)`` says ✔ or gives a hint.

Each chapter's checkers live in a module of this package (``ch01``...). A checker computes the
right answer with the library, compares, and on a wrong answer explains what to look at, without
giving the answer away.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

from daisee_lab.errors import DaiseeError


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: `correct`, and a message (a hint when it is wrong)."""

    exercise: str
    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return f"{'✔' if self.correct else '✘'} exercise {self.exercise}: {self.message}"


_CHECKERS: dict[str, Callable[[Any], Feedback]] = {}


def checker(key: str) -> Callable:
    """Register the decorated function as the checker of exercise `key` (e.g. ``"1.2"``).

    The function takes the learner's answer and returns ``(correct, message)``.
    """
    def register(function: Callable[[Any], tuple[bool, str]]) -> Callable:
        def run(answer: Any) -> Feedback:
            correct, message = function(answer)
            return Feedback(key, correct, message)

        run.__doc__ = function.__doc__
        _CHECKERS[key] = run
        return function

    return register


def check(exercise: str, answer: Any) -> Feedback:
    """Check `answer` to `exercise` (``"chapter.number"``) and return the :class:`Feedback`."""
    if exercise not in _CHECKERS:
        raise DaiseeError(f"no exercise {exercise!r}; known: {', '.join(sorted(_CHECKERS))}")
    return _CHECKERS[exercise](answer)


# Each chapter's module (ch01, ch02, ...) registers its checkers when imported.
for _chapter in pkgutil.iter_modules(__path__):
    if _chapter.name.startswith("ch"):
        importlib.import_module(f"{__name__}.{_chapter.name}")
