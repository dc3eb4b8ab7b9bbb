"""Real meter output published by others (see README.md here for provenance).

>>> from daisee_lab import samples, tic
>>> frame, = tic.decode_frames(samples.load("linky_historic_tempo"))
"""

from __future__ import annotations

from pathlib import Path

from daisee_lab.errors import DaiseeError

__all__ = ["load", "names"]

_HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    """The available samples, by name (file name without extension)."""
    return sorted(p.stem for p in _HERE.iterdir() if p.suffix in (".bin", ".txt"))


def load(name: str) -> bytes:
    """The bytes of sample `name`, exactly as the meter sent them."""
    for path in _HERE.glob(f"{name}.*"):
        if path.suffix in (".bin", ".txt"):
            return path.read_bytes()
    raise DaiseeError(f"no sample named {name!r}; available: {', '.join(names())}")
