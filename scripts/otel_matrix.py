"""The SDK against several OpenTelemetry releases, one virtual environment per release.

    python scripts/otel_matrix.py env 1.39.0          # make (or reuse) the environment, print its python
    python scripts/otel_matrix.py smoke 1.39.0 1.45.2 # the app smoke check (scripts/otel_smoke_app.py) in each
    python scripts/otel_matrix.py tests 1.39.0 1.45.2 # the SDK's tests in each
    python scripts/otel_matrix.py bench 1.39.0        # benchmarks/bench_sdk.py in it

``floor``, ``middle`` and ``newest`` name the releases below. Environments live
in ``.venv-matrix/otel-<release>-<key>``, where the key is a hash of what goes
into them (the pins here and the distributions' pyproject files), so a second
run reuses them and a change makes a fresh one. The four distributions are
installed editable: the environment tests the working tree's code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / ".venv-matrix"
RELEASES = {"floor": "1.39.0", "middle": "1.42.1", "newest": "1.45.2"}
# The OTel distributions liveobs-sdk depends on, pinned to one release per environment.
OTEL = ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
# The lowest structlog and orjson liveobs-sdk declares go with the floor.
FLOOR_EXTRAS = ("structlog==24.1.0", "orjson==3.9.0")
# What the SDK's tests and the smoke app need beside the SDK (no browser): the collector and the CLI
# for the tests that read what an app exported (a real `liveobs collect`, `liveobs trace`), FastAPI,
# gunicorn and opentelemetry-instrument for the tests of liveobs beside other instrumentation.
TEST_TOOLS = (
    "pytest>=8.3", "pytest-timeout>=2.3", "hypothesis>=6.100", "uvicorn>=0.30", "starlette>=0.40",
    "httpx>=0.27", "websockets>=13", "python-multipart>=0.0.9", "jinja2>=3.1", "gunicorn>=27",
)
# FastAPI traces itself from 0.142 on, and those releases need OpenTelemetry 1.44 or newer: below it the
# tests of liveobs beside FastAPI's own spans cannot run (the ASGI instrumentation's still do).
FASTAPI = "fastapi>=0.142"
FASTAPI_FROM = (1, 44)
# The distributions installed editable in every environment (the SDK's tests also drive the collector and CLI).
DISTS = ("liveobs", "sdk", "correlator", "cli")
# Benchmark baselines (bench_sdk.py), pinned with the SDK release they were made for.
BENCH_TOOLS = ("asgi-correlation-id>=4.3",)
INSTRUMENTATION = {"1.39.0": "0.60b0", "1.42.1": "0.63b1", "1.45.2": "0.66b2"}


def _release(name: str) -> str:
    return RELEASES.get(name, name)


def _requirements(release: str) -> list[str]:
    pins = [f"{dist}=={release}" for dist in OTEL]
    if release == RELEASES["floor"]:
        pins.extend(FLOOR_EXTRAS)
    pins.extend(TEST_TOOLS)
    if _has_fastapi(release):
        pins.append(FASTAPI)
    if release in INSTRUMENTATION:
        pins.append(f"opentelemetry-instrumentation-asgi=={INSTRUMENTATION[release]}")
        pins.append(f"opentelemetry-distro=={INSTRUMENTATION[release]}")
        pins.extend(BENCH_TOOLS)
    return pins


def _has_fastapi(release: str) -> bool:
    return tuple(int(part) for part in release.split(".")[:2]) >= FASTAPI_FROM


def _key(release: str) -> str:
    digest = hashlib.sha256("\n".join(_requirements(release)).encode())
    for dist in DISTS:
        digest.update((ROOT / dist / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:10]


def environment(release: str) -> Path:
    """The python of the environment for ``release``, made when missing."""
    release = _release(release)
    home = MATRIX / f"otel-{release}-{_key(release)}"
    python = home / "bin" / "python"
    if (home / ".ready").exists():
        return python
    for stale in MATRIX.glob(f"otel-{release}-*"):
        shutil.rmtree(stale)
    home.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # The pins go in with the distributions so that pip resolves them together and keeps them.
    print(f"== OpenTelemetry {release}: installing into {home.relative_to(ROOT)}", flush=True)
    done = subprocess.run([*pip, *(arg for dist in DISTS for arg in ("-e", str(ROOT / dist))), *_requirements(release)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{home}: pip failed ({done.returncode})")
    installed = subprocess.run([str(python), "-c", "from importlib.metadata import version as v; "
                                "print(v('opentelemetry-sdk'), v('opentelemetry-api'))"],
                               check=True, capture_output=True, text=True).stdout.split()
    if installed != [release, release]:
        raise SystemExit(f"{home}: pip installed OpenTelemetry {installed}, not {release}")
    (home / ".ready").write_text(release + "\n")
    return python


def _run(release: str, args: list[str]) -> int:
    python = environment(release)
    print(f"== OpenTelemetry {_release(release)}: {' '.join(args)}", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run([str(python), *args], cwd=ROOT, env=env, check=False).returncode


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("env", "smoke", "tests", "bench"):
        print(__doc__)
        return 2
    command, releases = argv[0], argv[1:]
    failed = []
    for release in releases:
        if command == "env":
            print(environment(release))
            continue
        if command == "smoke":
            code = _run(release, [str(ROOT / "scripts" / "otel_smoke_app.py")])
        elif command == "bench":
            code = _run(release, [str(ROOT / "benchmarks" / "bench_sdk.py")])
        else:
            # The browser tests need nothing version-specific; the smoke test itself runs this script.
            args = ["-m", "pytest", "tests/sdk", "-q", "-x", "-m", "not browser", "-p", "no:cacheprovider",
                    "--ignore", "tests/sdk/test_otel_versions.py"]
            if not _has_fastapi(_release(release)):
                # (the opentelemetry-instrument test's app is a FastAPI app too)
                args += ["-k", "not fastapi and not under_opentelemetry_instrument"]
            code = _run(release, args)
        if code:
            failed.append(_release(release))
    if failed:
        print(f"failed on OpenTelemetry {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
