"""Chapter 5's checkers accept right answers, worked out here by another path than theirs (by
hand from the rules, and check_perimeter's verdict), give each typical wrong answer its hint,
and give no verdict to None."""

import math
from fractions import Fraction

import numpy as np
import pytest

from daisee_lab.acc import check_perimeter
from daisee_lab.exercises import ch05, check
from daisee_lab.settlement import allocate


@pytest.mark.parametrize("exercise", ["5.1", "5.2", "5.3"])
def test_no_answer_no_verdict(exercise):
    feedback = check(exercise, None)
    assert not feedback and not feedback.answered and "not answered yet" in feedback.message


def test_5_1_bob_gets_the_ceiling_of_his_share_by_cumulative_rounding():
    c, p = ch05.SLOT_5_1["consumption"], ch05.SLOT_5_1["production"]
    first, both = Fraction(c[0] * p, sum(c)), Fraction((c[0] + c[1]) * p, sum(c))
    by_hand = math.floor(both) - math.floor(first)
    assert by_hand == math.ceil(Fraction(c[1] * p, sum(c)))  # the rounding matters here
    kernel = allocate(np.array(c)[:, None], np.array([p])).allocated_wh[1, 0]
    assert by_hand == kernel
    for answer in (by_hand, np.int64(by_hand), float(by_hand)):
        assert check("5.1", answer), answer


def test_5_1_wrong_answers_get_their_hint():
    c, p = ch05.SLOT_5_1["consumption"], ch05.SLOT_5_1["production"]
    own_floor = c[1] * p // sum(c)
    assert "running total" in check("5.1", own_floor).message
    assert "nobody is served in full" in check("5.1", c[1]).message
    assert "equal split" in check("5.1", p // 3).message
    assert "whole Wh" in check("5.1", c[1] * p / sum(c)).message
    assert "whole Wh" in check("5.1", float("nan")).message
    for bad in ("174", True, [174]):
        assert "whole number" in check("5.1", bad).message
    assert "cumulative rounding" in check("5.1", 10).message


def test_5_2_the_static_key_loses_unused_shares_and_the_unassigned_tenth():
    s = ch05.SLOT_5_2
    shares = [min(c, Fraction(k) * s["production"])
              for c, k in zip(s["consumption"], s["coefficients"])]
    by_hand = s["production"] - sum(shares)
    assert by_hand.denominator == 1 and check("5.2", int(by_hand))
    assert check("5.2", np.int64(by_hand))


def test_5_2_wrong_answers_get_their_hint():
    s = ch05.SLOT_5_2
    assert "dynamic key" in check("5.2", s["production"] - sum(s["consumption"])).message
    unused = sum(max(Fraction(k) * s["production"] - c, 0)
                 for c, k in zip(s["consumption"], s["coefficients"]))
    assert "0.9" in check("5.2", int(unused)).message
    right = s["production"] - sum(min(c, Fraction(k) * s["production"])
                                  for c, k in zip(s["consumption"], s["coefficients"]))
    assert "allocated total" in check("5.2", int(s["production"] - right)).message
    assert "min(its consumption" in check("5.2", 1).message
    assert "whole number" in check("5.2", "600").message


def test_5_3_the_village_breaks_the_distance_rule_check_perimeter_names():
    verdict = check_perimeter(ch05.VILLAGE)
    assert not verdict.ok and len(verdict.failures) == 1 and "km apart" in verdict.failures[0]
    assert verdict.distance_limit_km == 10
    answer = (verdict.max_distance_km, verdict.distance_limit_km)
    assert check("5.3", answer) and check("5.3", [round(answer[0], 1), 10])
    # with every site rural, the same village would fit: the answer hinges on the density class
    rural = [dict(site, area="rural") for site in ch05.VILLAGE]
    assert check_perimeter(rural).ok


def test_5_3_wrong_answers_get_their_hint():
    far = check_perimeter(ch05.VILLAGE).max_distance_km
    assert "rural commune" in check("5.3", (far, 20)).message
    assert "urban communes" in check("5.3", (far, 2)).message
    assert "distance first" in check("5.3", (10, far)).message
    assert "2, 10 or 20" in check("5.3", (far, 5)).message
    assert "largest between any two" in check("5.3", (far - 1, 10)).message
    for bad in (far, (far,), ("13.6", 10), (far, 10, 0)):
        assert "two numbers" in check("5.3", bad).message
