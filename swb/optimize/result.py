"""What an optimisation found: the chosen cameras, the read rate, the certificates, what is still unread and why,
as text tables and JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..report import format_table
from .candidates import Candidates
from .milp import MilpResult
from .refine import Refinement
from .safety import DesignSafety
from .spec import DesignSpec


@dataclass
class ChosenCamera:
    name: str  # prim name in the applied stage
    option: str
    position: np.ndarray  # metres, world (Z up)
    forward: np.ndarray  # unit viewing direction, world
    focus: float  # metres (fixed focus) or nan (autofocus)
    cost: float
    frame_rate: float
    reads: float  # share of all pass weight this camera reads
    unique: float  # share only it reads (among the chosen and kept cameras)
    origin: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "option": self.option, "position_m": [round(float(v), 6) for v in self.position],
                "forward": [round(float(v), 6) for v in self.forward],
                "focus_m": None if math.isnan(self.focus) else round(self.focus, 6), "cost": self.cost,
                "frame_rate_hz": self.frame_rate, "reads": self.reads, "unique": self.unique, "origin": self.origin}


@dataclass
class UnreadLabel:
    target: str
    unread_passes: int
    passes: int
    share: float  # unread weight over all weight
    limiting: str  # commonest reason over its unread passes (a limiting factor, "frames" or "no camera")
    reachable: float  # share of its unread weight some candidate reads (0: no candidate can)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "unread_passes": self.unread_passes, "passes": self.passes,
                "share": self.share, "limiting": self.limiting, "reachable": self.reachable}


@dataclass
class DesignResult:
    spec: DesignSpec
    cameras: list[ChosenCamera]
    selection: Candidates  # the chosen cameras' poses and records
    kept: list[str]  # existing cameras counted as installed (existing = keep)
    read_rate: float
    reached: bool
    reachable_rate: float  # every candidate installed at once
    greedy: dict[str, Any]
    milp: MilpResult | None
    discrete: dict[str, Any]  # the best discrete selection and its certified gap
    refinement: Refinement | None
    rounds: list[dict[str, Any]]
    unread: list[UnreadLabel]
    unread_factors: dict[str, float]  # share of all weight unread, by reason
    pass_read: np.ndarray  # (P,) bool final
    n_candidates: int
    evaluations: int
    seconds: dict[str, float]
    device: str
    passes_text: str
    meters_per_unit: float
    notes: list[str] = field(default_factory=list)
    safety: DesignSafety | None = None  # the eye-safety verdict when the design has a limit

    @property
    def goal_text(self) -> str:
        s = self.spec
        if s.goal == "minCameras":
            what = "cost" if s.minimize == "cost" else "cameras"
            limit = f", at most {s.cameras} cameras" if s.cameras else ""
            return f"fewest {what} with read rate >= {100 * s.read_rate:.2f} %{limit}"
        parts = [f"{s.cameras} cameras"] if s.cameras else []
        if s.budget:
            parts.append(f"cost <= {s.budget:g}")
        return f"highest read rate with {' and '.join(parts)}"

    @property
    def total_cost(self) -> float:
        return float(sum(c.cost for c in self.cameras))

    def summary_lines(self) -> list[str]:
        g, d = self.greedy, self.discrete
        lines = [f"design {self.spec.name}: {self.goal_text}",
                 f"labels: {self.passes_text}",
                 f"candidates: {self.n_candidates:,} ({' + '.join(str(r['added']) for r in self.rounds)}), "
                 f"{self.evaluations:,} camera x sample evaluations on {self.device}, "
                 f"{self.seconds.get('total', 0.0):.1f} s"]
        if self.spec.goal == "minCameras":
            lb = g.get("lower_bound")
            lines.append(f"greedy: {g['cameras']} cameras (cost {g['cost']:g}), read rate {100 * g['rate']:.2f} %"
                         + (f"; lower bound {lb:g}" if lb is not None else ""))
        else:
            lines.append(f"greedy: read rate {100 * g['rate']:.2f} % with {g['cameras']} cameras"
                         f"; upper bound {100 * g['upper_rate']:.2f} % (guarantee >= (1 - 1/e) of optimum)")
        m = self.milp
        if m is not None:
            obj = "-" if m.objective is None else (
                f"{m.objective:g}" if self.spec.goal == "minCameras" else f"{100 * d['milp_rate']:.2f} %")
            lines.append(f"MILP (HiGHS): {m.status}, best {obj} in {m.seconds:.1f} s "
                         f"({m.variables:,} variables, {m.rows:,} rows, {m.nonzeros:,} non-zeros)")
        gap = d.get("gap")
        lines.append(f"discrete optimum: {d['from']} selection, certified gap "
                     f"{'unknown' if gap is None else f'{100 * gap:.2f} %'}")
        if self.refinement is not None:
            r = self.refinement
            tot = d["total"]
            lines.append(f"refined (CMA-ES): read rate {100 * r.before / tot:.2f} % -> {100 * r.after / tot:.2f} % "
                         f"({sum(r.improved)} of {len(r.improved)} cameras moved)")
        state = "reached" if self.reached else "NOT reached"
        goal = f" (goal {100 * self.spec.read_rate:.2f} %: {state})" if self.spec.goal == "minCameras" else ""
        lines.append(f"result: {len(self.cameras)} cameras, cost {self.total_cost:g}, read rate "
                     f"{100 * self.read_rate:.2f} %{goal}; all candidates together reach "
                     f"{100 * self.reachable_rate:.2f} %")
        if self.kept:
            lines.append(f"kept as installed: {', '.join(self.kept)}")
        if self.safety is not None:
            lines.append(self.safety.line())
        lines += self.notes
        return lines

    def camera_table(self) -> str:
        rows = [[c.name, c.option, " ".join(f"{v:+.3f}" for v in c.position),
                 " ".join(f"{v:+.2f}" for v in c.forward), "auto" if math.isnan(c.focus) else f"{c.focus:.3f}",
                 f"{100 * c.reads:.1f}", f"{100 * c.unique:.1f}"] for c in self.cameras]
        return format_table(["camera", "option", "position (m)", "looks along", "focus (m)", "reads %",
                             "unique %"], rows)

    def unread_table(self, top: int = 15) -> str:
        if not self.unread:
            return "every label pass is read"
        rows = [[u.target, f"{u.unread_passes}/{u.passes}", f"{100 * u.share:.2f}", u.limiting,
                 f"{100 * u.reachable:.0f}"] for u in self.unread[:top]]
        more = f"\n... and {len(self.unread) - top} more labels" if len(self.unread) > top else ""
        factors = ", ".join(f"{k} {100 * v:.2f} %" for k, v in self.unread_factors.items())
        return (format_table(["unread label", "passes", "share %", "limiting", "reachable %"], rows) + more
                + f"\nunread by reason: {factors}")

    def report(self) -> str:
        return "\n".join([*self.summary_lines(), "", self.camera_table(), "", self.unread_table()])

    def to_json(self) -> dict[str, Any]:
        m = self.milp
        return {
            "design": self.spec.name, "goal": self.spec.goal, "goal_text": self.goal_text,
            "read_rate": self.read_rate, "goal_read_rate": self.spec.read_rate if self.spec.goal == "minCameras"
            else None, "reached": self.reached, "reachable_rate": self.reachable_rate,
            "cameras": [c.to_json() for c in self.cameras], "cost": self.total_cost, "kept": self.kept,
            "greedy": self.greedy,
            "milp": None if m is None else {"status": m.status, "objective": m.objective, "bound": m.bound,
                                            "seconds": m.seconds, "variables": m.variables, "rows": m.rows,
                                            "nonzeros": m.nonzeros},
            "discrete": self.discrete,
            "refinement": None if self.refinement is None else {
                "before": self.refinement.before / self.discrete["total"],
                "after": self.refinement.after / self.discrete["total"],
                "cameras_moved": int(sum(self.refinement.improved)), "evaluations": self.refinement.evaluations},
            "rounds": self.rounds, "candidates": self.n_candidates, "evaluations": self.evaluations,
            "seconds": self.seconds, "device": self.device, "labels": self.passes_text,
            "unread": [u.to_json() for u in self.unread], "unread_by_reason": self.unread_factors,
            "notes": self.notes, "safety": None if self.safety is None else self.safety.to_json(),
        }
