"""Continuous refinement of the chosen cameras with CMA-ES (the ``cmaes`` package) through the kernels.

One camera at a time, the others fixed: its position moves within its mount region (boxes clamp, surfaces
project back onto the mesh), its aim turns (yaw and pitch about its own axes), its roll and, for a fixed-focus
lens with an aperture, its focus distance scale. A generation of variants is one batched launch of
``camera_verdicts`` over every label sample. The fitness is lexicographic in one number: the exact read rate of
the whole set first, then, worth less than the lightest pass, how close the camera comes to reading the samples
the others miss (the sweep's closeness key plus the score of what it reads), so CMA-ES can climb the plateaus of a
0/1 objective. A variant replaces the camera only when it is strictly better; the read rate never drops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from cmaes import CMA

from ..sweep.candidates import rotations_about
from .candidates import CandidateFactory, Candidates
from .evaluator import DesignEvaluator
from .objective import ReadMatrix
from .passes import PassSet

POS_STEP_M = 0.08  # metres per unit of the search variable
AIM_STEP_DEG = 4.0
ROLL_STEP_DEG = 10.0
FOCUS_STEP = 0.15  # log scale
LIMIT = 3.0  # search variables stay within +-LIMIT steps

Progress = Callable[[int, int], None]


@dataclass
class Refinement:
    """What refinement did: per camera the read weight before and after, evaluations spent."""

    before: float
    after: float
    improved: list[bool]
    evaluations: int


class Refiner:
    def __init__(self, factory: CandidateFactory, evaluator: DesignEvaluator, passes: PassSet,
                 matrix: ReadMatrix) -> None:
        self.factory, self.evaluator, self.passes, self.matrix = factory, evaluator, passes, matrix
        self.sample_weight = passes.samples.weight_int.astype(np.float64)
        self.min_pass = float(passes.weight[passes.weight > 0].min()) if np.any(passes.weight > 0) else 1.0

    def rows_and_tie(self, records: np.ndarray, frame_rate: np.ndarray, others_miss: np.ndarray,
                     full: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(n, P) pass rows and (n,) closeness to the samples the others miss, in [0, 1].

        Only the samples of passes the others may miss are evaluated: the fitness ignores every other pass, so a
        design near its goal refines against the few samples still missed. Rows of the passes left out read False;
        ``full`` evaluates every sample (the row a camera keeps)."""
        pass_miss = others_miss[self.passes.sample_pass]
        idx = np.arange(len(pass_miss)) if full else np.flatnonzero(pass_miss > 0)
        v = self.evaluator.verdicts(records, idx)
        dec = np.zeros((len(records), len(pass_miss)), bool)
        dec[:, idx] = v.decodable
        rows = self.passes.reduce(dec, frame_rate)
        closeness = (np.where(v.decodable, 4.0, np.clip(v.key, 0.0, 4.0)) + v.score) / 5.0
        wm = self.sample_weight[idx] * pass_miss[idx]
        tie = closeness @ wm / wm.sum() if wm.sum() > 0 else np.zeros(len(records))
        return rows, tie

    def fitness(self, rows: np.ndarray, tie: np.ndarray, others_miss: np.ndarray) -> np.ndarray:
        covered = np.array([self.matrix.covered(others_miss * (1.0 - r)) for r in rows.astype(np.float64)])
        return covered + 0.5 * self.min_pass * tie

    def _variants(self, cands: Candidates, j: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Records for search points u (n, d) of camera j, which of them are allowed (clear of keep-outs), and
        their float64 (rotation, position, focus)."""
        n = len(u)
        base_r, base_p = cands.rotation[j], cands.position[j]
        region = np.full(n, cands.region[j])
        pos, ok = self.factory.project(region, base_p + POS_STEP_M * u[:, :3])
        right, up = base_r[:, 0], base_r[:, 1]
        rot = rotations_about(up, AIM_STEP_DEG * u[:, 3]) @ rotations_about(right, AIM_STEP_DEG * u[:, 4]) @ base_r
        forward = -rot[:, :, 2]
        roll = rotations_about(forward, ROLL_STEP_DEG * u[:, 5])
        rot = roll @ rot
        option = np.full(n, cands.option[j])
        focus = np.full(n, cands.focus[j])
        if u.shape[1] > 6:
            focus = self.factory.focus_for(option, cands.focus[j] * np.exp(FOCUS_STEP * u[:, 6]))
        return self.factory.records(option, rot, pos, focus), ok, (rot, pos, focus)

    def refine(self, cands: Candidates, rows: np.ndarray, fixed_miss: np.ndarray, generations: int, seed: int,
               progress: Progress | None = None) -> tuple[Candidates, np.ndarray, Refinement]:
        """Refine every camera of ``cands`` (rows: their (K, P) pass rows); returns the new cameras and rows."""
        cands = cands.take(np.arange(cands.n))
        rows = rows.astype(np.float64).copy()
        start_eval = self.evaluator.evaluations
        before = self.matrix.covered(fixed_miss * np.prod(1.0 - rows, axis=0))
        improved = []
        for j in range(cands.n):
            others = fixed_miss * np.prod(np.delete(1.0 - rows, j, axis=0), axis=0)
            fr = self.factory.frame_rate(cands.option[j:j + 1])
            cur_rows, cur_tie = self.rows_and_tie(cands.records[j:j + 1], fr, others)
            best_f = float(self.fitness(cur_rows, cur_tie, others)[0])
            best = None
            opt = self.factory.options[int(cands.option[j])]
            d = 7 if opt.focus_mode == "fixed" and opt.f_stop > 0.0 else 6
            lam = max(8, 4 + int(3 * math.log(d)))
            cma = CMA(mean=np.zeros(d), sigma=1.0, bounds=np.tile([-LIMIT, LIMIT], (d, 1)), seed=seed + 7919 * j,
                      population_size=lam)
            for _ in range(generations):
                u = np.array([cma.ask() for _ in range(lam)])
                rec, ok, pose = self._variants(cands, j, u)
                r, tie = self.rows_and_tie(rec, np.repeat(fr, lam), others)
                f = np.where(ok, self.fitness(r, tie, others), -np.inf)
                cma.tell([(u[i], -float(f[i]) if np.isfinite(f[i]) else 1e300) for i in range(lam)])
                i = int(np.argmax(f))
                if f[i] > best_f:
                    best_f, best = float(f[i]), (rec[i], r[i], pose[0][i], pose[1][i], pose[2][i])
                if cma.should_stop():
                    break
            if best is not None:
                rec, _, rot, pos, focus = best
                cands.records[j] = rec
                cands.rotation[j], cands.position[j], cands.focus[j] = rot, pos, focus
                cands.origin[j] = cands.origin[j] + " + refined"
                rows[j] = self.rows_and_tie(rec[None], fr, others, full=True)[0][0]  # every pass, for the others
            improved.append(best is not None)
            if progress is not None:
                progress(j + 1, cands.n)
        after = self.matrix.covered(fixed_miss * np.prod(1.0 - rows, axis=0))
        return cands, rows, Refinement(before, after, improved, self.evaluator.evaluations - start_eval)
