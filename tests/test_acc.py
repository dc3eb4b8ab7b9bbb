"""ACC perimeter and bills. Rules: Code de l'énergie L315-2; arrêtés of 21 November 2019 (2 km,
3 MW, 0.5 MW in ZNI), 19 September 2023 (10 km periurban, 20 km rural) and 21 February 2025
(5 MW, 10 MW for public bodies), all checked 2026-12-06 (see daisee_lab/acc.py)."""

import numpy as np
import pytest

from daisee_lab.acc import Network, Participant, bills, check_perimeter, haversine_km
from daisee_lab.errors import PerimeterError, SettlementError
from daisee_lab.settlement import allocate

# 0.01° of latitude is 1.112 km everywhere (great circle through the poles)
STEP_KM = 2 * np.pi * 6371.0088 / 36000


def line(kms, area="urban", power_kw=100):
    """A producer at the origin and consumers due north at the given distances."""
    sites = [Participant(45.0, 5.0, "producer", power_kw, area)]
    return sites + [Participant(45.0 + km / STEP_KM * 0.01, 5.0, "consumer", 0, area)
                    for km in kms]


def test_haversine_of_one_degree_of_latitude():
    assert haversine_km(0.0, 0.0, np.radians(1.0), 0.0) == pytest.approx(111.195, abs=1e-3)


@pytest.mark.parametrize("area, inside, outside", [("urban", 1.99, 2.01),
                                                    ("periurban", 9.99, 10.01),
                                                    ("rural", 19.99, 20.01)])
def test_distance_limit_by_area(area, inside, outside):
    assert check_perimeter(line([0.5, inside], area)).ok
    verdict = check_perimeter(line([0.5, outside], area))
    assert not verdict.ok and verdict.farthest == (0, 2)
    assert verdict.max_distance_km == pytest.approx(outside)
    assert "participants 0 and 2" in verdict.failures[0]
    assert "19 September 2023" in verdict.failures[0]


def test_one_urban_site_keeps_the_2_km_rule():
    """10 km needs every participant periurban or rural."""
    sites = line([5.0], "rural") + [Participant(45.0, 5.0, "consumer", 0, "urban")]
    verdict = check_perimeter(sites)
    assert verdict.distance_limit_km == 2 and not verdict.ok
    mixed = line([5.0], "periurban") + [Participant(45.0, 5.0, "consumer", 0, "rural")]
    assert check_perimeter(mixed).distance_limit_km == 10


@pytest.mark.parametrize("kwargs, cap", [({}, 5000), ({"public_bodies": True}, 10_000),
                                         ({"zni": True}, 500)])
def test_power_cap(kwargs, cap):
    assert check_perimeter(line([1.0], power_kw=cap - 1), **kwargs).ok
    verdict = check_perimeter(line([1.0], power_kw=cap), **kwargs)
    assert not verdict.ok and f"not below {cap} kW" in verdict.failures[0]


def test_needs_a_producer_and_a_consumer_and_reports_every_failure():
    sites = [Participant(45.0, 5.0, "consumer"), Participant(45.5, 5.0, "consumer")]
    verdict = check_perimeter(sites)
    assert len(verdict.failures) == 2 and "at least one producer" in verdict.failures[0]


@pytest.mark.parametrize("site, message", [
    (dict(lat=95.0, lon=0.0, role="producer"), "participant 1: lat must be degrees"),
    (dict(lat=45.0, lon=0.0, role="seller"), "role must be one of"),
    (dict(lat=45.0, lon=0.0, role="producer", area="suburb"), "area must be one of"),
    (dict(lat=45.0, lon=0.0, role="producer", power_kw=-1), "power_kw must be a number >= 0"),
    (dict(lat=45.0, lon=0.0, role="producer", power_kw=float("nan")), "power_kw"),
    (dict(lat=45.0, role="producer"), "participant 1: "),
])
def test_bad_participant_named(site, message):
    with pytest.raises(PerimeterError) as caught:
        check_perimeter([Participant(45.0, 5.0, "consumer"), site])
    assert message in str(caught.value)


def test_bills_by_hand():
    """Dynamic simple, two producers (the case of tests/test_allocate.py). Consumer A: 612 Wh
    allocated at 120000 + 50000 µ€/kWh = 104040 µ€, 488 Wh of complement at 194000 = 94672:
    198712 µ€. Producer 1: 620 Wh sold at 120000 = 74400, 280 Wh of surplus at 40000 = 11200."""
    cons = np.array([[300, 600, 200], [100, 300, 100], [200, 100, 300]])
    result = allocate(cons, np.array([[700, 200, 0], [300, 400, 0]]), "dynamic_simple",
                      [0.5, 0.3, 0.2])
    due = bills(result, 120_000, Network(local=50_000), supplier_price=194_000,
                buyer_price=40_000)
    assert due.consumer_ueur.tolist() == [198_712, 90_088, 109_200]
    assert due.producer_ueur.tolist() == [85_600, 74_400]


def test_bills_round_once_up_for_consumers_and_down_for_producers():
    result = allocate(np.array([[1]]), np.array([1]))  # 1 Wh allocated
    due = bills(result, 1_500, Network(local=0), buyer_price=0)
    assert (due.consumer_ueur[0], due.producer_ueur[0]) == (2, 1)  # 1.5 µ€ each way


def test_bills_bad_price_named():
    result = allocate(np.array([[1, 2]]), np.array([1, 1]))
    with pytest.raises(SettlementError, match="local_price must be a scalar or one price"):
        bills(result, [1, 2, 3], Network(local=0))
    with pytest.raises(SettlementError, match="network.local must be integer"):
        bills(result, 1, Network(local=0.5))
