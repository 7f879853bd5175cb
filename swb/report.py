"""Plain-text tables of results that a person can read in a terminal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from .engine.profiles import FACTOR_CODE, factor_name
from .engine.results import PairRow, Results
from .engine.transit import TransitResults


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns under a dashed rule: the one table style of every `swb` report."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def _short(path: str, common: str) -> str:
    return path[len(common):] if common and path.startswith(common) else path


def _common_prefix(paths: list[str]) -> str:
    if len(paths) < 2:
        return ""
    parts = [p.split("/") for p in paths]
    prefix = []
    for segs in zip(*parts, strict=False):
        if len(set(segs)) != 1:
            break
        prefix.append(segs[0])
    return "/".join(prefix) + "/" if len(prefix) > 1 else ""


def camera_table(res: Results) -> str:
    """One line per camera: what it sees, what it decodes, and what stops the rest."""
    p = res.pairs
    limiting, decodable = p.limiting, p.decodable  # once: compact results convert a field on each access
    in_view = (limiting != FACTOR_CODE["fov"]) & (limiting != FACTOR_CODE["backfacing"])
    common = _common_prefix(res.camera_paths)
    linear = res_linear(res)
    rows = []
    for i, cam in enumerate(res.cameras):
        dec = decodable[i]
        blockers = Counter(factor_name(int(c)) for c in limiting[i][in_view[i] & ~dec])
        top = ", ".join(f"{name} {n}" for name, n in blockers.most_common(2)) or "-"
        ppm = np.minimum(p.ppm_u[i], np.where(linear, np.inf, p.ppm_w[i]))[dec]
        rows.append([
            _short(cam.path, common),
            cam.decoder_profile,
            f"{cam.width}x{cam.height}",
            f"{cam.focal_length * 1e3:.1f}",
            f"f/{cam.f_number:g}" if cam.f_number > 0 else "pinhole",
            str(int(in_view[i].sum())),
            str(int(dec.sum())),
            f"{np.median(ppm):.2f}" if len(ppm) else "-",
            top,
        ])
    headers = ["camera", "profile", "resolution", "f mm", "aperture", "in view", "decodable",
               "median ppm", "why not (in view)"]
    return f"cameras (under {common or '/'})\n" + format_table(headers, rows)


def res_linear(res: Results) -> np.ndarray:
    """Per target: True for 1-D symbols, whose w axis (bar height) does not limit the read."""
    return np.array([t.linear for t in res.targets], dtype=bool)


def target_table(res: Results) -> str:
    """One line per target: can anybody read it, who reads it best, and if nobody, why not."""
    common = _common_prefix(res.target_paths)
    cam_common = _common_prefix(res.camera_paths)
    rows = []
    for s, t in zip(res.summaries(), res.targets, strict=True):
        rows.append([
            _short(t.path, common),
            t.symbology,
            f"{t.module_size * 1e3:.2f}",
            "yes" if s.decodable else "NO",
            _short(s.best_camera, cam_common) if s.decodable and s.best_camera else "-",
            f"{s.p_read:.3f}",
            f"{s.score:.2f}",
            str(s.cameras_decoding),
            "-" if s.decodable else (s.limiting or "-"),
        ])
    headers = ["target", "symbology", "X mm", "decodable", "best camera", "p_read", "score", "cameras", "limiting"]
    return f"targets (under {common or '/'})\n" + format_table(headers, rows)


def coverage_line(res: Results) -> str:
    """The label coverage: labels in their authored pose read by at least one camera (a sweep reports a sample
    coverage over orientations and positions instead: another figure)."""
    n = len(res.targets)
    k = int(res.pairs.decodable.any(axis=0).sum())
    return (f"label coverage (as authored): {k}/{n} labels decodable by at least one camera "
            f"({100.0 * res.label_coverage():.1f} %)")


_PAIR_HEADERS = ["decodes", "p_read", "score", "limiting", "ppm u", "ppm w", "tilt deg", "defocus px", "motion px",
                 "visible", "dist m"]


def _pair_table(title: str, first: str, rows: list[PairRow], name_of: Callable[[PairRow], str]) -> str:
    common = _common_prefix([name_of(r) for r in rows])
    body = [
        [
            _short(name_of(r), common), "yes" if r.decodable else "no", f"{r.p_read:.3f}", f"{r.score:.2f}",
            r.limiting or "-",
            f"{r.ppm_u:.2f}", f"{r.ppm_w:.2f}", f"{r.tilt_deg:.1f}", f"{r.defocus_px:.2f}", f"{r.motion_px:.2f}",
            f"{r.visible_fraction:.2f}", f"{r.distance:.3f}",
        ]
        for r in rows
    ]
    return f"{title}\n" + format_table([first, *_PAIR_HEADERS], body)


def camera_rows_table(res: Results, camera: str) -> str:
    """Every target as one camera sees it (for `swb query --camera`)."""
    return _pair_table(camera, "target", res.camera(camera), lambda r: r.target)


def target_rows_table(res: Results, target: str) -> str:
    """Every camera's view of one target (for `swb query --target`)."""
    return _pair_table(target, "camera", res.target(target), lambda r: r.camera)


def transit_report(res: Results, tr: TransitResults, worst: int = 5) -> str:
    """The station's transit read rate and the labels that drag it down, with why (their limiting factor as
    authored, at their best camera)."""
    moving = np.flatnonzero(tr.moving)
    if not len(moving):
        return "transit read rate: no label moves (give parcels a swb:barcode:velocity)"
    rate, looks = tr.read_rate[moving], tr.read_rate_looks[moving]
    lines = [f"transit read rate ({len(moving)} moving labels, any frame of any camera; a camera's frames as one "
             f"look): {100 * rate.mean():.2f} % (up to {100 * looks.mean():.2f} % if its frames were independent "
             f"looks)"]
    common = _common_prefix(res.target_paths)
    cam_common = _common_prefix(res.camera_paths)
    # the camera reads the label: some frame is decodable (p_read at least the camera's minimum)
    floor = np.array([c.min_read_probability for c in res.cameras], np.float32)[:, None]
    reads = tr.best_p[:, moving] >= floor
    only = reads & (reads.sum(axis=0) == 1)
    lines.append(format_table(["camera", "labels it reads (a decodable frame)", "only it reads"],
                              [[_short(c, cam_common), str(int(reads[i].sum())), str(int(only[i].sum()))]
                               for i, c in enumerate(tr.cameras)]))
    explaining = tr.explaining_camera()
    rows = []
    for t in moving[np.argsort(rate, kind="stable")[:worst]]:
        if tr.read_rate[t] >= 0.9995:
            break
        c = int(explaining[t])
        rows.append([_short(tr.targets[t], common), f"{100 * tr.read_rate[t]:.2f} %",
                     f"{100 * tr.read_rate_looks[t]:.2f} %", f"{tr.best_p[:, t].max(initial=0.0):.3f}",
                     str(int(tr.frames[:, t].sum())), _short(res.camera_paths[c], cam_common),
                     factor_name(int(tr.limiting[c, t])) or "-"])
    if rows:
        lines.append("labels that drag it down (limiting: what stopped the best camera's closest frame; - when "
                     "some frame decodes)")
        lines.append(format_table(["target", "read rate", "indep. looks", "best frame p", "frames", "camera",
                                   "limiting"], rows))
    return "\n".join(lines)


def full_report(res: Results, transit: TransitResults | None = None) -> str:
    parts = [camera_table(res), target_table(res), coverage_line(res)]
    if transit is not None:
        parts.append(transit_report(res, transit))
    return "\n\n".join(parts)
