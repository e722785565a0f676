"""Building ``data_gap``'s subjects for one large enterprise: this checkout against a baseline.

    .venv/bin/python benchmarks/bench_subject_sets.py [--baseline-ref 93f3650] [--meters 500 1000 2000]

``data_gap`` makes every device of an enterprise touch every device's subject (outages are
grouped per enterprise). The benchmark builds ``DataGapEvaluator`` for one enterprise of
``--meters`` power meters (production + treatment pairs, as ``bench_alert_latency.py`` has them)
with (a) this checkout's ``src`` and (b) the ``src`` of ``--baseline-ref`` (``git archive``),
each in a child process, alternating, and prints both times and the ratio (b)/(a). A baseline
size that takes longer than ``--limit`` seconds is reported as such and larger ones skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import sys, time
from ecowarn.config.registry import Device, Enterprise, Registry, uscc_check_char
from ecowarn.detectors.data_gap import DataGapParams
from ecowarn.detectors.runtime.eval_data_gap import DataGapEvaluator
pairs = int(sys.argv[1])
first17 = "91130105BL0000001"
eid = first17 + uscc_check_char(first17)
devices = []
for k in range(pairs):
    devices += [Device(f"P{k:05d}", "power", eid, role="production", equipment=f"line {k}",
                       rated_kw=500.0, treated_by=(f"T{k:05d}",)),
                Device(f"T{k:05d}", "power", eid, role="treatment", equipment=f"filter {k}",
                       rated_kw=100.0)]
reg = Registry(enterprises={eid: Enterprise(eid, "big", "130105", "cement", None,
                                            tuple(d.id for d in devices))},
               devices={d.id: d for d in devices}, stations={}, source="<bench>")
t0 = time.perf_counter()
ev = DataGapEvaluator(reg, DataGapParams())
dt = time.perf_counter() - t0
assert sorted(ev.subjects_for("P00000")) == sorted(reg.devices)
print(dt)
"""


def timed(src: Path, meters: int, limit: float) -> float | None:
    env = {**os.environ, "PYTHONPATH": str(src)}
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(meters // 2)], env=env,
                             capture_output=True, text=True, timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-ref", default="93f3650", help="git revision of the baseline")
    ap.add_argument("--meters", type=int, nargs="+", default=[500, 1000, 2000, 5000])
    ap.add_argument("--limit", type=float, default=300.0, help="seconds allowed per build")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="ecowarn-bench-base-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_ref, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        base_src = Path(tmp) / "src"
        base_out = False
        for meters in args.meters:
            a = timed(ROOT / "src", meters, args.limit)
            b = None if base_out else timed(base_src, meters, args.limit)
            base_out = base_out or b is None
            fa = "over limit" if a is None else f"{a:.3f} s"
            fb = f"over {args.limit:.0f} s" if b is None else f"{b:.3f} s"
            ratio = f"{b / a:,.0f}x" if a and b else "-"
            print(f"{meters:6,} meters in one enterprise: (a) this checkout {fa}, "
                  f"(b) {args.baseline_ref} {fb}, (b)/(a) {ratio}", flush=True)


if __name__ == "__main__":
    main()
