"""Compare what two saves hold: one role's layer of a save, without the generation stamp every save writes."""

from __future__ import annotations

from pathlib import Path

from pxr import Sdf

from swb.stage.save import STAMP_KEY, read_save


def layer_text(root: Path, role: str) -> str:
    """The ``role`` layer (ui, config, results, sweep) of the save at ``root`` as text, without its generation stamp."""
    layer = getattr(read_save(root), role)
    copy = Sdf.Layer.CreateAnonymous(".usda")
    copy.TransferContent(layer)
    copy.customLayerData = {k: v for k, v in copy.customLayerData.items() if k != STAMP_KEY}
    return copy.ExportToString()
