"""The tests' polling helpers: they return as soon as a condition holds, and fail naming it."""

import itertools

import pytest

from polling import holds_for, wait_until


def test_wait_until_returns_the_first_true_value():
    count = itertools.count()
    assert wait_until(lambda: next(count) >= 3 and "ready", timeout=10, what="three looks") \
        == "ready"


def test_wait_until_fails_naming_what_never_came():
    with pytest.raises(AssertionError, match="not within 0.1 s: the room opened"):
        wait_until(lambda: False, timeout=0.1, what="the room opened")


def test_holds_for_fails_the_first_time_the_condition_breaks():
    count = itertools.count()
    holds_for(lambda: True, seconds=0.1, what="always")
    with pytest.raises(AssertionError, match="no longer true: fewer than three looks"):
        holds_for(lambda: next(count) < 3, seconds=10, what="fewer than three looks")
