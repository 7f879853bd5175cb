"""Eye safety of illuminators and aimers (docs/lighting.md): IEC 62471 risk groups of lights, hazard maps over the
zones where people's eyes can be, IEC 60825-1 classes of aimer lasers, and ``check`` for sweeps and optimisers.

Pictures and USD layers are in ``swb.safety.output`` (imported on demand: it needs matplotlib)."""

from .check import SafetyReport, ZoneVerdict, assess_items, check, group_index, load

__all__ = ["SafetyReport", "ZoneVerdict", "assess_items", "check", "group_index", "load"]
