"""daisee-lab: local energy markets, from the meter's bytes to on-chain settlement."""

__version__ = "0.1.0"
