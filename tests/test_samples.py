"""The samples shipped with the library are the published bytes."""

import pytest

from daisee_lab import samples
from daisee_lab.errors import DaiseeError


def test_every_sample_loads_and_matches_its_source(testdata):
    assert samples.load("linky_historic_tempo") == (
        testdata / "tic" / "hist_tempo_bbr_pyteleinfo_captured_frame1.bin").read_bytes()
    assert samples.load("dsmr50_iskra") == (
        testdata / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()
    assert len(samples.names()) == 6
    assert samples.load("linky_historic_ten_frames") == (
        testdata / "tic" / "pyteleinfo_captured_frames.bin").read_bytes()


def test_the_damaged_sample_is_a_published_frame_with_one_bit_flipped(testdata):
    """linky_historic_bad_checksum is pyteleinfo's HC/HP frame (BSD-2-Clause) with one bit of
    the ADCO checksum flipped; nothing else differs."""
    source = (testdata / "tic" / "hist_hchp_pyteleinfo_conftest_valid_frame.bin").read_bytes()
    damaged = samples.load("linky_historic_bad_checksum")
    differ = [i for i, (a, b) in enumerate(zip(source, damaged, strict=True)) if a != b]
    assert len(differ) == 1 and source[differ[0]] ^ damaged[differ[0]] == 1
    assert damaged[:differ[0]].endswith(b"ADCO 050022120078 ")


def test_unknown_sample_lists_the_known_ones():
    with pytest.raises(DaiseeError, match="linky_historic_tempo"):
        samples.load("nope")
