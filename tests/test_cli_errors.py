"""Every sub-command of `daisee-lab` with bad arguments: exit 2 and one line naming the argument
and what it accepts, before anything starts; a runtime failure: exit 1 and one line saying what
to do; a traceback only with --debug."""

import errno
import os
import re
import subprocess
import sys
import threading
import tty
from types import SimpleNamespace

import pytest

from daisee_lab.cli import explain_os_error, main

KEY = "00112233445566778899AABBCCDDEEFF"  # 32 hex digits: an AES-128 key

# (arguments, the argument the line must name, a fragment of what it accepts). In arguments,
# {file} is an existing file, {dir} an existing folder, {gone} a path in a missing folder.
BAD_ARGUMENTS = [
    (["frobnicate"], "COMMAND", "invalid choice"),
    (["toolchain", "--fast"], "--fast", "unrecognized"),
    (["book"], "ACTION", "required"),
    (["book", "student", "--book", "{gone}"], "--book", "a folder"),
    (["book", "student", "--book", "{file}"], "--book", "a folder"),
    (["book", "student", "--out", "{file}/student"], "--out", "a folder"),
    (["run", "--households", "0"], "--households", "from 1 to 50"),
    (["run", "--households", "51"], "--households", "from 1 to 50"),
    (["run", "--households", "two"], "--households", "from 1 to 50"),
    (["run", "--method", "vickrey"], "--method", "choose from"),
    (["run", "--date", "2026-02-30"], "--date", "YYYY-MM-DD"),
    (["run", "--date", "tomorrow"], "--date", "YYYY-MM-DD"),
    (["run", "--date", "9999-12-31"], "--date", "from 2000-01-02 to 2099-12-30"),
    (["run", "--date", "1970-01-02"], "--date", "from 2000-01-02 to 2099-12-30"),
    (["run", "--date", "1999-06-21"], "--date", "from 2000-01-02 to 2099-12-30"),
    (["run", "--date", "2099-12-31"], "--date", "from 2000-01-02 to 2099-12-30"),
    (["run", "--seed", "-1"], "--seed", "from 0 to 999999"),
    (["run", "--seed", "1000000"], "--seed", "from 0 to 999999"),
    (["run", "--slots", "0"], "--slots", "1 or more"),
    (["run", "--slots", "1.5"], "--slots", "1 or more"),
    (["run", "--rpc", "localhost:8545"], "--rpc", "http://"),
    (["run", "--rpc", "ftp://node"], "--rpc", "http://"),
    (["run", "--out", "{file}"], "--out", "a folder"),
    (["meter"], "ACTION", "required"),
    (["meter", "read"], "PORT", "required"),
    (["meter", "read", "/dev/null", "--protocol", "foo"], "--protocol", "choose from"),
    (["meter", "read", "/dev/null", "--mode", "foo"], "--mode", "choose from"),
    (["meter", "read", "/dev/null", "--protocol", "dsmr", "--mode", "historic"], "--mode",
     "dsmr: auto, 5, 2.2"),
    (["meter", "read", "/dev/null", "--mode", "5"], "--mode", "tic: auto, standard, historic"),
    (["meter", "read", "/dev/null", "--count", "0"], "--count", "from 1 to"),
    (["meter", "read", "/dev/null", "--count", "-3"], "--count", "from 1 to"),
    (["meter", "read", "/dev/null", "--count", str(2**63)], "--count", "from 1 to"),
    (["meter", "read", "/dev/null", "--reconnect-timeout", "-1"], "--reconnect-timeout",
     "0 or more"),
    (["meter", "read", "/dev/null", "--reconnect-timeout", "nan"], "--reconnect-timeout",
     "0 or more"),
    (["meter", "read", "/dev/null", "--reconnect-timeout", "soon"], "--reconnect-timeout",
     "0 or more"),
    (["meter", "read", "/dev/null", "--protocol", "dsmr", "--key", "1234"], "--key",
     "32 hex digits"),
    (["meter", "read", "/dev/null", "--protocol", "dsmr", "--key", "G" * 32], "--key",
     "32 hex digits"),
    (["meter", "read", "/dev/null", "--key", KEY], "--key", "--protocol dsmr"),
    (["meter", "record", "/dev/null"], "--db", "required"),
    (["meter", "record", "/dev/null", "--db", "{gone}"], "--db", "existing folder"),
    (["meter", "record", "/dev/null", "--db", "{dir}"], "--db", "it is a folder"),
    (["meter", "record", "/dev/null", "--db", "{dir}/m.db", "--protocol", "foo"], "--protocol",
     "choose from"),
    (["meter", "record", "/dev/null", "--db", "{dir}/m.db", "--count", "0"], "--count",
     "from 1 to"),
    (["meter", "record", "/dev/null", "--db", "{dir}/m.db", "--protocol", "dsmr", "--key",
      "zz"], "--key", "32 hex digits"),
    (["meter", "record", "/dev/null", "--db", "{dir}/m.db", "--key", KEY], "--key",
     "--protocol dsmr"),
    (["meter", "simulate", "--mode", "foo"], "--mode", "choose from"),
    (["meter", "simulate", "--mode", "5"], "--mode", "choose from"),
    (["meter", "simulate", "--phases", "2"], "--phases", "choose from"),
    (["meter", "simulate", "--phases", "one"], "--phases", "1, 3"),
    (["meter", "simulate", "--tariff", "foo"], "--tariff", "choose from"),
    (["meter", "simulate", "--seed", "-1"], "--seed", "0 or more"),
    (["meter", "simulate", "--seed", "x"], "--seed", "0 or more"),
    (["meter", "simulate", "--speed", "0"], "--speed", "above 0"),
    (["meter", "simulate", "--speed", "-2"], "--speed", "above 0"),
    (["meter", "simulate", "--speed", "nan"], "--speed", "above 0"),
    (["meter", "simulate", "--speed", "inf"], "--speed", "above 0"),
    (["meter", "simulate", "--speed", "1e300"], "--speed", "at most 1000"),
    (["meter", "simulate", "--start", "2025-06-21T12:00"], "--start", "offset"),
    (["meter", "simulate", "--start", "noon"], "--start", "offset"),
    (["meter", "simulate", "--start", "9999-12-31T23:59+00:00"], "--start", "2000 to 2099"),
    (["meter", "simulate", "--start", "1999-12-31T23:59+01:00"], "--start", "2000 to 2099"),
    (["meter", "simulate", "--start", "9999-12-31T23:59-01:00"], "--start", "2000 to 2099"),
    (["meter", "simulate", "--link", "{gone}"], "--link", "existing folder"),
    (["meter", "simulate", "--link", "{file}"], "--link", "would be replaced"),
    (["meter", "simulate", "--bit-flip", "2"], "--bit-flip", "from 0 to 1"),
    (["meter", "simulate", "--drop", "-0.1"], "--drop", "from 0 to 1"),
    (["meter", "simulate", "--eot", "nan"], "--eot", "from 0 to 1"),
    (["meter", "simulate", "--duration", "-1"], "--duration", "above 0"),
    (["meter", "simulate", "--duration", "0"], "--duration", "above 0"),
    (["meter", "simulate", "--duration", "nan"], "--duration", "above 0"),
    (["classroom"], "ACTION", "required"),
    (["classroom", "serve"], "--learners", "required"),
    (["classroom", "serve", "--learners", "0"], "--learners", "from 1 to 500"),
    (["classroom", "serve", "--learners", "1000"], "--learners", "from 1 to 500"),
    (["classroom", "serve", "--learners", "2", "--port", "99999"], "--port", "from 0 to 65535"),
    (["classroom", "serve", "--learners", "2", "--port", "-1"], "--port", "from 0 to 65535"),
    (["classroom", "serve", "--learners", "2", "--port", "http"], "--port", "from 0 to 65535"),
    (["classroom", "serve", "--learners", "2", "--host", "bogus.invalid"], "--host",
     "this machine"),
    (["classroom", "serve", "--learners", "2", "--host", ""], "--host", "this machine"),
    (["classroom", "serve", "--learners", "2", "--slot-seconds", "0"], "--slot-seconds",
     "from 3 to 600"),
    (["classroom", "serve", "--learners", "2", "--slot-seconds", "601"], "--slot-seconds",
     "from 3 to 600"),
    (["classroom", "serve", "--learners", "2", "--slot-seconds", "nan"], "--slot-seconds",
     "from 3 to 600"),
    (["classroom", "serve", "--learners", "2", "--slots", "0"], "--slots", "1 or more"),
    (["classroom", "serve", "--learners", "2", "--out", "{file}"], "--out", "a folder"),
    (["classroom", "serve", "--learners", "2", "--out", "{file}/room"], "--out", "a folder"),
    (["classroom", "serve", "--learners", "2", "--credits", "0"], "--credits",
     "from 1 to 18446744073709551615"),
    (["classroom", "serve", "--learners", "2", "--credits", str(2**64)], "--credits",
     "from 1 to 18446744073709551615"),
    (["classroom", "serve", "--learners", "2", "--seed", "-1"], "--seed", "0 or more"),
    (["classroom", "join"], "ROOM_OR_SEAT", "required"),
    (["classroom", "join", "http://127.0.0.1:8545", "--code", "ABCD"], "--code", "XXXX-XXXX"),
    (["classroom", "join", "http://127.0.0.1:8545", "--code", "ABC0-EFGH"], "--code",
     "XXXX-XXXX"),
    (["classroom", "join", "http://127.0.0.1:8545"], "--code", "a room's address"),
    (["classroom", "join", "127.0.0.1:8545", "--code", "ABCD-EFGH"], "ROOM_OR_SEAT", "http://"),
    (["classroom", "join", "http://127.0.0.1:8545", "--code", "ABCD-EFGH", "--keep", "{gone}"],
     "--keep", "existing folder"),
    (["classroom", "join", "http://127.0.0.1:8545", "--code", "ABCD-EFGH", "--keep", "{dir}"],
     "--keep", "it is a folder"),
    (["classroom", "join", "http://127.0.0.1:8545", "--code", "ABCD-EFGH", "--keep", "{file}"],
     "--keep", "come back to that seat"),
    (["classroom", "join", "seat.json", "--meter", "/dev/null", "--protocol", "foo"],
     "--protocol", "choose from"),
    (["classroom", "join", "seat.json", "--patience", "-1"], "--patience", "0 or more"),
    (["classroom", "join", "seat.json", "--patience", "nan"], "--patience", "0 or more"),
    (["classroom", "stop", "--out", "{file}"], "--out", "a folder"),
    (["classroom", "stop", "--all"], "--all", "unrecognized"),
]


def fill(args: list[str], tmp_path) -> list[str]:
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "a-dir").mkdir(exist_ok=True)
    places = {"file": tmp_path / "a-file", "dir": tmp_path / "a-dir",
              "gone": tmp_path / "missing" / "x"}
    return [arg.format(**places) for arg in args]


@pytest.mark.parametrize("args, argument, accepts", BAD_ARGUMENTS,
                         ids=[" ".join(case[0]) for case in BAD_ARGUMENTS])
def test_a_bad_argument_exits_2_with_one_line_naming_it(tmp_path, capsys, args, argument,
                                                       accepts):
    assert main(fill(args, tmp_path)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert re.match(r"daisee-lab( \w+)*: error: ", err), err
    assert argument in err and accepts in err
    assert (tmp_path / "a-file").read_text() == "mine"  # nothing was written over
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-dir", "a-file"]


def test_help_shows_defaults_and_choices_from_the_library(capsys):
    from daisee_lab.classroom.schedule import MAX_SLOT_SECONDS, MIN_SLOT_SECONDS
    from daisee_lab.run import MAX_HOUSEHOLDS, RUN_METHODS

    for args, shown in (
            (["run"], [f"1 to {MAX_HOUSEHOLDS}", "{" + ",".join(RUN_METHODS) + "}",
                       "default: mmr"]),
            (["meter", "read"], ["{tic,dsmr}", "default: tic", "default: 60"]),
            (["meter", "simulate"], ["{standard,historic}", "{1,3}", "{base,hchp}"]),
            (["classroom", "serve"], [f"{MIN_SLOT_SECONDS} to {MAX_SLOT_SECONDS}",
                                      "default: 20000000", "default: 8545"])):
        assert main([*args, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert all(part in text for part in shown), (args, text)


# ---------------------------------------------------------------------------- at run time

def test_record_on_a_missing_port_creates_no_database(tmp_path, capsys):
    db = tmp_path / "meter.db"
    assert main(["meter", "record", str(tmp_path / "ttyNOPE0"), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such port" in err
    assert list(tmp_path.iterdir()) == []


def test_the_key_reaches_open_meter_as_bytes(monkeypatch, capsys):
    from contextlib import contextmanager

    import daisee_lab.meter

    opened = {}

    @contextmanager
    def fake_open_meter(port, protocol, mode, **options):
        opened.update(options, port=port, protocol=protocol)
        yield SimpleNamespace(readings=lambda: iter(()))

    monkeypatch.setattr(daisee_lab.meter, "open_meter", fake_open_meter)
    assert main(["meter", "read", "/dev/ttyP1", "--protocol", "dsmr", "--key", KEY.lower(),
                 "--count", "1"]) == 0
    assert opened["key"] == bytes.fromhex(KEY) and opened["protocol"] == "dsmr"
    opened.clear()
    assert main(["meter", "read", "/dev/ttyP1", "--count", "1"]) == 0
    assert opened["protocol"] == "tic" and opened.get("key") is None


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "disk is full"),
    (errno.EACCES, "permission"),
    (errno.EADDRINUSE, "already in use"),
    (errno.ECONNREFUSED, "nothing answers"),
    (errno.EROFS, "read-only"),
])
def test_an_os_error_is_explained_in_one_line(code, words):
    line = explain_os_error(OSError(code, "system text", "/some/where"))
    assert "\n" not in line and words in line and "/some/where" in line


def test_a_node_gone_mid_run_is_explained_by_the_refusal_under_the_http_error():
    """A JSON-RPC node that stops answering surfaces as requests' ConnectionError (errno None,
    the socket's refusal three exceptions down): the line says where and what to do."""
    import socket

    import requests

    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    with pytest.raises(requests.ConnectionError) as caught:
        requests.post(url, json={}, timeout=10)
    line = explain_os_error(caught.value)
    assert line.startswith(f"{url}: nothing answers there") and "\n" not in line, line
    assert "HTTPConnectionPool" not in line


def test_an_os_error_at_run_time_is_one_line_and_a_traceback_only_with_debug(tmp_path, capsys,
                                                                           monkeypatch):
    import daisee_lab.book

    def disk_full(book, out):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "01-x.ipynb"))

    monkeypatch.setattr(daisee_lab.book, "student_edition", disk_full)
    assert main(["book", "student", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("daisee-lab: error: ")
    assert "disk is full" in err and "01-x.ipynb" in err
    with pytest.raises(OSError, match="No space left"):
        main(["--debug", "book", "student", "--out", str(tmp_path)])


def test_a_library_error_shows_its_traceback_only_with_debug(tmp_path):
    command = [sys.executable, "-m", "daisee_lab.cli", "meter", "read", str(tmp_path / "tty9")]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=60)
    loud = subprocess.run([*command[:3], "--debug", *command[3:]], capture_output=True,
                          text=True, timeout=60)
    assert quiet.returncode == 1 and quiet.stderr.count("\n") == 1
    assert "Traceback" not in quiet.stderr and "no such port" in quiet.stderr
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "MeterError" in loud.stderr


def test_a_meter_command_loads_neither_the_chain_nor_the_classroom():
    script = ("import sys; from daisee_lab.cli import main; "
              "code = main(['meter', 'read', '/dev/null', '--count', '0']); "
              "print(code, sorted(name for name in ('daisee_lab.run', 'daisee_lab.classroom', "
              "'daisee_lab.chain', 'web3') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr


@pytest.mark.parametrize("key, code, out", [
    ("D491470F47126332B07D1923B3504188", 0,  # 1.8.0 6.695 kWh, 2.8.0 0.025 kWh in the plaintext
     "dsmr 4.2 2018-01-30T10:21:22+01:00 meter  import 6695 Wh export 25 Wh power 0 W\n"),
    ("00" * 16, 1, ""),
])
def test_meter_read_decrypts_a_smarty_telegram_with_its_key_only(testdata, capsys, key, code,
                                                                 out):
    """The published Luxembourg frame (tests/data/dsmr/README.md), streamed on a pty."""
    frame = bytes.fromhex((testdata / "dsmr" / "smarty_lux_encrypted_key_D491470F.hex")
                          .read_text().replace("\n", ""))
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def stream():
        while not stop.wait(0.2):
            os.write(master, frame)

    writer = threading.Thread(target=stream, daemon=True)
    writer.start()
    try:
        assert main(["meter", "read", os.ttyname(slave), "--protocol", "dsmr", "--key", key,
                     "--count", "1"]) == code
    finally:
        stop.set()
        writer.join()
        os.close(slave)
        os.close(master)
    printed = capsys.readouterr()
    assert printed.out == out
    assert code == 0 or (printed.err.count("\n") == 1 and "the key" in printed.err)


def test_record_skips_a_refused_reading_and_keeps_recording(tmp_path, monkeypatch, capsys):
    """A long-running recorder never dies from one bad input: a reading the database refuses is
    reported on one line and the next ones are stored."""
    from daisee_lab.simulator import MeterSimulator
    from daisee_lab.recorder import Recorder, RefusedRow

    record, calls = Recorder.record, []

    def refuse_the_second(self, reading, raw, received_at=None):
        calls.append(reading)
        if len(calls) == 2:
            raise RefusedRow("row 0: import_wh=-1 is outside 0 to 1099511627775 Wh")
        return record(self, reading, raw, received_at)

    monkeypatch.setattr(Recorder, "record", refuse_the_second)
    db = tmp_path / "meter.db"
    with MeterSimulator("standard", speed=20) as sim:
        assert main(["meter", "record", sim.port, "--count", "3", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert out.count("committed row") == 2
    assert "meter: skipped a reading: row 0: import_wh=-1 is outside" in err
    with Recorder(db) as rec:
        assert len(rec.to_dataframe()) == 2
