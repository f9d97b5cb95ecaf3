"""Training throughput with the window attached against the same job headless.

Runs the same part, preset and flags alternately through ``isoscope-train`` (headless) and through the
window (``isoscope PART --start --exit-when-done``, under ``xvfb-run`` when there is no display), reads
``train_samples_per_s`` from each run's summary.json and prints every run, the medians, and their ratio,
with the machine they ran on. Alternating rounds (in ABBA order) keep slow drifts of a shared machine
out of the ratio; the per-round ratios are summarised too.

    python benchmarks/window_overhead.py resources/parts/sphere.stl --preset smoke --device cpu \\
        --rounds 5 --epochs 48

A shared machine's speed can drift by tens of percent within seconds, more than the effect measured. With
``--freeze-every EPOCHS`` the benchmark instead runs one long job in the window and freezes the window
process (SIGSTOP) for every other block of EPOCHS epochs, thawing it (SIGCONT) in between, and compares
the epoch times of neighbouring blocks. While frozen the window costs nothing, as if there were none; the
worker is the same process all along. On a thaw the window catches up on everything it missed, which
counts against it. With blocks shorter than the window's frame interval (2 epochs of ``smoke``, under a
second) the window does all of its usual work inside the running blocks, at twice its usual rate, so
the ratio printed is a lower bound for the throughput with the window working as usual.

    python benchmarks/window_overhead.py resources/parts/sphere.stl --preset smoke --device cpu \\
        --epochs 2400 --freeze-every 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isoscope.core import events as ev
from isoscope.core.machine import cpu_description
from isoscope.core.runs.follow import RunFollower

BIN = Path(sys.executable).parent


def machine() -> str:
    gpu = ""
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        gpu = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    return cpu_description() + (f", {gpu}" if gpu else ", no GPU")


def summary_rate(run_root: Path) -> float:
    found = sorted(run_root.rglob("summary.json"))
    if not found:
        raise RuntimeError(f"no summary.json under {run_root}")
    summary = json.loads(found[-1].read_text())
    if summary.get("status") != "done":
        raise RuntimeError(f"run under {run_root} ended {summary.get('status')}: {summary.get('error', '')}")
    return float(summary["train_samples_per_s"])


def run(cmd: list[str], out: Path) -> tuple[float, float | None]:
    """(training samples/s, the window's CPU share of one core while training, when it printed one)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    share = re.search(r"window CPU while training on the CPU: ([0-9.]+)% of one core", proc.stdout)
    return summary_rate(out), float(share.group(1)) if share else None


def proc_text(pid: int, leaf: str) -> str | None:
    """/proc/PID/LEAF as text, or None when the process has gone."""
    try:
        return Path(f"/proc/{pid}/{leaf}").read_bytes().decode(errors="replace")
    except OSError:
        return None


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, parent, ..., utime at index 11)."""
    text = proc_text(pid, "stat")
    return text.rsplit(")", 1)[1].split() if text else []


def descendants(root: int) -> list[int]:
    """Every live process under ``root``."""
    parent = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = stat_fields(int(entry.name))
        if fields:
            parent[int(entry.name)] = int(fields[1])
    found, todo = [], [root]
    while todo:
        here = todo.pop()
        kids = [pid for pid, ppid in parent.items() if ppid == here]
        found += kids
        todo += kids
    return found


def window_pid(pids: list[int]) -> int | None:
    """The window's own process among ``pids`` (the one running ``isoscope``, not its worker)."""
    for pid in pids:
        argv = (proc_text(pid, "cmdline") or "").split("\0")
        if any(a.endswith("/isoscope") for a in argv) and not any("multiprocessing" in a for a in argv):
            return pid
    return None


def named(pids: list[int], name: str) -> list[int]:
    return [pid for pid in pids if (proc_text(pid, "comm") or "").strip() == name]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes (all their threads) so far."""
    ticks = sum(int(f[11]) + int(f[12]) for f in map(stat_fields, pids) if f)
    return ticks / os.sysconf("SC_CLK_TCK")


class Freezer:
    """Freezes (SIGSTOP) and thaws the window process every ``block`` epochs, counting CPU while it runs."""

    def __init__(self, gui: int, xserver: list[int], block: int) -> None:
        self.gui, self.xserver, self.block = gui, xserver, block
        self.blocks: list[list[float]] = [[]]
        self.total, self.frozen = 0, False
        self.used = {"window": 0.0, "X server": 0.0, "wall": 0.0}
        self.mark = self.now()  # (wall, window CPU, X server CPU) when the window was last thawed

    def now(self) -> tuple[float, float, float]:
        return time.monotonic(), cpu_seconds([self.gui]), cpu_seconds(self.xserver)

    def epoch_ended(self, wall_s: float) -> None:
        self.blocks[-1].append(wall_s)
        done = sum(map(len, self.blocks))
        if len(self.blocks[-1]) == self.block and done < self.total:
            self.frozen = not self.frozen
            now = self.now()
            if self.frozen:  # a running stretch ends: count what the window and X used in it
                for key, i in (("wall", 0), ("window", 1), ("X server", 2)):
                    self.used[key] += now[i] - self.mark[i]
            os.kill(self.gui, signal.SIGSTOP if self.frozen else signal.SIGCONT)
            self.mark = now
            self.blocks.append([])
        elif done >= self.total:
            self.thaw()

    def thaw(self) -> None:
        if self.frozen:
            os.kill(self.gui, signal.SIGCONT)
            self.frozen = False


def frozen_blocks(cmd: list[str], out: Path, block: int) -> tuple[list[float], list[float], dict[str, float]]:
    """One window run whose window process is frozen (SIGSTOP) and thawed every ``block`` epochs.

    Returns the mean epoch time of each full block with the window running, of each with it frozen
    (they alternate, running first), and the CPU share of one core that the window and the X server used
    while the window ran. An epoch counts for the state set when the epoch before it ended, so the
    window's catch-up after a thaw counts against the window.
    """
    log = out.with_suffix(".log")
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    freezer: Freezer | None = None
    follower: RunFollower | None = None
    try:
        while proc.poll() is None:
            time.sleep(0.01)
            if freezer is None and (gui := window_pid(kids := descendants(proc.pid))) is not None:
                freezer = Freezer(gui, named(kids, "Xvfb"), block)
            if follower is None and (metrics := next(iter(out.rglob("metrics.jsonl")), None)) is not None:
                follower = RunFollower(metrics.parent)
            if freezer is None or follower is None:
                continue
            for event in follower.poll():
                if isinstance(event, ev.Started):
                    freezer.total = int(event.config["train"]["epochs"])
                elif isinstance(event, ev.PhaseTimes) and event.scope == "epoch":
                    freezer.epoch_ended(float(event.wall_s))
    finally:
        if freezer is not None and proc.poll() is None:
            os.kill(freezer.gui, signal.SIGCONT)
        proc.wait()
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-3000:]}")
    if freezer is None:
        raise RuntimeError(f"{' '.join(cmd)}: no window process was found")
    means = [statistics.fmean(b) for b in freezer.blocks if len(b) == block]
    used = freezer.used
    shares = {key: used[key] / used["wall"] for key in ("window", "X server")} if used["wall"] else {}
    return means[0::2], means[1::2], shares


def summarise(label: str, ratios: list[float]) -> None:
    """Print the median, the geometric mean and a bootstrap 95% interval of the geometric mean."""
    logs = [math.log(r) for r in ratios]
    rng = random.Random(0)
    boots = sorted(statistics.fmean(rng.choices(logs, k=len(logs))) for _ in range(2000))
    lo, hi = math.exp(boots[50]), math.exp(boots[1949])
    print(f"{label}: median {100 * statistics.median(ratios):.1f}%, geometric mean "
          f"{100 * math.exp(statistics.fmean(logs)):.1f}% (95% interval {100 * lo:.1f}-{100 * hi:.1f}%, "
          f"{len(ratios)} pairs)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("part")
    p.add_argument("--preset", default="smoke")
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--freeze-every", type=int, metavar="EPOCHS",
                   help="instead: one window run, its window frozen and thawed every EPOCHS epochs")  # fmt: skip
    args, flags = p.parse_known_args(argv)  # the rest: config flags for both runs (--epochs 48, ...)
    common = [args.part, "--preset", args.preset, "--device", args.device, *flags]
    xvfb = [] if os.environ.get("DISPLAY") else ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    window = [*xvfb, str(BIN / "isoscope"), *common, "--start", "--exit-when-done"]
    with tempfile.TemporaryDirectory(prefix="isoscope-overhead-") as tmp:
        if args.freeze_every:
            out = Path(tmp) / "window"
            running, frozen, shares = frozen_blocks([*window, "--outputDir", str(out)], out, args.freeze_every)
            for i, (r, f) in enumerate(zip(running, frozen, strict=False)):
                print(f"block pair {i + 1}: epoch {r:.3f} s with the window running, {f:.3f} s frozen", flush=True)
            # each running block against the frozen blocks on either side of it: slow drifts cancel
            ratios = [f / r for r, f in zip(running, frozen, strict=False)]
            ratios += [f / r for f, r in zip(frozen, running[1:], strict=False)]
            print(f"\nmachine: {machine()}")
            print(f"job: {' '.join(common)}, {args.freeze_every} epochs a block")
            summarise("throughput, window running / window frozen", ratios)
            print("while the window ran: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items())
                  + " of one core")  # fmt: skip
            return 0
        rates: dict[str, list[float]] = {"headless": [], "window": []}
        shares: list[float] = []
        for i in range(args.rounds):
            for mode in ("headless", "window") if i % 2 == 0 else ("window", "headless"):  # ABBA: drift cancels
                out = Path(tmp) / f"{mode}{i}"
                if mode == "headless":
                    cmd = [str(BIN / "isoscope-train"), *common, "--quiet", "--outputDir", str(out)]
                else:
                    cmd = [*window, "--outputDir", str(out)]
                rate, share = run(cmd, out)
                rates[mode].append(rate)
                shares += [share] if share is not None else []
                extra = f"  (window: {share:.1f}% of one core)" if share is not None else ""
                print(f"round {i + 1} {mode:8s} {rate:12,.0f} samples/s{extra}", flush=True)
    med = {mode: statistics.median(values) for mode, values in rates.items()}
    pairs = [w / h for h, w in zip(rates["headless"], rates["window"], strict=True)]
    print(f"\nmachine: {machine()}")
    print(f"job: {' '.join(common)}")
    print(f"headless median {med['headless']:,.0f} samples/s; window median {med['window']:,.0f} samples/s")
    print(f"window / headless: {100 * med['window'] / med['headless']:.1f}% (medians); "
          f"per round {', '.join(f'{100 * r:.0f}%' for r in pairs)}")  # fmt: skip
    summarise("per-round ratios", pairs)
    if shares:
        print(f"the window's own CPU while training: median {statistics.median(shares):.1f}% of one core "
              f"(of {os.cpu_count()} cores)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
