"""Checkers of chapters 7 to 9 (contracts): right answers pass, wrong ones get a hint."""

import math
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from daisee_lab.exercises import check

pytestmark = pytest.mark.slow  # the checkers deploy contracts: seconds each


@pytest.fixture(scope="module")
def meter_log_lab(tmp_path_factory):
    """Chapter 7's MeterLog.sol, taken from the chapter itself, in a `lab/` folder."""
    import nbformat

    from conftest import REPO

    chapter = nbformat.read(REPO / "book" / "07-your-first-contract.ipynb", as_version=4)
    (source,) = [c.source for c in chapter.cells
                 if c.source.startswith("%%writefile lab/MeterLog.sol")]
    lab = tmp_path_factory.mktemp("ch07") / "lab"
    lab.mkdir()
    (lab / "MeterLog.sol").write_text(source.split("\n", 1)[1])
    return lab


def test_chapter_6_checkers(meter_log_lab, monkeypatch):
    from daisee_lab.chain import Chain

    monkeypatch.chdir(meter_log_lab.parent)
    chain = Chain(contract_dirs=[meter_log_lab])
    owner, neighbour = chain.accounts[:2]

    meter_log = chain.deploy("MeterLog", sender=owner)
    assert "last slot logged is 0" in check("7.1", meter_log).message
    for slot, wh in {10: 1200, 11: 800, 12: 950}.items():
        meter_log.log(slot, wh, sender=owner)
    assert check("7.1", meter_log)
    assert "pass the handle" in check("7.1", "a contract").message
    meter_log.log(13, 1, sender=owner)
    assert "expected 2950" in check("7.1", meter_log).message

    with chain.expect_revert() as caught:
        meter_log.log(14, 5, sender=neighbour)
    assert check("7.2", caught.revert)
    with chain.expect_revert() as caught:
        meter_log.log(13, 5, sender=owner)
    assert "another account" in check("7.2", caught.revert).message
    assert "caught.revert" in check("7.2", "NotOwner").message
    assert "not answered yet" in check("7.2", None).message

    fresh = chain.deploy("MeterLog", sender=owner)
    first, second = fresh.log(1, 500).gas_used, fresh.log(2, 700).gas_used
    assert first - second > 15_000
    assert check("7.3", first - second)
    assert "other way round" in check("7.3", second - first).message
    assert "gas of one log" in check("7.3", first).message
    assert "whole number" in check("7.3", "lots").message


def test_chapter_7_checkers():
    from dataclasses import replace

    from daisee_lab.chain import Chain
    from daisee_lab.contracts import make_members, public_id_bytes, sign_reading
    from daisee_lab.exercises import ch08

    chain = Chain(accounts=3)
    operator, alice, bob = chain.accounts
    homes = make_members([alice.address, bob.address], seed=7)
    registry = chain.deploy("MeterRegistry", operator.address, sender=operator)
    registry.register([(homes[0].meter, public_id_bytes(homes[0].public_id), alice.address)],
                      sender=operator)
    chain_id, meter, key = chain.w3.eth.chain_id, homes[0].meter, homes[0].meter_key
    signed = sign_reading(key, registry.address, chain_id, meter, 100, 4_200_000, 0)
    assert check("8.1", (registry, signed))
    assert registry.lastReading(meter)[1] == 0  # the checker only asked
    assert "sign import 4200000" in check("8.1", (registry, replace(signed, import_wh=1))).message
    stranger = sign_reading(bob, registry.address, chain_id, meter, 100, 4_200_000, 0)
    assert "meter's own key" in check("8.1", (registry, stranger)).message
    unregistered = sign_reading(homes[1].meter_key, registry.address, chain_id, homes[1].meter,
                                100, 4_200_000, 0)
    assert "not registered" in check("8.1", (registry, unregistered)).message
    registry.submitReading(100, signed.calldata(), sender=operator)
    assert "lastReading" in check("8.1", (registry, signed)).message
    assert "a pair" in check("8.1", signed).message

    right = {"relayed": "accepted", "an hour late": "accepted", "older slot": "StaleReading",
             "other chain": "InvalidSignature"}
    assert ch08._outcomes() == right and check("8.2", right)
    assert "msg.sender" in check("8.2", {**right, "relayed": "InvalidSignature"}).message
    assert "last + 1" in check("8.2", {**right, "an hour late": "StaleReading"}).message
    assert "which slot" in check("8.2", {**right, "older slot": "IndexWentBackwards"}).message
    assert "EIP-712 domain" in check("8.2", {**right, "other chain": "accepted"}).message
    assert "the keys" in check("8.2", {"relayed": "accepted"}).message

    # 8.3, the chapter's way: sign the two indexes, let the registry take the difference
    first, last, imported = ch08._exported_in_slot()
    registry.register([(homes[1].meter, public_id_bytes(homes[1].public_id), bob.address)],
                      sender=operator)
    for slot, export in ((200, first), (201, last)):
        reading = sign_reading(homes[1].meter_key, registry.address, chain_id, homes[1].meter,
                               slot, 1000, export)
        receipt = registry.submitReading(slot, reading.calldata(), sender=operator)
    exported = receipt.events[0].args["exportedWh"]
    assert exported > 0 and check("8.3", exported)
    assert "an index" in check("8.3", last).message
    assert "anchors" in check("8.3", 0).message
    if imported not in (0, exported):
        assert "imported" in check("8.3", imported).message
    assert "whole number" in check("8.3", float(exported)).message


def test_chapter_8_checkers():
    """Right answers come from the chain in the chapter (nbval runs its solutions); here, from
    the kernel: the hints."""
    from daisee_lab.exercises import ch09
    from daisee_lab.settlement import settle

    homes, day = ch09._day()
    sunniest = max(range(len(homes)), key=lambda i: homes[i].pv_kwp)
    paid = int(ch09._payments("mmr")[sunniest].sum())
    assert paid < 0 and check("9.1", paid)
    assert "keep the sign" in check("9.1", -paid).message
    assert "grid alone" in check("9.1", int(ch09._payments("none")[sunniest].sum())).message
    assert "whole number" in check("9.1", "much").message
    result = settle(day.import_wh, day.export_wh, ch09.GRID_BUY, ch09.GRID_SELL, "mmr")
    worked = ch09.slot_by_hand()
    wh, d, g, paid = worked["wh"], worked["demand"], worked["surplus"], worked["paid"]
    assert 0 < g < d and wh > 0  # the slot exercises the G < D branch and the rounding
    price = Fraction(ch09.GRID_BUY + ch09.GRID_SELL, 2) * g + ch09.GRID_BUY * (d - g)
    exact = wh * price / d / 1000
    assert exact.denominator != 1 and paid == math.ceil(exact) and check("9.2", paid)
    assert "rounded up" in check("9.2", paid - 1).message
    assert "positive when it pays" in check("9.2", -paid).message
    assert "grid's price" in check("9.2", wh * ch09.GRID_BUY // 1000).message
    at_pmid = math.ceil(Fraction(wh * (ch09.GRID_BUY + ch09.GRID_SELL), 2000))
    assert "Pmid for every Wh" in check("9.2", at_pmid).message
    assert "whole number" in check("9.2", float(paid)).message
    slot, wh = ch09.left_out_after_day()
    first = int(datetime(2025, 6, 21, tzinfo=ZoneInfo("Europe/Paris")).timestamp()) // 900
    cumulative = result.payments[ch09.DEBTOR].cumsum()  # everyone in the pool, until then
    assert cumulative[slot - first - 1] <= ch09.DEBTOR_DEPOSIT
    assert wh > 0 and check("9.3", (slot, wh))
    assert "unix_seconds // 900" in check("9.3", (slot - first, wh)).message
    assert "left_out_wh" in check("9.3", (slot, wh + 1)).message
    assert "pair" in check("9.3", slot).message
