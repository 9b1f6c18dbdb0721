"""Where heavy artefacts live between runs, and how long work reports progress."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$TASKPULSE_CACHE`` or ``~/.cache/taskpulse``: outside the repo, reused across clones."""
    root = Path(os.environ.get("TASKPULSE_CACHE", Path.home() / ".cache" / "taskpulse"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def say(message: str) -> None:
    print(f"[taskpulse] {message}", file=sys.stderr, flush=True)


@contextmanager
def progress(what: str, every: float = 20.0) -> Iterator[None]:
    """Print a heartbeat while a long step runs, then how long it took."""
    start = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            say(f"{what}: still working ({time.monotonic() - start:.0f}s)")

    say(f"{what}: started")
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    say(f"{what}: done in {time.monotonic() - start:.0f}s")
