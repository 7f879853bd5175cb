"""`swb schemas-path`: where SWB's USD schema plugin lives, so any USD process can load it.

    export PXR_PLUGINPATH_NAME="$(swb schemas-path)"      # then usdview, a plain pxr script, Kit ... know SwbSensorAPI

The folder holds ``plugInfo.json`` and ``generatedSchema.usda`` (codeless schemas: no library to build).
``--check`` also reports, on stderr, whether USD in this process knows the schemas and from where, and fails with
the usual one-line error when ``PXR_PLUGINPATH_NAME`` points at another SWB version's schemas.
"""

from __future__ import annotations

import argparse
import sys


def add_schemas_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schemas-path", help="print the folder of SWB's USD schemas (for PXR_PLUGINPATH_NAME)",
                       description="Print the folder holding SWB's plugInfo.json and generatedSchema.usda. With "
                       "PXR_PLUGINPATH_NAME set to it, any USD process (usdview, Isaac Sim / Kit, a plain pxr "
                       "script) knows SwbSensorAPI, SwbBarcodeAPI, SwbLightAPI and the rest, with docs and fallbacks.")
    p.add_argument("--check", action="store_true",
                   help="also say on stderr whether USD in this process knows the schemas (exit 2 on a version clash)")
    p.set_defaults(handler=_cmd_schemas_path)


def _cmd_schemas_path(args: argparse.Namespace) -> int:
    from ..stage import schema as S

    print(S.schema_dir())
    if args.check:
        reg = S.register()
        S.check_schemas()  # SwbError (exit 2) naming both versions when another SWB's schemas are loaded
        version = S.schema_table().version
        if reg.in_registry:
            print(f"[swb] USD knows SWB's schemas (version {version}) from {reg.plugin_path}", file=sys.stderr)
        else:
            print(f"[swb] USD's schema registry was built before SWB's schemas could be added (version {version}); "
                  "SWB reads stages from its own table, other code in this process sees no SWB fallbacks",
                  file=sys.stderr)
    return 0
