"""French collective self-consumption (autoconsommation collective, ACC) around the allocation:
whether a set of sites may form an operation, and who pays and earns what.

The perimeter rules, checked 2026-12-06 (full references: the documentation's page "Collective
self-consumption" and its bibliography):

- Code de l'énergie, art. L315-2: one or more producers and one or more final consumers, bound in
  one legal entity; an *extended* operation (beyond one building) on the low-voltage network
  meets criteria set by arrêté.
- Arrêté of 21 November 2019 (JORF of 24 November 2019): the two participants farthest apart are
  at most 2 km apart, measured between delivery points (consumers) and injection points
  (producers); all on the low-voltage network of one distribution system operator.
- Arrêté of 19 September 2023 (amending the 2019 one's article 1 bis, which since the arrêté of
  14 October 2020 allowed a ministerial derogation up to 20 km): 10 km when the participants are
  in periurban or rural communes, 20 km in rural ones, per the INSEE municipal density grid.
  Read here as: every participant periurban or rural -> 10 km, every participant rural -> 20 km
  (as summarised by Adven Legal and Seban Avocats; the arrêté's own text was not found).
- Producers' cumulative power: below 3 MW from 2019, **5 MW** since the arrêté of 21 February
  2025 (JORF of 5 March 2025); below **10 MW** by derogation when a commune or EPCI takes part and
  every participant is a public body or serves a public mission, inside that EPCI's territory;
  **0.5 MW** in the non-interconnected zones (ZNI, 2019 arrêté). Photovoltaic power is peak power.

What :func:`check_perimeter` cannot see: whether every site is on the low-voltage network of one
operator, and whether the public-body conditions hold (say so with ``public_bodies=True``).
Distances are great-circle (haversine) between the given coordinates, on a sphere of the Earth's
mean radius; the arrêté speaks of the distance between the two farthest participants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daisee_lab.errors import PerimeterError, SettlementError
from daisee_lab.settlement import Allocation
from daisee_lab.tariffs import GRID_BUY, GRID_SELL
from daisee_lab.units import MAX_PRICE

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
DISTANCE_KM = {"urban": 2.0, "periurban": 10.0, "rural": 20.0}  # the farthest two, at most
POWER_KW = 5_000  # producers' cumulative power, strictly below (arrêté of 21 February 2025)
POWER_PUBLIC_KW = 10_000  # by derogation, public bodies around a commune or EPCI
POWER_ZNI_KW = 500  # non-interconnected zones
ROLES = ("producer", "consumer")


@dataclass(frozen=True)
class Participant:
    """One site: coordinates in degrees, ``role`` producer or consumer, ``power_kw`` (a producer's
    installed, peak for PV), and the INSEE density class of its commune: ``"urban"`` (dense or
    intermediate), ``"periurban"`` or ``"rural"``."""

    lat: float
    lon: float
    role: str
    power_kw: float = 0.0
    area: str = "urban"


@dataclass(frozen=True)
class Perimeter:
    """The verdict: ``ok``, the rules that fail (``failures``, sentences naming the rule and its
    source), and the figures they were judged on."""

    ok: bool
    failures: tuple[str, ...]
    max_distance_km: float
    distance_limit_km: float
    farthest: tuple[int, int]
    power_kw: float
    power_limit_kw: float


def check_perimeter(participants, *, zni=False, public_bodies=False):
    """Whether ``participants`` (a sequence of :class:`Participant` or of dicts with the same
    fields) may form one ACC operation, and which rule fails. ``zni``: the operation is in a
    non-interconnected zone; ``public_bodies``: the 10 MW derogation's conditions hold. Raises
    :class:`~daisee_lab.errors.PerimeterError` on a malformed participant."""
    sites = [_participant(i, p) for i, p in enumerate(participants)]
    failures = []
    roles = {s.role for s in sites}
    if roles != set(ROLES):
        failures.append("an operation needs at least one producer and one consumer "
                        "(Code de l'énergie, L315-2)")
    distance, farthest = _farthest(sites)
    areas = {s.area for s in sites}
    limit = DISTANCE_KM["rural"] if areas == {"rural"} else \
        DISTANCE_KM["periurban"] if areas <= {"rural", "periurban"} else DISTANCE_KM["urban"]
    if distance > limit:
        i, j = farthest
        failures.append(f"participants {i} and {j} are {distance:.3f} km apart, above "
                        f"{limit:g} km for {'/'.join(sorted(areas))} communes (arrêtés of "
                        f"21 November 2019 and 19 September 2023)")
    power = sum(s.power_kw for s in sites if s.role == "producer")
    cap = POWER_ZNI_KW if zni else POWER_PUBLIC_KW if public_bodies else POWER_KW
    if power >= cap:
        rule = "non-interconnected zone, arrêté of 21 November 2019" if zni else \
            "arrêté of 21 February 2025"
        failures.append(f"producers' cumulative power {power:g} kW is not below {cap:g} kW "
                        f"({rule})")
    return Perimeter(not failures, tuple(failures), distance, limit, farthest, power, cap)


def _participant(index, value):
    fields = value if isinstance(value, dict) else vars(value)
    try:
        site = Participant(**fields)
    except TypeError as error:
        raise PerimeterError(f"participant {index}: {error}") from None
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        x = getattr(site, name)
        if not isinstance(x, (int, float)) or isinstance(x, bool) or not low <= x <= high:
            raise PerimeterError(f"participant {index}: {name} must be degrees in [{low}, "
                                 f"{high}], got {x!r}")
    if site.role not in ROLES:
        raise PerimeterError(f"participant {index}: role must be one of {ROLES}, got "
                             f"{site.role!r}")
    if site.area not in DISTANCE_KM:
        raise PerimeterError(f"participant {index}: area must be one of {tuple(DISTANCE_KM)}, "
                             f"got {site.area!r}")
    power = site.power_kw
    if not isinstance(power, (int, float)) or isinstance(power, bool) or not power >= 0:
        raise PerimeterError(f"participant {index}: power_kw must be a number >= 0, got "
                             f"{power!r}")
    return site


def _farthest(sites):
    """The largest haversine distance (km) between two sites, and their indices."""
    if len(sites) < 2:
        return 0.0, (0, 0)
    lat = np.radians([s.lat for s in sites])
    lon = np.radians([s.lon for s in sites])
    best, pair = 0.0, (0, 0)
    for i in range(len(sites) - 1):  # one row of the distance matrix at a time
        d = haversine_km(lat[i], lon[i], lat[i + 1:], lon[i + 1:])
        j = int(np.argmax(d))
        if d[j] > best:
            best, pair = float(d[j]), (i, i + 1 + j)
    return best, pair


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km between points given in radians (NumPy broadcasting)."""
    a = np.sin((lat2 - lat1) / 2) ** 2 \
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))


# --- bills ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Network:
    """The network charge (µ€/kWh) *not already in the prices*: ``local`` on each allocated kWh,
    ``complement`` on each kWh the supplier delivers. With the classic TURPE the supplier's price
    already carries it for its own kWh and the allocated kWh pay the same energy component; the
    TURPE's ACC option (CRE délibération n° 2018-115 of 7 June 2018, kept in TURPE 7 from
    1 August 2025) lowers it on the allocated ("autoproduite") energy and raises it on the
    complement ("alloproduite"). Its current values were not found: give them."""

    local: int
    complement: int = 0


@dataclass(frozen=True)
class Bills:
    """Over the whole allocation: each consumer's bill and each producer's revenue, µ€."""

    consumer_ueur: np.ndarray  # (consumers,)
    producer_ueur: np.ndarray  # (producers,)


def bills(allocation: Allocation, local_price, network: Network, supplier_price=GRID_BUY,
          buyer_price=GRID_SELL):
    """Bills of an operation: a consumer pays its allocated kWh at ``local_price`` plus
    ``network.local``, and its complement at ``supplier_price`` plus ``network.complement``; a
    producer earns its sold kWh at ``local_price`` and its surplus at ``buyer_price``. Prices
    are integer µ€/kWh, a scalar or one per slot. Each bill is rounded up and each revenue down,
    once, from the exact sum over all slots (e Wh at p µ€/kWh is e·p/1000 µ€)."""
    slots = allocation.allocated_wh.shape[1]
    local, supplier, buyer = (_price(name, value, slots) for name, value in
                              (("local_price", local_price), ("supplier_price", supplier_price),
                               ("buyer_price", buyer_price)))
    net_local = _price("network.local", network.local, slots)
    net_comp = _price("network.complement", network.complement, slots)
    allocated = allocation.allocated_wh.astype(np.int64)
    complement = allocation.complement_wh.astype(np.int64)
    owed = allocated @ (local + net_local) + complement @ (supplier + net_comp)
    earned = allocation.sold_wh @ local + allocation.producer_surplus_wh @ buyer
    return Bills(-(-owed // 1000), earned // 1000)


def _price(name, value, slots):
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise SettlementError(f"{name} must be integer µ€/kWh, got dtype {array.dtype}")
    array = np.broadcast_to(array, (slots,)) if array.ndim == 0 else array
    if array.shape != (slots,) or (array < 0).any() or (array > MAX_PRICE).any():
        raise SettlementError(f"{name} must be a scalar or one price per slot ({slots}) in "
                              f"[0, {MAX_PRICE}] µ€/kWh, got {value!r}")
    return array.astype(np.int64)


__all__ = ["Bills", "Network", "Participant", "Perimeter", "bills", "check_perimeter",
           "haversine_km"]
