"""Work ahead of the consumer on threads: :func:`read_ahead` (one item ahead, one thread)
and :func:`in_order` (several threads, results in the items' order).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["in_order", "read_ahead"]


def in_order(fn, items, workers: int, ahead: int) -> Iterator:
    """``fn(item)`` for each item, computed by ``workers`` threads up to ``ahead`` items
    ahead of the caller, yielded in the items' order (a worker's error is raised at its
    item); closing the generator cancels what has not started and waits for the rest."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    items = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="gradfit-csv")
    pending: deque = deque()
    end = object()

    def submit_next() -> None:
        item = next(items, end)
        if item is not end:
            pending.append(pool.submit(fn, item))

    try:
        for _ in range(ahead):
            submit_next()
        while pending:
            result = pending.popleft().result()
            submit_next()
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_ahead(parts: Iterator[tuple]) -> Iterator[tuple]:
    """``parts`` produced one item ahead by a thread (pyarrow and pandas parse, and file
    reads copy, without the GIL, so reading the next part overlaps with the caller's work
    on this one).  Errors are raised here, in order; closing this generator stops the
    thread."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in parts:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            put((done, exc))
            return
        finally:
            if stop.is_set():
                parts.close()
        put((done, None))

    thread = threading.Thread(target=work, name="gradfit-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()
