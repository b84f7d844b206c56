"""Render and emit cluster by cluster, on every core, in bounded memory.

The validated model (every cluster's spec: what the cross-cluster checks need) stays in memory;
the rendered objects and their text exist for a few clusters at a time only.  With more than one
core and enough clusters, forked worker processes render and emit chunks of clusters while the
caller consumes (writes, compares or prints) the chunks already done, in order; at most a few
chunks are in flight, so memory does not grow with the repo.  The output is the same bytes as
rendering in one process (each cluster's text depends only on the model).

``KDRENDER_JOBS`` (1-64) sets the number of worker processes; 1 renders in this process.
"""

from __future__ import annotations

import gc
import os

from .emit import cluster_files, json_lines

CHUNK = 16  # clusters per task
MIN_PARALLEL = 64  # fewer clusters than this are rendered in this process (a fork costs more)
# tasks after which a worker is replaced by a fresh fork: what a worker touches of the parent's
# pages becomes its own copy, and Python keeps what it freed, so a long-lived worker grows
RECYCLE = 64

_STATE: dict = {}


class Bundle(list):
    """One cluster's ``(golden/-relative path, text)`` pairs, one per object, then the kustomization;
    ``source`` is its cluster file and the other files its bundle read (its app's, and those of the
    clusters it connects to and of their apps), for kdrender.record (kdrender/incremental.py)."""

    source: tuple = ("", ())


def _source(rc) -> tuple:
    deps = {rc.cluster.app.file}
    for other in rc.connected.values():
        deps |= {other.cluster.file, other.cluster.app.file}
    deps.discard(rc.cluster.file)
    return rc.cluster.file, tuple(sorted(deps))


def _emit(kind: str, rc, objects: list):
    """A cluster's output, and the text of each of its objects (for the size checks)."""
    if kind == "files":
        files = Bundle(cluster_files(rc.cluster.namespace, rc.cluster.name, objects))
        files.source = _source(rc)
        return files, [text for _, text in files[:len(objects)]]
    # generate: the JSON stream and the (apiVersion, kind) pairs it holds
    lines = json_lines(objects)
    return ("".join(lines), {(o.get("apiVersion"), o.get("kind")) for o in objects}), lines


class ChunkFile:
    """The JSON stream of a chunk of clusters, written to a file by a render worker: the parent
    sends it on without reading it into memory (kdrender/generate.py), which leaves both cores to
    the workers.  ``size`` is in bytes (UTF-8)."""

    def __init__(self, path: str, size: int):
        self.path, self.size = path, size


def _chunk(kind: str, start: int, stop: int) -> list:
    """``(emitted, problems)`` of each cluster of the slice (nothing emitted when there are problems).

    A worker of a parallel ``json`` run given a folder (``rendered(..., folder=)``) writes the
    chunk's stream there and returns one ``(ChunkFile, kinds)`` for the whole chunk."""
    from .pipeline import rendered_clusters

    done = [(emitted, problems) for _, emitted, problems in
            rendered_clusters(_STATE["model"], None, start, stop, emit=lambda rc, objects: _emit(kind, rc, objects))]
    folder = _STATE.get("folder")  # set for parallel json runs only, so only workers see it
    if folder is None or any(p for _, p in done):
        return done
    data = "".join(text for (text, _), _ in done).encode("utf-8")
    path = os.path.join(folder, f"chunk-{start:09d}.json")
    with open(path, "xb") as fh:
        fh.write(data)
    kinds = set().union(*(found for (_, found), _ in done))
    return [((ChunkFile(path, len(data)), kinds), [])]


def jobs(environ=os.environ) -> int:
    raw = environ.get("KDRENDER_JOBS", "")
    if raw.isdigit() and 1 <= int(raw) <= 64:
        return int(raw)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def rendered(model, kind: str, workers: int | None = None, folder=None):
    """Yield ``_emit(kind, ...)`` of every cluster of the model, in the model's order.

    With ``folder`` (a function that makes a private temporary folder, or returns None), a ``json``
    run that uses worker processes yields ``(ChunkFile, kinds)`` items, one per chunk of clusters
    written into that folder, instead of the text of each cluster.

    Problems found on rendered objects are collected and raised together (UserError) after the
    last cluster, so a consumer writes nothing it keeps (build's staging folder is dropped,
    generate's spool is not sent).
    """
    from .problems import UserError

    count = len(model.clusters)
    workers = jobs() if workers is None else workers
    _STATE.update(model=model, folder=None)
    problems: list = []
    try:
        if workers < 2 or count < MIN_PARALLEL or not _can_fork():
            chunks = (_chunk(kind, start, start + CHUNK) for start in range(0, count, CHUNK))
        else:  # the model is frozen while the workers run (in_order)
            _STATE["folder"] = folder() if folder is not None and kind == "json" else None  # before the fork
            chunks = _parallel(kind, count, workers)
        for chunk in chunks:
            for emitted, found in chunk:
                problems.extend(found)
                if not problems:
                    yield emitted
    finally:
        _STATE.clear()
    if problems:
        raise UserError(sorted(problems), model)


def _worker_signals() -> None:
    """Workers die quietly when the pool ends them; an interrupt is the parent's to handle."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _parallel(kind: str, count: int, workers: int):
    return in_order(_chunk, [(kind, start, start + CHUNK) for start in range(0, count, CHUNK)], workers)


def in_order(func, tasks: list, workers: int, recycle: int | None = None):
    """``func(*task)`` of each task, computed by ``workers`` forked processes, yielded in order.

    ``func`` and the data it works on must be reachable from module state set before this call
    (the workers are forked).  At most ``2 * workers`` tasks are in flight: bounded memory
    however many tasks there are.  ``recycle``: tasks after which a worker is replaced by a
    fresh fork (see :data:`RECYCLE`; not for work whose caches a worker builds as it goes)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    window = 2 * workers
    # what the workers inherit (the model, the index) lives until the end: frozen, the parent's
    # collector need not scan it again and again, and the workers' collector never touches (so
    # never copies) its pages
    thaw = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        with ctx.Pool(workers, initializer=_worker_signals, maxtasksperchild=recycle) as pool:
            pending = []
            for task in tasks:
                pending.append(pool.apply_async(func, task))
                if len(pending) >= window:
                    yield pending.pop(0).get()
            while pending:
                yield pending.pop(0).get()
    finally:
        if thaw:
            gc.unfreeze()
