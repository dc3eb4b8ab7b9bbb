"""The helpers of tests/processes.py do what the kill -9 tests rely on."""

import sqlite3
import subprocess
import sys

import pytest
from processes import assert_sqlite_intact, kill_9_after

COUNTING = "import itertools\nfor i in itertools.count(): print(i, flush=True)"


def test_kill_9_after_returns_the_lines_read_and_those_written_before_the_kill():
    proc = subprocess.Popen([sys.executable, "-c", COUNTING], stdout=subprocess.PIPE, text=True)
    numbers = kill_9_after(proc, 50, int)
    assert numbers[:50] == list(range(50))
    assert numbers == list(range(len(numbers)))  # nothing lost or repeated after the 50th
    assert proc.returncode == -9 and proc.stdout.closed


def test_kill_9_after_fails_when_the_process_ends_by_itself_first():
    proc = subprocess.Popen([sys.executable, "-c", "print(1); print(2)"], stdout=subprocess.PIPE,
                            text=True)
    with pytest.raises(AssertionError, match="stopped after 2 lines, before being killed"):
        kill_9_after(proc, 3, int)
    assert proc.stdout.closed


def test_kill_9_after_closes_the_pipe_when_a_line_fails_to_parse():
    proc = subprocess.Popen([sys.executable, "-c", "print('x'); import time; time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    with pytest.raises(ValueError):
        kill_9_after(proc, 1, int)
    assert proc.wait(timeout=10) == -9 and proc.stdout.closed


def test_assert_sqlite_intact(tmp_path):
    good = tmp_path / "good.db"
    db = sqlite3.connect(good)
    db.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)")
    db.executemany("INSERT INTO t (y) VALUES (?)", [("row",)] * 100)
    db.commit()
    db.close()
    assert_sqlite_intact(good)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 300)
    with pytest.raises(sqlite3.DatabaseError):
        assert_sqlite_intact(bad)
