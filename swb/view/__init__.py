"""The live 3-D view in the browser (``swb view``, ``Simulation.view``): see ``swb.view.live``."""

from .live import LiveView, check_port, serve

__all__ = ["LiveView", "check_port", "serve"]
