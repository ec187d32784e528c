"""The single-run task of an instance: one producer thread, any number of readers.

A second ``run`` of an instance that is already running joins it: it reads
the same results from the start instead of starting the work twice.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any


class RunThread:
    """Items pushed by one thread, followed by any reader; the error re-raised to each."""

    def __init__(self, name: str, target: Callable[[RunThread], None]) -> None:
        self.name = name
        self._target = target
        self._items: Any = []  # a list, or what keep_items_in gave
        self._cond = threading.Condition()
        self.finished = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name=f"btfarm-{name}", daemon=True)

    def start(self) -> RunThread:
        self.thread.start()
        return self

    def _main(self) -> None:
        error = None
        try:
            self._target(self)
        except BaseException as exc:  # handed to every reader and to the exit listeners
            error = exc
        with self._cond:
            self.error = error
            self.finished = True
            self._cond.notify_all()

    @property
    def items(self) -> Any:
        return self._items

    def keep_items_in(self, container: Any) -> None:
        """Keep the pushed items in ``container`` (``append``, ``len``, slices that give
        the items as readers see them), before the first push."""
        with self._cond:
            self._items = container

    def push(self, item: Any) -> None:
        self.push_many((item,))

    def push_many(self, items: Sequence[Any]) -> None:
        """``push`` each of ``items``, waking the readers once."""
        with self._cond:
            for item in items:
                self._items.append(item)
            self._cond.notify_all()

    def follow(self) -> Iterator[Any]:
        """Every item from the first, as it arrives; raises the task's error at the end."""
        index = 0
        while True:
            with self._cond:
                while index >= len(self._items) and not self.finished:
                    self._cond.wait()
                batch = self._items[index:]
                index += len(batch)
                finished = self.finished and index >= len(self._items)
                error = self.error
            yield from batch
            if finished:
                if error is not None:
                    raise error
                return

    def wait(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()


def follow_all(tasks: Sequence[RunThread]) -> Iterator[Any]:
    """The items of every task as they arrive, interleaved; once all have ended, the first
    error any raised (each task runs to its end whatever another does)."""
    arrived: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def pump(task: RunThread) -> None:
        try:
            for item in task.follow():
                arrived.put((True, item))
        except BaseException as exc:  # handed to the reader below, after the others end
            arrived.put((False, exc))
            return
        arrived.put((False, None))

    for task in tasks:
        threading.Thread(
            target=pump, args=(task,), name=f"btfarm-follow-{task.name}", daemon=True
        ).start()
    ended, error = 0, None
    while ended < len(tasks):
        is_item, value = arrived.get()
        if is_item:
            yield value
            continue
        ended += 1
        error = error or value
    if error is not None:
        raise error
