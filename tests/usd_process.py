"""A separate Python process for the USD-integration tests (tests/test_usd_integration.py).

    python tests/usd_process.py evaluate swb-first|stage-first SCENE   -> JSON: registration, scene, results, sweep
    python tests/usd_process.py inspect FILE...                        -> JSON per file: validation errors (plain pxr)
    python tests/usd_process.py schemas FILE                           -> JSON: what a plain pxr process sees

``evaluate`` imports SWB before or after USD has built its schema registry; ``inspect`` and ``schemas`` never
import SWB. USD prints its diagnostics on stderr, which the tests capture.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys


def _digest(items) -> str:  # noqa: ANN001
    import dataclasses

    import numpy as np

    h = hashlib.sha256()
    for obj in items:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            h.update(f.name.encode())
            if isinstance(value, np.ndarray):
                h.update(value.dtype.str.encode() + repr(value.shape).encode() + np.ascontiguousarray(value).tobytes())
            else:
                h.update(repr(value).encode())
    return h.hexdigest()


def evaluate(order: str, scene: str) -> dict:
    if order == "stage-first":
        from pxr import Usd, UsdGeom

        Usd.Stage.Open(scene)  # the host opened the station first ...
        UsdGeom.Camera.Define(Usd.Stage.CreateInMemory(), "/c")  # ... which built USD's schema registry
    import swb
    from swb.stage import schema as S
    from swb.sweep.spec import read_sweep, sweep_prim

    reg = S.registration()
    sim = swb.open(scene, device=os.environ.get("SWB_TEST_DEVICE", "cpu"))
    res = sim.evaluate()
    sweep = read_sweep(sweep_prim(sim.stage, None, scene), scene)
    cam = sim.stage.GetPrimAtPath(sim.scene.cameras[0].path)
    return {
        "in_registry": reg.in_registry,
        "applied": S.applied_schemas(cam),
        "scene": _digest([*sim.scene.cameras, *sim.scene.targets, *sim.scene.parts, *sim.scene.lights]),
        "results": _digest([res.pairs.full()]),  # every field, detail included
        "sweep": repr(sweep),
        "cameras": [c.path for c in sim.scene.cameras],
        "targets": [t.path for t in sim.scene.targets],
        "lights": [lt.path for lt in sim.scene.lights],
    }


def inspect(files: list[str]) -> dict:
    from pxr import Usd

    try:
        from pxr import UsdValidation
    except ImportError:  # usd-core without the validation framework: diagnostics only
        UsdValidation = None
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators() if UsdValidation else []
    out = {}
    for path in files:
        stage = Usd.Stage.Open(path)
        errors = []
        if UsdValidation is not None:
            for e in UsdValidation.ValidationContext(validators).Validate(stage):
                errors.append(f"{e.GetName()}: {e.GetMessage()}")
        out[path] = errors
    return {"validation": UsdValidation is not None, "files": out}


def schemas(path: str) -> dict:
    from pxr import Usd

    reg = Usd.SchemaRegistry()
    stage = Usd.Stage.Open(path)
    out: dict = {"applied": {}, "fallbacks": {}, "docs": {}, "definitions": {}}
    for prim in stage.Traverse():
        if prim.GetAppliedSchemas():
            out["applied"][str(prim.GetPath())] = list(prim.GetAppliedSchemas())
    for name in ("SwbSensorAPI", "SwbBarcodeAPI", "SwbLightAPI", "SwbTargetSummaryAPI"):
        definition = reg.FindAppliedAPIPrimDefinition(name)
        out["definitions"][name] = definition is not None
        if definition is not None:
            for prop in definition.GetPropertyNames():
                out["fallbacks"][prop] = repr(definition.GetAttributeFallbackValue(prop))
                out["docs"][prop] = definition.GetPropertyDocumentation(prop)
    for name in ("SwbSimulation", "SwbSweep", "SwbSweepParameter"):
        out["definitions"][name] = reg.FindConcretePrimDefinition(name) is not None
    return out


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "evaluate":
        result = evaluate(args[0], args[1])
    elif command == "inspect":
        result = inspect(args)
    else:
        result = schemas(args[0])
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
