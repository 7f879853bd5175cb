"""Sweep designs: which parameter values each configuration takes (full grid, seeded random, Latin hypercube,
scrambled Sobol).

A design is a float64 matrix, one row per configuration and one column per parameter dimension (a box offset has
three), in the stage's units. Lists (lenses, f-numbers, offsets) hold the chosen value; resolutions, sensors and
decoder profiles hold the index of the chosen entry. Optical values are rounded as their float attributes store
them, so a configuration written back to USD reloads to exactly the values that were evaluated.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import SwbError
from .spec import OPTICS, POSE_KINDS, SCALAR_KINDS, UNITS, ParamSpec, SweepSpec

DEFAULT_GRID_STEPS = 5
_BOX_AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Column:
    """One column of a design: a parameter dimension, its units and, for an index column, its entries."""

    name: str
    param: int  # index into SweepSpec.params
    dim: int  # 0 for scalars, 0..2 for a box
    kind: str
    unit: str  # display unit: m, mm, deg, s, "" (f-number) or "choice" (an index into labels)
    to_display: float  # stage value * to_display = display value
    labels: tuple[str, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.unit == "choice"

    def display(self, value: float) -> str:
        """A value as a person reads it (units of a TOML spec)."""
        if self.is_index:
            return self.labels[int(value)]
        v = value * self.to_display + 0.0  # no "-0"
        # poses are offsets from the authored pose: a sign says so; optics are absolute values
        text = f"{v:+.3g}" if self.kind in POSE_KINDS else f"{v:.4g}"
        return f"{text}{' ' + self.unit if self.unit else ''}"


@dataclass
class Design:
    """Parameter values of every configuration (rows) for the columns of a sweep."""

    columns: list[Column]
    values: np.ndarray  # (n_configs, n_columns) float64, stage units or indices

    @property
    def n(self) -> int:
        return int(self.values.shape[0])


def columns_of(spec: SweepSpec, meters_per_unit: float) -> list[Column]:
    cols = []
    for i, p in enumerate(spec.params):
        unit = UNITS.get(p.kind, "choice")
        scale = {"m": meters_per_unit, "mm": meters_per_unit * 100.0}.get(unit, 1.0)
        if p.kind == "translateBox":
            cols += [Column(f"{p.name}.{a}", i, d, p.kind, unit, scale) for d, a in enumerate(_BOX_AXES)]
        elif p.kind in SCALAR_KINDS:
            cols.append(Column(p.name, i, 0, p.kind, unit, scale))
        else:
            cols.append(Column(p.name, i, 0, p.kind, "choice", 1.0, _labels(p, meters_per_unit)))
    return cols


def _labels(p: ParamSpec, mpu: float) -> tuple[str, ...]:
    if p.kind == "decoderProfile":
        return p.profiles
    if p.kind == "resolution":
        return tuple(f"{w}x{h}" for w, h in p.resolutions)
    mm = mpu * 100.0  # tenths of a scene unit -> mm
    pairs = zip(p.resolutions, p.apertures, strict=True)
    return tuple(f"{w}x{h} {a * mm:.4g}x{b * mm:.4g}mm" for (w, h), (a, b) in pairs)


def _dims(p: ParamSpec) -> list[tuple[float, float, int]]:
    """(low, high, choices) per dimension of a parameter; choices 0 means continuous."""
    if p.kind == "translateBox":
        assert p.box is not None
        return [(p.box[0][d], p.box[1][d], 0) for d in range(3)]
    if p.choices:
        return [(0.0, 0.0, p.choices)]
    assert p.range is not None
    return [(p.range[0], p.range[1], 0)]


def _grid_levels(spec: SweepSpec) -> list[int]:
    """Levels per dimension of a full grid: list lengths, steps, or steps chosen from spec.samples."""
    dims = [(p, d) for p in spec.params for d in _dims(p)]
    fixed = 1
    auto = 0
    for p, (lo, hi, k) in dims:
        if k:
            fixed *= k
        elif lo == hi:
            continue
        elif p.steps:
            fixed *= p.steps
        else:
            auto += 1
    steps = DEFAULT_GRID_STEPS
    if auto:
        steps = max(2, int(math.floor((spec.samples / fixed) ** (1.0 / auto) + 1e-9)))
    out = []
    for p, (lo, hi, k) in dims:
        out.append(k if k else 1 if lo == hi else p.steps if p.steps else steps)
    return out


def count_configurations(spec: SweepSpec) -> int:
    """How many configurations the sweep evaluates (a Python int: a huge grid must not overflow)."""
    if spec.sampler == "grid":
        return math.prod(_grid_levels(spec))
    return spec.samples


def available_host_memory() -> int:
    """Bytes of memory the sweep may use on the host: half of what is free now (a generous guess elsewhere)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_host_memory(spec: SweepSpec, n_configs: int, n_cameras: int, budget: int | None = None) -> None:
    """SwbError (before anything is allocated) when the design and per-configuration results cannot fit."""
    n_cols = sum(len(_dims(p)) for p in spec.params)
    per_config = 8 * (2 * n_cols + n_cameras + 12)  # design (+ unit cube), unique per camera, sums, limits
    need = n_configs * per_config
    have = available_host_memory() if budget is None else budget
    if need > have:
        raise SwbError(
            f"{n_configs:,} configurations need {need / 2**30:.1f} GiB of host memory for their parameters and "
            f"results, more than the {have / 2**30:.1f} GiB available",
            file=spec.source or None, prim=spec.path or None,
            hint="ask for fewer samples (--samples), fewer grid steps, or a random / lhs / sobol sampler; the "
            "device work itself is chunked (--chunk)",
        )


def unit_samples(sampler: str, n: int, d: int, seed: int) -> np.ndarray:
    """(n, d) points in [0, 1): seeded uniform random, Latin hypercube or scrambled Sobol (scipy.stats.qmc)."""
    rng = np.random.default_rng(seed)
    if d == 0:
        return np.zeros((n, 0))
    if sampler == "random":
        return rng.random((n, d))
    from scipy.stats import qmc

    cls = qmc.LatinHypercube if sampler == "lhs" else qmc.Sobol
    try:
        engine = cls(d, rng=rng)
    except TypeError:  # scipy < 1.15 names it seed
        engine = cls(d, seed=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Sobol: n not a power of 2 loses some balance
        return np.asarray(engine.random(n), dtype=np.float64)


def make_design(spec: SweepSpec, meters_per_unit: float, *, host_budget: int | None = None,
                n_cameras: int = 1) -> Design:
    """The configurations of a sweep (checked to fit in host memory first)."""
    cols = columns_of(spec, meters_per_unit)
    n = count_configurations(spec)
    check_host_memory(spec, n, n_cameras, host_budget)
    dims = [d for p in spec.params for d in _dims(p)]
    values = np.empty((n, len(dims)), dtype=np.float64)
    if spec.sampler == "grid":
        levels = _grid_levels(spec)
        idx = np.indices(levels, dtype=np.int64).reshape(len(levels), -1).T  # first dimension slowest
        for j, ((lo, hi, k), m) in enumerate(zip(dims, levels, strict=True)):
            values[:, j] = idx[:, j] if k else np.linspace(lo, hi, m)[idx[:, j]]
    else:
        u = unit_samples(spec.sampler, n, len(dims), spec.seed)
        for j, (lo, hi, k) in enumerate(dims):
            values[:, j] = np.minimum(np.floor(u[:, j] * k), k - 1) if k else lo + u[:, j] * (hi - lo)
    for j, col in enumerate(cols):
        p = spec.params[col.param]
        if p.kind in SCALAR_KINDS and p.choices:
            values[:, j] = np.asarray(p.values, dtype=np.float64)[values[:, j].astype(np.int64)]
        if p.kind in OPTICS:  # what a float attribute stores
            values[:, j] = values[:, j].astype(np.float32).astype(np.float64)
    return Design(cols, values)

