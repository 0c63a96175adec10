"""Memory over a long interactive session: N requests through the real window, offscreen (strokes drawn with real
mouse events, ε slider moves, and an Activations dock request every 20th; each waited for until its answer is on
screen; see tests/gui/memory_load.py). Prints the growth of the resident set size (VmRSS) and of the live Python
objects from the end of a warm-up to the end, the forward hooks left on the model, and the types that grew most.

    OMP_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_memory.py [--requests 10000]

Target: RSS growth < 20 MB over 10,000 requests, 0 hooks left."""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "gui"))

TARGET_MB = 20.0


def type_counts() -> collections.Counter:
    gc.collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=200, help="requests before the first measurement")
    ap.add_argument("--report-every", type=int, default=1000)
    args = ap.parse_args()

    from advstudio.gui.qtapp import make_app

    app = make_app()  # noqa: F841 - the window needs it alive
    from memory_load import footprint, prepare
    from PySide6.QtCore import QSettings

    from advstudio.gui.window import MainWindow

    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(settings=QSettings(f"{tmp.name}/bench.ini", QSettings.Format.IniFormat),
                        report_error=lambda t, m: print("error:", t, m, file=sys.stderr))
    window.show()
    driver = prepare(window)
    driver.run(args.warmup)
    start, types0, t0 = footprint(window), type_counts(), time.perf_counter()
    done = 0
    while done < args.requests:
        n = min(args.report_every, args.requests - done)
        driver.run(n, args.warmup + done)
        done += n
        f = footprint(window)
        print(f"  {done:6d} requests  RSS {(f.rss_kb - start.rss_kb) / 1024:+7.1f} MB  objects "
              f"{f.objects - start.objects:+7d}  hooks {f.hooks}  {time.perf_counter() - t0:6.0f} s", flush=True)
    end, types1 = footprint(window), type_counts()
    grew = sorted(((types1[k] - types0[k], k) for k in types1 if types1[k] > types0[k]), reverse=True)[:8]
    growth_mb = (end.rss_kb - start.rss_kb) / 1024
    print(f"Adversarial Studio memory benchmark · {args.requests} requests after {args.warmup} warm-up "
          f"({driver.done}) · Qt platform {os.environ.get('QT_QPA_PLATFORM')} · "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"RSS {start.rss_kb / 1024:.1f} MB → {end.rss_kb / 1024:.1f} MB: growth {growth_mb:+.1f} MB "
          f"(target < {TARGET_MB:.0f} MB)")
    print(f"live Python objects {start.objects} → {end.objects}: growth {end.objects - start.objects:+d}")
    print(f"hooks left on the model: {end.hooks}; strokes kept for undo: {len(window.studio.canvas.strokes)}")
    print("types that grew most: " + (", ".join(f"{k} {n:+d}" for n, k in grew) or "none"))
    window.close()
    return 0 if growth_mb < TARGET_MB and end.hooks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
