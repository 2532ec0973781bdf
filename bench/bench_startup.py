"""How long the designer takes from launch to a visible window.

Starts ``python main.py [PROJECT]`` in a fresh process on a real X server and polls with
``xdotool search --onlyvisible`` until its window is mapped. Baselines measured in the same run,
the same way: a bare PySide6 window (the floor any Qt app pays) and ``import torch`` alone (what
start-up must not wait for). Launches alternate so a busy machine slows all of them alike.
Goal: the designer visible in under 1.5 s.

    python bench/bench_startup.py [--runs 7] [--project projects/digits_lenet.nnd]

Needs ``xdotool`` and a display: without ``DISPLAY`` it starts ``Xvfb`` itself.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 1.5
TIMEOUT_S = 60.0
POLL_S = 0.01

BARE_WINDOW = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget()
w.setWindowTitle(sys.argv[1])
w.resize(1400, 880)
w.show()
app.exec()
"""


def visible(title: str, env: dict) -> bool:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", title], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return found.returncode == 0 and bool(found.stdout.strip())


def launch_to_visible(command: list[str], title: str, env: dict) -> float:
    """Seconds from starting ``command`` until a window named ``title`` is visible."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        while not visible(title, env):
            if process.poll() is not None:
                raise SystemExit(f"{command[1]} exited before its window showed:\n"
                                 + process.stderr.read().decode(errors="replace")[-2000:])
            if time.perf_counter() - start > TIMEOUT_S:
                raise SystemExit(f"no window named {title!r} after {TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        return time.perf_counter() - start
    finally:
        process.kill()
        process.wait()


def import_seconds(module: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def start_display(env: dict) -> subprocess.Popen | None:
    """An Xvfb server when there is no display; it names a free display once it is ready."""
    if env.get("DISPLAY") or shutil.which("Xvfb") is None:
        return None
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                               "1600x1000x24", "-nolisten", "tcp", "-noreset"], pass_fds=(write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as ready:
        number = ready.readline().strip()
    if not number:
        server.kill()
        return None
    env["DISPLAY"] = f":{number}"
    for _ in range(500):  # it names the display a moment before it takes clients
        if subprocess.run(["xdotool", "getmouselocation"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            break
        time.sleep(POLL_S)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--project", help="a project file to open, as `make run` does")
    args = parser.parse_args()
    if shutil.which("xdotool") is None:
        print("bench_startup: skipped (needs xdotool and a display or Xvfb)")
        return 0

    home = Path(tempfile.mkdtemp(prefix="nn-designer-startup-"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")])))
    env.pop("QT_QPA_PLATFORM", None)
    # Fresh settings and recovery folders: no restore offer, no saved geometry.
    env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_CACHE_HOME=str(home / "cache"))
    server = start_display(env)
    if not env.get("DISPLAY"):
        print("bench_startup: skipped (no DISPLAY and no Xvfb)")
        return 0
    app = [sys.executable, "main.py"] + ([args.project] if args.project else [])
    bare = [sys.executable, "-c", BARE_WINDOW, "bare-window-baseline"]
    try:
        launch_to_visible(app, "nn-designer", env)  # warm the file cache for all of them
        launch_to_visible(bare, "bare-window-baseline", env)
        designer_s, bare_s, torch_s = [], [], []
        for _ in range(args.runs):
            designer_s.append(launch_to_visible(app, "nn-designer", env))
            bare_s.append(launch_to_visible(bare, "bare-window-baseline", env))
            torch_s.append(import_seconds("torch", env))
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(home, ignore_errors=True)

    d, b, t = (statistics.median(x) for x in (designer_s, bare_s, torch_s))
    print(f"launch to visible window, median of {args.runs} "
          f"({'opening ' + args.project if args.project else 'no project'}):")
    print(f"  designer          {d:6.2f} s   (runs: {', '.join(f'{x:.2f}' for x in designer_s)})")
    print(f"  bare Qt window    {b:6.2f} s   designer / bare window = {d / b:.2f}x")
    print(f"  import torch      {t:6.2f} s   designer / import torch = {d / t:.2f}x")
    print(f"  goal: designer under {GOAL_S:g} s: {'met' if d < GOAL_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
