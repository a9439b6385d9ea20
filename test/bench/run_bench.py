#!/usr/bin/python3
"""Run Poky's benchmarks and print each figure beside its same-run baseline.

Each benchmark program prints JSON objects, one per line:
  {"name", "unit", "value", "baseline_name", "baseline", "ratio", "target_ratio"}
This script states the machine, prints a table, and writes it all to
build/bench.json. --smoke runs each benchmark briefly (a CI check that the
benchmarks still run, not a measurement).
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def machine() -> dict:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True)
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True)
    return {"cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "openssl": ssl.stdout.strip(), "cc": cc.stdout.splitlines()[0] if cc.stdout else "",
            "poky": (ROOT / "VERSION").read_text().strip()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    build = ROOT / a.build
    benches = [
        [str(build / "bench" / "bench_sigv4"), "2000" if a.smoke else "50000"],
    ]
    m = machine()
    print(f"machine: {m['cores']} cores, {m['cpu']}; {m['openssl']}; {m['cc']}")
    results = []
    for cmd in benches:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            print(f"{cmd[0]} failed: {p.stderr}", file=sys.stderr)
            return 1
        results += [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    print(f"{'figure':28} {'value':>12} {'baseline':>22} {'ratio':>7} {'target':>8}")
    missed = 0
    for r in results:
        ok = r["ratio"] <= r["target_ratio"]
        missed += not ok
        print(f"{r['name']:28} {r['value']:>9.3f} {r['unit'].split('/')[0]:2} "
              f"{r['baseline_name']:>13} {r['baseline']:>8.3f} {r['ratio']:>7.2f} "
              f"{'<= ' + str(r['target_ratio']):>8} {'' if ok else 'MISSED'}")
    out = ROOT / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": m, "smoke": a.smoke, "results": results}, indent=2))
    print(f"written: {out.relative_to(ROOT)}")
    # Figures are reported, not asserted: a missed target is for a human to
    # look at, and smoke runs are too short to mean anything.
    return 0


if __name__ == "__main__":
    sys.exit(main())
