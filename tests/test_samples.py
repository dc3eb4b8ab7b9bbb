"""The samples shipped with the library are the published bytes."""

import pytest

from daisee_lab import samples
from daisee_lab.errors import DaiseeError


def test_every_sample_loads_and_matches_its_source(request):
    from conftest import SHARED_TESTDATA

    assert samples.load("linky_historic_tempo") == (
        SHARED_TESTDATA / "tic" / "hist_tempo_bbr_pyteleinfo_captured_frame1.bin").read_bytes()
    assert samples.load("dsmr50_iskra") == (
        SHARED_TESTDATA / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()
    assert len(samples.names()) == 5


def test_unknown_sample_lists_the_known_ones():
    with pytest.raises(DaiseeError, match="linky_historic_tempo"):
        samples.load("nope")
