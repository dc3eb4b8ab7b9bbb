"""The DSMR codec against meters of every make (issue 18): whole totals only, case-insensitive
units, M-Bus placeholders, a '/' inside a value, channel-1 registers, the Belgian capacity
tariff, the version a telegram proves, EasyMeter Q3D, encrypted Smarty frames, the CRC that
cannot be dropped, and work linear in the input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from conftest import TESTDATA

from daisee_lab import dsmr, dsmr_obis
from daisee_lab.dsmr import (
    DecryptionError,
    DsmrDecoder,
    DsmrError,
    TelegramError,
    crc16_arc,
    decrypt_telegram,
    encode_telegram,
    parse_telegram,
)
from daisee_lab.units import MAX_INDEX_WH

DSMR = TESTDATA / "dsmr"
SMARTY_KEY = bytes.fromhex("D491470F47126332B07D1923B3504188")


def raw(name: str) -> bytes:
    return (DSMR / name).read_bytes()


def smarty_frame() -> bytes:
    text = (DSMR / "smarty_lux_encrypted_key_D491470F.hex").read_text()
    return bytes.fromhex(text.replace("\n", ""))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def with_crc(body: str) -> bytes:
    """`body` runs from '/' to '!': append its CRC and the line end."""
    return (body + f"{crc16_arc(body.encode('latin-1')):04X}\r\n").encode("latin-1")


def replaced(name: str, old: bytes, new: bytes) -> bytes:
    """A published telegram with one line changed and its CRC recomputed."""
    data = raw(name).replace(old, new)
    assert data != raw(name)
    bang = data.index(b"!")
    return with_crc(data[:bang + 1].decode("latin-1"))


# --- partial totals ----------------------------------------------------------------------------

@pytest.mark.parametrize("garbled", [b"001435.7O6*kWh", b"001435.706*kWx", b"001435.706",
                                     b"1435.706*MWh"])
def test_a_garbled_tariff_register_makes_the_total_none_not_half(garbled):
    data = replaced("dsmr42_kaifa_crc6796.txt", b"001435.706*kWh", garbled)
    r = parse_telegram(data).reading()
    assert r.import_wh is None
    assert any("1-0:1.8.2" in w and "import_wh" in w for w in r.warnings)
    assert r.export_wh == 0  # the other direction is whole


def test_a_garbled_register_line_in_a_crcless_telegram_gives_no_total():
    data = raw("dsmr22_iskra_nocrc.txt").replace(b"1-0:1.8.2(00001.001*kWh)",
                                                 b"1-0:1.8.2(00001.0\x01")
    r = parse_telegram(data).reading()
    assert r.import_wh is None and r.export_wh == 2002
    assert any("1-0:1.8.2" in w and "import_wh" in w for w in r.warnings)


def test_a_register_line_whose_code_was_garbled_gives_no_total():
    # 1-0:2.8.2 became 1-0:2.3.2: export has tariff 1 only while import has 1 and 2
    data = raw("dsmr22_iskra_nocrc.txt").replace(b"1-0:2.8.2(", b"1-0:2.3.2(")
    r = parse_telegram(data).reading()
    assert r.export_wh is None and r.import_wh == 2002
    assert any("1-0:2.8.2" in w and "export_wh" in w for w in r.warnings)


def test_a_register_sent_twice_gives_no_total():
    data = raw("dsmr22_iskra_nocrc.txt").replace(b"1-0:1.8.2(", b"1-0:1.8.1(")
    r = parse_telegram(data).reading()
    assert r.import_wh is None


def test_total_and_tariffs_that_disagree_give_no_total():
    values = {"1-0:1.8.0": "000010*Wh", "1-0:1.8.1": "000004*Wh", "1-0:1.8.2": "000005*Wh"}
    r = parse_telegram(encode_telegram("/ABC5", values)).reading()
    assert r.import_wh is None
    assert any("1-0:1.8.0" in w and "10 Wh" in w for w in r.warnings)


def test_an_index_above_the_bound_is_invalid_not_a_crash():
    too_big = f"{(MAX_INDEX_WH + 1) / 1000:.3f}*kWh"
    for text in (too_big, "9" * 30 + "*kWh", "9" * 400 + ".5*Wh"):
        values = {"1-0:1.8.1": text, "1-0:1.8.2": "1*kWh"}
        r = parse_telegram(encode_telegram("/ABC5", values)).reading()
        assert r.import_wh is None and "1-0:1.8.1" not in r.registers
        assert any("1-0:1.8.1" in w for w in r.warnings)
    at_bound = f"{MAX_INDEX_WH}*Wh"
    r = parse_telegram(encode_telegram("/ABC5", {"1-0:1.8.0": at_bound})).reading()
    assert r.import_wh == MAX_INDEX_WH


# --- units ---------------------------------------------------------------------------------------

def test_units_are_case_insensitive():
    values = {"1-0:1.8.1": "000001.000*kwh", "1-0:1.8.2": "000002.000*KWH",
              "1-0:2.8.1": "000003*wh", "1-0:2.8.2": "000000*Wh", "1-0:1.7.0": "01.500*kw",
              "1-0:2.7.0": "0010*w", "1-0:32.7.0": "230.1*v", "1-0:31.7.0": "004*a"}
    r = parse_telegram(encode_telegram("/ABC5", values)).reading()
    assert (r.import_wh, r.export_wh) == (3000, 3)
    assert (r.power_w, r.export_power_w) == (1500, 10)
    assert (r.voltages_v, r.currents_a) == ((230.1,), (4,))


# --- M-Bus placeholder time stamps -------------------------------------------------------------

def test_an_mbus_placeholder_time_keeps_the_value_and_warns():
    # dsmr_parser's test_parse_v5.test_gas_timestamp_invalid (issue 120): the same change, CRC 90C2
    data = raw("dsmr50_iskra_crc6EEE.txt").replace(
        b"0-1:24.2.1(170102161005W)(00000.107*m3)", b"0-1:24.2.1(632525252525S)(00000.000)")
    data = data.replace(b"!6EEE", b"!90C2")
    gas = parse_telegram(data).mbus()[1]
    assert (gas.value, gas.unit, gas.timestamp) == (Decimal("0.000"), "", None)
    assert any("632525252525S" in w for w in gas.warnings)


# --- a '/' inside a value ------------------------------------------------------------------------

def test_a_slash_inside_a_value_is_text_not_a_new_telegram():
    data = raw("dsmr22_iskra_nocrc.txt").replace(b"0-0:96.13.0()", b"0-0:96.13.0(test-/-test)")
    t = parse_telegram(data)
    assert t.values["0-0:96.13.0"] == "test-/-test"
    decoder = DsmrDecoder()
    again = raw("dsmr22_iskra_nocrc.txt")
    assert decoder.feed(data + again) == [t, parse_telegram(again)]


def test_a_slash_at_the_start_of_a_line_still_means_two_telegrams():
    with pytest.raises(TelegramError, match="second '/'"):
        parse_telegram(b"/ISK5\r\n\r\n1-0:1.8.1(1*kWh)\r\n/ISK5\r\n!\r\n")


# --- channel 1 -----------------------------------------------------------------------------------

def test_registers_on_channel_one_are_read():
    values = {"0-0:96.1.4": "50220", "1-1:1.8.1": "000025.600*kWh", "1-1:1.8.2": "000020.655*kWh",
              "1-1:2.8.1": "000465.932*kWh", "1-1:2.8.2": "000003.609*kWh",
              "1-1:1.7.0": "00.000*kW", "1-1:2.7.0": "00.006*kW"}
    r = parse_telegram(encode_telegram("/ABC5", values)).reading()
    assert (r.import_wh, r.export_wh) == (25_600 + 20_655, 465_932 + 3_609)
    assert r.registers["1-1:1.8.1"] == 25_600
    assert (r.power_w, r.export_power_w) == (0, 6)


# --- Belgian capacity tariff ---------------------------------------------------------------------

def test_fluvius_capacity_tariff_fields():
    cap = parse_telegram(raw("fluvius_v171_be_crc3AD7.txt")).capacity
    assert cap.current_average_w == 2351
    assert cap.month_peak == dsmr.DemandPeak(power_w=2589, time=utc("2020-05-09T13:45:58+02:00"))
    assert cap.history == (
        dsmr.DemandPeak(3695, utc("2020-04-23T19:25:38+02:00"),
                        period_end=utc("2020-05-01T00:00:00+02:00")),
        dsmr.DemandPeak(5980, utc("2020-03-05T12:21:39+02:00"),
                        period_end=utc("2020-04-01T00:00:00+02:00")),
        dsmr.DemandPeak(4318, utc("2020-02-10T03:54:21+01:00"),
                        period_end=utc("2020-03-01T00:00:00+02:00")),
    )


def test_capacity_tariff_absent_and_garbled():
    assert parse_telegram(raw("dsmr42_kaifa_crc6796.txt")).capacity is None
    values = {"1-0:1.4.0": "02.351*kW", "1-0:1.6.0": "(200509134558S)(xx*kW)",
              "0-0:98.1.0": "(2)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)"}
    t = parse_telegram(encode_telegram("/FLU5", values))
    assert t.capacity.current_average_w == 2351 and t.capacity.month_peak is None
    assert len(t.capacity.history) == 1
    assert any("1-0:1.6.0" in w for w in t.warnings) and any("0-0:98.1.0" in w for w in t.warnings)


# --- the version a telegram proves ---------------------------------------------------------------

def test_version_is_not_read_from_any_96_1_4():
    t = parse_telegram(encode_telegram("/ABC5", {"0-0:96.1.4": "12345", "1-0:1.8.0": "1*kWh"}))
    assert t.version != "1.2"
    assert t.version == "4+"  # a CRC proves DSMR 4 or later, and nothing more


def test_a_crc_without_version_line_is_not_labelled_22():
    t = parse_telegram(encode_telegram("/ABC5", {"1-0:1.8.0": "1*kWh"}))
    assert t.version == "4+"
    t = parse_telegram(encode_telegram("/ABC5", {"1-0:1.8.0": "1*kWh"}, crc=False))
    assert t.version == "2.2"


# --- EasyMeter Q3D -------------------------------------------------------------------------------

def test_easymeter_q3d_with_gateway_lines():
    t = parse_telegram(raw("easymeter_q3db1024_gateway_nocrc.txt"))
    assert t.header == "/ESY5Q3DB1024 V3.04" and t.crc is None
    assert t.values["1-0:1.8.0"] == "00052185.7825309*kWh"
    r = t.reading()
    assert (r.import_wh, r.export_wh, r.power_w) == (52_185_783, 19_949_322, 2125)
    assert r.meter_id == "1ESY1313002565"
    a = parse_telegram(raw("easymeter_q3da1004_gateway_nocrc.txt")).reading()
    assert (a.import_wh, a.export_wh, a.power_w) == (32_549_506, None, 1688)


def test_easymeter_stream_skips_the_gateway_lines():
    stream = (raw("easymeter_q3db1024_gateway_nocrc.txt") * 2
              + raw("easymeter_q3da1004_gateway_nocrc.txt"))
    got = DsmrDecoder().feed(stream)
    assert [t.reading().import_wh for t in got] == [52_185_783, 52_185_783, 32_549_506]


# --- encrypted telegrams -------------------------------------------------------------------------

def test_a_published_smarty_frame_decrypts():
    t = decrypt_telegram(smarty_frame(), SMARTY_KEY)
    assert t == parse_telegram(raw("smarty_lux_plaintext_crcCFDE.txt"))
    assert (t.header, t.version, t.crc) == ("/Lux5\\253663629_D", "4.2", 0xCFDE)
    r = t.reading()
    assert (r.import_wh, r.export_wh) == (6695, 25)
    assert r.meter_time == utc("2018-01-30T10:21:22+01:00")


def test_a_wrong_key_is_a_clear_error():
    wrong = bytes.fromhex("D491470F47126332B07D1923B3504100")
    with pytest.raises(DecryptionError, match="key") as caught:
        decrypt_telegram(smarty_frame(), wrong)
    assert isinstance(caught.value, DsmrError)
    with pytest.raises(DecryptionError, match="16 bytes"):
        decrypt_telegram(smarty_frame(), b"short")


def test_the_decoder_decrypts_a_stream_of_frames_in_any_chunks():
    frame = smarty_frame()
    stream = b"\x00noise" + frame + frame[:40] + b"junk" + frame + frame
    want = parse_telegram(raw("smarty_lux_plaintext_crcCFDE.txt"))
    for size in (1, 7, 64, len(stream)):
        decoder, got = DsmrDecoder(key=SMARTY_KEY), []
        for at in range(0, len(stream), size):
            got += decoder.feed(stream[at:at + size])
        assert got == [want] * 3
        assert decoder.stats.telegrams == 3


def test_the_decoder_refuses_a_wrong_key():
    decoder = DsmrDecoder(key=bytes(16))
    with pytest.raises(DecryptionError, match="key"):
        decoder.feed(smarty_frame() * 3)


# --- the CRC cannot be dropped -------------------------------------------------------------------

@pytest.mark.parametrize("tail", [b"!\r\n", b"!xEEE\r\n", b"!6E\x00E\r\n", b"!\r\n6EEE\r\n"])
def test_a_dsmr5_telegram_without_its_crc_is_rejected(tail):
    data = raw("dsmr50_iskra_crc6EEE.txt").replace(b"!6EEE\r\n", tail)
    with pytest.raises(TelegramError):
        parse_telegram(data)
    decoder = DsmrDecoder()
    good = raw("dsmr50_iskra_crc6EEE.txt")
    assert decoder.feed(data + good) == [parse_telegram(good)]
    assert decoder.stats.telegrams == 1 and sum(decoder.stats.rejected.values()) == 1


def test_a_stream_that_showed_crcs_rejects_a_telegram_without_one():
    # a CRC-less telegram with no version line is a DSMR 2.2 telegram on its own...
    bare = encode_telegram("/ABC5", {"1-0:1.8.1": "000001.000*kWh", "1-0:1.8.2": "000001.000*kWh"},
                           crc=False)
    assert parse_telegram(bare).reading().import_wh == 2000
    # ...but not after the same line has sent CRCs: its CRC was lost
    good = encode_telegram("/ABC5", {"1-0:1.8.1": "000001.000*kWh", "1-0:1.8.2": "000001.000*kWh"})
    decoder = DsmrDecoder()
    assert len(decoder.feed(good + bare + good)) == 2
    assert decoder.stats.rejected == {"no_crc": 1}
    assert len(DsmrDecoder().feed(bare + bare)) == 2  # a DSMR 2.2 line stays as it is


def test_the_906825_wh_fuzz_finding():
    # the first CRC digit flipped to a non-hex byte used to turn the telegram into a CRC-less one
    data = raw("dsmr50_iskra_crc6EEE.txt")
    corrupted = data.replace(b"1-0:1.8.1(000004.426", b"1-0:1.8.1(900004.426").replace(
        b"!6EEE", b"!\x8eEEE")
    decoder = DsmrDecoder()
    assert decoder.feed(data + corrupted + data) == [parse_telegram(data)] * 2


# --- hostile input: work linear in the input -----------------------------------------------------

def _work(data: bytes) -> int:
    """Bytes the decoder examined in Python-level checks: a measure of its work without a clock."""
    decoder = DsmrDecoder()
    decoder.feed(data)
    return decoder.stats.bytes_examined


@pytest.mark.parametrize("pattern", [b"/", b"/ABC", b"/ABC\r\n", b"x/ABC\r\n",
                                     b"1-0:1.8.1(/ABC)\r\n", b"\r\n"])
def test_decoder_work_is_linear_in_hostile_input(pattern):
    small = pattern * (2000 // len(pattern)) + b"!0000\r\n"
    large = pattern * (8000 // len(pattern)) + b"!0000\r\n"
    assert _work(large) <= 6 * len(large)
    assert _work(large) <= 5 * _work(small)


# --- the OBIS codes, named once ----------------------------------------------------------------

def test_each_named_obis_code_is_sent_by_a_real_meter():
    """A code mistyped in dsmr_obis would silently read nothing: each one is in a capture."""
    sent = set().union(*(parse_telegram(p.read_bytes()).values for p in sorted(DSMR.glob("*.txt"))))
    mbus = {dsmr_obis.MBUS_DEVICE_TYPE, dsmr_obis.MBUS_EQUIPMENT_ID,
            dsmr_obis.MBUS_EQUIPMENT_ID_ALT, dsmr_obis.MBUS_VALUE_OLD}
    powers = {dsmr_obis.POWER_DELIVERED, dsmr_obis.POWER_RETURNED}
    for name in dsmr_obis.__all__:
        value = getattr(dsmr_obis, name)
        if callable(value) or name == "POWER_CHANNELS":
            continue
        for code in value if isinstance(value, tuple) else (value,):
            if code in mbus:
                found = any(dsmr_obis.mbus(n, code) in sent for n in range(1, 5))
            elif code in powers:
                found = any(f"{channel}:{code}" in sent for channel in dsmr_obis.POWER_CHANNELS)
            else:
                found = code in sent
            assert found, f"dsmr_obis.{name} = {code!r} is in no capture of tests/data/dsmr"
    assert dsmr_obis.energy_register(0, "2", 1) in sent  # 1-0:2.8.1, returned, tariff 1
