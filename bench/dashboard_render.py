"""Time to first render of the agent dashboard and of a ticket view, and their transfer sizes.

Starts the real platform (PostgreSQL, a redis-server of its own, nginx, core, relay, ai,
realtime) on free ports with demo data, builds the dashboard's bundle, signs an agent in with
Debian's chromium (Playwright) through the gateway (TLS, HTTP/2, brotli), then loads each page
``--runs`` times and reports the median and the spread:

- **first render**: from navigation start to the moment the list is in the page (the first
  ticket row on the dashboard; the first message of the conversation on a ticket view),
  recorded in the page by a MutationObserver against ``performance.now()``; beside it the
  browser's first contentful paint.
- **cold**: a fresh browser context each run (nothing cached; the session cookie only);
  **warm**: the same context reloaded (static files from the cache, as an agent's day goes).
- **bytes**: what went over the wire for the page (the document, its script and stylesheet,
  and its API calls: ``transferSize``, compressed, headers included) in a cold load. The
  Socket.IO WebSocket's frames are not in it.

The gateway's API rate limit is raised (the limiter is not what is measured). Not a test: no
thresholds. Run it alone on the machine:

    flock /tmp/helpdesk-bench.lock .venv/bin/python -m bench.dashboard_render
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, StorageState, sync_playwright

from tools.stack import CORE_DIR, GatewaySettings, temporary_stack

CHROMIUM = "/usr/bin/chromium"
# Records when the page's list first appears (set before any page script runs).
OBSERVER = """
(() => {
  const wanted = ['#ticket-rows tr', '#comments li'];
  const seen = () => wanted.some((s) => document.querySelector(s));
  const mark = () => {
    if (window.__rendered === undefined && seen()) window.__rendered = performance.now();
  };
  new MutationObserver(mark).observe(document, { childList: true, subtree: true });
})();
"""
MEASURE = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return {
    rendered: window.__rendered ?? null,
    fcp: fcp ? fcp.startTime : null,
    document_bytes: nav.transferSize,
    resource_bytes: resources.reduce((n, r) => n + r.transferSize, 0),
    resources: resources.map((r) => [new URL(r.name).pathname, r.transferSize, r.encodedBodySize]),
  };
}
"""


def load(context: BrowserContext, url: str, *, reload: bool = False) -> dict[str, Any]:
    page = context.pages[0] if reload and context.pages else context.new_page()
    if reload:
        page.reload(wait_until="load")
    else:
        page.goto(url, wait_until="load")
    page.wait_for_function("() => window.__rendered !== undefined", timeout=15_000)
    page.wait_for_timeout(300)  # the page's API calls after render count in its bytes
    result: dict[str, Any] = page.evaluate(MEASURE)
    return result


def summary(values: list[float]) -> str:
    values = sorted(values)
    return (
        f"median {statistics.median(values):6.1f} ms  "
        f"(min {values[0]:.1f}, max {values[-1]:.1f}, n={len(values)})"
    )


def measure_page(
    browser: Browser, base: str, state: StorageState, path: str, runs: int
) -> dict[str, Any]:
    cold, cold_fcp, warm, sizes = [], [], [], []
    for _ in range(runs):
        context = browser.new_context(base_url=base, ignore_https_errors=True, storage_state=state)
        context.add_init_script(OBSERVER)
        first = load(context, path)
        cold.append(first["rendered"])
        if first["fcp"] is not None:
            cold_fcp.append(first["fcp"])
        sizes.append(first)
        context.close()
    context = browser.new_context(base_url=base, ignore_https_errors=True, storage_state=state)
    context.add_init_script(OBSERVER)
    load(context, path)
    for _ in range(runs):
        warm.append(load(context, path, reload=True)["rendered"])
    context.close()
    last = sizes[-1]
    return {
        "path": path,
        "cold_render_ms": cold,
        "cold_fcp_ms": cold_fcp,
        "warm_render_ms": warm,
        "document_bytes": last["document_bytes"],
        "total_bytes": last["document_bytes"] + last["resource_bytes"],
        "resources": last["resources"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    subprocess.run([str(CORE_DIR / "frontend" / "build.sh")], check=True)
    with temporary_stack(
        prefix="bench_dashboard",
        gateway=GatewaySettings(api_rate="1000r/s", api_burst=1000),
        extra_env={"LOGIN_RATE_LIMIT": "1000/minute"},
    ) as (stack, demo):
        base = stack.cfg.url("gateway")
        assert base is not None
        agent = demo["orgs"][0]["agents"][0]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            context = browser.new_context(base_url=base, ignore_https_errors=True)
            page = context.new_page()
            page.goto("/app/login/")
            page.get_by_label("Email address").fill(agent["email"])
            page.get_by_label("Password").fill(agent["password"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/app/")
            state = context.storage_state()
            context.close()
            results = [
                measure_page(browser, base, state, path, args.runs)
                for path in ("/app/", "/app/tickets/1/")
            ]
            browser.close()
    print(f"machine: {os.cpu_count()} cores; chromium {CHROMIUM}; {args.runs} runs per page")
    for r in results:
        print(f"\n{r['path']}")
        print(f"  first render, cold : {summary(r['cold_render_ms'])}")
        if r["cold_fcp_ms"]:
            print(f"  first paint, cold  : {summary(r['cold_fcp_ms'])}")
        print(f"  first render, warm : {summary(r['warm_render_ms'])}")
        print(f"  transferred (cold) : {r['total_bytes']} B, the document {r['document_bytes']} B")
        for name, transferred, body in r["resources"]:
            print(f"    {transferred:7d} B on the wire ({body:7d} B body)  {name}")
    out = Path(os.environ.get("BENCH_OUTPUT", "")) if os.environ.get("BENCH_OUTPUT") else None
    if out is not None:
        out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
