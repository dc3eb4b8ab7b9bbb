"""The Linky TIC codec: real published frames, hand-made vectors, damage, and round trips."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from conftest import TESTDATA
from hypothesis import given, settings
from hypothesis import strategies as st

from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading
from daisee_lab.tic import (
    PARIS, Frame, Group, TicDecoder, TicError, checksum, decode_frames, decode_groups,
    decode_stge, encode_frame, encode_group, encode_horodate, group_checksum, parse_horodate,
    plausibility_warnings,
)

TIC = TESTDATA / "tic"


def only_frame(name: str) -> Frame:
    """The one frame of a test file, which must have rejected nothing."""
    decoder = TicDecoder()
    frames = decoder.feed((TIC / name).read_bytes())
    assert len(frames) == 1 and frames[0].rejected == ()
    assert decoder.stats.interrupted == 0 and not decoder.stats.rejected
    return frames[0]


def test_every_test_file_is_covered_here():
    tested = {"GROUPS_std_tri_base_real_esphome_issues_2060.bin",
              "GROUPS_std_tri_tempo_real_NicolasBernaerts_tasmota_issue38.bin",
              "NEG_corrupted_lines_from_linkytic_issues.txt",
              "NEG_hist_bad_checksum_ADCO_wifinfo_test_trame_ko.bin",
              "hist_hchp_pyteleinfo_conftest_valid_frame.bin",
              "hist_hchp_pyticcom_serial_dat_verbatim.bin", "hist_hchp_wifinfo_mock_trame.bin",
              "hist_mono_base_with_ADPS_unattributed_pytest.bin",
              "hist_tempo_bbr_pyteleinfo_captured_frame1.bin",
              "hist_tri_base_cbetm_openhab_reframed.bin",
              "hist_tri_ejp_cbetm_openhab_reframed.bin",
              "hist_tri_short_frame_ADIR1_unattributed_gotest.bin",
              "pyteleinfo_captured_frames.bin",
              "std_mono_hc_goteleinfo_reader_test.bin", "std_mono_producer_openhab_reframed.bin",
              "std_tri_producer_tempo_openhab_reframed.bin"}
    assert {p.name for p in TIC.iterdir()} - {"README.md"} == tested


# ------------------------------------------------------------------------ historic, real frames

def test_historic_tempo_frame():
    frame = only_frame("hist_tempo_bbr_pyteleinfo_captured_frame1.bin")
    assert frame.mode == "historic" and len(frame.groups) == 16
    assert frame.values["OPTARIF"] == "BBR(" and frame.values["DEMAIN"] == "ROUG"
    assert frame.horodates == {}
    r = frame.reading()
    assert (r.protocol, r.mode, r.meter_id, r.phases) == ("tic", "historic", "021861348497", 1)
    assert r.registers == {"BBRHCJB": 18328856, "BBRHPJB": 23739545, "BBRHCJW": 1466099,
                           "BBRHPJW": 2132883, "BBRHCJR": 860118, "BBRHPJR": 844115}
    assert r.import_wh == 47371616 and r.export_wh is None
    assert r.apparent_power_va == 2840 and r.currents_a == (12,) and r.voltages_v == ()
    assert r.tariff_period == "HCJB" and r.meter_time is None and r.status is None
    assert r.warnings == ()


def test_whole_pyteleinfo_capture():
    decoder = TicDecoder()
    frames = decoder.feed((TIC / "pyteleinfo_captured_frames.bin").read_bytes())
    assert len(frames) == 10 and decoder.stats.groups == 160 and decoder.stats.frames == 10
    assert not decoder.stats.rejected and decoder.stats.skipped_bytes == 0
    assert frames[0] == only_frame("hist_tempo_bbr_pyteleinfo_captured_frame1.bin")
    assert [f.values["BBRHCJB"] for f in frames][:5] == [
        "018328856", "018328857", "018328860", "018328862", "018328865"]
    assert frames[-1].values["BBRHCJB"] == "018328876" and frames[-1].values["PAPP"] == "02850"
    indexes = [f.reading().import_wh for f in frames]
    assert indexes == sorted(indexes) and indexes[-1] - indexes[0] == 20


def test_checksum_can_be_a_space():
    frame = only_frame("hist_hchp_pyteleinfo_conftest_valid_frame.bin")
    groups = {g.label: g for g in frame.groups}
    assert groups["PTEC"].checksum == " " and groups["PTEC"].data == "HP.."
    assert groups["IINST"].checksum == " " and groups["IINST"].data == "009"
    assert group_checksum("PTEC", "HP..", "historic") == " "
    r = frame.reading()
    assert r.meter_id == "050022120078" and r.import_wh == 94939439 + 127970334
    assert r.currents_a == (9,) and r.apparent_power_va == 2160 and r.tariff_period == "HP.."


def test_wifinfo_frame_and_its_bad_checksum_twin():
    good = only_frame("hist_hchp_wifinfo_mock_trame.bin")
    assert good.reading().meter_id == "111111111111"
    assert good.reading().import_wh == 52890470 + 49126843
    decoder = TicDecoder()
    bad_file = TIC / "NEG_hist_bad_checksum_ADCO_wifinfo_test_trame_ko.bin"
    [bad] = decoder.feed(bad_file.read_bytes())
    assert [(r.raw, r.reason) for r in bad.rejected] == [(b"ADCO 111111111111 A", "checksum")]
    assert decoder.stats.rejected == {"checksum": 1}
    assert bad.values == {k: v for k, v in good.values.items() if k != "ADCO"}
    with pytest.raises(TicError, match="without ADCO"):
        bad.reading()


def test_crlf_capture_artefacts():
    decoder = TicDecoder()
    [frame] = decoder.feed((TIC / "hist_hchp_pyticcom_serial_dat_verbatim.bin").read_bytes())
    assert frame.rejected == () and len(frame.groups) == 11
    assert decoder.stats.skipped_bytes == 16 and decoder.stats.reframed == 0
    r = frame.reading()
    assert r.meter_id == "041961860507" and r.registers == {"HCHC": 1409743, "HCHP": 2038032}
    assert r.import_wh == 3447775 and r.apparent_power_va == 3580 and r.currents_a == (15,)


def test_base_with_adps():
    frame = only_frame("hist_mono_base_with_ADPS_unattributed_pytest.bin")
    assert {g.label: g.checksum for g in frame.groups}["IINST"] == "\\"
    r = frame.reading()
    assert r.import_wh == 12345678 and r.registers == {"BASE": 12345678}
    assert r.currents_a == (5,) and r.apparent_power_va == 690 and r.tariff_period == "TH.."
    assert len(r.warnings) == 1 and "ADPS" in r.warnings[0]


def test_historic_three_phase_base():
    r = only_frame("hist_tri_base_cbetm_openhab_reframed.bin").reading()
    assert r.phases == 3 and r.import_wh == 1181243 and r.currents_a == (0, 2, 0)
    assert r.apparent_power_va == 540
    assert r.warnings == ("ADCO = 'XXXXXXXXXXXX': expected 12 digits",)  # masked in the source


def test_historic_three_phase_ejp():
    frame = only_frame("hist_tri_ejp_cbetm_openhab_reframed.bin")
    assert frame.values["OPTARIF"] == "EJP." and frame.values["PMAX"] == "17480"
    r = frame.reading()
    assert r.phases == 3 and r.tariff_period == "HN.." and r.currents_a == (10, 5, 8)
    assert r.registers == {"EJPHN": 1111111, "EJPHPM": 2222222} and r.import_wh == 3333333
    assert r.warnings == ("ADCO = 'XXXXXXXXXX': expected 12 digits",)


def test_short_three_phase_frame():
    frame = only_frame("hist_tri_short_frame_ADIR1_unattributed_gotest.bin")
    assert list(frame.values) == ["ADCO", "ADIR1", "IINST1", "IINST2", "IINST3"]
    r = frame.reading()
    assert r.meter_id == "123456789012" and r.phases == 3 and r.currents_a == (1, 9, 0)
    assert r.import_wh is None and r.registers == {} and r.apparent_power_va is None
    assert r.warnings == ("over-current short frame (ADIR1): no energy index",)


# ------------------------------------------------------------------------ standard, real frames

def test_standard_single_phase_hc():
    frame = only_frame("std_mono_hc_goteleinfo_reader_test.bin")
    assert frame.mode == "standard" and len(frame.groups) == 38
    assert frame.values["DATE"] == "" and len(frame.values["PJOURF+1"]) == 98
    assert frame.values["NGTF"] == " HC et Week-End "
    assert frame.horodates["SMAXSN"] == datetime(2019, 12, 3, 3, 21, 58, tzinfo=PARIS)
    assert frame.horodates["SMAXSN"].utcoffset() == timedelta(hours=1)
    r = frame.reading()
    assert r.meter_time == datetime(2019, 12, 3, 11, 58, 5, tzinfo=UTC)
    assert r.import_wh == 17026175 and r.export_wh is None and len(r.registers) == 15
    assert r.registers["EASF02"] == 9236697 and r.registers["EASD04"] == 3503199
    assert (r.apparent_power_va, r.injected_power_va) == (519, None)
    assert r.currents_a == (2,) and r.voltages_v == (232,) and r.tariff_period == "HEURE  CREUSE"
    assert r.status["tic_mode"] == "standard" and r.status["distributor_index"] == 3
    assert r.warnings == ("ADSC = '12345678900': expected 12 digits",)  # masked in the source


def test_standard_single_phase_producer():
    frame = only_frame("std_mono_producer_openhab_reframed.bin")
    assert {g.label: g.checksum for g in frame.groups}["EASD01"] == " "
    assert frame.values["NGTF"] == "PRODUCTEUR" and frame.values["ERQ2"] == "000000890"
    r = frame.reading()
    assert r.import_wh == 0 and r.export_wh == 32781 and r.registers["EAIT"] == 32781
    assert "ERQ2" not in r.registers  # reactive energy is not in Wh
    assert r.apparent_power_va == 0 and r.injected_power_va == 1253
    assert r.meter_time == datetime(2018, 7, 16, 8, 34, 23, tzinfo=UTC)
    assert r.status["operation"] == "producer"
    assert r.status["active_energy_direction"] == "negative" and r.warnings == ()


def test_standard_three_phase_producer_tempo():
    frame = only_frame("std_tri_producer_tempo_openhab_reframed.bin")
    assert frame.values["SMAXSN1-1"] == "01084"
    assert frame.horodates["SMAXSN1-1"] == datetime(2021, 4, 13, 9, 11, 48, tzinfo=UTC)
    r = frame.reading()
    assert r.phases == 3 and r.currents_a == (1, 2, 1) and r.voltages_v == (234, 240, 242)
    assert r.import_wh == 11604109 and r.export_wh == 671631
    assert r.apparent_power_va == 13 and r.injected_power_va == 0
    assert r.tariff_period == "HP  BLEU" and r.warnings == ()
    assert r.status == {
        "dry_contact": "open", "cut_off_device": "closed", "terminal_cover": "closed",
        "overvoltage": False, "over_reference_power": False, "operation": "producer",
        "active_energy_direction": "positive", "supplier_index": 2, "distributor_index": 1,
        "clock": "correct", "tic_mode": "standard", "euridis": "enabled with security",
        "plc_status": "New/Lock", "plc_synchronised": False, "tempo_today": "blue",
        "tempo_tomorrow": "no announcement", "mobile_peak_notice": "none", "mobile_peak": "none"}


def test_groups_only_capture_esphome_implausible_power():
    data = (TIC / "GROUPS_std_tri_base_real_esphome_issues_2060.bin").read_bytes()
    decoder = TicDecoder()
    assert decoder.feed(data) == [] and decoder.stats.skipped_bytes == len(data)
    groups, rejected = decode_groups(data)
    assert rejected == [] and len(groups) == 38
    values = {g.label: g.data for g in groups}
    assert values["SINSTS1"] == "48370" and values["PREF"] == "12"
    assert {g.label: g.checksum for g in groups}["SMAXSN3"] == " "
    assert values["MSG1"] == "     PAS DE          MESSAGE    "
    warnings = plausibility_warnings(values, "standard")
    assert [w.split(" ")[0] for w in warnings] == ["SINSTS1", "SINSTS2", "SINSTS3"]
    assert "48370 VA" in warnings[0] and "12000 VA" in warnings[0]


def test_groups_only_capture_tasmota():
    groups, rejected = decode_groups(
        (TIC / "GROUPS_std_tri_tempo_real_NicolasBernaerts_tasmota_issue38.bin").read_bytes())
    assert rejected == [] and len(groups) == 50
    by_label = {g.label: g for g in groups}
    assert by_label["SMAXSN-1"].checksum == "\\" and by_label["SMAXSN-1"].data == "11673"
    assert by_label["ADSC"].data == "031876067693" and by_label["LTARF"].data == "    HC  BLEU    "
    assert by_label["DATE"].time == datetime(2024, 9, 24, 20, 56, 42, tzinfo=UTC)
    assert decode_stge(by_label["STGE"].data)["tempo_today"] == "blue"
    assert plausibility_warnings({g.label: g.data for g in groups}, "standard") == []


def test_corrupted_lines_from_linkytic():
    lines = [ast.literal_eval(line) for line in
             (TIC / "NEG_corrupted_lines_from_linkytic_issues.txt").read_text().splitlines()]
    outcomes = []
    for line in lines:
        groups, rejected = decode_groups(b"\n" + line + b"\r")
        outcomes.append(([(g.label, g.data) for g in groups], [r.reason for r in rejected]))
    assert outcomes == [
        ([], ["checksum"]),                                       # ADSC
        ([("PRM", "01658465929589")], []),                        # 0x0C after the checksum
        ([], ["checksum"]),                                       # EASD01 with a space inside
        ([], ["malformed"]),                                      # 0x08 in place of the HT
        ([("EASF03", "001548023"), ("EASF04", "002860327")], []),  # LF replaced by 0x0E
        ([("HCHP", "019571184")], []),                            # followed by EOT STX
        ([], ["malformed"]),                                      # ISOUSC with 0x7f checksum
    ]
    # In one frame: the historic HCHP is refused in a standard frame, then the EOT drops the
    # frame; the frame its STX opens holds only a bad group.
    decoder = TicDecoder()
    assert decoder.feed(b"\x02" + b"".join(b"\n" + x + b"\r" for x in lines) + b"\x03") == []
    s = decoder.stats
    assert (s.interrupted, s.empty_frames, s.groups, s.noise_bytes) == (1, 1, 3, 4)
    assert s.rejected == {"checksum": 2, "malformed": 2, "mode": 1} and s.reframed == 1


# ------------------------------------------------------------------------ hand-made vectors

def test_both_historic_checksum_methods():
    # HCHP 019571184: method 1 sums "HCHP 019571184" -> '7'; method 2 adds the SP -> 'W'.
    assert checksum("HCHP 019571184") == "7" and checksum(b"HCHP 019571184 ") == "W"
    for cs, method in (("7", 1), ("W", 2)):
        assert group_checksum("HCHP", "019571184", "historic", method=method) == cs
        assert encode_group("HCHP", "019571184", "historic", method=method) == \
            f"\nHCHP 019571184 {cs}\r".encode()
        [group], [] = decode_groups(f"\nHCHP 019571184 {cs}\r".encode())
        assert (group.label, group.data, group.checksum) == ("HCHP", "019571184", cs)
    [], [bad] = decode_groups(b"\nHCHP 019571184 X\r")
    assert bad.reason == "checksum" and "'7'" in bad.detail


def test_standard_checksum_covers_the_horodate():
    [group], [] = decode_groups(b"\nSMAXSN\tE210718001319\t03680\t<\r")
    assert group.horodate == "E210718001319" and group.data == "03680"
    assert group.time == datetime(2021, 7, 17, 22, 13, 19, tzinfo=UTC)
    [], [bad] = decode_groups(b"\nSMAXSN\tE210718001318\t03680\t<\r")
    assert bad.reason == "checksum"


def test_empty_date_and_nine_character_labels():
    when = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    data = encode_frame([("ADSC", "123456789012"), ("DATE", when, ""),
                         ("SMAXSN1-1", "H250228190000", "01010")], "standard")
    assert b"\nDATE\tH250301090000\t\t" in data
    [frame] = decode_frames(data)
    assert frame.values == {"ADSC": "123456789012", "DATE": "", "SMAXSN1-1": "01010"}
    assert frame.reading().meter_time == when
    too_long = "SMAXSN12-1\t01010\t"
    [], [bad] = decode_groups(f"\n{too_long}{checksum(too_long)}\r".encode())
    assert bad.reason == "label"
    with pytest.raises(TicError, match="1 to 9"):
        encode_group("SMAXSN12-1", "01010", "standard")


def test_not_applicable_horodate():
    [group], [] = decode_groups(encode_group("DPM1", "00", "standard", " 000000000000"))
    assert group.horodate == " 000000000000" and group.time is None
    assert parse_horodate(" 000000000000") is None


def test_eot_drops_the_frame_in_progress():
    whole = (TIC / "hist_hchp_wifinfo_mock_trame.bin").read_bytes()
    decoder = TicDecoder()
    frames = decoder.feed(whole[:60] + b"\x04" + whole)
    assert frames == [only_frame("hist_hchp_wifinfo_mock_trame.bin")]
    assert decoder.stats.interrupted == 1 and decoder.stats.groups == 11 + 3


def test_lost_etx_drops_the_frame():
    whole = (TIC / "hist_hchp_wifinfo_mock_trame.bin").read_bytes()
    decoder = TicDecoder()
    assert len(decoder.feed(whole[:-1] + whole)) == 1 and decoder.stats.interrupted == 1


def test_two_groups_glued_by_a_lost_lf():
    a, b = encode_group("EAST", "000123456", "standard"), encode_group("IRMS1", "004", "standard")
    decoder = TicDecoder()
    [frame] = decoder.feed(b"\x02" + a + b[1:] + b"\x03")  # b's LF lost: both still validate
    assert frame.values == {"EAST": "000123456", "IRMS1": "004"}
    assert decoder.stats.reframed == 1
    [frame] = decoder.feed(b"\x02" + a[:-1] + b[1:] + b + b"\x03")  # CR and LF lost: rejected
    assert frame.values == {"IRMS1": "004"}
    assert [(r.raw, r.reason) for r in frame.rejected] == [(a[1:-1] + b[1:-1], "malformed")]


def test_group_too_long_and_mode_mismatch_are_rejected():
    decoder = TicDecoder()
    noise = b"\n" + b"A" * 400 + b"\r"
    [frame] = decoder.feed(b"\x02" + encode_group("EAST", "000000001", "standard") + noise
                           + encode_group("BASE", "000000001", "historic") + b"\x03")
    assert frame.mode == "standard" and list(frame.values) == ["EAST"]
    assert [r.reason for r in frame.rejected] == ["too long", "mode"]
    assert frame.rejected[1].raw == encode_group("BASE", "000000001", "historic")[1:-1]


def test_degraded_clock_and_the_repeated_autumn_hour():
    summer, winter = parse_horodate("E251026023000"), parse_horodate("H251026023000")
    assert summer.astimezone(UTC) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert winter.astimezone(UTC) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert winter.timestamp() - summer.timestamp() == 3600
    assert parse_horodate("e251026023000").timestamp() == summer.timestamp()
    assert encode_horodate(summer) == "E251026023000"
    assert encode_horodate(winter, degraded=True) == "h251026023000"
    [frame] = decode_frames(encode_frame(
        [("ADSC", "123456789012"), ("DATE", "e251026023000", ""), ("EAST", "000000010")],
        "standard"))
    r = frame.reading()
    assert r.meter_time.timestamp() == summer.timestamp()
    assert r.warnings == ("meter clock degraded (lowercase season letter in DATE)",)


def test_season_letter_against_the_calendar():
    [frame] = decode_frames(encode_frame(
        {"ADSC": "123456789012", "DATE": ("H250715120000", ""), "EAST": "000000010"},
        "standard"))
    assert frame.reading().warnings == (
        "DATE: season letter 'H' disagrees with Paris time on 2025-07-15 12:00",)


@pytest.mark.parametrize("bad", ["E251326023000", "X251026023000", "E2510260230", "E25102602300a"])
def test_bad_horodates(bad):
    with pytest.raises(TicError, match="horodate"):
        parse_horodate(bad)
    body = f"SMAXSN\t{bad}\t03680\t"
    [], [rejected] = decode_groups(f"\n{body}{checksum(body)}\r".encode())
    assert rejected.reason == "horodate"


def test_encoder_refuses_bad_input():
    with pytest.raises(TicError, match="naive"):
        encode_horodate(datetime(2025, 1, 1))
    with pytest.raises(TicError, match="f'"):
        encode_group("BASE", 123, "historic")
    with pytest.raises(TicError, match="no horodate"):
        encode_group("BASE", "000000001", "historic", "E250101000000")
    with pytest.raises(TicError, match="mode"):
        encode_frame([("BASE", "1")], "turbo")
    with pytest.raises(TicError, match="expected \\(label, data\\)"):
        encode_frame([("BASE",)], "historic")
    with pytest.raises(TicError, match="printable"):
        encode_group("MSG1", "a\tb", "standard")
    assert issubclass(TicError, DaiseeError)


@pytest.mark.parametrize("decode", [TicDecoder().feed, decode_frames, decode_groups])
def test_text_instead_of_bytes_is_a_clear_error_not_nothing(decode):
    # iterating a str gives characters, never the byte STX: it used to decode to nothing at all
    text = (TIC / "hist_hchp_wifinfo_mock_trame.bin").read_bytes().decode("ascii")
    with pytest.raises(TicError, match="bytes.*not str.*'rb'"):
        decode(text)


def test_incomplete_tariff_option_gives_no_import():
    [frame] = decode_frames(encode_frame(
        [("ADCO", "123456789012"), ("OPTARIF", "HC.."), ("HCHC", "000000100")], "historic")
        .replace(b"\x03", b"\nHCHP 000000200 X\r\x03"))
    assert frame.rejected[0].reason == "checksum"
    r = frame.reading()
    assert r.import_wh is None and r.registers == {"HCHC": 100}
    assert r.warnings == ("index HCHP missing or invalid: import_wh not computed",)


def test_power_against_the_contract():
    values = {"ISOUSC": "30", "PAPP": "12000"}  # 30 A single phase: 6000 VA
    assert plausibility_warnings(values, "historic") == []
    [warning] = plausibility_warnings({**values, "PAPP": "12001"}, "historic")
    assert warning.startswith("PAPP = 12001 VA") and "6000 VA" in warning
    three = {"ISOUSC": "30", "IINST1": "001", "PAPP": "30000"}  # 3 x 30 A: 18000 VA
    assert plausibility_warnings(three, "historic") == []
    assert plausibility_warnings({"PREF": "06", "SINSTS": "12001"}, "standard")[0].startswith(
        "SINSTS = 12001 VA")
    assert plausibility_warnings({"EAST": "12345678", "IRMS1": "4a0"}, "standard") == [
        "EAST = '12345678': expected 9 digits", "IRMS1 = '4a0': expected 3 digits"]


def test_decode_stge_every_field():
    everything = decode_stge("FFFFFFFF")
    assert everything == {
        "dry_contact": "open", "cut_off_device": "unknown (7)", "terminal_cover": "open",
        "overvoltage": True, "over_reference_power": True, "operation": "producer",
        "active_energy_direction": "negative", "supplier_index": 16, "distributor_index": 4,
        "clock": "degraded", "tic_mode": "standard", "euridis": "enabled with security",
        "plc_status": "unknown (3)", "plc_synchronised": True, "tempo_today": "red",
        "tempo_tomorrow": "red", "mobile_peak_notice": "PM3", "mobile_peak": "PM3"}
    one = decode_stge(f"{(2 << 1) | (1 << 19) | (2 << 21) | (2 << 26) | (1 << 30):08X}")
    assert one["cut_off_device"] == "open: over voltage" and one["plc_status"] == "Registered"
    assert one["euridis"] == "enabled without security" and one["tempo_tomorrow"] == "white"
    assert one["mobile_peak"] == "PM1" and one["dry_contact"] == "closed"
    assert decode_stge("00000000")["supplier_index"] == 1
    with pytest.raises(TicError, match="8 hexadecimal"):
        decode_stge("013A050")


# ------------------------------------------------------------------------ properties

REAL_STREAM = b"".join((TIC / name).read_bytes() for name in (
    "pyteleinfo_captured_frames.bin", "std_tri_producer_tempo_openhab_reframed.bin",
    "hist_hchp_pyticcom_serial_dat_verbatim.bin", "std_mono_hc_goteleinfo_reader_test.bin",
    "NEG_hist_bad_checksum_ADCO_wifinfo_test_trame_ko.bin",
    "hist_tri_short_frame_ADIR1_unattributed_gotest.bin"))
PIECES = [REAL_STREAM[i:i + n] for i in range(0, 3000, 37) for n in (5, 40)]


def assert_sound(frames: list[Frame]) -> None:
    """Every accepted group checks out; every frame gives a Reading or a TicError."""
    for frame in frames:
        for g in frame.groups:
            assert g.mode == frame.mode
            assert g.checksum == group_checksum(g.label, g.data, g.mode, g.horodate,
                                                g.method or 1)
        try:
            assert isinstance(frame.reading(), Reading)
        except TicError:
            pass


@settings(deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data):
    assert_sound(decode_frames(b"\x02" + data + b"\x03"))
    decode_groups(data)


@settings(deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=8),
                          st.sampled_from([b"\x02", b"\x03", b"\x04", b"\n", b"\r", b"\t"])),
                max_size=60))
def test_damaged_real_streams_never_raise(parts):
    assert_sound(decode_frames(b"".join(parts)))


LABELS = st.from_regex(r"[A-Z0-9+\-]{1,9}", fullmatch=True)
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
INSTANTS = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30),
                        timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))


@settings(deadline=None)
@given(st.lists(st.tuples(LABELS, st.one_of(st.none(), INSTANTS), TEXT),
                min_size=1, max_size=12, unique_by=lambda g: g[0]))
def test_standard_round_trip(groups):
    encoded = [(label, data) if when is None else (label, when, data)
               for label, when, data in groups]
    [frame] = decode_frames(encode_frame(encoded, "standard"))
    assert frame.mode == "standard" and frame.rejected == ()
    assert frame.values == {label: data for label, _, data in groups}
    assert {k: v.timestamp() for k, v in frame.horodates.items()} == {
        label: when.timestamp() for label, when, _ in groups if when is not None}


@settings(deadline=None)
@given(st.lists(st.tuples(LABELS, TEXT.filter(bool)), min_size=1, max_size=12,
                unique_by=lambda g: g[0]), st.sampled_from([1, 2]))
def test_historic_round_trip(groups, method):
    data = b"\x02" + b"".join(encode_group(label, value, "historic", method=method)
                              for label, value in groups) + b"\x03"
    [frame] = decode_frames(data)
    assert frame.mode == "historic" and frame.rejected == ()
    assert frame.values == dict(groups)
    assert {g.method for g in frame.groups} == {method}


@settings(deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=20))
def test_chunked_feeding_matches_whole_decoding(sizes):
    stream = REAL_STREAM + b"\x00\x7f\n\x02" + REAL_STREAM[:700]
    whole = TicDecoder()
    expected = whole.feed(stream)
    decoder, frames, i = TicDecoder(), [], 0
    for n in itertools.cycle(sizes):
        if i >= len(stream):
            break
        frames += decoder.feed(stream[i:i + n])
        i += n
    assert frames == expected and len(frames) == 17
    assert decoder.stats == whole.stats


def test_group_dataclass_flags_degraded_clock():
    assert Group("DATE", "", "A", "standard", "e250101000000").degraded_clock
    assert not Group("DATE", "", "A", "standard", "E250101000000").degraded_clock
    assert not Group("BASE", "000000001", "A", "historic").degraded_clock


def test_interrupt_drops_the_frame_in_progress_and_keeps_the_stream():
    """A flushed line: the bytes after the gap must not complete the frame cut by it, and the
    decoder keeps its counters (an EOT does the same; interrupting between frames counts
    nothing)."""
    frame = (TIC / "hist_tempo_bbr_pyteleinfo_captured_frame1.bin").read_bytes()
    decoder = TicDecoder()
    assert len(decoder.feed(frame)) == 1
    decoder.interrupt()
    assert decoder.stats.interrupted == 0
    assert decoder.feed(frame[:40]) == []
    decoder.interrupt()
    assert decoder.feed(frame[40:]) == []  # the end of the cut frame, never completed
    assert len(decoder.feed(frame)) == 1
    assert (decoder.stats.frames, decoder.stats.interrupted) == (2, 1)
