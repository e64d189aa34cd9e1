"""Sync wrappers over the async API, for CPython scripts and the CLI.

The engine is async at its edges (a GPU readback in the browser can only be awaited), so the
public API is async; these two functions give plain Python a blocking view of it. They refuse
to run inside an event loop (a notebook, Pyodide), where the async API is the one to use.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterator

from .errors import WebinferError

_IN_LOOP = ("an event loop is already running here (notebook / Pyodide): use the async API "
            "(`await model.acomplete(...)`, `async for delta in model.generate(...)`)")


def _no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise WebinferError(_IN_LOOP)


def run_sync(coro):
    """Run a coroutine to completion and return its result."""
    try:
        _no_running_loop()
    except WebinferError:
        coro.close()
        raise
    return asyncio.run(coro)


def iterate_sync(agen: AsyncIterator) -> Iterator:
    """Yield the items of an async iterator; closing this generator closes it (a cancel)."""
    _no_running_loop()
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        if hasattr(agen, "aclose"):
            loop.run_until_complete(agen.aclose())
        loop.close()
