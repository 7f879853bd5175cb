"""The optimiser: known optima (six faces of a box, a symmetric ring), certificates, determinism, USD round trip,
the applied stage, bad input, and the selection algorithms against brute force on small matrices."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from device import DEVICE
from optimize_stages import build_ring, build_six_faces, ring_design, six_faces_design

import swb
from swb.cli.main import main
from swb.errors import SwbError
from swb.optimize import greedy as G
from swb.optimize.milp import solve_cover, solve_max
from swb.optimize.objective import BitMatrix, ProbMatrix
from swb.optimize.spec import author_design, design_from_dict, read_design


@pytest.fixture(scope="module")
def six(tmp_path_factory) -> Path:
    return build_six_faces(tmp_path_factory.mktemp("six") / "six.usda")


@pytest.fixture(scope="module")
def ring(tmp_path_factory) -> Path:
    return build_ring(tmp_path_factory.mktemp("ring") / "ring.usda")


# ----- known optima through the whole pipeline (kernels, greedy, MILP, CMA-ES)

def test_six_faces_need_six_cameras_and_the_milp_certifies_it(six):
    res = swb.open(six, device=DEVICE).optimize(spec=six_faces_design())
    assert len(res.cameras) == 6 and res.read_rate == 1.0 and res.reached
    assert res.milp is not None and res.milp.status == "optimal" and res.milp.objective == 6
    assert res.discrete["bound"] == 6 and res.discrete["gap"] == 0.0
    assert res.greedy["lower_bound"] == 6  # each camera reads one face: the greedy bound already says six
    assert all(math.isclose(c.reads, 1 / 6) for c in res.cameras)
    assert not res.unread


def test_six_faces_with_three_cameras_read_half(six):
    res = swb.open(six, device=DEVICE).optimize(spec=six_faces_design(), cameras=3)
    assert res.spec.goal == "maxReadRate" and len(res.cameras) == 3
    assert res.read_rate == 0.5 and res.milp.status == "optimal" and res.discrete["gap"] == 0.0
    assert len(res.unread) == 3 and all(u.reachable == 1.0 for u in res.unread)


def test_ring_optimum_is_three_where_greedy_may_need_more(ring):
    res = swb.open(ring, device=DEVICE).optimize(spec=ring_design())
    # eight labels at 45 degrees; a camera reads at most three neighbours (the tilt limit), so ceil(8 / 3) = 3
    assert res.milp.status == "optimal" and res.milp.objective == 3
    assert len(res.cameras) == 3 and res.read_rate == 1.0
    assert res.discrete["gap"] == 0.0 and res.greedy["cameras"] >= 3 and res.greedy["lower_bound"] <= 3
    assert max(round(c.reads * 8) for c in res.cameras) == 3


def test_same_seed_same_design(six):
    a = swb.open(six, device=DEVICE).optimize(spec=six_faces_design(), cameras=2)
    b = swb.open(six, device=DEVICE).optimize(spec=six_faces_design(), cameras=2)
    assert [c.to_json() for c in a.cameras] == [c.to_json() for c in b.cameras]
    assert np.array_equal(a.selection.records, b.selection.records)


# ----- USD is the ground truth; the applied stage reproduces the figures

def test_design_round_trips_through_usd(six):
    sim = swb.open(six, device=DEVICE)
    spec = design_from_dict(six_faces_design(), 1.0, source="test.toml")
    prim = author_design(sim.stage, spec)
    assert read_design(prim, "test.toml") == spec
    res = sim.optimize(cameras=1)  # the stage's only design, as authored
    assert res.spec.name == "box" and len(res.cameras) == 1


def test_cli_json_and_apply_leave_the_scene_untouched(six, tmp_path, capsys):
    spec = tmp_path / "box.toml"
    spec.write_text(_toml(six_faces_design(refine_generations=2)))
    before = hashlib.sha256(six.read_bytes()).hexdigest()
    out = tmp_path / "out" / "box.design.usda"
    rc = main(["optimize", str(six), "--spec", str(spec), "--goal-read-rate", "99.5%", "--json", "--apply", str(out),
               "--device", DEVICE])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["applied"]["verified"] and doc["read_rate"] == 1.0 and len(doc["cameras"]) == 6
    assert "check: the designed stage" in cap.err
    assert hashlib.sha256(six.read_bytes()).hexdigest() == before
    applied = swb.open(out, device=DEVICE)
    paths = [c.path for c in applied.scene.cameras]
    assert len(paths) == 6 and all(p.startswith("/World/DesignedCameras/") for p in paths)  # the old one is off
    assert applied.stage.GetPrimAtPath("/SWB/Designs/box")  # the problem travels with the answer


def _toml(doc: dict) -> str:
    def val(v):  # noqa: ANN001, ANN202
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = ["[design]", *(f"{k} = {val(v)}" for k, v in doc["design"].items())]
    for table in ("mount", "sensor", "lens"):
        for t in doc[table]:
            lines += [f"[[{table}]]", *(f"{k} = {val([float(x) for x in v] if k.startswith('box') else v)}"
                                        for k, v in t.items())]
    return "\n".join(lines) + "\n"


# ----- bad input: one clear error, nothing written

def _error(sim, spec):  # noqa: ANN001, ANN202
    with pytest.raises(SwbError) as exc:
        sim.optimize(spec=spec)
    return str(exc.value)


def test_unreachable_goal_names_the_best_rate_and_the_limit(six):
    msg = _error(swb.open(six, device=DEVICE), six_faces_design(faces=("PX", "NX", "PY", "NY", "PZ")))
    assert "out of reach" in msg and "83.33 %" in msg and "swb:design:readRate" in msg
    assert "backfacing" in msg or "angle" in msg or "fov" in msg


def test_infeasible_integer_program(six):
    msg = _error(swb.open(six, device=DEVICE), six_faces_design(cameras=5))
    assert "no set of at most 5 cameras" in msg and "infeasible" in msg


@pytest.mark.parametrize("change, words", [
    (lambda d: d["mount"][0].update(box_min=[1, 1, 1], box_max=[0, 0, 0]), "is empty"),
    (lambda d: d.update(mount=[]), "no mount region"),
    (lambda d: d["mount"].append({"name": "k", "kind": "keepOut", "box_min": [-9, -9, -9], "box_max": [9, 9, 9]}),
     "keep-out"),
    (lambda d: d["mount"].append({"name": "s", "kind": "surface", "surfaces": ["/World/Nothing"]}),
     "no mesh triangles"),
    (lambda d: d["lens"][0].update(focal_length_mm=-4), "focal length must be positive"),
    (lambda d: d["sensor"][0].update(pixel_pitch_um=0), "pixel pitch must be positive"),
    (lambda d: d["sensor"][0].update(frame_rate=100, exposure_s=0.02), "does not fit in a frame"),
    (lambda d: d["sensor"][0].update(profile="magic"), "unknown decoder profile"),
    (lambda d: d["design"].update(bogus=1), "unknown key 'bogus'"),
    (lambda d: d["design"].update(goal="maxReadRate"), "needs a number of cameras"),
])
def test_bad_design_input(six, change, words):
    doc = six_faces_design()
    change(doc)
    assert words in _error(swb.open(six, device=DEVICE), doc)


def test_cli_bad_input_is_one_line_and_writes_nothing(six, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(_toml(six_faces_design(faces=("PX",))))
    out = tmp_path / "out" / "x.usda"
    rc = main(["optimize", str(six), "--spec", str(spec), "--apply", str(out), "--device", DEVICE])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("swb: error:") and "out of reach" in err[-1]
    assert not out.parent.exists()


# ----- the algorithms against brute force (no kernels)

def _instances(seed: int, n: int = 9, p: int = 14):
    rng = np.random.default_rng(seed)
    rows = rng.random((n, p)) < 0.3
    weight = rng.integers(1, 5, p).astype(np.int64) * 4
    return rows, weight


def _brute_max(rows, weight, k):  # noqa: ANN001, ANN202
    return max(weight[rows[list(s)].any(axis=0)].sum() if s else 0
               for s in itertools.combinations(range(len(rows)), k))


def _brute_cover(rows, weight, need):  # noqa: ANN001, ANN202
    for k in range(len(rows) + 1):
        for s in itertools.combinations(range(len(rows)), k):
            if (weight[rows[list(s)].any(axis=0)].sum() if s else 0) >= need:
                return k
    return None


@pytest.mark.parametrize("seed", range(6))
def test_greedy_and_milp_against_brute_force(seed):
    rows, weight = _instances(seed)
    m = BitMatrix(weight, rows)
    miss = m.start()
    for k in (1, 2, 3):
        opt = _brute_max(rows, weight, k)
        g = G.maximize(m, miss, k)
        assert g.value >= (1 - 1 / math.e) * opt - 1e-9 and g.upper_bound >= opt - 1e-9 and g.value <= opt
        res = solve_max(m, miss, np.ones(m.n), k=k, budget=None, incumbent=g.value, time_limit=10)
        assert res.status == "optimal" and res.objective == opt
    union = float(weight[rows.any(axis=0)].sum())
    need = math.ceil(0.8 * union)
    opt = _brute_cover(rows, weight, need)
    g = G.cover(m, miss, need)
    assert g.reached and g.lower_bound <= opt <= len(g.chosen)
    res = solve_cover(m, miss, need, np.ones(m.n), max_count=None, incumbent=len(g.chosen), time_limit=10)
    assert res.status == "optimal" and res.objective == opt


def test_lazy_greedy_matches_plain_greedy():
    rows, weight = _instances(11, n=30, p=40)
    m = BitMatrix(weight, rows)
    miss, chosen = m.start(), []
    for _ in range(5):
        gains = m.gains(miss)
        gains[chosen] = -1
        i = int(np.argmax(gains))  # the lowest index among the best
        chosen.append(i)
        miss = m.add(miss, i)
    assert G.maximize(m, m.start(), 5).chosen == chosen


def test_probability_matrix_is_the_independent_read_rate():
    rng = np.random.default_rng(4)
    p = rng.random((5, 7))
    w = rng.integers(1, 9, 7)
    m = ProbMatrix(w, p)
    expected = float((w * (1 - np.prod(1 - p[[0, 2, 3]], axis=0))).sum() / w.sum())
    assert math.isclose(m.rate(m.miss_of([0, 2, 3])), expected, rel_tol=1e-6)  # stored as float32
    g = G.maximize(m, m.start(), 2)  # the same greedy runs on probabilities (submodular too)
    best = max(itertools.combinations(range(5), 2), key=lambda s: m.rate(m.miss_of(list(s))))
    assert m.rate(m.miss_of(g.chosen)) >= (1 - 1 / math.e) * m.rate(m.miss_of(list(best)))
    assert BitMatrix(w, p > 0.5).rate(BitMatrix(w, p > 0.5).miss_of([0, 2, 3])) == ProbMatrix(
        w, (p > 0.5).astype(float)).rate(ProbMatrix(w, (p > 0.5).astype(float)).miss_of([0, 2, 3]))


def test_a_moving_label_needs_a_frame_interval_of_decoding_positions():
    from swb.optimize.passes import PassSet

    ps = PassSet(samples=None, targets=["t"], pass_target=np.zeros(1, np.int32),  # type: ignore[arg-type]
                 pass_orientation=np.zeros(1, np.int32), weight=np.ones(1, np.int64),
                 sample_pass=np.zeros(5, np.int32), positions=np.arange(5)[None, :], speed=np.array([2.0]),
                 spacing=np.array([0.1]))
    dec = np.array([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0], [0, 0, 1, 1, 1]], bool)
    # 2 m/s at 30 Hz: frames 67 mm apart; positions 100 mm apart -> two consecutive decoding positions
    assert ps.reduce(dec, np.full(3, 30.0))[:, 0].tolist() == [False, True, True]
    # 2 m/s at 10 Hz: 200 mm -> three consecutive positions
    assert ps.reduce(dec, np.full(3, 10.0))[:, 0].tolist() == [False, False, True]
    # no frame rate: one decoding position is enough
    assert ps.reduce(dec, np.zeros(3))[:, 0].tolist() == [True, True, True]


def test_apply_reports_the_designs_transit_read_rate(tmp_path, capsys):
    """On a conveyor (the bundled scan tunnel, labels moving), `--apply` also gives the validated transit read rate of
    the written design beside the station's as authored: the figure `swb eval` gives on the written stage."""
    doc = {"design": {"name": "tunnel", "candidates": 24, "rounds": 1, "refine_generations": 1, "milp_time_limit": 10,
                      "orientation_mode": "asAuthored", "positions": 3, "travel": [-0.3, 0.3], "seed": 1,
                      "goal": "maxReadRate", "cameras": 2},
           "mount": [{"name": "top", "kind": "box", "box_min": [-1.0, -0.8, 1.8], "box_max": [1.0, 0.8, 2.4]}],
           "sensor": [{"name": "s5MP", "resolution": [2448, 2048], "pixel_pitch_um": 3.45, "frame_rate": 60,
                       "exposure_s": [0.0001], "profile": "industrial"}],
           "lens": [{"name": "f12", "focal_length_mm": 12, "f_stops": [8.0]}]}
    spec = tmp_path / "tunnel.toml"
    spec.write_text(_toml(doc))
    out = tmp_path / "out" / "tunnel.design.usda"
    scene = swb.bundled_scene("scan_tunnel")
    assert main(["optimize", str(scene), "--spec", str(spec), "--json", "--apply", str(out), "--device", DEVICE]) == 0
    got = json.loads(capsys.readouterr().out)["applied"]["transit"]
    want = swb.open(out, device=DEVICE).transit().station_read_rate()
    assert got["read_rate"] == pytest.approx(want, abs=1e-12) and 0.0 < want <= got["read_rate_independent_looks"]
    assert got["as_authored_read_rate"] == pytest.approx(swb.open(scene, device=DEVICE).transit().station_read_rate())
    assert main(["optimize", str(scene), "--spec", str(spec), "--apply", str(out), "--transit", "off",
                 "--device", DEVICE]) == 0
    assert "transit read rate" not in capsys.readouterr().out
