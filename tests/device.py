"""The Warp device the suite runs its kernels on.

CI has no GPU, so the default is the CPU; ``SWB_TEST_DEVICE=cuda pytest`` runs the same tests on a GPU (every
kernel takes its device as a parameter, nothing is hard-coded).
"""

from __future__ import annotations

import os

DEVICE = os.environ.get("SWB_TEST_DEVICE", "cpu")
