"""Shared pytest fixtures for Poky's integration tests.

Binaries come from POKY_BUILD_DIR (set by `make test`; default build/asan), so the
same tests run against the sanitizer build in CI and a plain build by hand.
"""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "test" / "data"


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("POKY_BUILD_DIR", ROOT / "build" / "asan")).resolve()


@pytest.fixture(scope="session")
def bindir() -> pathlib.Path:
    d = build_dir()
    if not (d / "poky-sign").exists():
        pytest.fail(f"binaries not built in {d}; run `make test`")
    return d


@pytest.fixture(scope="session")
def poky_sign(bindir) -> pathlib.Path:
    return bindir / "poky-sign"


@pytest.fixture(scope="session")
def tooldir(bindir) -> pathlib.Path:
    """Test-only programs (test/tools/*.c) built beside the binaries."""
    d = bindir / "test-tools"
    if not d.is_dir():
        pytest.fail(f"test tools not built in {d}; run `make test`")
    return d
