"""Chapter 12, privacy between neighbours: a wake-up time read from a curve, how big a street
must be before a home's switches fade in its total, a Merkle proof checked by hand, and a
neighbour's evening read from totals published for too small a community."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time
from functools import cache, lru_cache
from numbers import Integral
from typing import cast

import numpy as np
import pandas as pd
from eth_utils import keccak

from daisee_lab.exercises import checker

EARLY_RISER = 7          # exercise 12.1: the household simulate_day(7), on its default day
MORNING_FROM = 4         # ... whose first person's switch from 04:00 on is asked
STREET = range(20)       # exercise 12.2: the chapter's street, simulate_days(STREET)
LEVEL = 0.8              # ... the recall of home 0's switches the 1 s total must fall under
PAIR = (5, 6)            # exercise 12.4: you are home 5, your neighbour home 6 ...
EVENING = slice(72, 80)  # ... and the eight slots from 18:00 were published in clear


# --- 12.1 -------------------------------------------------------------------------------------

def _seconds_of_day(answer: object) -> int | None:
    """`answer` as seconds after local midnight: "HH:MM", "HH:MM:SS", a time or a datetime."""
    if isinstance(answer, str):
        text = answer.strip()
        for form in ("%H:%M", "%H:%M:%S"):
            try:
                answer = datetime.strptime(text, form).time()
                break
            except ValueError:
                continue
    if isinstance(answer, datetime):
        answer = pd.Timestamp(answer).tz_convert("Europe/Paris").time() if answer.tzinfo \
            else answer.time()
    if isinstance(answer, time):
        return answer.hour * 3600 + answer.minute * 60 + answer.second
    return None


def _of_day(stamp: pd.Timestamp) -> int:
    return stamp.hour * 3600 + stamp.minute * 60 + stamp.second


@lru_cache(maxsize=1)
def early_riser():
    """Household EARLY_RISER's detected events and the occupancy inferred from them."""
    from daisee_lab import privacy
    from daisee_lab.appliances import simulate_day

    day = simulate_day(EARLY_RISER)
    events = privacy.detect_events(day.power_va)
    start = day.occupancy.index[0]
    return events, privacy.infer_occupancy(events, start, start + pd.Timedelta("1D"))


def first_person_switch() -> pd.Timestamp:
    """The time of household EARLY_RISER's first switch made by a person from MORNING_FROM
    o'clock, as the detector and the fridge filter read it from the curve alone."""
    from daisee_lab.privacy import human_events

    events, _ = early_riser()
    people = human_events(events)
    return people[people.time.dt.hour >= MORNING_FROM].time.iloc[0]


@checker("12.1")
def wake_up(answer: object) -> tuple[bool, str]:
    """When someone in household EARLY_RISER first switched something on in the morning,
    read from its curve: "HH:MM", local time."""
    seconds = _seconds_of_day(answer)
    if seconds is None:
        return False, "answer with a local time as a string, 'HH:MM' (e.g. '07:05')"
    right = first_person_switch()
    if abs(seconds - _of_day(right)) < 60:
        return True, (f"{right:%H:%M:%S}: the first step that is not the fridge. Nobody told "
                      "the curve when this household gets up; it shows it to the minute.")
    from daisee_lab.privacy import cyclic_sizes

    events, occupancy = early_riser()
    bands = cyclic_sizes(events)
    for when, size in zip(events.time, events.delta_va.abs()):
        if abs(seconds - _of_day(when)) < 60 and any(lo <= size <= hi for lo, hi in bands):
            return False, ("that step is the fridge's compressor: it switches all day and "
                           "night by itself. Keep the people's switches (human_events)")
    quarters = {_of_day(t) for t in occupancy.index[occupancy == "awake"]}
    if seconds in quarters:
        return False, ("that is the start of a quarter hour that infer_occupancy calls awake "
                       "(it lingers 30 minutes around each switch); give the time of the switch "
                       "itself")
    return False, (f"detect the events of household {EARLY_RISER}'s curve, keep the ones a "
                   f"person made (human_events), and take the first from "
                   f"{MORNING_FROM:02d}:00 on")


# --- 12.2 -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _street_power() -> list[pd.Series]:
    from daisee_lab.appliances import simulate_days

    return [day.power_va for day in simulate_days(STREET)]


@lru_cache(maxsize=1)
def _home_truth() -> pd.DataFrame:
    from daisee_lab.appliances import simulate_day

    return simulate_day(STREET[0]).events


@cache
def recall_in_sum(n: int) -> float:
    """The recall of home 0's switches in the 1 s total of the street's first `n` homes."""
    from daisee_lab.privacy import aggregate, event_survival

    return event_survival(_home_truth(), aggregate(_street_power()[:n])).recall


@checker("12.2")
def street_size(answer: object) -> tuple[bool, str]:
    """The fewest homes of the street whose 1 s total shows less than LEVEL of home 0's
    switches. The checker measures the recall for every street up to `answer`."""
    size = len(STREET)
    if not isinstance(answer, Integral) or isinstance(answer, bool):
        return False, "answer with a whole number of homes"
    answer = int(answer)
    if not 1 <= answer <= size:
        return False, f"the street has {size} homes: answer between 1 and {size}"
    below = [n for n in range(1, int(answer) + 1) if recall_in_sum(n) < LEVEL]
    if below and below[0] == answer:
        before = (f", against {recall_in_sum(answer - 1):.0%} with {answer - 1}"
                  if answer > 1 else "")
        return True, (f"{answer} homes: {recall_in_sum(answer):.0%} of home 0's switches still "
                      f"show in a total taken every second{before}. Even then most of its "
                      "steps are there; what the neighbours hide is whose step it is.")
    if below:
        return False, (f"a smaller street already hides enough: with {below[0]} homes the "
                       f"recall is {recall_in_sum(below[0]):.0%}. Start from 1 home")
    return False, (f"with {answer} homes, {recall_in_sum(answer):.0%} of home 0's switches "
                   f"still show: the street must be bigger (aggregate the first n homes' "
                   f"curves, then event_survival with home 0's events)")


# --- 12.3 -------------------------------------------------------------------------------------

def _cases() -> list[tuple[list[bytes], bytes, bytes, bool]]:
    """(proof, root, leaf, in the tree) for trees of 1 to 9 leaves: every leaf with its proof,
    a stranger with a leaf's proof, and a proof with one sibling changed."""
    from daisee_lab.committed import MerkleTree

    cases = []
    for n in (1, 2, 3, 5, 9):
        leaves = [keccak(text=f"leaf {n} {i}") for i in range(n)]
        tree = MerkleTree(leaves)
        cases += [(tree.proof(leaf), tree.root, leaf, True) for leaf in leaves]
        cases.append((tree.proof(leaves[0]), tree.root, keccak(text=f"stranger {n}"), False))
        if n > 1:
            proof = tree.proof(leaves[-1])
            proof[-1] = keccak(proof[-1])
            cases.append((proof, tree.root, leaves[-1], False))
    return cases


def _unsorted(proof, root, leaf) -> bool:
    """The classic slip: hashing node and sibling in the proof's order, not sorted."""
    node = leaf
    for sibling in proof:
        node = keccak(node + sibling)
    return node == root


@checker("12.3")
def verify_proof(answer: object) -> tuple[bool, str]:
    """A function verify(proof, root, leaf) -> bool that says whether `proof` leads from
    `leaf` to `root` in an OpenZeppelin (sorted-pair) Merkle tree. Tried on small trees."""
    if not callable(answer):
        return False, ("answer with your function itself, e.g. answer = verify (no brackets: "
                       "the checker calls it)")
    verify: Callable = answer
    results = []
    for proof, root, leaf, _inside in _cases():
        try:
            results.append(verify(list(proof), root, leaf))
        except Exception as exc:  # noqa: BLE001 - the learner's code: report whatever it raised
            return False, (f"your function raised {type(exc).__name__}: {exc} on a proof of "
                           f"{len(proof)} siblings; it gets proof (a list of 32-byte bytes), "
                           f"root and leaf (bytes)")
    expected = [inside for *_, inside in _cases()]
    exact = all(isinstance(r, (bool, np.bool_)) for r in results)
    if exact and [bool(r) for r in results] == expected:
        return True, ("right: hash your way up with each sibling, smaller first, and compare "
                      "with the root. That is all the contract's MerkleProof.verify does, for "
                      "a few thousand gas.")
    said_yes = [bool(r) for r in results]
    if any(yes and not inside for yes, inside in zip(said_yes, expected)):
        return False, ("it accepts a leaf that is not in the tree (or a changed sibling): "
                       "return True only when the node you reach equals the root")
    if said_yes == [_unsorted(p, r, lf) for p, r, lf, _ in _cases()]:
        return False, ("close: inner nodes hash their two children smaller first "
                       "(hash_pair sorts them), not in the proof's order")
    if said_yes == expected:
        return False, "the right verdicts, but return the bools True and False themselves"
    return False, ("it rejects leaves that are in the tree: start from the leaf, combine it "
                   "with each sibling of the proof in turn with hash_pair, and compare the "
                   "result with the root (a tree of one leaf has an empty proof)")


# --- 12.4 -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def pair_evening() -> tuple[np.ndarray, np.ndarray]:
    """Wh per slot (mean VA of each quarter hour / 4, VA taken as W) of the two homes of PAIR
    over the EVENING slots: yours, your neighbour's."""
    from daisee_lab.appliances import simulate_days
    from daisee_lab.privacy import resample

    yours, theirs = (np.rint(resample(day.power_va, "15min").to_numpy()[EVENING] / 4)
                     .astype(np.int64) for day in simulate_days(PAIR))
    return yours, theirs


@checker("12.4")
def neighbours_evening(answer: object) -> tuple[bool, str]:
    """Home PAIR[1]'s energy (Wh) in each EVENING slot, worked out by home PAIR[0] from the
    totals published in clear and its own leaves."""
    yours, theirs = pair_evening()
    try:
        given = np.asarray(list(cast(Iterable, answer)), dtype=np.float64)  # TypeError: not one
    except (TypeError, ValueError):
        return False, f"answer with a list of {len(theirs)} numbers of Wh, one per slot"
    if given.shape != theirs.shape:
        return False, (f"answer with {len(theirs)} numbers, one per slot published, in order; "
                       f"got {given.size}")
    if np.array_equal(given, theirs):
        return True, (f"your neighbour's evening to the Wh ({int(theirs.sum())} Wh in two "
                      "hours), from a public total and your own statement. With two homes, a "
                      "total is a curve.")
    if np.array_equal(given, yours + theirs):
        return False, "that is the published total: take away what your own meter counted"
    if np.array_equal(given, yours):
        return False, "that is your own energy, from your statements; the question is theirs"
    if np.allclose(given * 1000, theirs):
        return False, "answer in Wh, not kWh"
    if np.array_equal(given[1:], theirs[:-1]) or np.array_equal(given[:-1], theirs[1:]):
        return False, "one slot off: pair each slot's total with your leaf of the same slot"
    return False, ("for each slot, the SlotPublished event gives demandWh and surplusWh; with "
                   "nobody exporting, demand is the two homes' imports together")
