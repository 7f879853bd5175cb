"""The docs stand alone and say what the code does: no pointer outside the repository, every schema attribute in
the schema reference, the profile tables equal to the code's, every docs/ file that is named exists."""

from __future__ import annotations

import re
from pathlib import Path

from pxr import Sdf

from swb.engine.profiles import CLASS_CODE, PROFILES

ROOT = Path(__file__).resolve().parent.parent
TEXT = (".py", ".md", ".toml", ".usda", ".txt", ".cfg", ".json", ".sh")
SKIP = {".git", ".venv", "build", "dist", "__pycache__", ".warp_cache", ".pytest_cache", ".ruff_cache"}


def _project_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and path.suffix in TEXT and not (set(rel.parts) & SKIP) and "egg-info" not in str(rel):
            out.append(path)
    return out


def test_no_pointer_to_documents_outside_the_repository():
    this = Path(__file__).resolve()
    bad = []
    for path in _project_files():
        if path.resolve() == this:
            continue
        text = path.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"DESIGN(\.md|\s+\d|\s+notes)|\.\./shared|shared/DESIGN", line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_every_schema_attribute_is_in_the_reference():
    doc = (ROOT / "docs" / "schemas.md").read_text()
    layer = Sdf.Layer.FindOrOpen(str(ROOT / "schemas" / "generatedSchema.usda"))
    missing = []
    for prim in layer.rootPrims:
        if f"`{prim.name}`" not in doc:
            missing.append(prim.name)
        for prop in prim.properties:
            if f"`{prop.name}`" not in doc:
                missing.append(f"{prim.name}.{prop.name}")
    assert not missing, f"docs/schemas.md does not describe: {', '.join(missing)}"


def profiles_table() -> str:
    classes = list(CLASS_CODE)
    rows = ["| profile | " + " | ".join(f"T {c}" for c in classes) + " | " + " | ".join(f"B {c}" for c in classes)
            + " | max tilt (deg) | scan-line | source |", "|" + "---|" * (1 + 2 * len(classes) + 3)]
    for name, p in PROFILES.items():
        tilt = "/".join(f"{v:g}" for v in p.max_tilt) if len(set(p.max_tilt)) > 1 else f"{p.max_tilt[0]:g}"
        rows.append(f"| `{name}` | " + " | ".join(f"{v:g}" for v in p.ppm_threshold) + " | "
                    + " | ".join(f"{v:g}" for v in p.blur_limit) + f" | {tilt} | {'yes' if p.scanline else 'no'} | "
                    f"{p.source} |")
    return "\n".join(rows)


def traits_table() -> str:
    rows = ["| profile | min visible (per class) | clear row | scan cover (per class) | quiet zone in view (per class) "
            "| line view | threshold scale |", "|---|---|---|---|---|---|---|"]

    def per_class(t: tuple[float, ...]) -> str:
        return "/".join(f"{v:.3g}" for v in t)

    for name, p in PROFILES.items():
        scale = ", ".join(f"{s} x{v:g}" for s, v in p.threshold_scale) or "-"
        rows.append(f"| `{name}` | {per_class(p.min_visible)} | {'yes' if p.clear_row else 'no'} | "
                    f"{per_class(p.scan_cover)} | {per_class(p.quiet_zone)} | {'yes' if p.line_view else 'no'} | "
                    f"{scale} |")
    return "\n".join(rows)


def read_link_table() -> str:
    rows = ["| profile | m90 (per class) | slope (per class) |", "|---|---|---|"]
    for name, p in PROFILES.items():
        rows.append(f"| `{name}` | {'/'.join(f'{v:.4g}' for v in p.read_m90)} | "
                    f"{'/'.join(f'{v:.4g}' for v in p.read_slope)} |")
    return "\n".join(rows)


def test_profile_tables_are_the_codes():
    doc = (ROOT / "docs" / "profiles.md").read_text()
    for table in (profiles_table(), traits_table(), read_link_table()):
        assert table in doc, f"docs/profiles.md is out of date; its table should read:\n{table}"


def test_every_named_doc_exists():
    named = set()
    for path in _project_files():
        named |= set(re.findall(r"docs/([a-z0-9_-]+\.md)", path.read_text(errors="replace")))
    missing = sorted(n for n in named if not (ROOT / "docs" / n).is_file())
    assert not missing, f"named but missing: {missing}"
