"""Appending a benchmark's table to bench/log/runs.md: a heading with the UTC time, what ran where,
the command line, the table (the site benchmarks' --record)."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "log" / "runs.md"


def append_run(title: str, details: str, command: str, text: str) -> None:
    """### <title>, <time UTC>, then "<cores> cores <machine>, <details> `<command>`", then the table."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = f"\n### {title}, {when}\n\n{os.cpu_count()} cores {platform.machine()}, {details} `{command}`\n\n"
    with open(RUNS, "a") as f:
        f.write(head + text + "\n")
