"""Lazy greedy selection with its guarantees, for both goals.

``maximize``: the best read rate with K cameras (or within a cost budget). Greedy takes the candidate with the
largest gain (gain per cost with a budget) until K are chosen; for a monotone submodular objective with a
cardinality limit it reaches at least (1 - 1/e) of the optimum (Nemhauser, Wolsey, Fisher 1978). Lazy evaluation
(Minoux 1978) keeps every candidate's last gain as an upper bound (gains only shrink as the set grows) and
recomputes only the top of the heap. At every step the current value plus the K largest upper bounds is an upper
bound on the optimum (Leskovec et al. 2007): the smallest one seen is reported, so the gap is certified without an
integer program.

``cover``: the fewest cameras (least cost) reaching a read-rate target. Greedy adds the largest gain (per cost)
until the target is met (Wolsey 1982: within 1 + ln(max gain / min gain) of optimal). A lower bound comes from the
empty set's single-camera gains: any feasible set's gains add up to at least the weight still missing.

Ties go to the lowest candidate index, so the selection is deterministic.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from .objective import ReadMatrix

EPS = 1e-9


@dataclass
class GreedyResult:
    chosen: list[int]
    covered: list[float]  # covered weight after each pick (index 0: before any)
    upper_bound: float | None = None  # maximize: weight no selection of the same size (cost) exceeds
    lower_bound: float | None = None  # cover: cameras (cost) any selection reaching the target needs
    reached: bool = True  # cover: the target was reached
    gain_evaluations: int = 0
    trace: list[float] = field(default_factory=list)

    @property
    def value(self) -> float:
        return self.covered[-1]


def _knapsack_fill(gains: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """Largest sum of gains with total cost <= budget when items may be taken fractionally (an upper bound)."""
    pos = gains > 0.0
    g, c = gains[pos], cost[pos]
    free = c <= 0.0
    total = float(g[free].sum())
    g, c = g[~free], c[~free]
    order = np.lexsort((np.arange(len(g)), -(g / c)))
    left = budget
    for i in order:
        if left <= 0.0:
            break
        take = min(1.0, left / c[i])
        total += take * g[i]
        left -= take * c[i]
    return total


def _knapsack_cover(gains: np.ndarray, cost: np.ndarray, need: float) -> float:
    """Least cost whose (fractional) gains reach ``need``: a lower bound on any cover's cost."""
    if need <= EPS:
        return 0.0
    pos = gains > 0.0
    g, c = gains[pos], cost[pos]
    free = c <= 0.0
    need -= float(g[free].sum())
    if need <= EPS:
        return 0.0
    g, c = g[~free], c[~free]
    order = np.lexsort((np.arange(len(g)), -(g / c)))
    spent = 0.0
    for i in order:
        if g[i] >= need:
            return spent + c[i] * need / g[i]
        need -= g[i]
        spent += c[i]
    return math.inf


def maximize(m: ReadMatrix, miss: np.ndarray, k: int | None, cost: np.ndarray | None = None,
             budget: float | None = None, allowed: np.ndarray | None = None) -> GreedyResult:
    """Lazy greedy for the most covered weight with at most ``k`` cameras and/or total cost <= ``budget``."""
    n = m.n
    cost = np.ones(n) if cost is None else np.asarray(cost, dtype=np.float64)
    use_ratio = budget is not None
    miss0 = miss
    gains = m.gains(miss)
    evals = n
    ok = np.ones(n, bool) if allowed is None else np.asarray(allowed, bool)
    covered = [m.covered(miss)]
    unit = k is not None and budget is None
    bound = covered[0] + (float(np.sort(gains[ok])[::-1][:k].sum()) if unit else
                          _knapsack_fill(gains[ok], cost[ok], budget if budget is not None else math.inf))
    heap = [(-(g / max(c, 1e-12) if use_ratio else g), i) for i, (g, c) in enumerate(zip(gains, cost, strict=True))
            if ok[i] and g > 0.0]
    heapq.heapify(heap)
    stale = gains.copy()
    chosen: list[int] = []
    spent = 0.0
    while heap and (k is None or len(chosen) < k):
        top, i = heapq.heappop(heap)
        if budget is not None and spent + cost[i] > budget + EPS:
            continue  # never affordable again: costs only add up
        g = float(m.gains(miss, np.array([i]))[0])
        evals += 1
        stale[i] = g
        key = -(g / max(cost[i], 1e-12) if use_ratio else g)
        if heap and (key, i) > heap[0]:
            if g > 0.0:
                heapq.heappush(heap, (key, i))
            continue
        if g <= 0.0:
            break
        chosen.append(i)
        spent += cost[i]
        miss = m.add(miss, i)
        covered.append(m.covered(miss))
        if unit:
            bound = min(bound, covered[-1] + float(sum(-s for s, _ in heapq.nsmallest(k, heap))))
    if budget is not None:  # the best single affordable camera may beat cost-benefit greedy (Khuller et al.)
        single = np.flatnonzero(ok & (cost <= budget + EPS))
        if len(single):
            best = int(single[np.lexsort((single, -gains[single]))[0]])
            if covered[0] + gains[best] > covered[-1] + EPS:
                chosen = [best]
                covered = [covered[0], m.covered(m.add(miss0, best))]
    return GreedyResult(chosen, covered, upper_bound=max(bound, covered[-1]), gain_evaluations=evals)


def cover(m: ReadMatrix, miss: np.ndarray, need: float, cost: np.ndarray | None = None,
          use_cost: bool = False, max_count: int | None = None) -> GreedyResult:
    """Greedy cover: add the best gain (per cost) until the covered weight reaches ``need``."""
    n = m.n
    cost = np.ones(n) if cost is None else np.asarray(cost, dtype=np.float64)
    gains = m.gains(miss)
    evals = n
    covered = [m.covered(miss)]
    lower = _knapsack_cover(gains, cost if use_cost else np.ones(n), need - covered[0])
    if not use_cost and math.isfinite(lower):
        lower = math.ceil(lower - 1e-9)
    heap = [(-(g / max(c, 1e-12) if use_cost else g), i) for i, (g, c) in enumerate(zip(gains, cost, strict=True))
            if g > 0.0]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and covered[-1] < need - EPS:
        _, i = heapq.heappop(heap)
        g = float(m.gains(miss, np.array([i]))[0])
        evals += 1
        key = -(g / max(cost[i], 1e-12) if use_cost else g)
        if heap and (key, i) > heap[0]:
            if g > 0.0:
                heapq.heappush(heap, (key, i))
            continue
        if g <= 0.0:
            break
        chosen.append(i)
        miss = m.add(miss, i)
        covered.append(m.covered(miss))
    reached = covered[-1] >= need - EPS and (max_count is None or len(chosen) <= max_count)
    return GreedyResult(chosen, covered, lower_bound=lower, reached=reached, gain_evaluations=evals)


def prune(m: ReadMatrix, chosen: list[int], fixed_miss: np.ndarray, need: float,
          cost: np.ndarray | None = None) -> list[int]:
    """Drop cameras the rest can do without (most expensive, then least unique weight, first)."""
    keep = list(chosen)
    cost = np.ones(m.n) if cost is None else cost
    changed = True
    while changed and len(keep) > 1:
        changed = False
        order = sorted(keep, key=lambda i: (-cost[i], i))
        for i in order:
            rest = [j for j in keep if j != i]
            if m.covered(m.miss_of(rest, None) * fixed_miss) >= need - EPS:
                keep = rest
                changed = True
                break
    return keep
