"""Run every benchmark in turn: ``python -m bench [name ...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")
    )
    failed = []
    for name in names:
        print(f"\n=== bench.{name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            result = module.main([])
            if result:
                failed.append(name)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"bench.{name} failed: {exc!r}", flush=True)
            failed.append(name)
        print(f"(bench.{name}: {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
