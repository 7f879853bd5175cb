"""Every kernel module compiles for a GPU: Warp generates the CUDA source and NVRTC compiles it to PTX for sm_90
(the H200's architecture), on a machine without a GPU. Running them on CUDA is the suite with
SWB_TEST_DEVICE=cuda (bench/gpu_checks.sh); this catches CUDA-only code generation errors everywhere."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import swb.kernels
import warp as wp


def _kernel_modules() -> list[str]:
    names = []
    for info in pkgutil.iter_modules(swb.kernels.__path__):
        module = importlib.import_module(f"swb.kernels.{info.name}")
        if any(isinstance(v, wp.Kernel) for v in vars(module).values()):
            names.append(module.__name__)
    return names


@pytest.mark.parametrize("name", _kernel_modules())
def test_kernel_module_compiles_for_cuda(name, tmp_path):
    wp.init()
    try:
        wp.compile_aot_module(importlib.import_module(name), arch=90, use_ptx=True, module_dir=str(tmp_path))
    except RuntimeError as exc:  # no NVRTC in this Warp build: nothing to check here
        if "NVRTC" in str(exc) or ("CUDA" in str(exc) and "not" in str(exc)):
            pytest.skip(f"Warp cannot compile CUDA here: {exc}")
        raise
    assert any(p.suffix == ".ptx" for p in tmp_path.rglob("*")), "no PTX written"
