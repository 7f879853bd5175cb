"""The design loop: candidates -> matrix -> greedy -> adaptive rounds -> exact MILP -> CMA-ES refinement -> result.

1. Draw ``candidates`` cameras (``candidates.py``) and evaluate the candidate x pass matrix on the device
   (``evaluator.py``, one bit per entry: ``objective.BitMatrix``).
2. Lazy greedy (``greedy.py``) for the goal; then ``rounds`` times add candidates aimed at what it still misses
   (``resample.py``) and run greedy again over all of them.
3. A goal no candidate set reaches stops here with SwbError: the best reachable read rate and what limits it.
4. The exact integer program over the same candidates (``milp.py``, HiGHS) with a time limit: the better of the
   two selections is kept, and the proven bound certifies its gap.
5. CMA-ES moves each chosen camera within its mount region (``refine.py``); a minCameras design then drops any
   camera the others can do without.
6. The final cameras are evaluated again; every pass still unread is explained by its closest camera.

Everything is deterministic for the spec's seed, except a MILP stopped by its time limit (see ``milp.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from ..engine.model import Scene
from ..engine.profiles import FACTORS
from ..engine.world import World, pack_cameras
from ..errors import SwbError
from ..sweep.candidates import StageFrame
from . import greedy as G
from .candidates import CandidateFactory, Candidates
from .evaluator import DesignEvaluator
from .milp import MilpResult, solve_cover, solve_max
from .objective import BitMatrix
from .passes import PassSet, build_passes, counted_scene
from .refine import Refiner
from .resample import resample
from .result import ChosenCamera, DesignResult, UnreadLabel
from .safety import design_lights
from .spec import D_CAMERAS, D_READ_RATE, DesignSpec

Progress = Callable[[str, int, int], None]  # (phase, done, total)
# The candidate x pass matrix rows of (records, frame rates, progress): by default DesignEvaluator.pass_rows on
# this process's device; swb.cluster passes rows computed in chunks on Ray workers (the same bits, any order).
Rows = Callable[[np.ndarray, np.ndarray, Callable[[int, int], None] | None], np.ndarray]
EXPLAIN_SAMPLES = 256  # unread samples the "why" of an unreachable goal looks at (all candidates each)


def _reason(code: int, key: float) -> str:
    if key >= 4.0:
        return "frames"  # decodes, but not over a whole frame interval
    if key < 0.0:
        return "no camera"
    return FACTORS[code - 1] if code > 0 else "fov"


class Optimizer:
    """One design problem on one scene: its passes, candidates, matrix and device buffers."""

    def __init__(self, scene: Scene, spec: DesignSpec, *, frame: StageFrame | None = None, world: World | None = None,
                 device: str | None = None, threads: int | None = None, progress: Progress | None = None,
                 rows: Callable[[Optimizer], Rows] | None = None) -> None:
        self.t0 = time.perf_counter()
        self.spec = spec
        self.frame = frame if frame is not None else StageFrame()
        self.world = world if world is not None else World(scene, device=device, threads=threads, detail=False)
        self.scene = scene
        counted, _ = counted_scene(scene, spec.labels)
        if not counted.targets:
            raise SwbError("the design counts no barcode labels", file=spec.source or None, prim=spec.path or None,
                           hint="check swb:design:labels (TOML: labels) or add SwbBarcodeAPI targets")
        self.passes: PassSet = build_passes(counted, spec, self.frame, self.world.face_part)
        self.factory = CandidateFactory(scene, spec, self.frame, self.passes)
        self.evaluator = DesignEvaluator(self.world, self.passes, threads, design_lights(scene, spec))
        self.rows: Rows = rows(self) if rows is not None else self.evaluator.pass_rows  # the candidate matrix
        self.progress = progress
        self.rng = np.random.default_rng(spec.seed)
        self.matrix = BitMatrix(self.passes.weight)
        self.kept = [c.path for c in scene.cameras] if spec.existing == "keep" else []
        self.fixed_rows = None
        if self.kept:
            recs = pack_cameras(scene.cameras, scene.source)
            self.fixed_rows = self.evaluator.pass_rows(recs, np.zeros(len(recs)))
        self.fixed_miss = self.matrix.start(self.fixed_rows)
        self.candidates: Candidates | None = None
        self.cost = np.zeros(0)
        self.seconds: dict[str, float] = {}

    # ----- helpers
    def _phase(self, name: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        cb = self.progress
        return lambda done, total: cb(name, done, total)

    def add(self, cands: Candidates, phase: str) -> None:
        rows = self.rows(cands.records, self.factory.frame_rate(cands.option), self._phase(phase))
        self.matrix.append(rows)
        self.candidates = cands if self.candidates is None else Candidates.concatenate([self.candidates, cands])
        self.cost = self.factory.cost(self.candidates.option)

    @property
    def need(self) -> float:
        """Integer weight a minCameras design must read."""
        return float(math.ceil(self.spec.read_rate * self.matrix.total - 1e-6))

    def run_greedy(self) -> G.GreedyResult:
        s = self.spec
        use_cost = s.minimize == "cost"
        if s.goal == "minCameras":
            return G.cover(self.matrix, self.fixed_miss, self.need, self.cost if use_cost else None, use_cost,
                           s.cameras or None)
        return G.maximize(self.matrix, self.fixed_miss, s.cameras or None, self.cost,
                          s.budget if s.budget > 0 else None)

    # ----- the loop
    def run(self) -> DesignResult:
        s = self.spec
        t = time.perf_counter()
        self.add(self.factory.random(s.candidates, self.rng), "candidates")
        greedy = self.run_greedy()
        rounds = [{"added": s.candidates, "greedy_cameras": len(greedy.chosen),
                   "greedy_rate": greedy.value / self.matrix.total}]
        for r in range(s.rounds):
            miss = self.matrix.miss_of(greedy.chosen, self.fixed_rows)
            if not np.any(miss > 0.0) and s.goal == "maxReadRate":
                break
            assert self.candidates is not None
            chosen = self.candidates.take(greedy.chosen)
            new = resample(self.factory, self.passes, np.maximum(miss, 0.0), chosen, s.resample_count, self.rng,
                           f"round {r + 1}")
            self.add(new, f"round {r + 1}")
            greedy = self.run_greedy()
            rounds.append({"added": new.n, "greedy_cameras": len(greedy.chosen),
                           "greedy_rate": greedy.value / self.matrix.total})
        self.seconds["candidates+greedy"] = time.perf_counter() - t
        union = self.matrix.union_miss(self.fixed_rows)
        reachable = self.matrix.covered(union)
        if s.goal == "minCameras" and reachable < self.need - 1e-9:
            raise self._unreachable(union, reachable)

        t = time.perf_counter()
        milp = self._milp(greedy)
        self.seconds["milp"] = time.perf_counter() - t
        chosen, discrete = self._pick(greedy, milp)

        t = time.perf_counter()
        assert self.candidates is not None
        selection = self.candidates.take(chosen)
        rows = self.matrix.rows(chosen) if chosen else np.zeros((0, self.passes.n))
        refinement = None
        if s.refine_generations > 0 and selection.n:
            refiner = Refiner(self.factory, self.evaluator, self.passes, self.matrix)
            selection, rows, refinement = refiner.refine(selection, rows, self.fixed_miss, s.refine_generations,
                                                         s.seed, self._phase("refine"))
            if s.goal == "minCameras":
                small = BitMatrix(self.passes.weight, rows > 0.5)
                keep = G.prune(small, list(range(selection.n)), self.fixed_miss, self.need,
                               self.factory.cost(selection.option))
                selection, rows = selection.take(keep), rows[keep]
        self.seconds["refine"] = time.perf_counter() - t
        return self._result(selection, greedy, milp, discrete, refinement, rounds, reachable)

    # ----- the integer program
    def _milp(self, greedy: G.GreedyResult) -> MilpResult | None:
        s = self.spec
        over_limit = s.goal == "minCameras" and s.cameras and len(greedy.chosen) > s.cameras
        if s.milp_time_limit <= 0.0 or not self.matrix.binary:
            if over_limit:
                raise self._too_many(greedy, None)
            return None
        if self.progress is not None:
            self.progress("MILP", 0, 1)
        if s.goal == "minCameras":
            use_cost = s.minimize == "cost"
            cost = self.cost if use_cost else np.ones(self.matrix.n)
            incumbent = None if over_limit else float(cost[greedy.chosen].sum())
            res = solve_cover(self.matrix, self.fixed_miss, self.need, cost, max_count=s.cameras or None,
                              incumbent=incumbent, time_limit=s.milp_time_limit)
            if res.status == "infeasible" or (over_limit and res.chosen is None):
                raise self._too_many(greedy, res)
        else:
            res = solve_max(self.matrix, self.fixed_miss, self.cost, k=s.cameras or None,
                            budget=s.budget if s.budget > 0 else None, incumbent=greedy.value,
                            time_limit=s.milp_time_limit)
            if res.status == "infeasible":
                raise SwbError(f"the integer program is infeasible (HiGHS: {res.message})", file=s.source or None,
                               prim=s.path or None, attribute=D_CAMERAS)
        if self.progress is not None:
            self.progress("MILP", 1, 1)
        return res

    def _too_many(self, greedy: G.GreedyResult, res: MilpResult | None) -> SwbError:
        s = self.spec
        proof = "the integer program is infeasible (HiGHS)" if res is not None and res.status == "infeasible" else \
            "no such set was found (the integer program was not solved to the end)"
        lb = greedy.lower_bound
        return SwbError(f"no set of at most {s.cameras} cameras reaches a read rate of {100 * s.read_rate:.2f} %: "
                        f"{proof}; greedy needs {len(greedy.chosen)}"
                        + (f", at least {lb:g} are needed" if lb is not None else ""),
                        file=s.source or None, prim=s.path or None, attribute=D_CAMERAS,
                        hint="allow more cameras, lower the goal, or widen the mount regions and catalogue")

    def _pick(self, greedy: G.GreedyResult, milp: MilpResult | None) -> tuple[list[int], dict]:
        """The better of the greedy and MILP selections, and the certified gap of the discrete problem."""
        s, m = self.spec, self.matrix
        total = m.total
        g_rate = greedy.value / total
        out: dict = {"total": total, "greedy_rate": g_rate}
        chosen = list(greedy.chosen)
        if s.goal == "minCameras":
            cost = self.cost if s.minimize == "cost" else np.ones(m.n)
            best_cost = float(cost[chosen].sum()) if greedy.reached else math.inf
            src = "greedy"
            bound = greedy.lower_bound if greedy.lower_bound is not None else 0.0
            if milp is not None and milp.chosen is not None and milp.objective is not None:
                m_cov = m.covered(m.miss_of(milp.chosen, self.fixed_rows))
                out["milp_rate"] = m_cov / total
                better = milp.objective < best_cost - 1e-9 or (
                    milp.objective <= best_cost + 1e-9 and m_cov > greedy.value + 1e-9)
                if better:
                    chosen, best_cost, src = list(milp.chosen), milp.objective, "MILP"
            if milp is not None and milp.bound is not None:
                b = milp.bound if s.minimize == "cost" else math.ceil(milp.bound - 1e-6)
                bound = max(bound, b)
            out.update({"from": src, "objective": best_cost, "bound": bound,
                        "gap": (best_cost - bound) / best_cost if best_cost > 0 and math.isfinite(best_cost) else 0.0})
        else:
            best, src = greedy.value, "greedy"
            upper = greedy.upper_bound if greedy.upper_bound is not None else math.inf
            if milp is not None and milp.objective is not None:
                out["milp_rate"] = milp.objective / total
                if milp.objective > best + 1e-9 and milp.chosen is not None:
                    chosen, best, src = list(milp.chosen), milp.objective, "MILP"
            if milp is not None and milp.bound is not None:
                upper = min(upper, milp.bound)
            upper = max(upper, best)
            out.update({"from": src, "objective": best / total, "bound": upper / total if math.isfinite(upper)
                        else None, "gap": (upper - best) / upper if math.isfinite(upper) and upper > 0 else None})
        return chosen, out

    # ----- explaining
    def _unreachable(self, union_miss: np.ndarray, reachable: float) -> SwbError:
        s = self.spec
        factors = self._reasons_over(self.candidates.records if self.candidates is not None else None, union_miss)
        top = ", ".join(f"{k} {100 * v:.1f} %" for k, v in list(factors.items())[:4])
        return SwbError(
            f"the goal read rate {100 * s.read_rate:.2f} % is out of reach: all {self.matrix.n:,} candidates "
            f"together read {100 * reachable / self.matrix.total:.2f} %; the rest is limited by {top or '-'}",
            file=s.source or None, prim=s.path or None, attribute=D_READ_RATE,
            hint="lower the goal, or add mount regions, lenses or sensors that reach those labels")

    def _reasons_over(self, records: np.ndarray | None, miss: np.ndarray) -> dict[str, float]:
        """Share of all weight unread by reason, judged on up to EXPLAIN_SAMPLES unread samples against all
        ``records`` (their closest camera)."""
        unread = np.flatnonzero(miss > 0.0)
        if len(unread) == 0 or records is None:
            return {}
        rng = np.random.default_rng(self.spec.seed + 1)
        picked = unread if len(unread) <= EXPLAIN_SAMPLES else np.sort(rng.choice(unread, EXPLAIN_SAMPLES, False))
        rows = self.passes.positions[picked]
        mid = rows[np.arange(len(rows)), np.maximum((rows >= 0).sum(axis=1) // 2, 0)]
        _, key, lim = self.evaluator.closest(records, mid)
        w = self.passes.weight[picked].astype(np.float64)
        scale = float(self.passes.weight[unread].sum()) / w.sum() / self.matrix.total
        out: dict[str, float] = {}
        for code, k, wi in zip(lim, key, w, strict=True):
            reason = _reason(int(code), float(k))
            out[reason] = out.get(reason, 0.0) + wi * scale
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def _explain(self, selection: Candidates, miss: np.ndarray, union: np.ndarray
                 ) -> tuple[list[UnreadLabel], dict[str, float]]:
        p = self.passes
        unread = np.flatnonzero(miss > 0.0)
        reason = np.array(["no camera"] * len(unread), dtype=object)
        if len(unread) and selection.n:
            idx = p.positions[unread]
            flat = idx[idx >= 0]
            v = self.evaluator.verdicts(selection.records, flat)
            best = np.argmax(v.key, axis=0)
            key = v.key[best, np.arange(len(flat))]
            lim = v.limiting[best, np.arange(len(flat))]
            owner = np.repeat(np.arange(len(unread)), (idx >= 0).sum(axis=1))
            for j in range(len(unread)):
                sel = np.flatnonzero(owner == j)
                k = sel[np.argmax(key[sel])]
                reason[j] = _reason(int(lim[k]), float(key[k]))
        total = self.matrix.total
        by_target: dict[int, list[int]] = {}
        for j, pi in enumerate(unread):
            by_target.setdefault(int(p.pass_target[pi]), []).append(j)
        passes_of = np.bincount(p.pass_target, minlength=len(p.targets))
        labels, factors = [], {}
        for t, js in by_target.items():
            ps = unread[js]
            w = p.weight[ps].astype(np.float64)
            rs = reason[js]
            per: dict[str, float] = {}
            for r_, wi in zip(rs, w, strict=True):
                per[r_] = per.get(r_, 0.0) + wi
                factors[r_] = factors.get(r_, 0.0) + wi / total
            reach = float(w[union[ps] == 0.0].sum() / w.sum()) if w.sum() else 0.0
            labels.append(UnreadLabel(p.targets[t], len(js), int(passes_of[t]), float(w.sum() / total),
                                      max(per.items(), key=lambda kv: (kv[1], kv[0]))[0], reach))
        labels.sort(key=lambda u: (-u.share, u.target))
        return labels, dict(sorted(factors.items(), key=lambda kv: -kv[1]))

    def _result(self, selection: Candidates, greedy: G.GreedyResult, milp: MilpResult | None, discrete: dict,
                refinement, rounds: list[dict], reachable: float) -> DesignResult:  # noqa: ANN001
        s = self.spec
        t = time.perf_counter()
        fr = self.factory.frame_rate(selection.option)
        rows = self.evaluator.pass_rows(selection.records, fr) if selection.n else np.zeros((0, self.passes.n), bool)
        final = BitMatrix(self.passes.weight, rows)
        miss = final.miss_of(list(range(final.n)), self.fixed_rows)
        covered = final.covered(miss)
        total = self.matrix.total
        cams = []
        for j in range(selection.n):
            others = final.miss_of([i for i in range(final.n) if i != j], self.fixed_rows)
            opt = self.factory.options[int(selection.option[j])]
            unique = (covered - final.covered(others)) / total
            cams.append(ChosenCamera(
                name=f"Camera_{j + 1:02d}", option=opt.label, position=selection.position[j].copy(),
                forward=-selection.rotation[j][:, 2], focus=float(selection.focus[j]) if opt.focus_mode == "fixed"
                else math.nan, cost=opt.cost, frame_rate=opt.frame_rate,
                reads=float(final.covered(final.miss_of([j])) / total), unique=float(unique),
                origin=selection.origin[j]))
        union = self.matrix.union_miss(self.fixed_rows)
        unread, factors = self._explain(selection, miss, union)
        rate = covered / total
        reached = s.goal != "minCameras" or covered >= self.need - 1e-9
        g_cost = float((self.cost if s.minimize == "cost" else np.ones(self.matrix.n))[greedy.chosen].sum())
        greedy_doc = {"cameras": len(greedy.chosen), "cost": g_cost, "rate": greedy.value / total,
                      "lower_bound": greedy.lower_bound,
                      "upper_rate": None if greedy.upper_bound is None else greedy.upper_bound / total,
                      "gain_evaluations": greedy.gain_evaluations}
        self.seconds["final"] = time.perf_counter() - t
        self.seconds["total"] = time.perf_counter() - self.t0
        notes = []
        if milp is not None and milp.status == "time limit":
            notes.append(f"note: HiGHS stopped at its {s.milp_time_limit:g} s limit; the gap above is what it proved")
        if not reached:
            notes.append("note: refinement and pruning kept the goal, but the final evaluation differs; report this")
        return DesignResult(
            spec=s, cameras=cams, selection=selection, kept=self.kept, read_rate=rate, reached=reached,
            reachable_rate=reachable / total, greedy=greedy_doc, milp=milp, discrete=discrete, refinement=refinement,
            rounds=rounds, unread=unread, unread_factors=factors, pass_read=miss == 0.0,
            n_candidates=self.matrix.n, evaluations=self.evaluator.evaluations, seconds=self.seconds,
            device=str(self.world.device), passes_text=self.passes.describe(),
            meters_per_unit=self.frame.meters_per_unit, notes=notes)

    def close(self) -> None:
        self.evaluator.close()


def optimize_scene(scene: Scene, spec: DesignSpec, *, frame: StageFrame | None = None, world: World | None = None,
                   device: str | None = None, threads: int | None = None,
                   progress: Progress | None = None, rows: Callable[[Optimizer], Rows] | None = None) -> DesignResult:
    """Solve a design on a scene model (no USD needed: benchmarks and generated stations use this); ``rows``
    makes the function that computes candidate matrix rows (see ``Rows``)."""
    opt = Optimizer(scene, spec, frame=frame, world=world, device=device, threads=threads, progress=progress,
                    rows=rows)
    try:
        return opt.run()
    finally:
        opt.close()
