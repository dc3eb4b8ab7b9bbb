"""Many communities at once, in memory and on a Dask cluster: the same integers as one at a time."""

from dataclasses import fields

import dask.array as da
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

from daisee_lab.settlement import reference, scale
from daisee_lab.settlement.reference import Settlement

FIELDS = [f.name for f in fields(Settlement)]
LB, LS = 200_000, 60_000


def communities(seed, count=6, households=9, slots=120):
    rng = np.random.default_rng(seed)
    shape = (count, households, slots)
    cons = rng.integers(0, 3000, shape)
    prod = rng.integers(0, 6000, shape) * (rng.random(shape) < 0.4)
    return cons, prod


def assert_each_settled_alone(stacked, cons, prod, method, window=None):
    for i in range(cons.shape[0]):
        alone = reference.settle(cons[i], prod[i], LB, LS, method, window)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(stacked, name)[i], getattr(alone, name),
                                          err_msg=f"community {i}, {name}")


@pytest.mark.parametrize("method,window", [("mmr", None), ("sdr", None), ("bill_sharing", 24)])
def test_stack_settles_each_community_on_its_own(method, window):
    cons, prod = communities(1)
    stacked = scale.settle_many(cons, prod, LB, LS, method, window)
    assert stacked.payments.shape == cons.shape
    assert stacked.grid_bill.shape == (6, 120)
    assert_each_settled_alone(stacked, cons, prod, method, window)
    # one big community would share energy across the six and import less
    merged = reference.settle(cons.reshape(54, 120), prod.reshape(54, 120), LB, LS, method, window)
    assert merged.grid_import_wh.sum() < stacked.grid_import_wh.sum()


def test_list_of_communities_of_different_sizes():
    cons, prod = communities(2)
    sizes = [1, 4, 9]
    results = scale.settle_many([cons[i, :n] for i, n in enumerate(sizes)],
                                [prod[i, :n] for i, n in enumerate(sizes)], LB, LS, "sdr")
    assert [r.payments.shape[0] for r in results] == sizes
    for i, (n, result) in enumerate(zip(sizes, results)):
        np.testing.assert_array_equal(
            result.payments, reference.settle(cons[i, :n], prod[i, :n], LB, LS, "sdr").payments)


def test_list_needs_a_matching_list():
    cons, prod = communities(3)
    with pytest.raises(ValueError, match="production_wh"):
        scale.settle_many([cons[0], cons[1]], [prod[0]], LB, LS)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@pytest.mark.parametrize("method,window", [("mmr", None), ("bill_sharing", 24)])
def test_dask_matches_the_in_memory_path(client, method, window):
    cons, prod = communities(4, count=7)
    lazy = scale.settle_dask(da.from_array(cons, chunks=(2, 3, 60)),
                             da.from_array(prod, chunks=(3, 9, 120)), LB, LS, method, window)
    assert lazy.payments.chunks[0] == (2, 2, 2, 1)  # chunked by community, like the input
    result = scale.compute(lazy)
    expected = scale.settle_many(cons, prod, LB, LS, method, window)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(result, name), getattr(expected, name), name)
    assert_each_settled_alone(result, cons, prod, method, window)


def test_dask_reports_bad_values_when_computed(client):
    cons, prod = communities(5)
    cons[4, 2, 7] = -3
    lazy = scale.settle_dask(da.from_array(cons, chunks=(2, 9, 120)),
                             da.from_array(prod, chunks=(2, 9, 120)), LB, LS)
    with pytest.raises(ValueError, match="consumption_wh"):
        scale.compute(lazy)


@pytest.mark.parametrize("change,argument", [
    (lambda c, p: (c.astype(float), p), "consumption_wh"),
    (lambda c, p: (c, p[:, :, :10]), "production_wh"),
    (lambda c, p: (c[0], p[0]), "consumption_wh"),
])
def test_dask_checks_shapes_and_dtypes_up_front(change, argument):
    cons, prod = change(*communities(6))
    with pytest.raises(ValueError, match=argument):
        scale.settle_dask(da.from_array(cons), da.from_array(prod), LB, LS)
