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


def test_unknown_sample_lists_the_known_ones():
    with pytest.raises(DaiseeError, match="linky_historic_tempo"):
        samples.load("nope")
