"""The recorder: readings into SQLite (WAL), one or a batch per transaction, and back out as
pandas, surviving kill -9."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading
from daisee_lab.recorder import Recorder, RecorderError, RefusedRow
from daisee_lab.units import MAX_INDEX_WH
from processes import assert_sqlite_intact, kill_9_after

PARIS_SUMMER = timezone(timedelta(hours=2))
T0 = datetime(2025, 6, 21, 10, 0, tzinfo=UTC)


def standard_reading(meter_id: str = "021861348497", east: int = 17026175) -> Reading:
    return Reading(
        protocol="tic", mode="standard", meter_id=meter_id, import_wh=east, export_wh=32781,
        registers={"EAST": east, "EASF01": 4432429, "EAIT": 32781}, phases=1,
        apparent_power_va=519, injected_power_va=0, currents_a=(2,), voltages_v=(232,),
        tariff_period="HEURE  CREUSE", meter_time=datetime(2025, 6, 21, 12, 58, 5,
                                                             tzinfo=PARIS_SUMMER),
        status={"contact_sec": "ferme", "producer": False}, warnings=("SINSTS above PREF",),
    )


def test_round_trip_keeps_every_field_and_converts_times_to_utc(tmp_path):
    raw = b"\x02\nADSC\t021861348497\t?\r\x03"
    with Recorder(tmp_path / "r.db") as rec:
        row_id = rec.record(standard_reading(), raw, received_at=T0)
        rec.record(Reading(protocol="tic", mode="historic", meter_id="111111111111",
                           import_wh=None), b"", received_at=T0 + timedelta(seconds=2))
        df = rec.to_dataframe()

    assert row_id == 1
    assert list(df["id"]) == [1, 2]
    first = df.iloc[0]
    assert first["received_at"] == pd.Timestamp("2025-06-21T10:00:00Z")
    assert first["meter_time"] == pd.Timestamp("2025-06-21T10:58:05Z")  # 12:58:05 at +02:00
    assert str(df["received_at"].dt.tz) == "UTC"
    assert str(df["meter_time"].dt.tz) == "UTC"
    assert (first["meter_id"], first["protocol"], first["mode"]) == (
        "021861348497", "tic", "standard")
    assert (first["import_wh"], first["export_wh"], first["apparent_power_va"]) == (
        17026175, 32781, 519)
    assert first["registers"] == {"EAST": 17026175, "EASF01": 4432429, "EAIT": 32781}
    assert first["currents_a"] == [2] and first["voltages_v"] == [232]
    assert first["status"] == {"contact_sec": "ferme", "producer": False}
    assert first["warnings"] == ["SINSTS above PREF"]
    assert first["tariff_period"] == "HEURE  CREUSE"
    assert first["raw"] == raw
    # missing values stay missing, in nullable integer columns
    assert str(df["import_wh"].dtype) == "Int64"
    assert pd.isna(df.iloc[1]["import_wh"]) and pd.isna(df.iloc[1]["export_wh"])
    assert pd.isna(df.iloc[1]["meter_time"]) and df.iloc[1]["status"] is None


def test_database_is_in_wal_mode_and_readable_by_another_connection_while_open(tmp_path):
    path = tmp_path / "r.db"
    with Recorder(path) as rec:
        rec.record(standard_reading(), b"raw", received_at=T0)
        other = sqlite3.connect(path)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT import_wh FROM readings").fetchall() == [(17026175,)]
        other.close()
        with Recorder(path) as second:  # a second recorder on the same file sees the row
            assert len(second.to_dataframe()) == 1


def test_filters_by_meter_and_half_open_time_range(tmp_path):
    with Recorder(tmp_path / "r.db") as rec:
        for minute in range(4):
            for meter in ("A", "B"):
                rec.record(standard_reading(meter, east=1000 + minute), b"",
                           received_at=T0 + timedelta(minutes=minute))
        df = rec.to_dataframe(meter_id="B", start=T0 + timedelta(minutes=1),
                              end=(T0 + timedelta(minutes=3)).astimezone(PARIS_SUMMER))
        assert list(df["meter_id"]) == ["B", "B"]
        assert list(df["import_wh"]) == [1001, 1002]
        assert len(rec.to_dataframe(meter_id="nobody")) == 0
        assert list(rec.to_dataframe(start=T0 + timedelta(minutes=3))["import_wh"]) == [
            1003, 1003]


def test_rows_survive_reopening(tmp_path):
    path = tmp_path / "r.db"
    with Recorder(path) as rec:
        rec.record(standard_reading(east=5), b"one", received_at=T0)
    with Recorder(path) as rec:
        rec.record(standard_reading(east=6), b"two", received_at=T0 + timedelta(seconds=1))
        df = rec.to_dataframe()
    assert list(df["import_wh"]) == [5, 6]
    assert list(df["raw"]) == [b"one", b"two"]


def test_naive_datetimes_are_refused_with_the_name_of_the_argument(tmp_path):
    with Recorder(tmp_path / "r.db") as rec:
        with pytest.raises(RecorderError, match="received_at.*naive"):
            rec.record(standard_reading(), b"", received_at=datetime(2025, 1, 1))
        with pytest.raises(RecorderError, match="start.*naive"):
            rec.to_dataframe(start=datetime(2025, 1, 1))
        assert len(rec.to_dataframe()) == 0


def test_record_many_stores_a_batch_in_one_transaction(tmp_path):
    path = tmp_path / "r.db"
    batch = [(standard_reading(east=1000 + n), bytes([n]), T0 + timedelta(seconds=n))
             for n in range(5)]
    with Recorder(path) as rec:
        assert rec.record_many([]) == []
        rec.record(standard_reading(east=1), b"alone", received_at=T0 - timedelta(hours=1))
        assert rec.record_many(batch) == [2, 3, 4, 5, 6]
        assert rec.record_many([(standard_reading(east=7), b"now")]) == [7]  # stamped now
        other = sqlite3.connect(path)  # committed: another connection sees every row
        assert other.execute("SELECT count(*) FROM readings").fetchone()[0] == 7
        other.close()
        df = rec.to_dataframe()
    assert list(df["import_wh"]) == [1, 1000, 1001, 1002, 1003, 1004, 7]
    assert list(df["raw"][1:6]) == [bytes([n]) for n in range(5)]
    assert df["received_at"].iloc[-1] > pd.Timestamp(T0)


@pytest.mark.parametrize("bad_row, message", [
    ((standard_reading(), b"", datetime(2025, 1, 1)), "received_at.*naive"),
    ((standard_reading(),), r"row 2 is \(Reading"),
    ([standard_reading(), b""], r"row 2 is \[Reading"),
    (("not a reading", b""), "row 2: 'not a reading' is not a Reading"),
    ((standard_reading(), "text"), "row 2: raw='text' is not bytes"),
])
def test_a_bad_row_in_a_batch_stores_nothing(tmp_path, bad_row, message):
    good = (standard_reading(), b"", T0)
    with Recorder(tmp_path / "r.db") as rec:
        with pytest.raises(RecorderError, match=message):
            rec.record_many([good, good, bad_row, good])
        assert len(rec.to_dataframe()) == 0


def test_unwritable_path_is_a_clear_error(tmp_path):
    path = tmp_path / "no-such-folder" / "r.db"
    with pytest.raises(RecorderError, match="no-such-folder.*folder must exist") as info:
        Recorder(path)
    assert isinstance(info.value, DaiseeError)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not SQLite, " * 100)
    with pytest.raises(RecorderError, match="notes.txt"):
        Recorder(path)
    assert path.read_text().startswith("this is not SQLite")  # left untouched


def test_another_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(RecorderError, match="not a daisee-lab recorder database"):
        Recorder(path)


RECORDING_SCRIPT = textwrap.dedent("""
    import sys
    from daisee_lab.reading import Reading
    from daisee_lab.recorder import Recorder

    batch = int(sys.argv[2])  # 0: one record() at a time; else record_many() of that many
    with Recorder(sys.argv[1]) as rec:
        index = 0
        while True:
            readings = [Reading(protocol="tic", mode="standard", meter_id="KILLME",
                                import_wh=i, registers={"EAST": i})
                        for i in range(index, index + max(batch, 1))]
            rows = [(reading, bytes([reading.import_wh % 128]) * 300) for reading in readings]
            ids = rec.record_many(rows) if batch else [rec.record(*rows[0])]
            for row_id, reading in zip(ids, readings):
                print(row_id, reading.import_wh, flush=True)  # printed only once committed
            index += len(readings)
""")


@pytest.mark.parametrize("batch", [0, 7])
def test_kill_9_loses_no_committed_row(tmp_path, batch):
    path = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", RECORDING_SCRIPT, str(path), str(batch)],
                            stdout=subprocess.PIPE, text=True)
    reported = dict(kill_9_after(proc, 150, lambda line: tuple(map(int, line.split()))))
    assert_sqlite_intact(path)
    with Recorder(path) as rec:
        df = rec.to_dataframe(meter_id="KILLME")
    stored = dict(zip(df["id"], df["import_wh"], strict=True))
    assert {row_id: stored.get(row_id) for row_id in reported} == reported
    assert all(raw == bytes([index % 128]) * 300 for raw, index in zip(
        df["raw"], df["import_wh"], strict=True))


# ------------------------------------------------------------------------ bounds and flags

@pytest.mark.parametrize("changes, message", [
    ({"import_wh": 2**63}, "import_wh=9223372036854775808 is outside 0 to 1099511627775 Wh"),
    ({"export_wh": MAX_INDEX_WH + 1}, "export_wh=1099511627776 is outside 0 to"),
    ({"import_wh": -1}, "import_wh=-1 is outside"),
    ({"registers": {"EAST": 2**64}}, r"registers\['EAST'\]=18446744073709551616 is outside"),
    ({"apparent_power_va": -2**63 - 1}, "apparent_power_va=-9223372036854775809 is outside"),
    ({"power_w": 1.5}, "power_w=1.5 is not a whole number"),
    ({"phases": 2**70}, "phases=.* is outside"),
])
def test_a_value_out_of_range_is_a_recorder_error_and_stores_nothing(tmp_path, changes, message):
    bad = dataclasses.replace(standard_reading(), **changes)
    with Recorder(tmp_path / "r.db") as rec:
        rec.record(standard_reading(), b"kept", received_at=T0)
        with pytest.raises(RefusedRow, match=f"row 1: {message}"):  # a RecorderError too
            rec.record_many([(standard_reading(), b"", T0), (bad, b"", T0)])
        assert list(rec.to_dataframe()["raw"]) == [b"kept"]
    assert dataclasses.replace(standard_reading(), import_wh=MAX_INDEX_WH).import_wh  # the bound


def test_flags_are_kept_and_an_older_file_gains_the_column(tmp_path):
    path = tmp_path / "r.db"
    flagged = dataclasses.replace(standard_reading(), import_wh=None,
                                  flags=("EAST = 13345579 Wh: implausible",))
    with Recorder(path) as rec:
        rec.record(standard_reading(), b"old", received_at=T0)
    db = sqlite3.connect(path)  # make it a file of schema version 1, before flags existed
    db.executescript("ALTER TABLE readings DROP COLUMN flags; PRAGMA user_version = 1;")
    db.close()
    with Recorder(path) as rec:
        rec.record(flagged, b"new", received_at=T0 + timedelta(seconds=1))
        df = rec.to_dataframe()
    assert list(df["flags"]) == [[], ["EAST = 13345579 Wh: implausible"]]
    assert pd.isna(df["import_wh"].iloc[1])
