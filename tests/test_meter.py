"""The serial edge: the Linky simulator, open_meter on ptys, reconnection, the meter CLI."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import tty
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest

from daisee_lab import dsmr, tic
from daisee_lab.meter import MeterError, open_meter
from daisee_lab.recorder import Recorder
from daisee_lab.simulator import WRITE_PERIOD_SECONDS, Faults, MeterSimulator, ResidentialProfile
from daisee_lab.units import PARIS
from processes import assert_sqlite_intact, kill_9_after

FAST = 8  # simulator speed for tests that only need frames to flow
NOON = datetime(2025, 6, 21, 12, 0, tzinfo=PARIS)


def constant(load_w: float, pv_w: float = 0.0):
    return lambda t: (load_w, pv_w)


def frames_with_line_time(sim: MeterSimulator, n: int) -> list[tuple[tic.Frame, float]]:
    """The first `n` frames of `sim`, each with the line time (s) elapsed before it started."""
    out, elapsed = [], 0.0
    for raw in islice(sim.frames(), n):
        (frame,) = tic.decode_frames(raw)
        out.append((frame, elapsed))
        elapsed += len(raw) * 10 / sim.line.baudrate
    return out


# ------------------------------------------------------------------------------- the simulator


def test_same_seed_and_settings_give_the_same_seven_bit_bytes():
    settings = {"mode": "standard", "phases": 3, "producer": True,
                "faults": {"bit_flip": 0.01, "drop": 0.01, "eot": 0.3}}
    first = MeterSimulator(seed=7, **settings).render(6)
    assert first == MeterSimulator(seed=7, **settings).render(6)
    assert first != MeterSimulator(seed=8, **settings).render(6)
    assert max(first) < 0x80  # 7 data bits, bit flips included
    sim = MeterSimulator(seed=7)
    assert sim.render(3) == sim.render(3)  # each rendering starts from `start` again


def test_standard_frame_carries_the_meter_state():
    sim = MeterSimulator("standard", seed=1, start=NOON, profile=constant(1900))
    frame = tic.decode_frames(sim.render(1))[0]
    reading = frame.reading()
    assert frame.mode == "standard" and frame.rejected == ()
    assert list(frame.values)[:6] == ["ADSC", "VTIC", "DATE", "NGTF", "LTARF", "EAST"]
    assert reading.meter_id == sim.meter_id and len(sim.meter_id) == 12
    assert reading.meter_time == NOON
    assert reading.apparent_power_va == 2000  # 1900 W at a power factor of 0.95
    assert reading.currents_a == (round(2000 / reading.voltages_v[0]),)
    assert reading.import_wh == reading.registers["EAST"] == reading.registers["EASF01"]
    assert reading.export_wh is None and "SINSTI" not in frame.values
    assert reading.tariff_period == "BASE" and reading.warnings == ()
    assert reading.status["operation"] == "consumer"
    assert reading.status["tic_mode"] == "standard"
    assert reading.status["active_energy_direction"] == "positive"


def test_registers_integrate_the_load_over_simulated_time():
    sim = MeterSimulator("standard", seed=2, start=NOON, profile=constant(3600))
    frames = frames_with_line_time(sim, 40)
    first, _ = frames[0]
    for frame, elapsed in frames[1:]:
        gained = frame.reading().import_wh - first.reading().import_wh
        assert abs(gained - 3600 * elapsed / 3600) < 1  # Wh = W x s / 3600
        clock = frame.reading().meter_time - first.reading().meter_time
        assert abs(clock.total_seconds() - elapsed) < 1  # DATE has one-second resolution
    assert frames[-1][1] > 20  # forty frames of about 0.7 s each


def test_producer_injects_its_surplus():
    sim = MeterSimulator("standard", producer=True, seed=3, start=NOON,
                         profile=constant(500, 2500))
    frames = frames_with_line_time(sim, 20)
    first, last = frames[0][0].reading(), frames[-1][0].reading()
    assert last.import_wh == first.import_wh  # no import while PV covers the load
    assert abs(last.export_wh - first.export_wh - 2000 * frames[-1][1] / 3600) < 1
    assert last.export_wh == last.registers["EAIT"]
    assert (last.apparent_power_va, last.injected_power_va) == (0, round(2000 / 0.95))
    assert last.status["operation"] == "producer"
    assert last.status["active_energy_direction"] == "negative"


def test_readings_at_take_the_first_frame_at_or_after_each_moment():
    sim = MeterSimulator("standard", producer=True, seed=3, start=NOON,
                         profile=constant(500, 2500))
    later, soon = NOON + timedelta(seconds=30), NOON + timedelta(seconds=5)
    got = sim.readings_at([later, soon])
    times = [f.reading().meter_time for f in tic.decode_frames(sim.render(80))]
    for moment, reading in zip([later, soon], got):
        assert reading.meter_time == min(t for t in times if t >= moment)
    assert got[0].export_wh - got[1].export_wh == pytest.approx(2000 * 25 / 3600, abs=1)
    with pytest.raises(MeterError, match="historic frames have none"):
        MeterSimulator("historic").readings_at([later])
    with pytest.raises(MeterError, match="timezone-aware"):
        sim.readings_at([later.replace(tzinfo=None)])


@pytest.mark.parametrize("mode, producer", [("standard", True), ("historic", False)])
def test_compressed_time_moves_the_clock_and_exact_indexes_by_frame_seconds(mode, producer):
    # 148 W for 225 s is 9.25 Wh a frame, exact in binary floating point: the indexes shown
    # are the exact sums truncated to the Wh, as a real meter's, and whole every fourth frame
    sim = MeterSimulator(mode, producer=producer, seed=4, start=NOON, frame_seconds=225,
                         profile=constant(100, 248) if producer else constant(148))
    readings = [f.reading() for f in tic.decode_frames(sim.render(13))]
    counted = "export_wh" if producer else "import_wh"
    assert [getattr(r, counted) - getattr(readings[0], counted) for r in readings] == [
        int(9.25 * k) for k in range(13)]
    if mode == "standard":
        assert [r.meter_time for r in readings] == [
            NOON + timedelta(seconds=225 * k) for k in range(13)]
        assert len({r.import_wh for r in readings}) == 1  # PV covers the load



    start = datetime(2025, 1, 15, 5, 59, 50, tzinfo=PARIS)
    sim = MeterSimulator("historic", phases=3, tariff="hchp", seed=4, start=start,
                         profile=constant(2850))
    readings = [frame.reading() for frame, _ in frames_with_line_time(sim, 12)]
    assert set(tic.decode_frames(sim.render(1))[0].values) >= {
        "ADCO", "OPTARIF", "ISOUSC", "HCHC", "HCHP", "PTEC", "IINST1", "IINST2", "IINST3",
        "IMAX1", "IMAX2", "IMAX3", "PMAX", "PAPP", "HHPHC", "MOTDETAT", "PPOT"}
    periods = [r.tariff_period for r in readings]
    assert periods[0] == "HC.." and periods[-1] == "HP.."
    switch = periods.index("HP..")
    assert periods[:switch] == ["HC.."] * switch and set(periods[switch:]) == {"HP.."}
    assert readings[switch - 1].registers["HCHC"] > readings[0].registers["HCHC"]
    assert readings[-1].registers["HCHP"] > readings[switch].registers["HCHP"]
    assert readings[-1].registers["HCHC"] == readings[switch].registers["HCHC"]
    assert all(r.phases == 3 and r.apparent_power_va == 3000 for r in readings)
    assert sum(readings[0].currents_a) in (12, 13, 14)  # 3000 VA over three phases at ~230 V


def test_interrupted_frames_are_cut_by_eot_and_the_rest_are_intact():
    cut = MeterSimulator("historic", seed=5, faults=Faults(eot=1.0)).render(4)
    decoder = tic.TicDecoder()
    assert decoder.feed(cut) == [] and decoder.stats.interrupted == 4
    assert cut.count(b"\x04") == 4

    clean = {tuple(f.values.items()) for f in tic.decode_frames(
        MeterSimulator("historic", seed=5).render(30))}
    faulty = MeterSimulator("historic", seed=5, faults={"eot": 0.5})
    survivors = tic.decode_frames(faulty.render(30))
    assert 0 < len(survivors) < 30
    assert all(tuple(f.values.items()) in clean for f in survivors)


def test_bit_flips_and_drops_are_rejected_by_the_decoder_not_raised():
    noisy = MeterSimulator("standard", seed=6, faults={"bit_flip": 0.003, "drop": 0.003})
    decoder = tic.TicDecoder()
    frames = decoder.feed(noisy.render(20))
    assert decoder.stats.rejected["checksum"] + decoder.stats.rejected["malformed"] > 0
    assert len(frames) == 20  # every frame still arrives, minus its damaged groups
    assert sum(len(f.rejected) for f in frames) > 0


@pytest.mark.parametrize("settings, message", [
    ({"mode": "turbo"}, "unknown simulator mode 'turbo'"),
    ({"phases": 2}, "phases=2"),
    ({"tariff": "tempo"}, "unknown tariff 'tempo'"),
    ({"speed": 0}, "speed=0"),
    ({"speed": float("inf")}, "speed=inf: give a number above 0, at most 1000"),
    ({"speed": 1e300}, "speed=1e+300: give a number above 0, at most 1000"),
    ({"speed": float("nan")}, "speed=nan"),
    ({"speed": "fast"}, "speed='fast'"),
    ({"start": datetime(2025, 1, 1)}, "naive"),
    ({"meter_id": "123"}, "meter_id='123'"),
    ({"faults": {"bit_flip": 1.5}}, "bit_flip=1.5"),
    ({"faults": {"lightning": 0.1}}, "unknown fault"),
    ({"frame_seconds": 0}, "frame_seconds=0: give the meter seconds each frame stands for"),
    ({"frame_seconds": float("inf")}, "frame_seconds=inf"),
    ({"frame_seconds": "60"}, "frame_seconds='60'"),
    ({"frame_seconds": True}, "frame_seconds=True"),
    ({"frame_seconds": 60, "speed": 2}, "speed=2 with frame_seconds=60: in compressed time"),
])
def test_bad_simulator_settings_are_clear_errors(settings, message):
    with pytest.raises(MeterError, match=re.escape(message)):
        MeterSimulator(**settings)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("where", ["missing/ttyLINKY", "a-folder"])
def test_a_link_that_cannot_be_made_is_a_clear_error_and_leaks_no_pty(tmp_path, where):
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-folder" / "mine").write_text("kept")
    sim = MeterSimulator(link=tmp_path / where)
    before = open_fds()
    link = re.escape(str(tmp_path / where))
    with pytest.raises(MeterError, match=f"cannot make the link {link}"):
        sim.start()
    assert open_fds() == before  # the pty was closed
    assert (tmp_path / "a-folder" / "mine").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"]  # no staging link left
    with pytest.raises(MeterError, match="not running"):
        _ = sim.port
    sim.link = None  # it can start again, without the link
    with sim:
        assert os.path.exists(sim.port)


def test_residential_profile_has_peaks_and_a_seasonal_pv_bell():
    home = ResidentialProfile(seed=1, pv_peak_w=3000)
    day = datetime(2025, 6, 21, tzinfo=PARIS)
    night_load, night_pv = home(day.replace(hour=3, minute=2))
    evening_load, _ = home(day.replace(hour=19, minute=32))
    assert evening_load > night_load + 1000 and night_pv == 0
    summer_noon = home(day.replace(hour=13, minute=30))[1]
    winter_noon = home(datetime(2025, 12, 21, 12, 30, tzinfo=PARIS))[1]
    assert 2400 < summer_noon <= 3000 and 0 < winter_noon < summer_noon / 2
    assert home(day.replace(hour=8)) == home(day.replace(hour=8))  # a pure function of t


# ---------------------------------------------------------------------------------- on a pty


@pytest.mark.parametrize("mode, speed, chars_per_second", [
    ("historic", 1, 120), ("standard", 2, 1920)])
def test_simulator_paces_bytes_at_the_baud_rate_times_speed(mode, speed, chars_per_second):
    # 7E1 is ten bits a character: 1200 baud carries 120 a second, 9600 baud 960
    sim = MeterSimulator(mode, seed=4, speed=speed)
    assert sim.chars_per_second == chars_per_second
    moments = [0.01, 0.02, 0.5, 1.0, 1.0, 2.5, 7.25]  # seconds since streaming began
    chunks = list(sim.paced(moments))
    assert [len(chunk) for chunk in chunks] == [
        int(t * chars_per_second) - int(before * chars_per_second)
        for before, t in zip([0, *moments], moments)]
    sent = b"".join(chunks)
    assert len(sent) == int(7.25 * chars_per_second)
    assert sent == sim.render(200)[:len(sent)]  # the frames themselves, in order, none skipped


@pytest.mark.parametrize("mode, baudrate", [("historic", 1200), ("standard", 9600)])
def test_open_meter_round_trip_through_the_pty(mode, baudrate):
    with MeterSimulator(mode, seed=9, speed=FAST) as sim:
        sent = sim.render(300)
        with open_meter(sim.port) as meter:
            assert (meter.mode, meter.line.baudrate) == (mode, baudrate)
            assert (meter.line.bytesize, meter.line.parity) == (7, "E")
            assert meter.status.startswith(f"connected: tic {mode} mode, {baudrate} baud 7E1")
            for frame in islice(meter, 3):
                assert frame.mode == mode and frame.reading().meter_id == sim.meter_id
                assert meter.raw.startswith(b"\x02") and meter.raw in sent  # byte-exact
                assert tic.decode_frames(meter.raw)[0].values == frame.values
    assert meter.status == "closed"


def test_forced_mode_is_checked_against_what_the_meter_sends():
    with MeterSimulator("standard", speed=FAST) as sim:
        with open_meter(sim.port, mode="standard") as meter:
            assert next(meter).mode == "standard"
        with pytest.raises(MeterError, match="sends standard-mode frames, not historic"):
            with open_meter(sim.port, mode="historic"):
                pass


@pytest.mark.parametrize("mode", ["standard", "historic"])
def test_compressed_time_on_a_pty_sends_every_frame_from_the_first(mode):
    # the simulator waits for a reader, then for the reader: pausing the reader long enough to
    # fill the pty's buffer drops nothing
    with MeterSimulator(mode, seed=5, frame_seconds=60) as sim:
        sent = list(islice(sim.frames(), 200))
        # twenty of the simulator's looks at the line: nothing is written while nobody has
        # the port open (a negative: no condition to poll for)
        time.sleep(20 * WRITE_PERIOD_SECONDS)
        with open_meter(sim.port, mode=mode) as meter:  # a forced mode: no reopening
            received = []
            for _ in islice(meter, 200):
                received.append(meter.raw)
                if len(received) == 10:
                    wait_until_the_buffer_is_full(meter)  # then the simulator waits
    assert received == sent


def wait_until_the_buffer_is_full(meter, deadline_s: float = 10.0) -> None:
    """Poll the bytes waiting in the reader's pty until they stop growing: the simulator has
    filled the buffer and waits for the reader."""
    deadline, sizes = time.monotonic() + deadline_s, [-1]
    while len(sizes) < 5 or len(set(sizes[-5:])) > 1 or sizes[-1] == 0:
        assert time.monotonic() < deadline, f"the buffer never filled: {sizes[-5:]} bytes"
        sizes.append(meter._serial.in_waiting)
        time.sleep(WRITE_PERIOD_SECONDS)


@pytest.mark.slow  # processes on pseudo-terminals, seconds
def test_compressed_time_starts_for_a_reader_that_does_not_flush():
    with MeterSimulator("historic", seed=6, frame_seconds=60) as sim:
        first = sim.render(1)
        reader = os.open(sim.port, os.O_RDONLY | os.O_NOCTTY)  # as cat would: no flush
        try:
            got = b""
            while len(got) < len(first) and select.select([reader], [], [], 10)[0]:
                got += os.read(reader, len(first) - len(got))
        finally:
            os.close(reader)
    assert got == first


@contextmanager
def replayed_on_a_pty(data: bytes, chunk: int = 64):
    """A pty whose other end plays `data` over and over, as a meter would."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def play():
        position = 0
        while not stop.wait(0.002):
            piece = data[position:position + chunk]
            os.write(master, piece)
            position = (position + len(piece)) % len(data)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    try:
        yield os.ttyname(slave)
    finally:
        stop.set()
        player.join()
        os.close(master)
        os.close(slave)


def test_real_historic_capture_is_detected_and_read_byte_exact(testdata):
    capture = (testdata / "tic" / "pyteleinfo_captured_frames.bin").read_bytes()
    expected = [f.values for f in tic.decode_frames(capture)]
    assert len(expected) == 10
    with replayed_on_a_pty(capture) as port, open_meter(port) as meter:
        assert (meter.mode, meter.line.baudrate) == ("historic", 1200)
        for frame in islice(meter, 4):
            assert frame.reading().meter_id == "021861348497"
            assert meter.raw in capture
            assert frame.values in expected


def test_dsmr_telegram_read_through_open_meter(testdata):
    telegram = (testdata / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()
    with replayed_on_a_pty(telegram) as port, open_meter(port, protocol="dsmr") as meter:
        assert (meter.mode, meter.line.baudrate, meter.line.bytesize) == ("5", 115200, 8)
        for received in islice(meter, 2):
            assert received.values == dsmr.parse_telegram(telegram).values
            assert meter.raw == telegram


@pytest.mark.slow  # processes on pseudo-terminals, seconds
def test_vanished_port_is_reopened_with_backoff(tmp_path):
    link = tmp_path / "ttyLINKY"
    statuses = []
    first, second = (MeterSimulator("standard", seed=s, speed=FAST, link=link) for s in (1, 2))
    assert first.meter_id != second.meter_id
    with first:
        meter_cm = open_meter(str(link), reconnect_delay=0.1, max_reconnect_delay=0.4,
                              reconnect_timeout=10, on_status=statuses.append)
        meter = meter_cm.__enter__()
        assert next(meter).reading().meter_id == first.meter_id
    assert not link.exists()  # unplugged
    comeback = threading.Timer(0.8, second.start)
    comeback.start()
    try:
        ids = []
        while ids.count(second.meter_id) < 3:
            ids.append(next(meter).reading().meter_id)
            assert len(ids) < 100, "never read the second meter"
        resumed = ids.index(second.meter_id)
        assert set(ids[:resumed]) <= {first.meter_id} and set(ids[resumed:]) == {second.meter_id}
    finally:
        comeback.join()
        meter_cm.__exit__(None, None, None)
        second.stop()
    waits = [float(m[1]) for s in statuses if (m := re.search(r"reconnecting in ([\d.]+) s", s))]
    assert waits[:3] == [0.1, 0.2, 0.4] and max(waits) == 0.4  # doubling, capped
    assert any(s.startswith(f"disconnected from {link}") for s in statuses)
    assert statuses[-2].startswith("connected: tic standard mode") and statuses[-1] == "closed"


def test_a_port_that_stays_away_is_given_up_with_a_clear_error():
    sim = MeterSimulator("historic", speed=FAST).start()
    with open_meter(sim.port, reconnect_delay=0.1, reconnect_timeout=0.5) as meter:
        next(meter)
        port = sim.port
        sim.stop()
        with pytest.raises(MeterError, match=f"{port} vanished and did not come back within 0.5 s"):
            for _ in meter:
                pass
        assert meter.status == f"gave up on {port}"


@pytest.mark.parametrize("port, message", [
    ("/nonexistent/ttyUSB7", "no such port /nonexistent/ttyUSB7"),
    ("nosuchscheme://meter", "cannot open nosuchscheme://meter as a serial port"),
    (str(Path(__file__)), f"cannot open {Path(__file__)} as a serial port"),
])
def test_ports_that_cannot_be_opened_are_clear_errors(port, message):
    with pytest.raises(MeterError, match=re.escape(message)):
        with open_meter(port):
            pass


def test_a_silent_port_is_a_clear_error_after_trying_both_baud_rates():
    master, slave = os.openpty()
    try:
        with pytest.raises(MeterError, match="no valid TIC frame on .* at 9600 baud 7E1 or "
                                             "1200 baud 7E1 within 0.3 s"):
            with open_meter(os.ttyname(slave), detect_timeout=0.3):
                pass
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("protocol, mode, message", [
    ("modbus", "auto", "unknown protocol 'modbus'"),
    ("tic", "turbo", "unknown tic mode 'turbo'"),
    ("dsmr", "historic", "unknown dsmr mode 'historic'"),
])
def test_unknown_protocol_or_mode_is_refused_before_opening(protocol, mode, message):
    with pytest.raises(MeterError, match=message):
        open_meter("/dev/null", protocol, mode).__enter__()


# -------------------------------------------------------------------------------------- CLI


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "daisee_lab.cli", "meter", *args]


@contextmanager
def simulate_process(*args: str):
    """`daisee-lab meter simulate` in a subprocess; yields (process, the path it printed)."""
    proc = subprocess.Popen(cli("simulate", *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc, proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.slow  # processes on pseudo-terminals, seconds
def test_cli_read_shows_live_values_from_cli_simulate(tmp_path):
    link = tmp_path / "linky"
    with simulate_process("--mode", "standard", "--link", str(link)) as (sim, port):
        assert port == str(link) and link.is_symlink()
        done = subprocess.run(cli("read", port, "--count", "2"), capture_output=True, text=True,
                              timeout=20)
    assert sim.returncode == 130 and not link.exists()  # SIGTERM stops it cleanly
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(re.match(r"tic standard \S+ meter \d{12} import \d+ Wh export - power \d+ VA$",
                        line) for line in lines)
    assert "meter: connected: tic standard mode, 9600 baud 7E1" in done.stderr


def _committed_row(line: str) -> int:
    """The row id in the recorder's "committed row N: ..." line."""
    assert line.startswith("committed row "), line
    return int(line.split()[2].rstrip(":"))


@pytest.mark.slow  # processes on pseudo-terminals, seconds
def test_cli_record_killed_with_sigkill_loses_no_committed_row(tmp_path):
    db = tmp_path / "meter.db"
    with simulate_process("--mode", "historic", "--speed", "8") as (_, port):
        recorder = subprocess.Popen(cli("record", port, "--db", str(db)),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        committed = kill_9_after(recorder, 8, _committed_row)
    assert_sqlite_intact(db)
    with Recorder(db) as rec:
        rows = rec.to_dataframe().set_index("id")
    assert set(committed) <= set(rows.index)
    for row_id in committed:  # each row's raw frame decodes to the values stored beside it
        row = rows.loc[row_id]
        reading = tic.decode_frames(row["raw"])[0].reading()
        assert (row["mode"], row["meter_id"], row["import_wh"]) == (
            "historic", reading.meter_id, reading.import_wh)


def one_line_error(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("daisee-lab: error: ")
    assert message in done.stderr


def test_cli_bad_port_is_a_one_line_error():
    """(A bad --mode is refused at parse time: tests/test_cli_errors.py.)"""
    one_line_error(subprocess.run(cli("read", "/dev/ttyNOPE0"), capture_output=True, text=True,
                                  timeout=20), "no such port /dev/ttyNOPE0")


def test_cli_mode_the_meter_does_not_speak_is_a_one_line_error():
    with MeterSimulator("standard", speed=FAST) as sim:
        done = subprocess.run(cli("read", sim.port, "--mode", "historic"), capture_output=True,
                              text=True, timeout=20)
    one_line_error(done, "sends standard-mode frames, not historic")


def test_cli_permission_error_is_a_one_line_error():
    master, slave = os.openpty()
    port = os.ttyname(slave)
    os.close(slave)
    os.chmod(port, 0)
    command = cli("read", port)
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv (util-linux) to drop root's file capabilities")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    finally:
        os.close(master)
    one_line_error(done, f"permission denied on {port}")
