"""How the live view colours labels: one colour per target from the results, and the legend that explains it.

Each colouring is a ``Colouring`` in ``COLOURINGS``. ``Categorical`` ones map a code per target to fixed colours
(the limiting factor of the camera that comes closest); ``Scalar`` ones take a per-pair field of ``PairResults``,
reduce it over the cameras (the best camera's value) and map it through a colour map. A new per-pair field (a read
probability, say) plugs in with one ``Scalar`` entry naming the field: it is offered only when the results carry
it. Colours are those of the PNG pictures (``swb.viz.output``), so a label looks the same in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine.pair_results import PairResults
from ..engine.results import Results
from ..viz.output import FACTOR_COLOURS, FACTOR_LABELS, NOT_DECODABLE, PPM_CMAP, SCORE_CMAP, cmap


@dataclass(frozen=True)
class LegendEntry:
    colour: tuple[float, float, float]  # RGB in [0, 1]
    text: str


@dataclass(frozen=True)
class Colouring:
    """A way to colour labels: ``colours(results)`` gives (n_targets, 3) RGB in [0, 1]."""

    name: str  # the key in the UI state and the panel
    title: str  # what the legend says the colours mean

    def available(self, results: Results) -> bool:
        return True

    def colours(self, results: Results) -> np.ndarray:
        raise NotImplementedError

    def legend(self, results: Results) -> list[LegendEntry]:
        raise NotImplementedError


@dataclass(frozen=True)
class Categorical(Colouring):
    """A code per target (from the target summaries) -> a fixed colour per code."""

    codes: Callable[[Results], np.ndarray] = lambda r: np.zeros(len(r.targets), np.int64)
    table: tuple[tuple[float, float, float], ...] = ()
    labels: tuple[str, ...] = ()

    def colours(self, results: Results) -> np.ndarray:
        codes = np.clip(np.asarray(self.codes(results), np.int64), 0, len(self.table) - 1)
        return np.asarray(self.table, np.float64)[codes].reshape(-1, 3)

    def legend(self, results: Results) -> list[LegendEntry]:
        present = {0, *(int(c) for c in np.unique(self.codes(results)))}
        return [LegendEntry(self.table[c], f"{self.labels[c]} ({int(np.sum(self.codes(results) == c))})")
                for c in sorted(present)]


@dataclass(frozen=True)
class Scalar(Colouring):
    """A per-pair field reduced over cameras (max: the best camera's value), through a colour map; grey where
    ``grey_when`` says the value means nothing (no camera decodes, none sees it)."""

    field: str = "score"
    derive: Callable[[PairResults], np.ndarray] | None = None  # the per-pair values, when not a plain field
    colour_map: str = SCORE_CMAP
    value_range: tuple[float, float] | None = (0.0, 1.0)  # None: 0 to the 99th percentile of the values shown
    grey_when: str = "not decodable"  # "not decodable" | "not positive"
    unit: str = ""

    def available(self, results: Results) -> bool:
        return hasattr(results.pairs, self.field)

    def values(self, results: Results) -> tuple[np.ndarray, np.ndarray]:
        """Per target: the best camera's value and whether it is shown in colour."""
        pairs = results.pairs
        field = np.asarray(self.derive(pairs) if self.derive else getattr(pairs, self.field), np.float64)
        if field.shape[0] == 0:
            return np.zeros(field.shape[1]), np.zeros(field.shape[1], bool)
        if self.grey_when == "not decodable":
            shown = pairs.decodable.any(axis=0)
            best = np.where(pairs.decodable, field, -np.inf).max(axis=0)
        else:
            best = np.where(np.isfinite(field), field, 0.0).max(axis=0)
            shown = best > 0.0
        return np.where(shown, best, 0.0), shown

    def range(self, results: Results) -> tuple[float, float]:
        if self.value_range is not None:
            return self.value_range
        vals, shown = self.values(results)
        top = float(np.percentile(vals[shown], 99.0)) if shown.any() else 1.0
        return 0.0, max(top, 1e-9)

    def colours(self, results: Results) -> np.ndarray:
        vals, shown = self.values(results)
        lo, hi = self.range(results)
        rgb = cmap(self.colour_map)(np.clip((vals - lo) / (hi - lo), 0.0, 1.0))[..., :3]
        rgb[~shown] = NOT_DECODABLE
        return rgb

    def legend(self, results: Results) -> list[LegendEntry]:
        lo, hi = self.range(results)
        ramp = cmap(self.colour_map)
        unit = f" {self.unit}" if self.unit else ""
        entries = [LegendEntry(tuple(float(x) for x in ramp(k)[:3]), f"{lo + k * (hi - lo):.3g}{unit}")
                   for k in (0.0, 0.25, 0.5, 0.75, 1.0)]
        grey = "no camera decodes it" if self.grey_when == "not decodable" else "no camera sees it"
        return [*entries, LegendEntry(NOT_DECODABLE, grey)]


def _limiting_codes(results: Results) -> np.ndarray:
    s = results.summary_arrays()
    return np.where(s.decodable, 0, s.limiting)


COLOURINGS: dict[str, Colouring] = {
    c.name: c for c in (
        Scalar("score", "score of the best decoding camera", field="score"),
        Categorical("limiting", "limiting factor (the camera that comes closest)", codes=_limiting_codes,
                    table=tuple(FACTOR_COLOURS[k] for k in range(len(FACTOR_COLOURS))),
                    labels=tuple(FACTOR_LABELS)),
        Scalar("ppm", "pixels per module (best camera that sees it, worst module axis)", field="ppm_u",
               derive=lambda p: np.where(p.visible_fraction > 0.0, np.minimum(p.ppm_u, p.ppm_w), 0.0),
               colour_map=PPM_CMAP,
               value_range=None, grey_when="not positive", unit="px"),
        Scalar("p_read", "read probability in one frame (best camera; grey: none can read it)", field="p_read",
               grey_when="not positive"),
    )
}


def available(results: Results) -> list[str]:
    """The colourings these results support, in the panel's order."""
    return [name for name, c in COLOURINGS.items() if c.available(results)]


def legend_html(colouring: Colouring, results: Results) -> str:
    """The legend as a small HTML block for the panel (swatches and text)."""
    rows = "".join(
        f'<div style="display:flex;align-items:center;gap:6px;margin:1px 0">'
        f'<span style="display:inline-block;width:14px;height:14px;border:1px solid #555;'
        f'background:{_hex(e.colour)}"></span><span>{e.text}</span></div>'
        for e in colouring.legend(results))
    return f'<div style="font-size:0.8em"><b>{colouring.title}</b>{rows}</div>'


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{int(round(255 * min(max(x, 0.0), 1.0))):02x}" for x in rgb)


def to_bytes(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> uint8, what the browser receives."""
    return np.clip(np.round(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)
