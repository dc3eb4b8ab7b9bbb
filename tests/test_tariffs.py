"""The grid prices are the latest in their own history, and dated."""

from daisee_lab import tariffs


def test_the_grid_buy_price_is_the_latest_dated_tariff():
    latest = max(tariffs.HISTORY)
    assert latest == tariffs.BUY_FROM <= tariffs.CHECKED
    assert tariffs.HISTORY[latest][0] == tariffs.GRID_BUY
    assert tariffs.SELL_FROM <= tariffs.CHECKED


def test_a_neighbour_price_between_the_two_leaves_both_better_off():
    assert 0 < tariffs.GRID_SELL < tariffs.GRID_BUY
    assert all(price > tariffs.GRID_SELL for price, _ in tariffs.HISTORY.values())
