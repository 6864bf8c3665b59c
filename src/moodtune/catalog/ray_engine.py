"""Library analysis on Ray (``moodtune library add PATH --engine ray``): the same per-file
analysis as the process pool, run by Ray actors on one machine or a cluster.

Only the analysis moves: tags, decoding, the audio CNN and the DSP run in the actors (each
loads the audio model once), while this process writes every result in its own transaction
as it arrives, so an import on Ray resumes after a kill exactly as a local one does. Every
node must see the files under the same path (a shared mount), and have moodtune installed.
"""

import logging
import socket
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodtune.errors import InvalidInput, MoodtuneError

if TYPE_CHECKING:
    from moodtune.catalog.library import _Done, _Job

__all__ = ["run_on_ray"]

log = logging.getLogger(__name__)


class _Failed:
    """A file the analysis refused (bad audio): its message travels back as a value, so it
    reads the same as from the process pool."""

    def __init__(self, message: str) -> None:
        self.message = message


class _Analyser:
    """One per Ray worker: loads the audio model once, then analyses file after file."""

    def __init__(self, model_path: str) -> None:
        from moodtune.catalog import library

        library._init_worker(Path(model_path))

    def analyse(self, job: "_Job") -> "_Done | _Failed":
        from moodtune.catalog import library

        try:
            return library._analyse(job)
        except MoodtuneError as exc:
            return _Failed(exc.message)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInput(
            "--engine ray needs Ray: pip install 'moodtune[ray]'", engine="ray"
        ) from None
    return ray


def _connect(ray: Any, address: str | None, workers: int) -> bool:
    """Join the cluster at ``address``, or start a local Ray with ``workers`` CPUs; True when
    this call started it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        options["num_cpus"] = workers
    else:
        _probe(address)
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        raise InvalidInput(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    return True


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a cluster address nobody answers at: ``ray.init`` retries for minutes.
    ``auto`` (the cluster this machine belongs to) is left to Ray, which answers at once."""
    host_port = address.removeprefix("ray://")
    if address == "auto" or ":" not in host_port:
        return
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot reach the Ray cluster at {address}: {exc}") from exc


def _result(ray: Any, ref: Any) -> "_Done":
    outcome = ray.get(ref)
    if isinstance(outcome, _Failed):
        raise MoodtuneError(outcome.message)
    return outcome  # type: ignore[no-any-return]


def run_on_ray(
    jobs: "list[_Job]",
    model_path: Path,
    finish: "Callable[[_Job, Callable[[], _Done]], None]",
    *,
    address: str | None = None,
    workers: int = 1,
) -> None:
    """Analyse ``jobs`` on Ray actors, calling ``finish`` as each result arrives (any order).
    ``workers`` actors (one CPU each) on a local Ray; on a cluster, one per CPU it has. At
    most two files per actor are in flight, so a kill abandons little work."""
    ray = _import_ray()
    started_here = _connect(ray, address, workers)
    try:
        if address is not None:
            workers = max(1, int(ray.cluster_resources().get("CPU", workers)))
        actor = ray.remote(num_cpus=1)(_Analyser)
        actors = [actor.remote(str(model_path)) for _ in range(min(workers, len(jobs)))]
        pending: dict[Any, tuple[_Job, Any]] = {}
        queue, idle = iter(jobs), [a for a in actors for _ in range(2)]
        while True:
            while idle and (job := next(queue, None)) is not None:
                analyser = idle.pop()
                pending[analyser.analyse.remote(job)] = (job, analyser)
            if not pending:
                break
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            job, analyser = pending.pop(ready)
            idle.append(analyser)
            finish(job, partial(_result, ray, ready))
    finally:
        if started_here:
            ray.shutdown()
