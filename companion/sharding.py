"""Sharded studies: a study's configurations computed on a Dask cluster (``distributed``).

:func:`companion.study.run_study` with ``client=`` calls :func:`run_on_cluster`. Each configuration
without a reusable record becomes one Dask task running :func:`companion.study.computed` on a
worker; the *client* writes each record atomically as its task finishes (in completion order), so
workers need no shared disk and a record is written once. Dask itself reschedules the tasks of a
worker that dies (up to ``distributed.scheduler.allowed-failures`` times, default 3); ``retries``
covers a configuration that raises. Resuming is :func:`~companion.study.run_study`'s: records on the
client's disk are reused before anything is submitted.

Any cluster works: ``distributed.LocalCluster`` on one machine, ``dask_jobqueue.SLURMCluster`` or
``PBSCluster`` on a batch system (book page *Running the stability study on a cluster*), or a
scheduler started by hand (``python -m companion study ... --scheduler ADDRESS``). Every worker must
run the same checkout as the client: each task returns its worker's code fingerprint and the client
refuses a record computed by other code.

Importing this module needs ``distributed``; the serial path of :mod:`companion.study` never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from distributed import as_completed

from companion.study import computed

__all__ = ["run_on_cluster"]


def run_on_cluster(client, compute: Callable[[Mapping], Mapping], todo: list[tuple], roots: list[str],
                   store: Callable, *, retries: int = 2, deadline: float | None = None,
                   progress=None) -> None:
    """Compute the ``todo`` items ``(key, config, fingerprint, path)`` on ``client``'s workers.

    ``store(item, record, data, code, seconds)`` is called in this process for each finished item, in
    completion order. ``roots``: code roots whose fingerprint each worker reports. Earlier items
    get higher priority. At ``deadline`` (:func:`time.monotonic` time) the unfinished tasks are
    cancelled and this returns; so does it after every item is stored. A task that still raises
    after ``retries`` retries raises here (the records stored so far are kept) after cancelling
    the rest. ``progress``: a tqdm bar updated per stored item.
    """
    futures = {client.submit(computed, compute, item[1], roots, retries=retries, pure=False,
                             priority=len(todo) - i, key=f"study-{item[0]}-{time.time_ns()}"): item
               for i, item in enumerate(todo)}
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        for future in as_completed(futures, timeout=timeout):
            store(futures[future], *future.result())
            if progress is not None:
                progress.update()
    except TimeoutError:
        pass  # the deadline: run_study reports what is left
    finally:
        client.cancel([f for f in futures if not f.done()])
