"""How long ``make run`` takes from a fresh clone to every health check green, cold and warm.

Cold: a new clone, no ``.tools``/``.venv``, and empty pip and uv caches (every package is
downloaded). Warm: ``make run`` again in the same clone. Each run is stopped with Ctrl-C
(SIGINT) once healthy, and the clean stop is timed too. Uses the default ports, which must be
free.

    python -m bench.make_run_startup
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tools.stack import ROOT, http_status

HEALTH = {
    "core": "http://127.0.0.1:8000/health/",
    "ai": "http://127.0.0.1:8001/health/",
    "realtime": "http://127.0.0.1:3000/health/",
    "gateway": "http://127.0.0.1:8080/health/",
}


def run_once(clone: Path, env: dict[str, str], log: Path) -> dict[str, float]:
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        pending = dict(HEALTH)
        while pending:
            if process.poll() is not None:
                raise RuntimeError(f"make run exited early; see {log}")
            if time.monotonic() - started > 900:
                raise TimeoutError(f"not healthy: {sorted(pending)}")
            for name, url in list(pending.items()):
                if http_status(url, timeout=1) == 200:
                    del pending[name]
            time.sleep(0.2)
        healthy = time.monotonic() - started
    finally:
        stop_started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(60)
    return {"to_healthy_s": round(healthy, 1), "stop_s": round(time.monotonic() - stop_started, 1)}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="helpdesk-make-run-"))
    clone = work / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    cold_env = {**env, "UV_CACHE_DIR": str(work / "uv-cache"), "PIP_NO_CACHE_DIR": "1"}
    log = work / "make-run.log"
    result = {
        "cores": os.cpu_count(),
        "cold": run_once(clone, cold_env, log),
        "warm": run_once(clone, env, log),
        "log": str(log),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
