"""A Ray cluster SWB runs chunks on: connecting (or starting a local one), one worker actor per GPU or per node's
cores, and the loop that keeps every worker busy, merges results by chunk index, retries the chunks of a worker
that died, and turns every failure into one clear line.

Workers are Ray actors (``worker.Worker``): separate processes Ray spawns, each with one device and its own Warp
kernel cache. A worker whose process dies is restarted by Ray (``max_restarts``); its chunks in flight go back to
the queue and run again (on any worker): chunks are pure functions of the stage and their index range, so a retry
gives the same numbers. The results are merged by chunk index, never by arrival order.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SwbError
from ..sweep.run import interrupt_requested
from .address import ClusterAddress, check_reachable, parse_cluster
from .worker import Worker, WorkerInfo

Log = Callable[[str], None]
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray binds a node to 127.0.0.1 (its single-machine mode)
LOCAL_OBJECT_STORE = 512 * 2**20  # bytes; a local cluster moves chunk results and, at most, one shipped stage
IN_FLIGHT = 2  # chunks queued per worker, so it never waits for the driver between chunks
PROBE_EVERY = 0.5  # seconds between checks of a restarting worker
FREE_WAIT = 10.0  # seconds to wait for resources that workers stopped a moment ago give back


@dataclass(frozen=True)
class _Slot:
    """Where one worker goes and what it reserves."""

    node: str | None  # Ray node id it is pinned to (None: anywhere, spread)
    num_cpus: float
    num_gpus: float
    threads: int
    device: str


@dataclass
class _Member:
    """A worker and what the scheduling loop knows of it."""

    actor: Any
    slot: _Slot
    slot_index: int = 0
    info: WorkerInfo | None = None
    state: str = "ok"  # ok | recovering | dead
    busy: int = 0
    probe: Any = None
    probe_at: float = 0.0


def _ray():  # noqa: ANN202
    try:
        import ray
    except ImportError:
        raise SwbError("running on a cluster needs Ray", hint="pip install 'swb[cluster]'") from None
    return ray


class Cluster:
    """Ray workers for sweeps and designs. ``Cluster("ray")`` starts a local cluster on first use and stops it on
    ``close()``; ``Cluster("ray://HOST:PORT")`` or ``Cluster("ray://auto")`` joins a running one and leaves it
    running. Use as a context manager, or pass a ``--cluster`` string to ``sim.sweep``/``sim.optimize`` for a
    cluster that lives for one call.

    ``workers``: how many (default: one per GPU when the cluster has GPUs, else one per node using all its cores).
    ``device``: "cuda" (one GPU per worker; SwbError when the cluster has too few), "cpu", or None (GPUs when the
    cluster has any). ``ship``: send the stage to the workers as a USDZ package instead of reading it at the same
    path on every node. ``timeout``: seconds without any finished chunk before the run is given up;
    ``setup_timeout``: for workers to start and open the stage. ``num_cpus``: CPUs of a local cluster (default:
    this machine's). ``runtime_env``: Ray's runtime environment for the workers (e.g. env_vars).
    """

    def __init__(self, address: str | ClusterAddress = "ray", *, workers: int | None = None,
                 device: str | None = None, ship: bool = False, num_cpus: int | None = None,
                 timeout: float = 600.0, setup_timeout: float = 600.0, retries: int = 3, max_restarts: int = 3,
                 cache_dir: str | None = None, runtime_env: dict[str, Any] | None = None,
                 log: Log | None = None) -> None:
        self.address = parse_cluster(address) if isinstance(address, str) else address
        if workers is not None and int(workers) < 1:
            raise SwbError(f"a cluster needs at least one worker, got {workers}")
        if device not in (None, "cpu", "cuda"):
            raise SwbError(f"unknown cluster device {device!r}", hint="use cpu or cuda (each worker gets one GPU)")
        if num_cpus is not None and int(num_cpus) < 1:
            raise SwbError(f"a local cluster needs at least one CPU, got {num_cpus}")
        self.workers, self.device, self.ship = workers, device, ship
        self.num_cpus, self.timeout, self.setup_timeout = num_cpus, float(timeout), float(setup_timeout)
        self.retries, self.max_restarts = int(retries), int(max_restarts)
        self.cache_dir, self.runtime_env = cache_dir, runtime_env
        self.log: Log = log or (lambda message: None)
        self._members: list[_Member] = []
        self._owned = False  # this object started the Ray instance (and stops it)
        self._connected = False
        self.retried = 0  # chunks run again after their worker was lost, over this cluster's life
        self.restarts = 0  # workers Ray restarted after their process died
        self.chunks = 0  # chunks finished on the workers
        self.last_run: dict[str, Any] = {}  # timings of the last sweep (prepare_s, chunks_s), for benchmarks
        self.per_worker: dict[int, int] = {}  # chunks each worker finished in the last map

    # ----- life cycle
    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def started(self) -> bool:
        return bool(self._members)

    def start(self) -> Cluster:
        """Connect (or start the local cluster) and start the workers; idempotent."""
        if self._members:
            return self
        if self.address.kind == "client":
            _client_token()  # read by Ray when it is imported
        ray = _ray()
        if not self._connected:
            self._connect(ray)
        try:
            slots = self._plan(ray)
            self._check_free(ray, slots)
            self._spawn(ray, slots)
        except BaseException:
            self.close()
            raise
        return self

    def _check_free(self, ray: Any, slots: list[_Slot]) -> None:
        """Workers would wait forever for resources other work holds: say so instead (after a few seconds, for
        workers stopped a moment ago to hand theirs back)."""
        need = {"CPU": sum(s.num_cpus for s in slots), "GPU": sum(s.num_gpus for s in slots)}
        t0 = time.monotonic()
        while True:
            free = ray.available_resources()
            short = [(k, n, float(free.get(k, 0.0))) for k, n in need.items() if n > float(free.get(k, 0.0)) + 1e-9]
            if not short or time.monotonic() - t0 > FREE_WAIT:
                break
            time.sleep(PROBE_EVERY)
        for key, want, have in short:
            raise SwbError(f"the workers need {want:g} {key}s but only {have:g} are free on "
                           f"{self.address.describe()} (other work holds the rest)",
                           hint="wait for it to finish, or use fewer --workers")

    def _connect(self, ray: Any) -> None:
        addr = self.address
        check_reachable(addr)
        if ray.is_initialized():
            self.log("cluster: using the Ray connection this process already has")
            self._connected = True
            return
        common = dict(logging_level=logging.ERROR, log_to_driver=False)
        try:
            if addr.kind == "local":
                with _loopback(ray):
                    cpus = self.num_cpus or max(os.cpu_count() or 1, self.workers or 1)
                    ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                             object_store_memory=LOCAL_OBJECT_STORE, **common)
                self._owned = True
            else:
                ray.init(address=addr.ray_address, **common)
        except SwbError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, grpc errors...
            raise SwbError(f"cannot connect to {addr.describe()} ({addr.text}): {_first_line(exc)}",
                           hint="on a cluster node use ray://auto after `ray start`; from elsewhere "
                           "ray://HEAD:10001 (the head's Ray client server)") from None
        self._connected = True
        _notices_to_stderr(ray)
        self.log(f"cluster: connected to {addr.describe()}")

    def _plan(self, ray: Any) -> list[_Slot]:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = sum(float(n["Resources"].get("CPU", 0.0)) for n in nodes)
        gpus = sum(float(n["Resources"].get("GPU", 0.0)) for n in nodes)
        have = f"{cpus:g} CPUs and {gpus:g} GPUs on {len(nodes)} node{'' if len(nodes) == 1 else 's'}"
        if self.device == "cuda" or (self.device is None and gpus >= 1):
            if gpus < 1:
                raise SwbError(f"{self.address.describe()} has no GPUs ({have}); the workers were asked for one "
                               "each", hint="run on its CPUs (--cluster-device cpu), or add GPU nodes "
                               "(`ray start --num-gpus N`)")
            n = int(self.workers or math.floor(gpus))
            if n > gpus:
                raise SwbError(f"{n} GPU workers need {n} GPUs; {self.address.describe()} has {have}",
                               hint=f"use --workers {int(gpus)} or fewer, or add GPU nodes")
            threads = max(1, int(cpus // max(gpus, 1)))
            return [_Slot(None, 1.0 if cpus >= n else 0.0, 1.0, threads, "cuda") for _ in range(n)]
        if cpus < 1:
            raise SwbError(f"{self.address.describe()} has no CPUs to run workers on ({have})")
        if self.workers:
            n = int(self.workers)
            if n > cpus:
                raise SwbError(f"{n} CPU workers need {n} CPUs; {self.address.describe()} has {have}",
                               hint=f"use --workers {int(cpus)} or fewer")
            share = max(1, int(cpus // n))
            return [_Slot(None, float(share), 0.0, share, "cpu") for _ in range(n)]
        out = []
        for node in nodes:
            c = int(float(node["Resources"].get("CPU", 0.0)))
            if c >= 1:
                out.append(_Slot(node["NodeID"], float(c), 0.0, c, "cpu"))
        return out

    def _spawn(self, ray: Any, slots: list[_Slot]) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(Worker)
        members = []
        for k, slot in enumerate(slots):
            options: dict[str, Any] = dict(num_cpus=slot.num_cpus, num_gpus=slot.num_gpus,
                                           max_restarts=self.max_restarts, max_task_retries=0)
            options["scheduling_strategy"] = (NodeAffinitySchedulingStrategy(slot.node, soft=False)
                                              if slot.node else "SPREAD")
            if self.runtime_env:
                options["runtime_env"] = self.runtime_env
            actor = remote.options(**options).remote(k, slot.device, slot.threads, self.cache_dir)
            members.append(_Member(actor, slot, k))
        self._members = members
        try:
            infos = self._gather(lambda m: m.actor.info.remote(), self.setup_timeout, "start")
        except BaseException:
            self._kill()
            raise
        for m, info in zip(members, infos, strict=True):
            m.info = info
        hosts = sorted({i.host for i in infos})
        kind = slots[0].device
        each = "one GPU each" if kind == "cuda" else f"{slots[0].threads} thread{'s' if slots[0].threads > 1 else ''}"
        self.log(f"cluster: {len(members)} worker{'s' if len(members) > 1 else ''} ({kind}, {each}) on "
                 f"{len(hosts)} node{'s' if len(hosts) > 1 else ''}: {', '.join(hosts)}")

    def close(self) -> None:
        """Stop the workers, and the Ray instance when this object started it."""
        self._kill()
        if self._owned:
            ray = _ray()
            ray.shutdown()
            self._owned = False
            self._connected = False

    def _kill(self) -> None:
        if not self._members:
            return
        ray = _ray()
        for m in self._members:
            try:
                ray.kill(m.actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._members = []

    # ----- what callers see
    @property
    def infos(self) -> list[WorkerInfo]:
        return [m.info for m in self._members if m.info is not None]

    @property
    def n_workers(self) -> int:
        return sum(1 for m in self._members if m.state != "dead")

    def describe(self) -> str:
        if not self._members:
            return f"{self.address.describe()} (not started)"
        kind = self._members[0].slot.device
        n = len(self._members)
        hosts = len({m.info.host for m in self._members if m.info is not None})
        return (f"{n} {kind} worker{'s' if n > 1 else ''} on {hosts} node{'s' if hosts > 1 else ''} of "
                f"{self.address.describe()}")

    def cpu_seconds(self) -> float:
        """CPU time all live workers have used so far (benchmarks: work done, whatever else loads the machine)."""
        self.start()
        return float(sum(self._gather(lambda m: m.actor.cpu_seconds.remote(), self.setup_timeout, "answer")))

    def put(self, value: Any) -> Any:
        """Place a large value (a shipped stage) in the cluster's object store once; a handle for jobs."""
        self.start()
        return _ray().put(value)

    # ----- running
    def prepare(self, job: Any) -> list[dict[str, Any]]:
        """Every worker opens the job's stage and checks its inputs; their chunk sizes. Errors name the worker."""
        self.start()
        ray = _ray()
        ref = ray.put(job)
        members = [m for m in self._members if m.state != "dead"]
        done = self._gather(lambda m: m.actor.prepare.remote(ref), self.setup_timeout, "prepare")
        for m, d in zip(members, done, strict=True):
            self._saw(m, d["info"])
        return done

    def _saw(self, member: _Member, info: WorkerInfo) -> None:
        """Note a worker's identity; a new process id means Ray restarted it."""
        if member.info is not None and info.pid != member.info.pid:
            self.restarts += 1
            self.log(f"cluster: {info.where()} is back (restarted)")
        member.info = info

    def map(self, job: Any, items: Sequence[Any], on_result: Callable[[int, Any], None]) -> None:
        """Run ``job`` on every item; ``on_result(index, value)`` for each as it arrives (any order). A worker that
        dies costs a retry of its chunks; Ctrl-C stops the workers and raises KeyboardInterrupt."""
        self.start()
        ray = _ray()
        job_ref = ray.put(job)
        self.per_worker = {}
        pending: deque[int] = deque(range(len(items)))
        attempts = [0] * len(items)
        inflight: dict[Any, tuple[int, _Member]] = {}
        last = time.monotonic()
        try:
            while pending or inflight:
                if interrupt_requested():  # Ctrl-C under a command that holds it (swb.sweep.run.stop_on_interrupt)
                    raise KeyboardInterrupt
                self._fill(job_ref, items, pending, inflight)
                self._poll_probes(ray)
                live = [m for m in self._members if m.state != "dead"]
                if not live:
                    raise SwbError(f"all {len(self._members)} workers were lost",
                                   hint="see the Ray logs of the nodes (/tmp/ray/session_latest/logs)")
                refs = list(inflight)
                if not refs:
                    time.sleep(PROBE_EVERY / 5)
                else:
                    ready, _ = ray.wait(refs, num_returns=1, timeout=PROBE_EVERY)
                    for ref in ready:
                        index, member = inflight.pop(ref)
                        member.busy -= 1
                        try:
                            value = ray.get(ref)
                        except ray.exceptions.RayActorError as exc:
                            self._lost(member, exc)
                            attempts[index] += 1
                            if attempts[index] > self.retries:
                                raise SwbError(f"a chunk failed {attempts[index]} times as its workers were "
                                               f"lost; last: {_first_line(exc)}",
                                               hint="see the Ray logs of the nodes") from None
                            pending.appendleft(index)
                            self.retried += 1
                            continue
                        except ray.exceptions.RayTaskError as exc:
                            raise _task_error(exc, member) from None
                        last = time.monotonic()
                        self.chunks += 1
                        self.per_worker[member.slot_index] = self.per_worker.get(member.slot_index, 0) + 1
                        on_result(index, value)
                if (pending or inflight) and time.monotonic() - last > self.timeout:
                    raise SwbError(f"no chunk finished in {self.timeout:g} s on {self.describe()}",
                                   hint="the cluster may be overloaded or hung; a larger --cluster-timeout waits "
                                   "longer")
        except KeyboardInterrupt:
            self._kill()  # stop the work now; a later run starts fresh workers
            raise

    def _fill(self, job_ref: Any, items: Sequence[Any], pending: deque[int],
              inflight: dict[Any, tuple[int, _Member]]) -> None:
        while pending:
            ready = [m for m in self._members if m.state == "ok" and m.busy < IN_FLIGHT]
            if not ready:
                return
            member = min(ready, key=lambda m: m.busy)
            index = pending.popleft()
            inflight[member.actor.run.remote(job_ref, items[index])] = (index, member)
            member.busy += 1

    def _lost(self, member: _Member, exc: Exception) -> None:
        ray = _ray()
        if isinstance(exc, ray.exceptions.ActorDiedError) and "creation task" in str(exc):
            raise _start_error(exc, member) from None
        if member.state == "ok":
            who = member.info.where() if member.info else "a worker"
            self.log(f"cluster: lost {who} ({_first_line(exc)[:120]}); its chunks run again")
            member.state, member.probe, member.probe_at = "recovering", None, time.monotonic() + PROBE_EVERY

    def _poll_probes(self, ray: Any) -> None:
        now = time.monotonic()
        for m in self._members:
            if m.state != "recovering":
                continue
            if m.probe is None:
                if now >= m.probe_at:
                    m.probe = m.actor.info.remote()
                continue
            done, _ = ray.wait([m.probe], timeout=0)
            if not done:
                continue
            try:
                self._saw(m, ray.get(m.probe))
                m.state, m.probe = "ok", None
            except ray.exceptions.ActorDiedError:
                m.state = "dead"
                self.log(f"cluster: {_where(m)} is gone for good")
            except ray.exceptions.RayActorError:
                m.probe, m.probe_at = None, now + PROBE_EVERY
            except ray.exceptions.RayTaskError as exc:
                raise _task_error(exc, m) from None

    def _gather(self, call: Callable[[_Member], Any], timeout: float, what: str) -> list[Any]:
        """``call(member)`` (a remote call) on every live worker, waiting for all; the first failure as SwbError. A
        worker Ray is restarting is asked again until it is back (or the timeout)."""
        ray = _ray()
        t0 = time.monotonic()
        members = [m for m in self._members if m.state != "dead"]
        refs = {call(m): k for k, m in enumerate(members)}
        out: list[Any] = [None] * len(members)
        try:
            while refs:
                left = timeout - (time.monotonic() - t0)
                if left <= 0:
                    raise SwbError(
                        f"{len(refs)} of {len(members)} workers did not {what} within {timeout:g} s on "
                        f"{self.describe()}", hint="the cluster may lack free CPUs or GPUs for them (see `ray "
                        "status`), or the stage takes longer to open (--cluster-timeout)")
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=min(left, 1.0))
                for ref in ready:
                    k = refs.pop(ref)
                    member = members[k]
                    try:
                        out[k] = ray.get(ref)
                        member.state = "ok"
                    except ray.exceptions.ActorUnavailableError:
                        time.sleep(PROBE_EVERY)  # restarting after its process died: ask again
                        refs[call(member)] = k
                    except ray.exceptions.RayActorError as exc:
                        raise _start_error(exc, member) from None
                    except ray.exceptions.RayTaskError as exc:
                        raise _task_error(exc, member) from None
        except KeyboardInterrupt:
            self._kill()
            raise
        return out


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def _where(member: _Member) -> str:
    return member.info.where() if member.info else f"a worker ({member.slot.device})"


def _task_error(exc: Any, member: _Member) -> BaseException:
    """A worker's exception as one line: its SwbError as it is (it names the worker), anything else by type. A
    terminal's Ctrl-C reaches the workers too: their KeyboardInterrupt is the driver's."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, KeyboardInterrupt):
        return KeyboardInterrupt()
    if isinstance(cause, SwbError):
        return SwbError(str(cause))
    if cause is None:
        return SwbError(f"{_where(member)} failed: {_first_line(exc)}")
    return SwbError(f"{_where(member)} failed: {type(cause).__name__}: {_first_line(cause)}",
                    hint="see that node's Ray worker log (/tmp/ray/session_latest/logs)")


def _start_error(exc: Exception, member: _Member) -> SwbError:
    """A worker that could not start: most often SWB is missing from that node's Python environment."""
    text = str(exc)
    missing = None
    marker = "No module named "
    if marker in text:
        missing = text[text.index(marker) + len(marker):].split()[0].strip("'\"")
    if missing is not None or "failed to import" in text:
        what = f"No module named {missing!r}" if missing else "its class failed to import"
        return SwbError(f"{_where(member)} cannot import SWB ({what})",
                        hint="install the same SWB (pip install 'swb[cluster]') in the Python environment that "
                        "Ray uses on every node")
    return SwbError(f"{_where(member)} could not start: {_first_line(exc)}",
                    hint="see that node's Ray logs (/tmp/ray/session_latest/logs)")


def _client_token() -> None:
    """Ray clusters started with `ray start` require a token (Ray >= 2.5x): a Ray client sends it only in token mode,
    so turn that on when this machine has one (``$RAY_AUTH_TOKEN``, or ~/.ray/auth_token as `ray start` writes it on
    the head; copy it from there) and the user chose no mode."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").exists():
        os.environ["RAY_AUTH_MODE"] = "token"


def _notices_to_stderr(ray: Any) -> None:
    """Ray prints its notices to the driver (such as "(raylet) A worker died ...") on stdout, where `swb ... --json`
    writes its document: send them to stderr. Worker logs are not forwarded at all (log_to_driver=False)."""
    module = getattr(getattr(ray, "_private", None), "worker", None)
    original = getattr(module, "print_to_stdstream", None)
    if original is None or getattr(original, "swb_stderr", False):
        return

    def to_stderr(data: dict, *args: Any, **kwargs: Any) -> Any:
        return original({**data, "is_err": True}, *args, **kwargs)

    to_stderr.swb_stderr = True  # type: ignore[attr-defined]
    module.print_to_stdstream = to_stderr


@contextmanager
def _loopback(ray: Any) -> Iterator[None]:
    """Start Ray in its single-machine mode, every server on 127.0.0.1 (children inherit the environment)."""
    old = os.environ.get(LOOPBACK_ENV)
    os.environ[LOOPBACK_ENV] = "0"
    consts = getattr(getattr(ray, "_private", None), "ray_constants", None)
    had = getattr(consts, "ENABLE_RAY_CLUSTER", None)
    if consts is not None and had is not None:
        consts.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = old
        if consts is not None and had is not None:
            consts.ENABLE_RAY_CLUSTER = had


@contextmanager
def using(cluster: str | Cluster, log: Log | None = None) -> Iterator[Cluster]:
    """A started cluster: a ``Cluster`` as it is (left running), or one made from a ``--cluster`` string for the
    duration of the block (its local Ray instance stopped after)."""
    if isinstance(cluster, Cluster):
        yield cluster.start()
        return
    own = Cluster(cluster, log=log)
    try:
        yield own.start()
    finally:
        own.close()
