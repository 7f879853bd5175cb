"""What ``import swb`` does before anything heavy: find the sibling packages of a source checkout, and hold Ctrl-C
while a `swb` command starts. Standard library only, so it runs before NumPy, USD and Warp are imported.

Source checkouts: the installed package maps ``swb.kernels``, ``swb.schemas`` and ``swb.scenes`` to the top-level
folders ``kernels/``, ``schemas/`` and ``scenes/`` (pyproject's package-dir). Run from a checkout's root, Python
finds the source folder ``swb/`` first (it shadows an installed copy) and that folder lacks those three; a finder
added to ``sys.meta_path`` supplies them from the checkout, so the source behaves like the installed package.

Start-up of the `swb` command: USD's module loading catches a KeyboardInterrupt raised inside it and goes on as if
nothing happened (a Ctrl-C then is lost), and one raised elsewhere ends in a traceback. While a `swb` command
imports its libraries Ctrl-C only sets a flag; once they are loaded the command ends with status 130.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, ModuleType

SIBLINGS = ("kernels", "schemas", "scenes")
EXIT_INTERRUPTED = 130


class SiblingFinder(importlib.abc.MetaPathFinder):
    """Finds ``swb.<name>`` in a checkout's top-level ``<name>/`` folder (only for SIBLINGS)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.partition(".")
        if package != "swb" or name not in SIBLINGS:
            return None
        folder = self.root / name
        init = folder / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(folder)])


def install_sibling_finder(package_dir: Path) -> SiblingFinder | None:
    """When ``package_dir`` (the folder of swb/__init__.py) is a checkout's source folder without the sibling
    packages beside its modules, make them importable from the checkout's root; None when nothing is needed."""
    root = package_dir.parent
    if all((package_dir / name).is_dir() for name in SIBLINGS):
        return None  # an installed package: everything is inside it
    if not all((root / name / "__init__.py").is_file() for name in SIBLINGS):
        return None
    for finder in sys.meta_path:
        if isinstance(finder, SiblingFinder) and finder.root == root:
            return finder
    finder = SiblingFinder(root)
    sys.meta_path.append(finder)  # after the regular finders: an editable install's own mapping still wins
    return finder


def started_as_command() -> bool:
    """Is this process the `swb` command (the console script, or ``python -m swb.cli``)?"""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 == "-m" or Path(argv0).name in ("swb", "swb.exe")


class StartupInterrupts:
    """Ctrl-C held as a flag while the command's libraries load (see the module docstring)."""

    def __init__(self) -> None:
        self.seen = False
        self.previous: object = None

    def __enter__(self) -> StartupInterrupts:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)  # type: ignore[arg-type]
        if self.seen and exc[0] is None:
            print("swb: interrupted", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_INTERRUPTED)
