"""The `swb` command: one module per group of sub-commands, the entry point in ``main``."""

from .main import main

__all__ = ["main"]
