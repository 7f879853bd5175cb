"""The exact integer program (HiGHS through ``scipy.optimize.milp``), for 0/1 matrices.

Variables: x_c in {0, 1} (candidate c is installed), y_p in [0, 1] (pass p is read). Linking rows
y_p <= sum_{c reads p} x_c. Cover: minimise sum cost_c x_c subject to sum w_p y_p >= the weight still missing (and
at most M cameras when the design says so). Maximise: sum w_p y_p subject to sum x_c <= K and/or sum cost_c x_c <=
budget. y may stay continuous: for integer x the best y is integral.

Before solving, passes no candidate reads or the installed cameras already read are dropped, passes read by the
same candidates are merged (weights add up), and candidates reading the same passes are merged (the cheapest,
then lowest index, stays). Weights are divided by their greatest common divisor so the solver sees small
integers. The greedy value enters as a cutoff row (a solution at least as good), which HiGHS uses to prune.

HiGHS returns its best solution and the bound it proved; the gap (best - bound) / best is certified. A solve cut
short by the time limit is reported as such; its incumbent depends on how far HiGHS got, so only a solve that
ends by optimality (or a node limit) is reproducible bit for bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .objective import BitMatrix

EPS = 1e-9


@dataclass
class MilpResult:
    status: str  # optimal | time limit | infeasible | failed
    chosen: list[int] | None  # candidate indices of HiGHS's best solution (None: it found none)
    objective: float | None  # cover: cameras / cost; maximise: covered weight (original units)
    bound: float | None  # cover: a lower bound on cameras / cost; maximise: an upper bound on weight
    seconds: float
    variables: int
    rows: int
    nonzeros: int
    message: str = ""

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


def _reduce(m: BitMatrix, miss: np.ndarray, cost: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray, np.ndarray]:
    """(A reduced candidates x passes, weights of the merged passes, original index of each reduced candidate)."""
    open_passes = miss > 0.5
    rows, cols = [], []
    for a, block in m.blocks():
        r, c = np.nonzero(block[:, open_passes] > 0.5)
        rows.append(r + a)
        cols.append(c)
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    w_open = m.weight[open_passes]
    a = sparse.csc_matrix((np.ones(len(r)), (r, c)), shape=(m.n, int(open_passes.sum())))
    # merge passes read by the same candidates
    keys: dict[bytes, int] = {}
    col_group = np.empty(a.shape[1], np.int64)
    for j in range(a.shape[1]):
        idx = a.indices[a.indptr[j]:a.indptr[j + 1]]
        if len(idx) == 0:
            col_group[j] = -1
            continue
        col_group[j] = keys.setdefault(np.sort(idx).tobytes(), len(keys))
    n_groups = len(keys)
    live = col_group >= 0
    weight = np.bincount(col_group[live], weights=w_open[live].astype(np.float64), minlength=n_groups)
    merge = sparse.csc_matrix((np.ones(int(live.sum())), (np.flatnonzero(live), col_group[live])),
                              shape=(a.shape[1], n_groups))
    b = (a @ merge).tocsr()
    b.data[:] = 1.0
    # merge candidates reading the same passes: the cheapest (then lowest index) stays
    best: dict[bytes, int] = {}
    for i in range(b.shape[0]):
        idx = b.indices[b.indptr[i]:b.indptr[i + 1]]
        if len(idx) == 0:
            continue
        key = np.sort(idx).tobytes()
        j = best.get(key)
        if j is None or (cost[i], i) < (cost[j], j):
            best[key] = i
    keep = np.array(sorted(best.values()), dtype=np.int64)
    return b[keep].tocsc() if len(keep) else sparse.csc_matrix((0, n_groups)), weight, keep


def _scale(weight: np.ndarray) -> float:
    """The greatest common divisor of integer weights (1 when they are not small integers)."""
    ints = np.rint(weight).astype(np.int64)
    if not np.array_equal(ints, weight) or len(ints) == 0:
        return 1.0
    g = int(np.gcd.reduce(ints[ints > 0])) if np.any(ints > 0) else 1
    return float(max(g, 1))


def _solve(c: np.ndarray, a_rows: list[tuple[sparse.spmatrix, float, float]], integrality: np.ndarray,
           time_limit: float, node_limit: int | None) -> tuple[object, float]:
    cons = [LinearConstraint(mat, lo, hi) for mat, lo, hi in a_rows]
    options = {"disp": False, "time_limit": float(time_limit), "mip_rel_gap": 0.0}
    if node_limit is not None:
        options["node_limit"] = int(node_limit)
    t0 = time.perf_counter()
    res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(0.0, 1.0), options=options)
    return res, time.perf_counter() - t0


def _status(res: object) -> str:
    return {0: "optimal", 1: "time limit", 2: "infeasible"}.get(int(res.status), "failed")  # type: ignore[attr-defined]


def _bound(res: object) -> float | None:
    b = getattr(res, "mip_dual_bound", None)
    return float(b) if b is not None and math.isfinite(float(b)) else None


def solve_cover(m: BitMatrix, miss: np.ndarray, need: float, cost: np.ndarray, *, max_count: int | None,
                incumbent: float | None, time_limit: float, node_limit: int | None = None) -> MilpResult:
    """Least cost (cost = 1 per camera to count cameras) covering ``need`` weight, or infeasible."""
    a, weight, keep = _reduce(m, miss, cost)
    missing = need - m.covered(miss)
    n_x, n_y = a.shape
    if missing <= EPS:
        return MilpResult("optimal", [], 0.0, 0.0, 0.0, 0, 0, 0)
    g = _scale(weight)
    w = weight / g
    cx = cost[keep]
    c = np.concatenate([cx, np.zeros(n_y)])
    link = sparse.hstack([-a.T, sparse.identity(n_y)]).tocsr()
    # integer weights: covered / g is an integer, so ">= missing" is ">= ceil(missing / g) - 0.5" with slack
    low = math.ceil(missing / g - 1e-9) - 0.5 if np.array_equal(w, np.rint(w)) else missing / g - EPS
    rows = [(link, -np.inf, 0.0), (sparse.csr_matrix(np.concatenate([np.zeros(n_x), w])[None, :]), low, np.inf)]
    if max_count is not None:
        rows.append((sparse.csr_matrix(np.concatenate([np.ones(n_x), np.zeros(n_y)])[None, :]), -np.inf,
                     float(max_count)))
    if incumbent is not None:
        rows.append((sparse.csr_matrix(c[None, :]), -np.inf, incumbent + EPS))
    integrality = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    res, seconds = _solve(c, rows, integrality, time_limit, node_limit)
    status = _status(res)
    x = getattr(res, "x", None)
    chosen = None if x is None else [int(keep[i]) for i in np.flatnonzero(np.asarray(x)[:n_x] > 0.5)]
    objective = None if chosen is None else float(cost[chosen].sum())
    bound = _bound(res)
    if status == "optimal" and objective is not None:
        bound = objective if bound is None else min(bound, objective)
    nnz = int(link.nnz + n_y + (n_x if max_count is not None else 0) + (n_x if incumbent is not None else 0))
    return MilpResult(status, chosen, objective, bound, seconds, n_x + n_y, len(rows) - 1 + n_y, nnz,
                      str(getattr(res, "message", "")))


def solve_max(m: BitMatrix, miss: np.ndarray, cost: np.ndarray, *, k: int | None, budget: float | None,
              incumbent: float | None, time_limit: float, node_limit: int | None = None) -> MilpResult:
    """Most weight covered with at most k cameras and/or total cost <= budget."""
    a, weight, keep = _reduce(m, miss, cost)
    base = m.covered(miss)
    n_x, n_y = a.shape
    g = _scale(weight)
    w = weight / g
    c = np.concatenate([np.zeros(n_x), -w])
    link = sparse.hstack([-a.T, sparse.identity(n_y)]).tocsr()
    rows = [(link, -np.inf, 0.0)]
    if k is not None:
        rows.append((sparse.csr_matrix(np.concatenate([np.ones(n_x), np.zeros(n_y)])[None, :]), -np.inf, float(k)))
    if budget is not None:
        rows.append((sparse.csr_matrix(np.concatenate([cost[keep], np.zeros(n_y)])[None, :]), -np.inf,
                     budget + EPS))
    if incumbent is not None and incumbent - base > EPS:
        rows.append((sparse.csr_matrix(np.concatenate([np.zeros(n_x), w])[None, :]),
                     (incumbent - base) / g - (0.5 if g > 1 else EPS), np.inf))
    if n_x == 0 or n_y == 0:
        return MilpResult("optimal", [], base, base, 0.0, n_x + n_y, n_y, 0)
    integrality = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    res, seconds = _solve(c, rows, integrality, time_limit, node_limit)
    status = _status(res)
    x = getattr(res, "x", None)
    chosen = None if x is None else [int(keep[i]) for i in np.flatnonzero(np.asarray(x)[:n_x] > 0.5)]
    objective = None if chosen is None else m.covered(m.miss_of(chosen) * miss)
    dual = _bound(res)
    bound = None if dual is None else base - dual * g
    if status == "optimal" and objective is not None:
        bound = objective if bound is None else max(min(bound, objective), objective)
    nnz = int(link.nnz + sum(r[0].nnz for r in rows[1:]))
    return MilpResult(status, chosen, objective, bound, seconds, n_x + n_y, len(rows) - 1 + n_y, nnz,
                      str(getattr(res, "message", "")))
