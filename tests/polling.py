"""Waiting in tests by polling against a deadline, never by sleeping a fixed time and hoping."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
INTERVAL = 0.05  # seconds between two looks


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Call `condition` until it returns something true, and return that; fail the test
    naming `what` if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(INTERVAL)


def holds_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Check that `condition` stays true, looking again and again for `seconds`; fail the test
    naming `what` the first time it is not."""
    deadline = time.monotonic() + seconds
    while True:
        if not condition():
            raise AssertionError(f"no longer true: {what}")
        if time.monotonic() >= deadline:
            return
        time.sleep(INTERVAL)
