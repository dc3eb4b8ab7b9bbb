"""Readings into SQLite and back out as pandas.

A `Recorder` appends one row per `Reading`, with the raw frame it was decoded from, to a SQLite
database in WAL mode. Each `record` call is its own transaction, committed with
``synchronous=FULL`` before the call returns: a row whose id `record` returned survives a
``kill -9`` of the recording process and a power cut, and readers (`to_dataframe`, another
process) can query the file while the recorder writes. `record_many` stores many readings in
one such transaction (all or none), for a reader that takes frames faster than a disk syncs.

Every value is checked before anything is written: an index (`import_wh`, `export_wh`, each of
`registers`) must lie in 0..`~daisee_lab.units.MAX_INDEX_WH`, the other integers in SQLite's
64-bit range, else `RecorderError` names the row and the field. A reading's `flags` (indexes the
decoder found implausible) are stored with it. Files of schema version 1 (before `flags`) gain
the column when opened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, cast

from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading
from daisee_lab.units import MAX_INDEX_WH

__all__ = ["APPLICATION_ID", "Recorder", "RecorderError", "RefusedRow", "SCHEMA_VERSION"]

if TYPE_CHECKING:
    import pandas as pd

APPLICATION_ID = 0x44534C42  # "DSLB" in the SQLite header: marks a daisee-lab recorder file
SCHEMA_VERSION = 2  # 2: the flags column
_SQLITE_INT = (-2**63, 2**63 - 1)  # what an INTEGER column holds

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS readings (
    id                INTEGER PRIMARY KEY,
    meter_id          TEXT NOT NULL,
    protocol          TEXT NOT NULL,
    mode              TEXT NOT NULL,
    received_at       TEXT NOT NULL,   -- ISO 8601, UTC, microseconds: sorts as it reads
    meter_time        TEXT,            -- ISO 8601 with the meter's own UTC offset
    import_wh         INTEGER,
    export_wh         INTEGER,
    apparent_power_va INTEGER,
    injected_power_va INTEGER,
    power_w           INTEGER,
    export_power_w    INTEGER,
    phases            INTEGER NOT NULL,
    tariff_period     TEXT,
    registers         TEXT NOT NULL,   -- JSON object: label -> Wh
    currents_a        TEXT NOT NULL,   -- JSON array, one per phase
    voltages_v        TEXT NOT NULL,   -- JSON array, one per phase
    status            TEXT,            -- JSON object: decoded STGE
    warnings          TEXT NOT NULL,   -- JSON array of strings
    flags             TEXT NOT NULL DEFAULT '[]',  -- JSON array: implausible indexes, left out
    raw               BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_meter_time ON readings (meter_id, received_at);
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""

_INT_COLUMNS = ("import_wh", "export_wh", "apparent_power_va", "injected_power_va",
                "power_w", "export_power_w")
_JSON_COLUMNS = ("registers", "currents_a", "voltages_v", "status", "warnings", "flags")
_INDEX_COLUMNS = ("import_wh", "export_wh")
_COLUMNS = ("id", "meter_id", "protocol", "mode", "received_at", "meter_time", *_INT_COLUMNS,
            "phases", "tariff_period", *_JSON_COLUMNS, "raw")


class RecorderError(DaiseeError):
    """The recorder database cannot be opened, is not a recorder database, or was misused."""


class RefusedRow(RecorderError, ValueError):
    """A row the recorder will not store (a value no meter sends or the database cannot hold, or
    not a reading at all): nothing of it is stored, and the database is as it was."""


def _utc_text(moment: datetime, name: str) -> str:
    """`moment` as fixed-width ISO 8601 UTC text; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RefusedRow(f"{name}={moment!r} is naive: pass a timezone-aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _check_int(n: int, name: str, value: object, low: int, high: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RefusedRow(f"row {n}: {name}={value!r} is not a whole number")
    if not low <= value <= high:
        raise RefusedRow(f"row {n}: {name}={value} is outside {low} to {high}{unit}"
                         + (" (units.MAX_INDEX_WH): not a meter index" if unit else ""))


def _check_numbers(n: int, reading: Reading) -> None:
    """Refuse, naming it, a value of row `n` the database cannot hold or no meter sends."""
    indexes = [(name, getattr(reading, name)) for name in _INDEX_COLUMNS]
    indexes += [(f"registers[{label!r}]", wh) for label, wh in reading.registers.items()]
    for name, wh in indexes:
        if wh is not None:
            _check_int(n, name, wh, 0, MAX_INDEX_WH, " Wh")
    for name in (*_INT_COLUMNS, "phases"):
        value = getattr(reading, name)
        if name not in _INDEX_COLUMNS and value is not None:
            _check_int(n, name, value, *_SQLITE_INT)


class Recorder:
    """One SQLite recorder file: `record` readings into it, `to_dataframe` them back out."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path)
        except sqlite3.Error as exc:
            raise RecorderError(self._cannot_open(exc)) from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise RecorderError(self._cannot_open(exc)) from exc
        except RecorderError:
            self._db.close()
            raise

    def _cannot_open(self, exc: sqlite3.Error) -> str:
        return (f"cannot use {str(self.path)!r} as a recorder database: {exc} "
                "(the folder must exist and be writable, the file must be a recorder database)")

    def _prepare(self) -> None:
        """Check the file is ours (or empty), switch to WAL, create the schema if new."""
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        has_tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if app_id != APPLICATION_ID and (app_id != 0 or has_tables):
            raise RecorderError(
                f"{str(self.path)!r} is a SQLite database but not a daisee-lab recorder database: "
                "choose another file")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        if app_id == 0:
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 1:  # before flags: add the column, in one transaction
            self._db.executescript("BEGIN IMMEDIATE; ALTER TABLE readings ADD COLUMN flags TEXT "
                                   f"NOT NULL DEFAULT '[]'; PRAGMA user_version = "
                                   f"{SCHEMA_VERSION}; COMMIT;")
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise RecorderError(
                f"{str(self.path)!r} has recorder schema version {version}; this daisee-lab "
                f"reads version {SCHEMA_VERSION}")

    def record(self, reading: Reading, raw: bytes, received_at: datetime | None = None) -> int:
        """Store `reading` and the `raw` frame it came from; return the row id.

        The row is committed (durable) when this returns. `received_at` defaults to now, UTC.
        """
        return self.record_many([(reading, raw, received_at)])[0]

    def record_many(self, rows: Iterable[tuple]) -> list[int]:
        """Store each ``(reading, raw)`` or ``(reading, raw, received_at)`` of `rows`, as
        `record` does, in one transaction; return the row ids.

        Every row is checked first: a bad one raises `RecorderError` and nothing is stored.
        All of them are committed (durable) when this returns.
        """
        values = [self._row(n, row) for n, row in enumerate(rows)]
        if not values:
            return []
        sql = (f"INSERT INTO readings ({', '.join(_COLUMNS[1:])}) "
               f"VALUES ({', '.join('?' * len(values[0]))})")
        try:
            with self._db:  # one transaction: committed, or rolled back on an error
                ids = [cast(int, self._db.execute(sql, row).lastrowid)  # an INSERT sets it
                       for row in values]
        except sqlite3.Error as exc:
            raise RecorderError(f"cannot write to {str(self.path)!r}: {exc}") from exc
        return ids

    @staticmethod
    def _row(n: int, row: tuple) -> tuple:
        """The column values of row `n`, ``(reading, raw[, received_at])``, checked."""
        if not isinstance(row, tuple) or len(row) not in (2, 3):
            raise RefusedRow(f"row {n} is {row!r}: give (reading, raw) or "
                             "(reading, raw, received_at)")
        reading, raw, received_at = (*row, None)[:3]
        if not isinstance(reading, Reading):
            raise RefusedRow(f"row {n}: {reading!r} is not a Reading")
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise RefusedRow(f"row {n}: raw={raw!r} is not bytes: give the frame's bytes")
        _check_numbers(n, reading)
        received = _utc_text(received_at or datetime.now(UTC), "received_at")
        meter_time = None
        if reading.meter_time is not None:
            _utc_text(reading.meter_time, "reading.meter_time")  # refuses a naive meter time
            meter_time = reading.meter_time.isoformat()
        return (
            reading.meter_id, reading.protocol, reading.mode, received, meter_time,
            *(getattr(reading, name) for name in _INT_COLUMNS),
            reading.phases, reading.tariff_period,
            json.dumps(reading.registers), json.dumps(list(reading.currents_a)),
            json.dumps(list(reading.voltages_v)),
            None if reading.status is None else json.dumps(reading.status, default=str),
            json.dumps(list(reading.warnings)), json.dumps(list(reading.flags)), bytes(raw),
        )

    def to_dataframe(self, meter_id: str | None = None, start: datetime | None = None,
                     end: datetime | None = None) -> pd.DataFrame:
        """The recorded rows, oldest first, as a DataFrame with timezone-aware UTC timestamps.

        Filters: one `meter_id`; `received_at` in ``[start, end)``. Integer columns are pandas
        nullable ``Int64``; JSON columns come back as dicts and lists; `raw` as bytes.
        """
        import pandas as pd  # here, not at import time: recording on a small board needs no pandas

        clauses, params = [], []
        if meter_id is not None:
            clauses.append("meter_id = ?")
            params.append(meter_id)
        if start is not None:
            clauses.append("received_at >= ?")
            params.append(_utc_text(start, "start"))
        if end is not None:
            clauses.append("received_at < ?")
            params.append(_utc_text(end, "end"))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM readings{where} ORDER BY received_at, id"
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise RecorderError(f"cannot read {str(self.path)!r}: {exc}") from exc

        columns = list(zip(*rows)) or [()] * len(_COLUMNS)
        data = {}
        for name, stored in zip(_COLUMNS, columns, strict=True):
            values: Sequence = stored
            if name in _JSON_COLUMNS:
                values = [None if text is None else json.loads(text) for text in stored]
            elif name == "raw":
                values = [bytes(blob) for blob in stored]
            data[name] = pd.Series(values, dtype=object)
        frame = pd.DataFrame(data)
        for name in ("received_at", "meter_time"):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
        for name in ("id", *_INT_COLUMNS, "phases"):
            frame[name] = frame[name].astype("Int64")
        return frame

    def close(self) -> None:
        """Close the database; every recorded row is already committed."""
        self._db.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
