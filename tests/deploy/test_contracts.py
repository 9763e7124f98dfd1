"""Contracts the seed states outright: the services' ports (C03) and clean static analysis
of the code (C55, with checkov on the template and hadolint on the images beside it)."""

import re
import subprocess
import sys
from pathlib import Path

from tools.stack import Config

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"core-django": 8000, "ai-fastapi": 8001, "realtime": 3000}


def test_c03_services_listen_on_8000_8001_and_3000_locally_and_in_their_images() -> None:
    cfg = Config(run_dir=ROOT / ".run", redis_url="", secret_key="", realtime_secret="")
    assert (cfg.core_port, cfg.ai_port, cfg.realtime_port) == (8000, 8001, 3000)
    for service, port in PORTS.items():
        dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
        assert re.search(rf"^EXPOSE {port}\b", dockerfile, re.M), service


def test_c55_static_security_analysis_is_clean() -> None:
    """ruff's bandit rules (S, with the project's reasoned exceptions) over all the code."""
    config = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^select = \[[^\]]*"S"', config, re.M)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "check", "--quiet", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
