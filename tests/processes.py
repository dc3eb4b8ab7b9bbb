"""Test helpers for child processes: kill one with SIGKILL at a chosen point, then check what it
left behind (the recorder's and the CLI's "kill -9 loses no committed row" tests)."""

import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def kill_9_after(proc: subprocess.Popen, count: int, parse: Callable[[str], T]) -> list[T]:
    """Read `count` lines of `proc`'s text stdout, kill it with SIGKILL, then read the lines it
    had written before dying; return every line, each through `parse` (which may assert).

    The process is dead and its stdout closed on return, and also when a line fails; asserts
    that it ended of the SIGKILL, not of its own accord before.
    """
    lines: list[T] = []
    try:
        while len(lines) < count:
            line = proc.stdout.readline()
            assert line, f"the process stopped after {len(lines)} lines, before being killed"
            lines.append(parse(line))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        lines += [parse(line) for line in proc.stdout]  # written before the kill
    finally:
        proc.kill()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return lines


def assert_sqlite_intact(path: Path) -> None:
    """SQLite's own integrity check passes on the database at `path`."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
