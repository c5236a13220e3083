"""What each sandbox backend costs a loss-level submission: the oracle's start (launch until
it answers, `import torch` included) and the round trip of one forward call, per backend.

    python benchmarks/sandbox_startup.py [--starts 3] [--calls 200] [--backends bwrap docker process]
                                         [--start-engine]

docker uses the engine the SDK finds ($DOCKER_HOST); `--start-engine` starts a private one
(scripts/docker-engine.sh, as root) for the run and builds the image if needed. A backend
that cannot run here is reported with its reason. Prints one JSON object, with each
backend's times over bwrap's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from filelock import FileLock, Timeout

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import registry  # noqa: E402
from harness.api.method import StepContext  # noqa: E402
from harness.api.records import TrainConfig  # noqa: E402
from harness.api.sandbox import OracleLimits  # noqa: E402
from harness.oracle.client import OracleClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SUBMISSION = ROOT / "submissions" / "example_loss.py"
LOSSES = ("fine", "coarse")


def measure(name: str, starts: int, calls: int) -> dict:
    backend = registry.sandboxes.get(name)
    reason = backend.available()
    if reason is not None:
        return {"skipped": reason}
    config = TrainConfig(epochs=1)
    context = StepContext(0, 1, 0.1, False)
    start_seconds, call_ms = [], []
    for _ in range(starts):
        began = time.perf_counter()
        runner = OracleClient(SUBMISSION, LOSSES, config, backend(), OracleLimits())
        start_seconds.append(time.perf_counter() - began)
        try:
            runner([1.0, 2.0], context)  # warm-up
            began = time.perf_counter()
            for _ in range(calls):
                runner([1.0, 2.0], context)
            call_ms.append((time.perf_counter() - began) / calls * 1e3)
        finally:
            runner.close()
    return {
        "start_seconds": round(statistics.median(start_seconds), 3),
        "start_seconds_all": [round(s, 3) for s in start_seconds],
        "call_ms": round(statistics.median(call_ms), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=["bwrap", "docker", "process"])
    parser.add_argument("--start-engine", action="store_true", help="start a private Docker engine for the run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    engine, lock, own_data = None, None, None
    script = str(ROOT / "scripts" / "docker-engine.sh")
    try:
        if args.start_engine and "docker" in args.backends:
            # the tests' image cache, under the same lock (else a data folder of this run's own)
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtl-bench" / "docker-engine"
            cache.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(cache / "lock"))
            try:
                lock.acquire(timeout=0)
                data = cache / "data"
            except Timeout:
                lock, data = None, Path(tempfile.mkdtemp(prefix="docker-data-"))
                own_data = data
            engine = Path(tempfile.mkdtemp(prefix="docker-engine-"))
            subprocess.run(["bash", script, "start", str(engine), str(data)], check=True, stdout=subprocess.DEVNULL)
            os.environ["DOCKER_HOST"] = f"unix://{engine}/docker.sock"
            subprocess.run([sys.executable, str(ROOT / "runner.py"), "sandbox", "build-image"], check=True)
        results = {}
        for name in args.backends:
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = measure(name, args.starts, args.calls)
    finally:
        if engine is not None:
            subprocess.run(["bash", script, "stop", str(engine)], check=False)
            shutil.rmtree(engine, ignore_errors=True)
        if own_data is not None:
            shutil.rmtree(own_data, ignore_errors=True)
        if lock is not None:
            lock.release()
    reference = results.get("bwrap", {})
    for result in results.values():
        if "start_seconds" in result and "start_seconds" in reference:
            result["start_vs_bwrap"] = round(result["start_seconds"] / reference["start_seconds"], 2)
            result["call_vs_bwrap"] = round(result["call_ms"] / reference["call_ms"], 2)
    text = json.dumps({"starts": args.starts, "calls": args.calls, "backends": results}, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
