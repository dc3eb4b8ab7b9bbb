"""Checkers for the book's exercises. ``check("1.2", answer)`` says ✔ or gives a hint.

An exercise not answered yet (``answer = None``, as the book hands it out) gets no verdict, only a
reminder of what to do: a reader browsing the book is not told they are wrong.

Each chapter's checkers live in a module of this package (``ch01``...). A checker computes the
right answer with the library, compares, and on a wrong answer explains what to look at, without
giving the answer away.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daisee_lab.errors import DaiseeError

__all__ = ["Feedback", "check", "checker"]


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: `correct`, and a message (a hint when it is wrong).
    `answered` is False when there was no answer yet (``None``): no verdict then."""

    exercise: str
    correct: bool
    message: str
    answered: bool = True

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        mark = "✔" if self.correct else "✘" if self.answered else "…"
        return f"{mark} exercise {self.exercise}: {self.message}"


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
    if answer is None:
        return Feedback(exercise, False, "not answered yet: put your answer in place of None and "
                        "run the cell again (the exercise has a hint if you want one)", False)
    return _CHECKERS[exercise](answer)


# Each chapter's module (ch01, ch02, ...) registers its checkers when imported.
for _chapter in pkgutil.iter_modules(__path__):
    if _chapter.name.startswith("ch"):
        importlib.import_module(f"{__name__}.{_chapter.name}")
