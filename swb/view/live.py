"""The live 3-D view: a simulation in the browser (viser), edited there and re-evaluated as you drag.

The page shows the station, every sensor camera's frustum, the labels coloured by a ``colouring`` with its legend,
and a panel: coverage (and read rate when the results carry one), the active camera's optics, the selected
label's per-camera table, the sphere/plane/projection overlays of ``swb.viz``, stored sweep configurations and
saving. Every edit goes through the simulation's edit methods (authored into its configuration layer), is
evaluated incrementally on one worker thread, and the new colours and numbers are pushed to every open page.
Events that arrive while an update runs are merged: the newest pose or value of each control wins.

An edit the simulation refuses (focal length 0 typed in the panel) is put back: the message goes to the panel and
the terminal, the previous value is authored again and the results stay those of the last valid state.
"""

from __future__ import annotations

import math
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import viser

from ..engine.model import CameraModel
from ..engine.profiles import PROFILES
from ..engine.transit import evaluate_transits, label_speeds
from ..errors import SwbError
from ..simulation import Simulation
from ..stage.ui_state import VIS_MODES
from ..viz.output import camera_colour, score_colours
from . import colouring as col
from .poses import StageAxes, frustum_wxyz, matrix, wxyz
from .sweeps import StoredSweep, load_sweep, sweep_names

STATION_COLOUR = (176, 180, 188)
SELECTED_COLOUR = (255, 200, 0)
LABEL_SHARE = 0.02  # labels are drawn at least this share of the station's diagonal, so they can be seen and clicked
OVERLAYS = ("sphere", "plane", "projection")
SAVE_SUFFIXES = (".usda", ".usd", ".usdc")
_POSE_TOLERANCE = 1e-5  # the browser echoes a pose we set with float32 rounding: not a new pose
LIVE_TRANSIT_PAIRS = 20_000  # cameras x moving labels up to which the panel's read rate follows every edit


@dataclass
class _Edit:
    """An edit waiting for the worker: ``apply`` authors it, ``revert`` puts the previous state back."""

    apply: Callable[[], None]
    revert: Callable[[], None]
    received: float  # perf_counter when the browser's event arrived


@dataclass
class UpdateTiming:
    """One pushed update: from the first merged event to the pushed colours and numbers, in seconds."""

    total: float
    evaluate: float
    edits: int
    pairs: int


@dataclass
class ViewState:
    """What the view shows, saved into the UI state (``viz_parameters['view']`` and the standard fields)."""

    colouring: str = "score"
    overlays: list[str] = field(default_factory=list)
    look_at: list[float] | None = None  # stage units


def check_port(host: str, port: int) -> None:
    """SwbError when nothing can listen on host:port (in use, or not an address of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            reason = "is in use" if exc.errno in (98, 48, 10048) else f"cannot be opened ({exc.strerror})"
            raise SwbError(f"port {port} on {host} {reason}",
                           hint="pass another --port, or stop the program that holds it") from None


def serve(sim: Simulation, *, host: str = "127.0.0.1", port: int = 8080, save_dir: str | Path | None = None,
          block: bool = False, log: Callable[[str], None] | None = None, title: str | None = None) -> LiveView:
    """Start the live view of ``sim`` on http://host:port (127.0.0.1 unless told otherwise); saves from the page
    go into ``save_dir`` (default: the working directory). With ``block`` it serves until Ctrl-C."""
    view = LiveView(sim, host=host, port=port, save_dir=save_dir, log=log, title=title)
    if block:
        try:
            view.wait()
        finally:
            view.close()
    return view


class LiveView:
    """A running view; ``close()`` stops it. ``timings`` holds every pushed update's latency."""

    def __init__(self, sim: Simulation, *, host: str = "127.0.0.1", port: int = 8080,
                 save_dir: str | Path | None = None, log: Callable[[str], None] | None = None,
                 title: str | None = None) -> None:
        self.sim = sim
        self.title = title or sim.scene_path.name
        self.host, self.port = host, int(port)
        self.save_dir = Path(save_dir if save_dir is not None else Path.cwd()).resolve()
        self.log = log or (lambda message: print(f"[swb view] {message}", flush=True))
        self.timings: list[UpdateTiming] = []
        self.axes = StageAxes(sim.scene.meters_per_unit, sim.scene.up_axis)
        # the simulation (its USD stage above all) is used by one thread at a time: hold this lock to use it from
        # another thread while the view runs
        self.lock = threading.RLock()
        self.edits_applied = 0  # edits authored so far (tests and scripts wait on it)
        self._wake = threading.Condition()
        self._pending: dict[str, _Edit] = {}
        self._closed = False
        self._sweep: StoredSweep | None = None
        self._authored: dict[str, tuple[Any, dict[str, Any]]] | None = None  # camera states before a sweep pick
        ui = sim.ui
        saved = ui.viz_parameters.get("view", {}) if isinstance(ui.viz_parameters, dict) else {}
        self.state = ViewState(colouring=str(saved.get("colouring", _colouring_of(ui.visualisation_mode))),
                               overlays=[o for o in saved.get("overlays", []) if o in OVERLAYS],
                               look_at=saved.get("look_at"))
        self.active = ui.active_camera
        self.selection = list(ui.selection)
        self._viewer_pose = ui.viewer_camera_transform
        # the pose this server sent a page, with the stage pose and look-at it stood for: an echo of it (or of
        # a page's half-applied update followed by it) puts those back exactly
        self._pose_sent: tuple[np.ndarray, np.ndarray, Any, list[float] | None] | None = None
        self._read_rate = ""  # the panel's transit read rate line (``_transit_line``)

        if not self.save_dir.is_dir():
            raise SwbError("the folder for saves does not exist", file=str(self.save_dir),
                           hint="create it or pass another --save-dir")
        check_port(host, self.port)
        results = sim.evaluate()  # a stage that cannot be evaluated fails here, before anything listens
        sim.prepare_edits()
        if self.state.colouring not in col.available(results):
            self.state.colouring = "score"
        cams = [c.path for c in sim.scene.cameras]
        if self.active not in cams:
            self.active = cams[0] if cams else None
        self.server = viser.ViserServer(host=host, port=self.port, label=f"SWB - {self.title}", verbose=False)
        self.server.scene.set_up_direction("+z")
        self.url = f"http://{host}:{self.port}"
        self._build_scene()
        self._build_panel()
        self.server.on_client_connect(self._on_connect)
        self._push(results, [])
        self._worker = threading.Thread(target=self._run, name="swb-view", daemon=True)
        self._worker.start()
        self.log(f"live view of {self.title} at {self.url} (saves go to {self.save_dir})")

    # ------------------------------------------------------------------------------------------ scene
    def _build_scene(self) -> None:
        sc = self.server.scene
        self._station = None  # sent by the first push
        self._send_frusta()
        self._gizmo_scale = max(0.25, 1.2 * self._frustum_scale())
        self._gizmo = sc.add_transform_controls("/gizmo", scale=self._gizmo_scale, visible=self.active is not None)
        self._gizmo.on_update(self._on_gizmo)
        self._place_gizmo()
        self._labels = None
        self._send_labels()
        self._marker = sc.add_icosphere("/selection", radius=0.6 * float(self._label_size.max(initial=0.05)),
                                        color=SELECTED_COLOUR, opacity=0.55, visible=False)
        self._overlay_nodes: dict[str, Any] = {}

    def _label_poses(self) -> tuple[np.ndarray, np.ndarray]:
        tgts = self.sim.scene.targets
        rot = np.array([np.asarray(t.rotation, np.float64) for t in tgts]).reshape(-1, 3, 3)
        pos = np.array([np.asarray(t.position, np.float64) for t in tgts]).reshape(-1, 3)
        return rot, pos + 2e-3 * rot[:, :, 2]  # just off the surface they are stuck on

    def _send_labels(self) -> None:
        """The label markers: a square per label, turned like the label, one colour each."""
        tgts = self.sim.scene.targets
        rot, self._label_pos = self._label_poses()
        lo, hi = self._bounds()
        least = LABEL_SHARE * float(np.linalg.norm(hi - lo))
        self._label_size = np.array([max(max(t.size_with_quiet_zone), least) for t in tgts], np.float32)
        if self._labels is not None:
            self._labels.remove()
        square = np.array([[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.5, 0.5, 0.0], [-0.5, 0.5, 0.0]], np.float32)
        self._labels = self.server.scene.add_batched_meshes_simple(
            "/labels", square, np.array([[0, 1, 2], [0, 2, 3]], np.uint32),
            batched_wxyzs=np.array([wxyz(r) for r in rot]).reshape(-1, 4),
            batched_positions=self._label_pos.astype(np.float32), batched_scales=self._label_size,
            batched_colors=np.full((len(tgts), 3), 200, np.uint8), side="double", lod="off",
            cast_shadow=False, receive_shadow=False)
        self._labels.on_click(self._on_label_click)

    def _send_frusta(self) -> None:
        for handle in getattr(self, "_frusta", []):
            handle.remove()
        self._frusta = []
        for i, cam in enumerate(self.sim.scene.cameras):
            handle = self.server.scene.add_camera_frustum(
                f"/cameras/{i}", fov=2.0 * math.atan(0.5 * cam.height / cam.fy), aspect=cam.width / cam.height,
                scale=self._frustum_scale(), color=_rgb8(camera_colour(i)), wxyz=frustum_wxyz(cam.rotation),
                position=np.asarray(cam.position, np.float64))
            handle.on_click(lambda event, path=cam.path: self.set_active_camera(path))
            self._frusta.append(handle)

    def _send_station(self) -> None:
        parts = self.sim.scene.parts
        pts = [np.asarray(p.world_points(), np.float32) for p in parts]
        offsets = np.cumsum([0] + [len(p) for p in pts])
        tris = [np.asarray(p.triangles, np.int64) + offsets[k] for k, p in enumerate(parts)]
        if self._station is not None:
            self._station.remove()
            self._station = None
        if pts and int(offsets[-1]) and sum(len(t) for t in tris):
            self._station = self.server.scene.add_mesh_simple(
                "/station", np.concatenate(pts), np.concatenate(tris).astype(np.uint32), color=STATION_COLOUR,
                side="double", flat_shading=True, cast_shadow=False, receive_shadow=False)

    def _frustum_scale(self) -> float:
        lo, hi = self._bounds()
        return float(np.clip(0.06 * np.linalg.norm(hi - lo), 0.08, 0.6))

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The station's box (cameras, labels, parts), measured once: it frames the view and sizes markers."""
        if getattr(self, "_box", None) is None:
            self._box = self._measure_bounds()
        return self._box

    def _measure_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        scene = self.sim.scene
        pts = [np.asarray(c.position, np.float64)[None] for c in scene.cameras]
        pts += [np.asarray(t.position, np.float64)[None] for t in scene.targets]
        for p in scene.parts:
            w = p.world_points()
            if len(w):
                pts.append(np.stack([w.min(axis=0), w.max(axis=0)]))
        allp = np.concatenate(pts) if pts else np.zeros((1, 3))
        return allp.min(axis=0), allp.max(axis=0)

    def _place_gizmo(self) -> None:
        cam = self._camera(self.active)
        if cam is None:
            self._gizmo.visible = False
            return
        self._gizmo.wxyz = wxyz(cam.rotation)
        self._gizmo.position = np.asarray(cam.position, np.float64)
        self._gizmo.visible = True

    def _camera(self, path: str | None) -> CameraModel | None:
        return next((c for c in self.sim.scene.cameras if c.path == path), None)

    # ------------------------------------------------------------------------------------------ panel
    def _build_panel(self) -> None:
        gui = self.server.gui
        scene = self.sim.scene
        self._status = gui.add_markdown("evaluating...")
        self._message = gui.add_markdown("")
        names = col.available(self.sim.results)  # type: ignore[arg-type]
        self._colour_by = gui.add_dropdown("colour labels by", tuple(names), initial_value=self.state.colouring)
        self._colour_by.on_update(lambda e: _from_page(e) and self._on_colouring())
        self._legend = gui.add_html("")
        with gui.add_folder("Camera"):
            paths = tuple(c.path for c in scene.cameras) or ("-",)
            self._cam_pick = gui.add_dropdown("active camera", paths, initial_value=self.active or paths[0])
            self._cam_pick.on_update(lambda e: _from_page(e) and self.set_active_camera(self._cam_pick.value))
            self._focal = gui.add_number("focal length (mm)", 16.0, step=0.1)
            self._fstop = gui.add_number("f-stop", 4.0, min=0.0, step=0.1)
            self._focus = gui.add_number("focus distance (m)", 1.0, step=0.01)
            self._exposure = gui.add_number("exposure (ms)", 0.0, min=0.0, step=0.01)
            self._profile = gui.add_dropdown("decoder profile", tuple(PROFILES))
            for handle, name in ((self._focal, "focalLength"), (self._fstop, "fStop"),
                                 (self._focus, "focusDistance"), (self._exposure, "exposure:time"),
                                 (self._profile, "swb:sensor:decoderProfile")):
                handle.on_update(lambda e, h=handle, n=name: _from_page(e) and self.set_setting(n, h.value))
        with gui.add_folder("Label"):
            self._label_info = gui.add_markdown("click a label to see what each camera makes of it")
        with gui.add_folder("Overlays", expand_by_default=False):
            self._overlay_boxes = {}
            for name in OVERLAYS:
                box = gui.add_checkbox(name, name in self.state.overlays)
                box.on_update(lambda e, n=name: _from_page(e) and self.set_overlay(n, bool(e.target.value)))
                self._overlay_boxes[name] = box
            self._overlay_note = gui.add_markdown("sphere: every orientation at the selected label; plane: a "
                                                  "horizontal plane through it; projection: what the active "
                                                  "camera sees, judged by all cameras")
        sweeps = sweep_names(self.sim)
        if sweeps:
            with gui.add_folder("Sweeps", expand_by_default=False):
                self._sweep_pick = gui.add_dropdown("sweep", tuple(sweeps))
                self._config_pick = gui.add_dropdown("configuration", ("-",))
                apply = gui.add_button("apply configuration")
                back = gui.add_button("back to the authored cameras")
                self._config_info = gui.add_markdown("")
                self._sweep_pick.on_update(lambda _: self._load_sweep())
                apply.on_click(lambda _: self.apply_configuration(self._config_rank()))
                back.on_click(lambda _: self.restore_authored())
                self._load_sweep()
        with gui.add_folder("Save"):
            self._save_name = gui.add_text("file", f"{self.sim.scene_path.stem}.view.swb.usda")
            save = gui.add_button("save")
            self._save_info = gui.add_markdown(f"into {self.save_dir}")
            save.on_click(lambda _: self._on_save())
        self._sync_camera_panel()

    def _sync_camera_panel(self) -> None:
        cam = self._camera(self.active)
        if cam is None:
            return
        # set from here, the handles call their callbacks without a client: not taken as edits
        self._cam_pick.value = cam.path
        self._focal.value = round(cam.focal_length * 1000.0, 6)
        self._fstop.value = round(cam.f_number, 6)
        self._focus.value = round(cam.focus_distance, 6)
        self._exposure.value = round(cam.exposure * 1000.0, 6)
        self._profile.value = cam.decoder_profile

    # ------------------------------------------------------------------------------------------ events
    def _on_connect(self, client: viser.ClientHandle) -> None:
        pos, q = self._initial_view()
        with client.atomic():
            client.camera.up_direction = (0.0, 0.0, 1.0)
            client.camera.position = pos
            client.camera.wxyz = q
            if self.state.look_at is not None:
                client.camera.look_at = self.axes.point_to_world(self.state.look_at)
        look_at = None if self.state.look_at is None else list(self.state.look_at)
        self._pose_sent = (np.asarray(pos, np.float64), np.asarray(q, np.float64), self._viewer_pose, look_at)
        client.camera.on_update(self._on_client_camera)

    def _initial_view(self) -> tuple[np.ndarray, np.ndarray]:
        identity = all(self._viewer_pose[i][j] == (1.0 if i == j else 0.0) for i in range(4) for j in range(4))
        if not identity:
            return self.axes.viewer_from_stage(self._viewer_pose)
        scene = self.sim.scene  # frame the labels and the cameras that read them, not the whole building
        pts = np.array([np.asarray(x.position, np.float64) for x in [*scene.targets, *scene.cameras]]).reshape(-1, 3)
        lo, hi = (pts.min(axis=0), pts.max(axis=0)) if len(pts) else self._bounds()
        centre = 0.5 * (lo + hi)
        radius = max(0.5 * float(np.linalg.norm(hi - lo)), 0.5)
        eye = centre + 1.5 * radius * np.array([0.55, -0.65, 0.52])
        fwd = (centre - eye) / np.linalg.norm(centre - eye)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        self.state.look_at = [float(x) for x in self.axes.point_to_stage(centre)]
        return eye, wxyz(np.stack([right, down, fwd], axis=1))

    def _on_client_camera(self, camera: viser.CameraHandle) -> None:
        pos, q = np.asarray(camera.position, np.float64), np.asarray(camera.wxyz, np.float64)
        held = tuple(np.asarray(x, np.float64) for x in self.axes.viewer_from_stage(self._viewer_pose))
        if _same_pose(pos, q, *held):
            return  # the pose we hold coming back: rounding must not change the saved state
        if self._pose_sent is not None and _same_pose(pos, q, *self._pose_sent[:2]):
            # our own pose coming back, perhaps after a half-applied one: what it stood for, exactly
            self._viewer_pose, look_at = self._pose_sent[2], self._pose_sent[3]
            self.state.look_at = None if look_at is None else list(look_at)
            return
        self._viewer_pose = self.axes.viewer_to_stage(pos, q)
        self.state.look_at = [float(x) for x in self.axes.point_to_stage(camera.look_at)]

    def _on_gizmo(self, event: Any) -> None:
        if not _from_page(event):
            return
        handle = event.target
        self.move_camera(self.active, matrix(handle.wxyz), np.asarray(handle.position, np.float64))

    def move_camera(self, path: str | None, rot: np.ndarray, pos: np.ndarray) -> None:
        """What a drag of the gizmo does: place the camera at this world pose (merged with later drags)."""
        cam = self._camera(path)
        if path is None or cam is None:
            return
        before = (np.asarray(cam.rotation, np.float64), np.asarray(cam.position, np.float64))
        self._submit(f"pose:{path}", lambda: self.sim.set_world_pose(path, rot, pos),
                     lambda: self.sim.set_world_pose(path, *before))

    def set_setting(self, name: str, value: Any) -> None:
        """What the camera panel does: author one optic of the active camera from a panel value (focal length in
        mm, focus distance in m, exposure in ms, f-stop, decoder profile)."""
        if self.active is None:
            return
        path = self.active
        with self.lock:  # reads the stage: never while the worker authors into it
            try:
                authored = self._setting_value(path, name, value)
            except (TypeError, ValueError):
                self._show_error(SwbError(f"{value!r} is not a number", prim=path, attribute=name))
                return
            previous = self.sim.get_attribute(path, name)
        self._submit(f"{name}:{path}", lambda: self.sim.set_attribute(path, name, authored),
                     lambda: self.sim.set_attribute(path, name, previous))

    def _setting_value(self, path: str, name: str, value: Any) -> Any:
        """A panel value (mm, m, ms) as the attribute's value (tenths of a scene unit, scene units, seconds)."""
        if name == "swb:sensor:decoderProfile":
            return str(value)
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(value)
        mpu = self.sim.unit_scale(path)
        if name == "focalLength":
            return v / 1000.0 / mpu * 10.0
        if name == "focusDistance":
            return v / mpu
        if name == "exposure:time":
            return v / 1000.0
        return v

    def _on_colouring(self) -> None:
        self.set_colouring(str(self._colour_by.value))

    def set_colouring(self, name: str) -> None:
        """Colour the labels by another quantity (``colouring.COLOURINGS``)."""
        if name not in col.COLOURINGS:
            raise SwbError(f"unknown colouring {name!r}", hint="use one of " + ", ".join(col.COLOURINGS))
        self.state.colouring = name
        if self._colour_by.value != name and name in self._colour_by.options:
            self._colour_by.value = name
        self._submit("colouring", lambda: None, lambda: None)

    def set_overlay(self, name: str, on: bool) -> None:
        """Show or hide the sphere, plane or projection overlay."""
        if name not in OVERLAYS:
            raise SwbError(f"unknown overlay {name!r}", hint="use one of " + ", ".join(OVERLAYS))
        if on and name not in self.state.overlays:
            self.state.overlays.append(name)
        if not on and name in self.state.overlays:
            self.state.overlays.remove(name)
        self._overlay_boxes[name].value = bool(on)
        self._submit(f"overlay:{name}", lambda: None, lambda: None)

    def _on_label_click(self, event: Any) -> None:
        idx = event.instance_index
        if idx is None:  # pick the label nearest the clicked ray
            o, d = np.asarray(event.ray_origin, np.float64), np.asarray(event.ray_direction, np.float64)
            rel = self._label_pos - o
            along = rel @ d
            dist = np.linalg.norm(rel - along[:, None] * d, axis=1)
            dist[along < 0] = np.inf
            hit = dist <= 0.75 * self._label_size  # within a marker (half its diagonal): the nearest one hit
            idx = int(np.argmin(np.where(hit, along, np.inf))) if hit.any() else int(np.argmin(dist))
        self.select_label(self.sim.scene.targets[int(idx)].path)

    # ------------------------------------------------------------------------------------------ API
    def set_active_camera(self, path: str) -> None:
        """Make a camera the active one: the gizmo moves to it and the panel shows its optics."""
        if self._camera(path) is None:
            raise SwbError("is not a sensor camera of the scene", prim=path)
        with self.lock:
            self.active = path
            self._place_gizmo()
            self._sync_camera_panel()
            if "projection" in self.state.overlays:
                self._submit("overlay:projection", lambda: None, lambda: None)

    def select_label(self, path: str) -> None:
        """Select a label: its per-camera table in the panel, a marker on it, and the sphere/plane overlays there."""
        with self.lock:
            ti = next((i for i, t in enumerate(self.sim.scene.targets) if t.path == path), None)
            if ti is None:
                raise SwbError("is not a barcode target of the scene", prim=path)
            self.selection = [path]
            self._marker.position = self._label_pos[ti]
            self._marker.visible = True
            self._label_info.content = self.label_table(path)
        if any(o in self.state.overlays for o in ("sphere", "plane")):
            self._submit("overlay:selection", lambda: None, lambda: None)

    def label_table(self, path: str) -> str:
        """The selected label's per-camera table (markdown): PPM, blur, tilt, limiting factor, score."""
        res = self.sim.results
        assert res is not None
        rows = sorted(res.target(path), key=lambda r: (-r.decodable, -r.score, -r.visible_fraction))
        s = res.summary(res.target_index(path))
        head = (f"**{path.rsplit('/', 1)[-1]}** - {'decodable' if s.decodable else 'not decodable'}, "
                f"{s.cameras_decoding} of {len(rows)} cameras decode it\n\n"
                "| camera | ppm | blur px | tilt | limiting | score |\n|---|---|---|---|---|---|\n")
        lines = []
        for r in rows[:16]:
            blur = max(r.defocus_px, r.motion_px)
            lines.append(f"| {r.camera.rsplit('/', 1)[-1]} | {min(r.ppm_u, r.ppm_w):.2f} | {blur:.2f} | "
                         f"{r.tilt_deg:.0f} deg | {r.limiting or 'decodes'} | {r.score:.2f} |")
        more = f"\n\n{len(rows) - 16} more cameras" if len(rows) > 16 else ""
        return head + "\n".join(lines) + more

    def apply_configuration(self, rank: int) -> None:
        """Author configuration ``rank`` (0: the best) of the chosen stored sweep onto the cameras it varies."""
        sweep = self._sweep
        if sweep is None:
            raise SwbError("no stored sweep to browse", hint="run `swb sweep ... --save` first")
        settings = sweep.configuration(rank)
        sim = self.sim

        def apply() -> None:
            self._remember_authored([s.path for s in settings])
            for s in settings:
                sim.set_world_pose(s.path, s.rotation, s.position)
                for name, value in s.attributes.items():
                    sim.set_attribute(s.path, name, value)

        self._submit("sweep", apply, self.restore_authored_now)
        if hasattr(self, "_config_info"):
            self._config_info.content = f"applied {sweep.label(rank)}"

    def restore_authored(self) -> None:
        """Put the cameras a sweep pick changed back as they were authored."""
        self._submit("sweep", self.restore_authored_now, lambda: None)

    def restore_authored_now(self) -> None:
        if not self._authored:
            return
        for path, (pose, attrs) in self._authored.items():
            self.sim.set_world_pose(path, *pose)
            for name, value in attrs.items():
                if value is not None:
                    self.sim.set_attribute(path, name, value)

    def save(self, name: str) -> Path:
        """Save the simulation with the view's state (active camera, selection, colouring, overlays, viewer pose)
        as ``name`` inside the save folder; returns the root file."""
        target = (self.save_dir / name).resolve()
        if (Path(name).name != name or target.parent != self.save_dir or name.startswith(".")
                or target.suffix.lower() not in SAVE_SUFFIXES):
            raise SwbError(f"{name!r} is not a plain file name ending in .usda, .usd or .usdc", file=name,
                           hint=f"saves from the page go into {self.save_dir}")
        with self.lock:
            self._flush_now()
            params = dict(self.sim.ui.viz_parameters)  # a picture's recorded parameters stay beside the view's
            params["view"] = {"colouring": self.state.colouring, "overlays": list(self.state.overlays),
                              "look_at": self.state.look_at}
            self.sim.set_ui(active_camera=self.active, selection=list(self.selection),
                            visualisation_mode=self.state.colouring if self.state.colouring in VIS_MODES else "none",
                            viewer_camera_transform=self._viewer_pose, viz_parameters=params)
            return self.sim.save(target)

    def refresh(self) -> None:
        """Evaluate and show edits made through the Python API while the view runs (hold ``lock`` for those)."""
        self._submit("refresh", lambda: None, lambda: None)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every edit received so far is evaluated and pushed."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            with self._wake:
                if not self._pending and not self._busy:
                    return
            time.sleep(0.005)
        raise TimeoutError("the live view did not finish its updates")

    def wait(self) -> None:
        """Serve until Ctrl-C."""
        try:
            while not self._closed:
                time.sleep(0.2)
        except KeyboardInterrupt:
            self.log("stopping")

    def close(self) -> None:
        self._closed = True
        with self._wake:
            self._wake.notify_all()
        self.server.stop()

    def latency_summary(self) -> str:
        if not self.timings:
            return "no updates yet"
        t = [x.total for x in self.timings]
        return (f"{len(t)} updates, median {1e3 * statistics.median(t):.1f} ms, max {1e3 * max(t):.1f} ms "
                "(event received -> colours and numbers pushed)")

    # ------------------------------------------------------------------------------------------ worker
    _busy = False

    def _submit(self, key: str, apply: Callable[[], None], revert: Callable[[], None]) -> None:
        with self._wake:
            old = self._pending.pop(key, None)
            received = old.received if old is not None else time.perf_counter()
            self._pending[key] = _Edit(apply, revert if old is None else old.revert, received)
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                edits, self._pending = self._pending, {}
                self._busy = True
            try:
                with self.lock:
                    self._update(list(edits.values()))
            except Exception as exc:  # noqa: BLE001 - the view must keep serving; the message says what failed
                self._show_error(exc)
            finally:
                with self._wake:
                    self._busy = False

    def _flush_now(self) -> None:
        with self._wake:
            edits, self._pending = self._pending, {}
        if edits:
            self._update(list(edits.values()))

    def _update(self, edits: list[_Edit]) -> None:
        t0 = min(e.received for e in edits)
        done: list[_Edit] = []
        try:
            for e in edits:
                e.apply()
                done.append(e)
                self.edits_applied += 1
            t_eval = time.perf_counter()
            results = self.sim.evaluate()
            t_eval = time.perf_counter() - t_eval
        except SwbError as exc:
            for e in reversed(done):
                e.revert()
            self._show_error(exc)
            results = self.sim.evaluate()  # the last valid state (nothing pending once reverted)
            self._push(results, [])
            self._sync_camera_panel()
            return
        self._message.content = ""
        self._push(results, edits, t0, t_eval)

    def _push(self, results: Any, edits: list[_Edit], t0: float | None = None, t_eval: float = 0.0) -> None:
        sim = self.sim
        up = sim.last_update
        colouring = col.COLOURINGS[self.state.colouring]
        self._refresh_geometry(up)
        self._labels.batched_colors = col.to_bytes(colouring.colours(results))
        self._legend.content = col.legend_html(colouring, results)
        self._read_rate = self._transit_line()
        self._status.content = self._status_text(results)
        if self.selection:
            self._label_info.content = self.label_table(self.selection[0])
        self.server.flush()
        if t0 is not None:
            total = time.perf_counter() - t0
            self.timings.append(UpdateTiming(total, t_eval, len(edits), up.pairs))
            self._status.content = self._status_text(results)
        self._update_overlays()

    def _refresh_geometry(self, up: Any) -> None:
        """Frusta, labels and the station where the last update moved them (rebuilt when the scene was re-read)."""
        sim = self.sim
        moved = set(up.cameras) if not up.full else set(range(len(sim.scene.cameras)))
        if len(self._frusta) != len(sim.scene.cameras):  # the scene was re-read with other cameras
            self._send_frusta()
        else:
            for i in moved:
                cam = sim.scene.cameras[i]
                self._frusta[i].wxyz = frustum_wxyz(cam.rotation)
                self._frusta[i].position = np.asarray(cam.position, np.float64)
        if len(self._label_pos) != len(sim.scene.targets):
            self._send_labels()
        elif up.targets or up.full:  # labels moved (a parcel carried them)
            rot, self._label_pos = self._label_poses()
            self._labels.batched_wxyzs = np.array([wxyz(r) for r in rot]).reshape(-1, 4)
            self._labels.batched_positions = self._label_pos.astype(np.float32)
        if up.parts or up.full:
            self._send_station()
        if self.active is not None and self._camera(self.active) is not None and any(
                sim.scene.cameras[i].path == self.active for i in moved):
            self._sync_camera_panel()

    def _status_text(self, results: Any) -> str:
        n = len(results.targets)
        dec = int(results.pairs.decodable.any(axis=0).sum()) if n else 0
        lines = [f"**coverage {100 * results.coverage():.2f} %** ({dec} of {n} labels decodable by a camera)"]
        if self._read_rate:
            lines.append(self._read_rate)
        if self.timings:
            last = self.timings[-1]
            lines.append(f"last update {1e3 * last.total:.0f} ms ({last.pairs} pairs evaluated)")
        return "  \n".join(lines)

    def _transit_line(self) -> str:
        """The station's transit read rate for the panel, recomputed with every update on stations small enough to
        follow live (a big one says where to get it); empty when no label moves."""
        sim = self.sim
        moving = int((label_speeds(sim.scene.targets) > 0.0).sum())
        if not moving:
            return ""
        if len(sim.scene.cameras) * moving > LIVE_TRANSIT_PAIRS:
            return "read rate: too many moving labels to follow live (`swb eval` reports it)"
        tr = evaluate_transits(sim.world)
        return (f"**transit read rate {100 * tr.station_read_rate():.2f} %** ({moving} moving labels, a camera's "
                "frames as one look)")

    def _show_error(self, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, SwbError) else f"{type(exc).__name__}: {exc}"
        self.log(f"error: {text}")
        self._message.content = f'<span style="color:#c0392b">**not applied:** {text}</span>'

    # ------------------------------------------------------------------------------------------ overlays
    def _update_overlays(self) -> None:
        from ..viz import modes

        for name in OVERLAYS:
            node = self._overlay_nodes.pop(name, None)
            if node is not None:
                node.remove()
        if not self.state.overlays:
            return
        try:
            for name in self.state.overlays:
                pts, rgb = self._overlay(modes, name)
                if pts is None:
                    continue
                size = 0.012 if name != "projection" else 0.008
                self._overlay_nodes[name] = self.server.scene.add_point_cloud(
                    f"/overlays/{name}", pts.astype(np.float32), (np.asarray(rgb) * 255).astype(np.uint8),
                    point_size=size, point_shape="circle")
        except SwbError as exc:
            self._show_error(exc)

    def _overlay(self, modes: Any, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        sim = self.sim
        if name == "projection":
            if self.active is None:
                return None, None
            res = modes.projection(sim, self.active, record=False)
            hit = res.hit
            return res.points[hit] + 2e-3 * res.normals[hit], score_colours(res.score[hit], res.decodable[hit])
        if not self.selection:
            self._overlay_note.content = "select a label for the sphere and plane overlays"
            return None, None
        tgt = next(t for t in sim.scene.targets if t.path == self.selection[0])
        where = self.axes.point_to_stage(tgt.position)
        if name == "sphere":
            res = modes.sphere(sim, where, radius=0.12 / sim.scene.meters_per_unit, resolution=48, rotations=4,
                               record=False)
            pts = res.point + 0.12 * res.normals.reshape(-1, 3)
            return pts, score_colours(res.score.reshape(-1), res.decodable_fraction.reshape(-1) > 0)
        up = self.axes.rotation.T @ np.array([0.0, 0.0, 1.0])
        lo, hi = self._bounds()
        extent = [float(hi[0] - lo[0]) / sim.scene.meters_per_unit, float(hi[1] - lo[1]) / sim.scene.meters_per_unit]
        centre = self.axes.point_to_stage([0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), tgt.position[2]])
        res = modes.plane(sim, centre, up, extent, (64, 48), record=False)
        return res.points.reshape(-1, 3), score_colours(res.score.reshape(-1), res.decodable.reshape(-1))

    # ------------------------------------------------------------------------------------------ sweeps
    def _load_sweep(self) -> None:
        try:
            with self.lock:
                self._sweep = load_sweep(self.sim, str(self._sweep_pick.value), self._base_scene())
        except SwbError as exc:
            self._show_error(exc)
            return
        labels = tuple(self._sweep.label(k) for k in range(min(len(self._sweep.order), 50)))
        self._config_pick.options = labels or ("-",)

    def _config_rank(self) -> int:
        options = list(self._config_pick.options)
        return options.index(self._config_pick.value) if self._config_pick.value in options else 0

    def _base_scene(self) -> Any:
        """The scene with the cameras as authored before any configuration was picked."""
        scene = self.sim.scene
        if not self._authored:
            return scene
        from dataclasses import replace

        cams = list(scene.cameras)
        for k, c in enumerate(cams):
            if c.path in self._authored:
                rot, pos = self._authored[c.path][0]
                cams[k] = replace(c, rotation=rot, position=pos)
        return replace(scene, cameras=cams)

    def _remember_authored(self, paths: list[str]) -> None:
        if self._authored is None:
            self._authored = {}
        for p in paths:
            if p in self._authored:
                continue
            cam = self._camera(p)
            assert cam is not None
            names = ("focalLength", "fStop", "focusDistance", "exposure:time", "horizontalAperture",
                     "verticalAperture", "swb:sensor:resolution", "swb:sensor:decoderProfile")
            self._authored[p] = ((np.asarray(cam.rotation), np.asarray(cam.position)),
                                 {n: self.sim.get_attribute(p, n) for n in names})

    def _on_save(self) -> None:
        try:
            root = self.save(str(self._save_name.value))
        except SwbError as exc:
            self._show_error(exc)
            self._save_info.content = f"not saved: {exc}"
            return
        self.log(f"saved {root}")
        self._save_info.content = f"saved {root.name} (+ its layers) in {root.parent}"


def _colouring_of(mode: str) -> str:
    return mode if mode in col.COLOURINGS else "score"


def _rgb8(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    return tuple(int(round(255 * x)) for x in rgb)  # type: ignore[return-value]


def _from_page(event: Any) -> bool:
    """A change made in a browser (not one the server set): only those are edits."""
    return getattr(event, "client", None) is not None


def _same_pose(pos: np.ndarray, q: np.ndarray, p0: np.ndarray, q0: np.ndarray) -> bool:
    """Equal within what a float32 round trip through the browser changes (q and -q are one rotation)."""
    scale = max(1.0, float(np.abs(p0).max()))
    return bool(np.abs(pos - p0).max() <= _POSE_TOLERANCE * scale
                and min(np.abs(q - q0).max(), np.abs(q + q0).max()) <= _POSE_TOLERANCE)
