"""Pieces every `swb` sub-command shares: progress lines on stderr, --device/--threads, argument types."""

from __future__ import annotations

import argparse
import sys


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays clean for tables and JSON."""
    print(f"[swb] {message}", file=sys.stderr, flush=True)


def positive_int(text: str) -> int:
    """argparse type: an integer > 0, with a readable message otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_device_args(p: argparse.ArgumentParser, *, threads: bool = True) -> None:
    """The options every command takes: --device (cpu, cuda, cuda:N), --allow-missing (go on without stage assets
    that cannot be opened) and, for CPU launches split over a thread pool, --threads."""
    p.add_argument("--device", default=None,
                   help="Warp device: cpu, cuda or cuda:N (default: the GPU when there is one)")
    if threads:
        p.add_argument("--threads", type=positive_int, default=None,
                       help="CPU threads for large launches (default: all cores)")
    p.add_argument("--allow-missing", action="store_true",
                   help="go on when a referenced geometry asset, payload or sublayer cannot be opened (a warning "
                   "lists them) instead of stopping")
