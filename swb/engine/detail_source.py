"""Where a simulation's compact results get their detail: the world they were evaluated in, or its twin.

A ``WorldDetail`` remembers the world and its ``version`` when the records were read back, and the scene as it
was (shallow copies of the model lists: the models are immutable). While the world is unchanged it answers from it
(no second copy of anything); once the world moved on (an edit evaluated, a rebuild, ``release_world``), results
someone still holds get their detail from a detail-only world built from that scene on first request, so they stay
what they were. Both run the same pair model with the record's occlusion, so the values are the same bits.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from .model import Scene
from .world import World


class WorldDetail:
    """A ``DetailSource`` for records evaluated by ``world`` in its current state."""

    def __init__(self, world: World, scene: Scene) -> None:
        self._ref = weakref.ref(world)
        self._version = world.version
        self._scene = dataclasses.replace(scene, cameras=list(scene.cameras), targets=list(scene.targets),
                                          parts=list(scene.parts), lights=list(scene.lights))
        self._device = str(world.device)
        self._threads = world.threads
        self.cull = world.cull
        self._own: World | None = None

    def keep(self, world: World) -> None:
        """Hold ``world`` (its per-pair arrays released) to answer from: it is the state these records describe."""
        if world is self._ref() and world.version == self._version:
            self._own = world

    def world(self) -> World:
        """The world that answers: the live one while unchanged, else a detail-only twin of the scene."""
        if self._own is not None:
            return self._own
        live = self._ref()
        if live is not None and live.version == self._version:
            return live
        self._own = World(self._scene, device=self._device, threads=self._threads, embree=False, detail=False,
                          cull=self.cull, records=False)
        return self._own

    def pair_detail(self, cam_idx: np.ndarray, tgt_idx: np.ndarray, seen: np.ndarray,
                    sparse: bool = False) -> np.ndarray:
        return self.world().pair_detail(cam_idx, tgt_idx, seen, sparse)
