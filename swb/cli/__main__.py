"""``python -m swb.cli``: the same as the `swb` command."""

import sys

from .main import main

sys.exit(main())
