"""Settling many communities: at once on one machine, or on a Dask cluster.

Each community is settled on its own slot sums, exactly as :func:`.kernels.settle` would settle
it alone; the prices (scalar or one per slot) are shared by all communities.

One machine: :func:`settle_many` takes a 3-D stack (communities, households, slots), settled in
one parallel kernel call, or a list of 2-D arrays when communities differ in size.

Beyond one machine: :func:`settle_dask` takes Dask arrays chunked by community (the household and
slot axes are rechunked whole, since a community's slot sums need all of its households) and
returns a :class:`Settlement` of lazy Dask arrays; :func:`compute` computes all the fields in one
go. The graph runs wherever Dask's scheduler is: a ``LocalCluster``, or any cluster once a client
is connected, e.g. ``dask.distributed.Client("tcp://scheduler:8786")``. Load the meter data on
the cluster (``da.from_zarr``, ``da.from_delayed`` over files the workers can read) rather than
sending it from the client. On the workers, each block runs the serial kernel: Dask already runs
one task per core.
"""

from dataclasses import fields

import numpy as np
import numpy.typing as npt

from ..errors import SettlementError
from . import kernels
from .reference import Settlement, check_method, check_prices

__all__ = ["compute", "settle_dask", "settle_many"]

_PER_HOUSEHOLD = ("payments",)


def settle_many(consumption_wh: npt.ArrayLike, production_wh: npt.ArrayLike,
                grid_buy: npt.ArrayLike, grid_sell: npt.ArrayLike, method: str = "mmr",
                window: int | None = None) -> Settlement | list[Settlement]:
    """Settle many communities, each on its own slot sums.

    3-D integer arrays (communities, households, slots) give one :class:`Settlement` whose fields
    have a leading community axis; lists of 2-D arrays (households may differ) give a list of
    Settlements. Arguments otherwise as :func:`.reference.settle`.
    """
    if isinstance(consumption_wh, (list, tuple)):
        if not isinstance(production_wh, (list, tuple)) \
                or len(production_wh) != len(consumption_wh):
            raise SettlementError(f"production_wh must be a list of as many communities as "
                                  f"consumption_wh ({len(consumption_wh)})")
        return [kernels.settle(cons, prod, grid_buy, grid_sell, method, window)
                for cons, prod in zip(consumption_wh, production_wh)]
    return kernels.settle_stack(consumption_wh, production_wh, grid_buy, grid_sell, method, window)


def settle_dask(consumption_wh: npt.ArrayLike, production_wh: npt.ArrayLike,
                grid_buy: npt.ArrayLike, grid_sell: npt.ArrayLike, method: str = "mmr",
                window: int | None = None) -> Settlement:
    """Settle Dask arrays (communities, households, slots), chunked by community, lazily.

    Returns a :class:`Settlement` of Dask arrays, chunked like the input along the community axis.
    Shapes, dtypes, prices and method are checked now; energy values when the graph runs (a bad
    value raises the same SettlementError from :func:`compute`, its index relative to the block).
    """
    import dask
    import dask.array as da

    check_method(method, window)
    cons, prod = da.asarray(consumption_wh), da.asarray(production_wh)
    for name, array in (("consumption_wh", cons), ("production_wh", prod)):
        if array.dtype.kind not in "iu":
            raise SettlementError(f"{name} must be an integer array of Wh, got dtype {array.dtype}")
        if array.ndim != 3:
            raise SettlementError(f"{name} must be 3-D (communities, households, slots), "
                                  f"got shape {array.shape}")
    if cons.shape != prod.shape:
        raise SettlementError(f"production_wh has shape {prod.shape} but consumption_wh has shape "
                              f"{cons.shape}: they must match")
    _, households, slots = cons.shape
    buy, sell = (dask.delayed(p, pure=True) for p in check_prices(grid_buy, grid_sell, slots))
    cons = cons.rechunk({1: -1, 2: -1})
    prod = prod.rechunk(cons.chunks)
    blocks = [dask.delayed(kernels.settle_stack, pure=True)(
                  c, p, buy, sell, method, window, parallel=False)
              for c, p in zip(cons.to_delayed().ravel(), prod.to_delayed().ravel())]
    columns = {}
    for field in fields(Settlement):
        pieces = [da.from_delayed(dask.delayed(getattr, pure=True)(block, field.name),
                                  (size, households, slots) if field.name in _PER_HOUSEHOLD
                                  else (size, slots), np.int64)
                  for block, size in zip(blocks, cons.chunks[0])]
        columns[field.name] = da.concatenate(pieces, axis=0)
    return Settlement(**columns)


def compute(settlement: Settlement) -> Settlement:
    """Compute every field of a lazy :class:`Settlement` in one pass; NumPy arrays out."""
    import dask

    names = [field.name for field in fields(Settlement)]
    return Settlement(*dask.compute(*(getattr(settlement, name) for name in names)))
