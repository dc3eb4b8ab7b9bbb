"""Mainnet's gas limits are stated once, dated; capacity counts households under them."""

from datetime import date

import pytest

from daisee_lab.chain.gas import (LIMITS_CHECKED, MAINNET_BLOCK_GAS, MAINNET_BLOCK_GAS_SINCE,
                                  TX_GAS_CAP, TX_GAS_CAP_SINCE, capacity)


def test_the_limits_are_the_dated_facts():
    assert TX_GAS_CAP == 16_777_216 == 2**24 and TX_GAS_CAP_SINCE == date(2025, 12, 3)
    assert MAINNET_BLOCK_GAS == 60_000_000 and MAINNET_BLOCK_GAS_SINCE == date(2025, 11, 25)
    assert LIMITS_CHECKED >= TX_GAS_CAP_SINCE


def test_a_transaction_holds_what_its_cap_leaves_after_the_fixed_part():
    fits = capacity(fixed=1_000, per_household=100, tx_gas=10_000, block_gas=35_000)
    assert fits.per_transaction == 90                      # 1,000 + 90 x 100 = 10,000
    # three full transactions of 10,000 gas, then 5,000 left: 1,000 + 40 x 100
    assert fits.per_block == 3 * 90 + 40 and fits.transactions_per_block == 4


def test_without_a_cap_one_transaction_takes_the_whole_block():
    fits = capacity(fixed=1_000, per_household=100, tx_gas=None, block_gas=35_000)
    assert fits.per_transaction == fits.per_block == 340 and fits.transactions_per_block == 1


def test_mainnet_defaults_and_nothing_fits_when_the_fixed_part_is_too_big():
    fits = capacity(32_000, 11_650)
    assert fits.per_transaction == (TX_GAS_CAP - 32_000) // 11_650
    assert fits.per_block > 3 * fits.per_transaction
    assert capacity(20_000_000, 10).per_block == 0
    with pytest.raises(ValueError, match="per_household"):
        capacity(0, 0)
