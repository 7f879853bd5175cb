"""Eye-safety outputs: a table, a picture per zone (the plane mode's PNG machinery) and a USD layer.

The picture shows each zone from above its largest face: every column of eye positions coloured by its worst risk
group, the worst position crossed, the lights marked. The USD layer (``<name>.viz.usda``, and ``<name>.usda``
stacking it over the scene) holds the eye positions as points coloured by risk group under /SWB/Viz/safety, and
the results as ``swb:safety:*`` attributes on overs of the zone, light and aimer prims. Every file is written
atomically under a new name; the scene is never touched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf

from ..stage.layers import write_text_atomic
from ..viz.output import VizLayer, legend_handles, new_figure, output_paths, save_figure, short_name
from . import tables as tb
from .check import SafetyReport

GROUP_COLOURS = [(0.17, 0.63, 0.17), (0.98, 0.80, 0.18), (0.96, 0.50, 0.09), (0.84, 0.15, 0.16)]


def _time(t: float) -> str:
    if not math.isfinite(t):
        return "no limit"
    if t >= 3600:
        return f"{t / 3600:.3g} h"
    if t >= 60:
        return f"{t / 60:.3g} min"
    return f"{t:.3g} s"


def table(report: SafetyReport, limit: str | int | None = None) -> str:
    """Plain-text tables: lights, zones, aimers (and what was not assessed)."""
    from ..report import format_table

    lines = ["Lights (IEC 62471:2006, on the axis at 200 mm, time-averaged):"]
    rows = [[lt.path, lt.kind, tb.RISK_GROUPS[lt.group], f"{lt.values['L_B']:.3g}", f"{lt.values['E_B']:.3g}",
             f"{lt.values['L_R']:.3g}", f"{lt.values['E_IR']:.3g}", f"{1e3 * lt.values['alpha']:.3g}",
             _time(lt.allowed_time)] for lt in report.lights]
    lines.append(format_table(["light", "type", "group", "L_B W/m2sr", "E_B W/m2", "L_R W/m2sr", "E_IR W/m2",
                               "alpha mrad", "allowed"], rows) if rows else "  (no lights)")
    lines.append("")
    lines.append("Zones (worst eye position, looking into the lights):")
    verdict = {v.path: v for v in report.verdict(limit)} if limit is not None else {}
    rows = []
    for z in report.zones:
        where = ", ".join(f"{x:.2f}" for x in z.worst_position)
        ok = "" if z.path not in verdict else ("ok" if verdict[z.path].ok else "EXCEEDS")
        rows.append([z.path, z.kind, tb.RISK_GROUPS[z.group], _time(z.allowed_time), f"({where})",
                     short_name(z.dominant_light) if z.dominant_light else "-", z.dominant_hazard or "-",
                     _time(z.exposure_time) if z.exposure_time > 0 else "-", ok])
    lines.append(format_table(["zone", "kind", "group", "allowed", "worst position (m, Z up)", "light", "hazard",
                               "stay", "verdict"], rows) if rows else "  (no SwbZoneAPI zones)")
    if report.aimers:
        lines.append("")
        lines.append("Aimers (IEC 60825-1:2014, 7 mm at 100 mm):")
        lines.append(format_table(["aimer", "class", "accessible mW", "class 1 limit mW"],
                                  [[a.path, a.laser_class, f"{1e3 * a.accessible_power:.3g}",
                                    f"{1e3 * a.limits['1']:.3g}"] for a in report.aimers]))
    for path, why in report.skipped:
        lines.append(f"not assessed: {path}: {why}")
    for lt in report.lights:
        for note in lt.notes:
            lines.append(f"note: {lt.path}: {note}")
    return "\n".join(lines)


def _zone_picture(ax, z, lights) -> None:  # noqa: ANN001
    """One zone seen along its shortest axis: worst group per column of eye positions."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    zone = z.zone
    lengths = zone.half_lengths
    a, b = [int(i) for i in np.argsort(-lengths)[:2]]
    c = 3 - a - b
    groups = np.max(z.groups, axis=c)
    if a > b:
        groups = groups.T
    ext = (-lengths[a], lengths[a], -lengths[b], lengths[b])
    ax.imshow(groups.T, origin="lower", extent=ext, cmap=ListedColormap(GROUP_COLOURS),
              norm=BoundaryNorm(np.arange(5) - 0.5, 4), interpolation="nearest", aspect="equal")
    axes = np.asarray(zone.half_axes, np.float64)
    ua, ub = axes[:, a] / lengths[a], axes[:, b] / lengths[b]
    w = z.worst_position - zone.centre
    ax.plot(w @ ua, w @ ub, marker="x", color="black", markersize=10, markeredgewidth=2, linestyle="none")
    for lt in lights:
        p = np.asarray(lt.position) - zone.centre
        ax.plot(p @ ua, p @ ub, marker="*", color="white", markeredgecolor="black", markersize=11, linestyle="none")
        ax.annotate(short_name(lt.path), (p @ ua, p @ ub), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_title(f"{short_name(z.path)} ({z.kind}): {tb.RISK_GROUPS[z.group]}, allowed {_time(z.allowed_time)}",
                 fontsize=9)
    ax.set_xlabel("metres along the zone's longest axis", fontsize=7)
    ax.set_ylabel("metres along its second axis", fontsize=7)
    ax.tick_params(labelsize=7)


def write_outputs(report: SafetyReport, items, scene_path: Path, out_dir: Path, name: str,  # noqa: ANN001
                  limit: str | int | None = None) -> dict[str, Path]:
    """<name>.png, <name>.viz.usda (+ <name>.usda over the scene), <name>.json, <name>.txt in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = output_paths(out_dir, name)
    zones = [z for z in report.zones if z.zone is not None]
    n = max(len(zones), 1)
    cols = min(n, 3)
    rows = int(math.ceil(n / cols))
    fig = new_figure(420 * cols + 80, 380 * rows + 120)
    for k, z in enumerate(zones):
        ax = fig.add_subplot(rows, cols, k + 1)
        _zone_picture(ax, z, items.lights)
    if not zones:
        fig.text(0.5, 0.5, "no SwbZoneAPI zones in the scene", ha="center")
    fig.legend(handles=legend_handles(GROUP_COLOURS, list(tb.RISK_GROUPS)), loc="lower center", ncol=4, fontsize=8,
               frameon=False, title="risk group of the exposure at each eye position (worst over the height)",
               title_fontsize=8)
    fig.suptitle(f"{Path(report.source).name}: eye safety (IEC 62471:2006), x: worst position, *: lights", fontsize=10)
    fig.subplots_adjust(bottom=0.18, top=0.86, wspace=0.35, hspace=0.45)
    save_figure(fig, files["png"])

    layer = VizLayer("safety", report.meters_per_unit, report.up_axis)
    for k, z in enumerate(zones):
        pts = z.points.reshape(-1, 3)
        rgb = np.array(GROUP_COLOURS)[z.groups.reshape(-1)]
        spacing = float(np.min(2 * z.zone.half_lengths / np.maximum(np.array(z.groups.shape) - 1, 1)))
        layer.points(f"Zone_{k}", pts, np.full(len(pts), max(spacing * 0.3, 1e-3)), rgb)
    stage = layer.stage
    from ..stage.units import stage_to_world

    to_stage = np.linalg.inv(stage_to_world(report.meters_per_unit, report.up_axis))
    for z in report.zones:
        prim = stage.OverridePrim(z.path)
        prim.CreateAttribute("swb:safety:riskGroup", Sdf.ValueTypeNames.Token).Set(tb.RISK_GROUPS[z.group])
        prim.CreateAttribute("swb:safety:allowedTime", Sdf.ValueTypeNames.Double).Set(
            z.allowed_time if math.isfinite(z.allowed_time) else -1.0)
        wp = (to_stage @ np.append(z.worst_position, 1.0))[:3]
        prim.CreateAttribute("swb:safety:worstPosition", Sdf.ValueTypeNames.Point3d).Set(Gf.Vec3d(*map(float, wp)))
        prim.CreateAttribute("swb:safety:dominantLight", Sdf.ValueTypeNames.String).Set(z.dominant_light)
    for lt in report.lights:
        stage.OverridePrim(lt.path).CreateAttribute("swb:safety:riskGroup", Sdf.ValueTypeNames.Token).Set(
            tb.RISK_GROUPS[lt.group])
    for a in report.aimers:
        stage.OverridePrim(a.path).CreateAttribute("swb:safety:laserClass", Sdf.ValueTypeNames.Token).Set(
            a.laser_class)
    layer.write(files["layer"], files["stage"], scene_path)
    files["json"] = out_dir / f"{name}.json"
    write_text_atomic(files["json"], json.dumps(report.to_json(limit), indent=2) + "\n")
    files["txt"] = out_dir / f"{name}.txt"
    write_text_atomic(files["txt"], table(report, limit) + "\n")
    return files
