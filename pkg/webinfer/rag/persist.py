"""A store that survives a page reload: the browser's origin private file system (OPFS).

    await webinfer.rag.load_sqlite3()                  # Pyodide ships sqlite3 as a package
    store = await webinfer.rag.open_persistent()        # OPFS folder "webinfer-rag", mounted once
    store.add(...)                                       # each committed change starts a sync
    await webinfer.rag.flush(store)                      # wait until it is written to OPFS

How: Pyodide's `mountNativeFS` maps an OPFS directory onto a folder of its in-memory file
system, reading the files in at mount; SQLite works on that in-memory copy, and the mount's
`syncfs()` writes changed files back. `open_persistent` sets the store's `after_write` hook so
each committed transaction starts a sync, chained after the previous one (never two at once);
`flush` awaits the last. A reload then finds the file in OPFS and mounts it again. A tab closed
mid-sync can lose the last transaction, never the file (OPFS writes replace a file whole).

What it is not: the store (store.py); the FFI itself (ffi.py, the one module importing `js`).
In CPython only `load_sqlite3` works (a no-op); stores on disk need none of this.
"""

from __future__ import annotations

import asyncio
import os

from .store import Store

MOUNT_ROOT = "/webinfer-opfs"
_mounts: dict[str, object] = {}     # OPFS folder -> its mount's syncfs


async def load_sqlite3() -> None:
    """Make `import sqlite3` work: in Pyodide load its package (once); in CPython nothing."""
    try:
        import sqlite3  # noqa: F401
    except ImportError:
        from .. import ffi
        await ffi.load_package("sqlite3")


class _Syncer:
    """Starts one OPFS sync after each committed change, each after the one before."""

    def __init__(self, syncfs):
        self.syncfs = syncfs
        self.pending = None

    def __call__(self) -> None:
        previous = self.pending

        async def sync():
            if previous is not None:
                await previous
            await self.syncfs()
        self.pending = asyncio.ensure_future(sync())


async def open_persistent(folder: str = "webinfer-rag", file: str = "store.sqlite", dim: int | None = None) -> Store:
    """Open (or create) the store `file` in the OPFS folder `folder`, kept in sync after each change."""
    await load_sqlite3()
    mount_point = f"{MOUNT_ROOT}/{folder}"
    if folder not in _mounts:
        from .. import ffi
        os.makedirs(MOUNT_ROOT, exist_ok=True)
        _mounts[folder] = await ffi.mount_opfs(mount_point, folder)
    store = Store.open(f"{mount_point}/{file}", dim=dim)
    store.after_write = _Syncer(_mounts[folder])
    return store


async def flush(store: Store) -> None:
    """Wait until the store's changes so far are written to OPFS (no-op for other stores)."""
    syncer = store.after_write
    if isinstance(syncer, _Syncer) and syncer.pending is not None:
        await syncer.pending
