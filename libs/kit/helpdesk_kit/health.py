"""Readiness checks: each dependency checked with a timeout, reported one by one.

The body is ``{"status": "ok" | "unavailable", "checks": {"redis": {"ok": true, "ms": 0.4}}}``
and the status code 200 or 503, so a load balancer and a person read the same answer.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Check = Callable[[], Awaitable[object]]


async def _run_one(check: Check, seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), seconds)
    except Exception as exc:  # a failed check is an answer, not an error
        reason = "timeout" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return {"ok": False, "ms": _ms(started), "error": reason[:300]}
    return {"ok": True, "ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def readiness(
    checks: Mapping[str, Check], seconds: float = 2.0
) -> tuple[int, dict[str, Any]]:
    results = await asyncio.gather(*(_run_one(c, seconds) for c in checks.values()))
    by_name = dict(zip(checks, results, strict=True))
    ok = all(r["ok"] for r in results)
    return (200 if ok else 503), {"status": "ok" if ok else "unavailable", "checks": by_name}


def report(results: Mapping[str, dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The same body from checks already run (the synchronous Django side)."""
    ok = all(r["ok"] for r in results.values())
    return (200 if ok else 503), {"status": "ok" if ok else "unavailable", "checks": dict(results)}
