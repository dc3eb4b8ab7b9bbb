"""The OBIS codes the DSMR codec reads, each named once (``A-B:C.D.E``, IEC 62056-61).

Sources (checked 2026-12-06, as in ``hardware/dsmr-p1.md``): Netbeheer Nederland, *P1 Companion
Standard, Dutch Smart Meter Requirements* 5.0.2 (26 February 2016), its table of objects; the
Belgian capacity-tariff codes from Fluvius's e-MUCS H specification (the example telegram
``tests/data/dsmr/fluvius_v171_be_crc3AD7.txt``, e-MUCS 1.7.1). Codes that vary by channel (the
M-Bus devices, channel-1 energy registers) are made by :func:`mbus` and :func:`energy_register`.
"""

from __future__ import annotations

__all__ = ["AVERAGE_DEMAND", "CAPACITY_TARIFF", "CURRENTS", "EMUCS_VERSION", "EQUIPMENT_ID",
           "EQUIPMENT_ID_EASYMETER", "MBUS_DEVICE_TYPE", "MBUS_EQUIPMENT_ID",
           "MBUS_EQUIPMENT_ID_ALT", "MBUS_VALUE_OLD", "MONTH_PEAK_DEMAND", "PEAK_DEMAND_HISTORY",
           "POWER_CHANNELS", "POWER_DELIVERED", "POWER_RETURNED", "TARIFF_INDICATOR", "TIMESTAMP",
           "VERSION", "VOLTAGES", "energy_register", "mbus"]

VERSION = "1-3:0.2.8"  # version of the P1 output: "50" is DSMR 5.0
TIMESTAMP = "0-0:1.0.0"  # the telegram's time, YYMMDDhhmmssX
EQUIPMENT_ID = "0-0:96.1.1"  # the meter's identifier, hex-encoded ASCII
EQUIPMENT_ID_EASYMETER = "0-0:96.1.255"  # the same, as EasyMeter Q3D writes it
EMUCS_VERSION = "0-0:96.1.4"  # Belgian/Swiss e-MUCS version: "50217" is DSMR 5.0.2, e-MUCS 1.7
TARIFF_INDICATOR = "0-0:96.14.0"  # the tariff in force: "0001", "0002"
POWER_DELIVERED = "1.7.0"  # C.D.E of the power drawn now (+P), kW
POWER_RETURNED = "2.7.0"  # C.D.E of the power returned now (-P), kW
POWER_CHANNELS = ("1-0", "1-1")  # A-B where a power is looked for, in this order
VOLTAGES = ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0")  # instantaneous voltage L1, L2, L3
CURRENTS = ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0")  # instantaneous current L1, L2, L3
AVERAGE_DEMAND = "1-0:1.4.0"  # Belgian: average power of the quarter hour running now
MONTH_PEAK_DEMAND = "1-0:1.6.0"  # Belgian: this month's highest quarter-hour average, its time
PEAK_DEMAND_HISTORY = "0-0:98.1.0"  # Belgian: the peak of each of the last 13 months
CAPACITY_TARIFF = (AVERAGE_DEMAND, MONTH_PEAK_DEMAND, PEAK_DEMAND_HISTORY)
MBUS_DEVICE_TYPE = "24.1.0"  # C.D.E, on an M-Bus channel: 003 gas, 004 heat, 007 water
MBUS_EQUIPMENT_ID = "96.1.0"  # C.D.E, on an M-Bus channel: the device's identifier
MBUS_EQUIPMENT_ID_ALT = "96.1.1"  # the same, as some meters write it
MBUS_VALUE_OLD = "24.3.0"  # C.D.E, on an M-Bus channel: DSMR 2.2/3's value line (4/5: 24.2.n)


def mbus(channel: int, code: str) -> str:
    """The OBIS code of `code` (C.D.E) on M-Bus channel `channel` (1 to 4): ``0-n:C.D.E``."""
    return f"0-{channel}:{code}"


def energy_register(channel: int | str, direction: str, tariff: int) -> str:
    """An energy register: ``1-channel:direction.8.tariff`` (direction 1 delivered to the
    client, 2 returned by it; tariff 0 is the total)."""
    return f"1-{channel}:{direction}.8.{tariff}"
