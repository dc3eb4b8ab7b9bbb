"""The slot, local days and trade rounding of daisee_lab.units, worked by hand."""

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from daisee_lab.errors import DaiseeError
from daisee_lab.units import (PARIS, SLOT_SECONDS, UnitsError, buyer_pays, day_slots, seller_gets,
                              slot_of)


def test_a_slot_is_the_same_instant_in_every_time_zone():
    noon = datetime(2025, 6, 21, 12, tzinfo=PARIS)  # 10:00 UTC: 1750500000 s
    assert slot_of(noon) == 1_750_500_000 // 900 == 1_945_000
    assert slot_of(noon.astimezone(timezone(timedelta(hours=-5)))) == slot_of(noon)
    assert slot_of(noon + timedelta(seconds=SLOT_SECONDS - 1)) == slot_of(noon)
    assert slot_of(noon + timedelta(seconds=SLOT_SECONDS)) == slot_of(noon) + 1


def test_a_naive_time_names_no_slot():
    with pytest.raises(UnitsError, match="naive") as caught:
        slot_of(datetime(2025, 6, 21, 12))
    assert isinstance(caught.value, DaiseeError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("day, count", [(date(2026, 6, 21), 96), (date(2026, 3, 29), 92),
                                        (date(2026, 10, 25), 100)])
def test_a_local_day_has_96_slots_or_92_and_100_when_clocks_change(day, count):
    slots = day_slots(day)
    assert len(slots) == count
    assert slots.start == slot_of(datetime(day.year, day.month, day.day, tzinfo=PARIS))


def test_buyers_round_up_and_sellers_down():
    # 1 Wh at 1001 µ€/kWh is 1.001 µ€: the buyer pays 2, the seller gets 1; exact sums stay exact
    assert (buyer_pays(1, 1001), seller_gets(1, 1001)) == (2, 1)
    assert (buyer_pays(1000, 1001), seller_gets(1000, 1001)) == (1001, 1001)
    fills = np.array([0, 1, 999, 1500])
    assert buyer_pays(fills, 180_000).tolist() == [0, 180, 179_820, 270_000]
    assert seller_gets(fills, 60_001).tolist() == [0, 60, 59_940, 90_001]
