"""``task bench``: run every ``bench_*.py`` here; each prints its figures next to a baseline
measured in the same run, and exits non-zero when a goal is missed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    failed: list[str] = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        start = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(
            f"--- {script.stem}: {'ok' if result.returncode == 0 else 'GOAL MISSED'} "
            f"({time.monotonic() - start:.0f} s)",
            flush=True,
        )
        if result.returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\ngoals missed in: {', '.join(failed)}")
        return 1
    print(f"\nall {len(scripts)} benches met their goals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
