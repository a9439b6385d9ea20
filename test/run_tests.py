#!/usr/bin/python3
"""Run every Poky test and print one summary line.

Unit tests are cmocka binaries (one per module, built by `make test`); the
integration tests are pytest files under test/integration/. Each runner's own
output is shown as it comes; the last line is "total: N passed, N failed".
Exit status is non-zero if anything failed or if no test ran at all.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]

CMOCKA_RAN = re.compile(r"^\[=+\] (\d+) test\(s\) run\.", re.M)
CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
CMOCKA_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\), listed below:", re.M)


def run_unit(unit_dir: pathlib.Path) -> tuple[int, int]:
    passed = failed = 0
    bins = sorted(p for p in unit_dir.glob("test_*") if os.access(p, os.X_OK))
    if not bins:
        print(f"no unit test binaries in {unit_dir}", file=sys.stderr)
        return 0, 1
    env = dict(os.environ)
    env.setdefault("POKY_TEST_DATA", str(ROOT / "test" / "data"))
    for b in bins:
        t0 = time.monotonic()
        proc = subprocess.run([str(b)], cwd=ROOT, env=env, capture_output=True,
                              text=True, errors="replace", timeout=600)
        out = proc.stdout + proc.stderr
        ran = sum(int(x) for x in CMOCKA_RAN.findall(out))
        ok = sum(int(x) for x in CMOCKA_PASSED.findall(out))
        bad = sum(int(x) for x in CMOCKA_FAILED.findall(out))
        # A crash or sanitizer report after the summary still fails the binary.
        if proc.returncode != 0 and bad == 0:
            bad = max(1, ran - ok)
        if proc.returncode != 0 or bad:
            print(out)
        passed += ok
        failed += bad
        print(f"unit {b.name}: {ok} passed, {bad} failed "
              f"({time.monotonic() - t0:.1f}s)")
    return passed, failed


def run_pytest(args: list[str]) -> tuple[int, int]:
    xml = ROOT / "build" / "pytest-results.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    if xml.exists():
        xml.unlink()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=20",
           f"--junitxml={xml}", str(ROOT / "test" / "integration")] + args
    proc = subprocess.run(cmd, cwd=ROOT)
    if not xml.exists():
        print(f"pytest wrote no results (exit {proc.returncode})")
        return 0, 1
    suites = ET.parse(xml).getroot()
    total = failures = errors = skipped = 0
    for s in suites.iter("testsuite"):
        total += int(s.get("tests", 0))
        failures += int(s.get("failures", 0))
        errors += int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    bad = failures + errors
    if proc.returncode not in (0, 1) and bad == 0:
        bad = 1          # pytest itself failed (usage error, collection, ...)
    if skipped:
        # Skipped tests hide missing coverage: they count as failures here.
        print(f"pytest: {skipped} skipped test(s) count as failed")
        bad += skipped
    return total - failures - errors - skipped, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--unit-dir", default="build/asan/test")
    ap.add_argument("--only", choices=["unit", "integration"])
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    passed = failed = 0
    if a.only != "integration":
        p, f = run_unit(ROOT / a.unit_dir)
        passed, failed = passed + p, failed + f
    if a.only != "unit":
        p, f = run_pytest(a.pytest_args)
        print(f"integration: {p} passed, {f} failed")
        passed, failed = passed + p, failed + f
    print(f"total: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
