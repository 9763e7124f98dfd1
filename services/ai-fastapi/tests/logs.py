"""Reading the JSON log lines a test captured from stdout."""

import json
from typing import Any


def json_lines(captured: str) -> list[dict[str, Any]]:
    lines = []
    for line in captured.splitlines():
        if line.startswith("{"):
            parsed = json.loads(line)
            assert isinstance(parsed, dict)
            lines.append(parsed)
    return lines
