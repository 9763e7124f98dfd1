"""The core's REST API under load, beside a bare DRF view on the same server setup (issue 3).

Starts the real core (gunicorn with ``config/gunicorn.conf.py``, 2 sync workers) and its outbox
relay against a PostgreSQL database and a redis-server of their own, with the demo data; the
core's own Redis rate limits are off (``RATE_LIMITS_ENABLED=0``: one token sending thousands of
requests a second would otherwise measure the limiter's 429s). Seeds 10,000 tickets with three
comments each (one an internal note) into the first demo organization (``bench/core_api_data.py``,
bulk inserts with the core's settings), then loads the core directly on its port (no nginx)
with wrk from a second process, 64 connections, after a warm-up, authenticated with an agent's
API token:

- ``list``: ``GET /api/v1/tickets/``, the first page (50 rows), as served: repeated identical
  pages come from the Redis list cache (30 s, per organization version);
- ``list uncached``: the same page with a cache miss on every request: each request adds a
  unique ``page_size=nocache-<run>-<thread>-<n>``, a value DRF's pagination does not accept
  and so ignores (the page keeps its default 50 rows), while the cache key (a digest of the
  query string) is new each time. The whole miss path runs: version and page lookups in Redis,
  the queries, the serialization, and the store of the page. (A small set of variants would be
  cached after its first round; a writer invalidating the cache would measure its own rate.)
  The core's own hit counter (``/metrics``) is read around each run to show the hit share;
- ``filtered`` and ``filtered uncached``: ``?status=open&priority=high``, the same two ways;
- ``detail``: ``GET /api/v1/tickets/<n>/`` with its conversation, ``n`` uniformly random over
  the seeded tickets (Lua ``request()``), the ticket-page cache as it is: over 10,000 tickets
  most requests are a ticket's first read in the run, a miss (the hit share is shown, and the
  queries column counts a miss);
- ``detail hot``: the same over the newest 500 tickets, a dashboard's working set (agents open
  recent, unsolved tickets far more than old ones): mostly cache hits;
- ``create``: ``POST /api/v1/tickets/`` (with its outbox event, history row, SLA clocks and the
  search document, in one transaction; the relay publishes the events meanwhile);
- ``ceiling``: a bare DRF ``APIView`` returning a small dict (``bench/drf_ceiling``), served
  by the same gunicorn configuration with 2 sync workers, measured before and after the
  core's endpoints (other people's work on the machine changes over minutes).

For each: requests per second, p50/p95/p99 latency (wrk's Lua ``done()``), errors, the CPU
time per request of each process involved (gunicorn workers, PostgreSQL backends, Redis,
relay, wrk; from /proc) and the share of the machine other people's work took meanwhile, the
share of the ceiling both in r/s and in CPU cost per request (which moves less with other
people's load), and the SQL queries of one request (counted separately through Django's test
client with ``CaptureQueriesContext``: the whole middleware stack, the same code gunicorn runs;
the core logs only slow queries). After each wrk run the bench waits for the workers to go
idle: wrk leaves up to 64 requests in the listen backlog, which sync workers still answer.

    flock /tmp/helpdesk-bench.lock .venv/bin/python -m bench.core_api
    python -m bench.core_api --seconds 5 --warmup 1 --tickets 2000     # a quick look

Not a test: prints figures (a markdown table, then JSON), checks no thresholds. Takes about
4 to 5 minutes (the seed about 25 s). Run it only under the lock above: the machine's two cores
are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tools.stack import (
    CORE_DIR,
    ROOT,
    VENV_BIN,
    Config,
    RedisServer,
    Stack,
    free_port,
    prepare_core,
    wait_healthy,
)

HELPER = Path(__file__).resolve().parent / "core_api_data.py"
GUNICORN_CONF = CORE_DIR / "config" / "gunicorn.conf.py"
LIST = "/api/v1/tickets/"
FILTERED = "/api/v1/tickets/?status=open&priority=high"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The targets on 2 cores (reported beside the figures, never asserted).
TARGETS: dict[str, dict[str, float]] = {
    "list": {"rps": 1000, "p95_ms": 50, "queries": 5},
    "filtered": {"rps": 1000, "p95_ms": 50, "queries": 5},
    "detail": {"p95_ms": 30},
    "detail hot": {"p95_ms": 30},
    "create": {"rps": 575, "p95_ms": 100},
}

_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %.1f %.1f %.1f %.1f %.1f %.1f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(95), latency:percentile(99)))
end
"""

# Each wrk thread runs its own copy of the script; ``tid`` tells the copies apart.
_THREADS = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
counter = 0
function init(args)
  math.randomseed(os.time() * 1000 + tid)
end
"""


@dataclass(frozen=True)
class Phase:
    name: str
    what: str
    path: str  # wrk's URL path (a static request), or the first request's
    lua: str = ""  # a ``request()`` when each request differs
    queries: str | None = None  # the query-count case of core_api_data.py
    cache: str = "ticket_list"  # whose hit counter (``helpdesk_cache_lookups_total``) to read


# A dashboard's working set: agents open the recent, unsolved tickets far more than old ones.
HOT_TICKETS = 500


def phases(first: int, last: int) -> list[Phase]:
    bust = (
        'return wrk.format("GET", "{path}page_size=nocache-" .. nonce .. "-" .. tid .. "-" '
        ".. counter)"
    )
    return [
        Phase("list", f"GET {LIST} (cache as it is)", LIST, queries="list"),
        Phase(
            "list uncached",
            f"GET {LIST} (a cache miss each)",
            LIST,
            _request(bust.format(path=f"{LIST}?")),
            queries="list_uncached",
        ),
        Phase("filtered", f"GET {FILTERED} (cache as it is)", FILTERED, queries="filtered"),
        Phase(
            "filtered uncached",
            f"GET {FILTERED} (a cache miss each)",
            FILTERED,
            _request(bust.format(path=f"{FILTERED}&")),
            queries="filtered_uncached",
        ),
        _detail("detail", first, last, f"{first}..{last}", queries="detail_uncached"),
        _detail(
            "detail hot",
            max(first, last - HOT_TICKETS + 1),
            last,
            f"the newest {HOT_TICKETS}",
            queries="detail",
        ),
        Phase(
            "create",
            "POST /api/v1/tickets/ (subject, description, priority)",
            LIST,
            'wrk.headers["Content-Type"] = "application/json"\n'
            'local priorities = {"low", "normal", "normal", "high", "urgent"}\n'
            + _request(
                'local body = string.format(\'{"subject": "Bench ticket %d-%d", '
                '"description": "Opened under load by bench.core_api; the zip jams.", '
                '"priority": "%s"}\', tid, counter, priorities[counter % 5 + 1])\n'
                '  return wrk.format("POST", "/api/v1/tickets/", nil, body)'
            ),
            queries="create",
        ),
    ]


def _detail(name: str, low: int, high: int, which: str, *, queries: str) -> Phase:
    """GET /api/v1/tickets/<n>/ with n uniformly random in low..high, the cache as it is."""
    return Phase(
        name,
        f"GET /api/v1/tickets/<n>/, n random in {which} (cache as it is)",
        f"/api/v1/tickets/{low}/",
        _request(
            f'return wrk.format("GET", "/api/v1/tickets/" .. math.random({low}, {high}) .. "/")'
        ),
        queries=queries,
        cache="ticket_detail",
    )


def _request(body: str) -> str:
    return f"function request()\n  counter = counter + 1\n  {body}\nend\n"


# --- CPU accounting -----------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


@dataclass
class Processes:
    """What to account CPU to during a phase: each name, its pids (found when asked)."""

    gunicorn_master: int
    relay: int | None = None
    redis: int | None = None
    database_url: str | None = None

    def pids(self) -> dict[str, list[int]]:
        found = {"app": _children(self.gunicorn_master)}
        if self.relay is not None:
            found["relay"] = [self.relay]
        if self.redis is not None:
            found["redis"] = [self.redis]
        if self.database_url is not None:
            # The core's (and the relay's) connections: PostgreSQL runs one backend for each.
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            found["postgres"] = [int(r[0]) for r in rows]
        return found


@dataclass
class CpuSample:
    per_process: dict[str, dict[int, float]]
    wrk: float
    machine: tuple[float, float]
    at: float


def _sample(processes: Processes) -> CpuSample:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        per_process={
            name: {pid: _cpu_seconds(pid) for pid in pids}
            for name, pids in processes.pids().items()
        },
        wrk=usage.ru_utime + usage.ru_stime,
        machine=_machine_busy(),
        at=time.monotonic(),
    )


def _cpu_split(before: CpuSample, after: CpuSample, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each process group, and the machine's other load."""
    out: dict[str, float] = {}
    ours = 0.0
    for name, pids in after.per_process.items():
        spent = sum(
            cpu - before.per_process.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items()
        )
        ours += spent
        out[name] = spent * 1000 / max(requests, 1)
    wrk = after.wrk - before.wrk
    ours += wrk
    out["wrk"] = wrk * 1000 / max(requests, 1)
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    out["machine_busy_share"] = busy / total if total else 0.0
    # Everything else on the machine meanwhile (other people's work, PostgreSQL's own
    # background processes), as a share of all CPU time.
    out["other_share"] = max(0.0, busy - ours) / total if total else 0.0
    return {k: round(v, 3) for k, v in out.items()}


def settle(processes: Processes, timeout: float = 60.0) -> float:
    """Wait until the gunicorn workers are idle; returns the seconds waited.

    wrk stops with up to ``connections`` requests still queued in the listen backlog; sync
    workers answer them anyway (to closed sockets). Without this, they would run into the next
    measurement.
    """
    started = time.monotonic()
    quiet = 0
    last = sum(_cpu_seconds(pid) for pid in processes.pids()["app"])
    while quiet < 3 and time.monotonic() - started < timeout:
        time.sleep(0.2)
        now = sum(_cpu_seconds(pid) for pid in processes.pids()["app"])
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now
    return round(time.monotonic() - started, 1)


def cache_lookups(base: str, cache: str) -> dict[str, float]:
    """One of the core's cache counters (hit, miss) from its Prometheus metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:  # noqa: S310 (loopback)
        text = response.read().decode()
    found = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith(f'helpdesk_cache_lookups_total{{cache="{cache}"'):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = found.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


# --- wrk ----------------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    what: str
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p75_ms: float = 0.0
    p90_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    queries: int | None = None
    cache_hit_share: float | None = None
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)


def _script(phase: Phase, directory: Path) -> Path:
    """The phase's Lua script, anew for each wrk run: ``nonce`` keeps the cache-busting query
    strings of one run (the warm-up) from being cached answers in the next."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{phase.name.replace(' ', '_')}.lua"
    nonce = f'nonce = "{secrets.token_hex(4)}"\n'
    path.write_text(f"-- bench.core_api: {phase.what}\n{nonce}{_THREADS}{phase.lua}{_DONE}")
    return path


def wrk(
    base: str, phase: Phase, token: str, *, seconds: float, connections: int, scripts: Path
) -> Figures:
    command = [
        shutil.which("wrk") or "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",  # a slow endpoint's queue must not censor its latencies
        "-H",
        f"Authorization: Bearer {token}",
        "-s",
        str(_script(phase, scripts)),
        base + phase.path,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result for {phase.name}:\n{result.stdout}{result.stderr}")
    parts = line.split()[1:]
    requests, duration_us = int(parts[0]), int(parts[1])
    connect, read, write, status, timeout = (int(v) for v in parts[2:7])
    mean, p50, p75, p90, p95, p99 = (float(v) / 1000 for v in parts[7:13])
    return Figures(
        name=phase.name,
        what=phase.what,
        requests=requests,
        seconds=round(duration_us / 1e6, 2),
        rps=round(requests / (duration_us / 1e6), 1),
        mean_ms=round(mean, 2),
        p50_ms=round(p50, 2),
        p75_ms=round(p75, 2),
        p90_ms=round(p90, 2),
        p95_ms=round(p95, 2),
        p99_ms=round(p99, 2),
        errors={
            k: v
            for k, v in {
                "connect": connect,
                "read": read,
                "write": write,
                "http_4xx_5xx": status,
                "timeout": timeout,
            }.items()
            if v
        },
    )


def measure(
    base: str,
    phase: Phase,
    token: str,
    processes: Processes,
    *,
    seconds: float,
    warmup: float,
    connections: int,
    scripts: Path,
) -> Figures:
    log(f"{phase.name}: {phase.what}: {warmup:g} s warm-up, {seconds:g} s measured")
    if warmup > 0:
        wrk(base, phase, token, seconds=warmup, connections=connections, scripts=scripts)
        settle(processes)
    lookups = cache_lookups(base, phase.cache) if phase.queries else None
    before = _sample(processes)
    figures = wrk(base, phase, token, seconds=seconds, connections=connections, scripts=scripts)
    after = _sample(processes)
    figures.cpu_ms_per_request = _cpu_split(before, after, figures.requests)
    if lookups is not None:
        now = cache_lookups(base, phase.cache)
        hits, misses = now["hit"] - lookups["hit"], now["miss"] - lookups["miss"]
        if hits + misses:
            figures.cache_hit_share = round(hits / (hits + misses), 3)
    waited = settle(processes)
    log(
        f"  {figures.rps:,.0f} r/s, p50 {figures.p50_ms} / p95 {figures.p95_ms} / "
        f"p99 {figures.p99_ms} ms, errors {figures.errors or 'none'}, cache hits "
        f"{figures.cache_hit_share}, CPU ms/request {figures.cpu_ms_per_request}; "
        f"{waited} s for the backlog to drain"
    )
    return figures


# --- The processes ------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[core_api {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of our own (created, then dropped), as ``temporary_stack`` does."""
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")
    base = server.rsplit("/", 1)[0]
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def helper(cfg: Config, *args: str) -> dict[str, Any]:
    """Run core_api_data.py in the core's directory with the core's environment."""
    out = cfg.run_dir / f"helper-{args[0]}.json"
    env = {**cfg.core_env(), "PYTHONPATH": str(CORE_DIR)}
    subprocess.run(
        [str(VENV_BIN / "python"), str(HELPER), *args, "--out", str(out)],
        cwd=CORE_DIR,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def outbox_backlog(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM outbox_outboxevent"
        ).fetchone()
    assert row is not None
    return {"events": int(row[0]), "unpublished": int(row[1])}


def run_core(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """Everything about the core: start, seed, count queries, load each endpoint."""
    with database("helpdesk_apibench") as database_url:
        redis = RedisServer(port=free_port(), workdir=run_dir / "redis")
        redis.start()
        stack: Stack | None = None
        try:
            cfg = Config(
                run_dir=run_dir,
                redis_url=redis.url,
                secret_key=secrets.token_urlsafe(64),
                realtime_secret=secrets.token_urlsafe(48),
                database_url=database_url,
                core_port=free_port(),
                ai_port=free_port(),
                realtime_port=free_port(),
                gateway_port=None,
                web_workers=args.workers,
                app_rate_limits=False,  # RATE_LIMITS_ENABLED=0
                log_level=args.log_level,
            )
            started = time.monotonic()
            log("migrating and seeding the demo data")
            prepare_core(cfg, demo_output=run_dir / "demo.json")
            prepared = round(time.monotonic() - started, 1)
            demo = json.loads((run_dir / "demo.json").read_text())
            org = demo["orgs"][0]
            token = org["agents"][0]["token"]
            log(f"seeding {args.tickets:,} tickets into {org['slug']!r}")
            seeded = helper(cfg, "seed", "--org", org["slug"], "--tickets", str(args.tickets))
            log(f"  seeded in {seeded['seconds']} s: {seeded}")
            stack = Stack(cfg, with_gateway=False)
            stack.start("core", "relay")
            base = cfg.url("core")
            assert base is not None
            log("counting queries per request (Django test client, CaptureQueriesContext)")
            counted = helper(
                cfg,
                "queries",
                "--org",
                org["slug"],
                "--token",
                token,
                "--number",
                str(seeded["first_number"] + args.tickets // 2),
                "--list",
                LIST,
                "--filtered",
                FILTERED,
            )
            processes = Processes(
                gunicorn_master=stack.processes["core"].pid,
                relay=stack.processes["relay"].pid,
                redis=redis.process.pid if redis.process else None,
                database_url=database_url,
            )
            # The ceiling before and after the core's endpoints: other people's work on the
            # machine changes over minutes, and each figure is read against the ceiling.
            ceilings = [run_ceiling(args, run_dir)]
            results: list[Figures] = []
            scripts = run_dir / "lua"
            for phase in phases(seeded["first_number"], seeded["last_number"]):
                figures = measure(
                    base,
                    phase,
                    token,
                    processes,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    connections=args.connections,
                    scripts=scripts,
                )
                if phase.queries is not None:
                    figures.queries = counted[phase.queries]["queries"]
                results.append(figures)
            backlog = outbox_backlog(database_url)
            ceilings.append(run_ceiling(args, run_dir))
            return {
                "results": results,
                "ceilings": ceilings,
                "seeded": seeded,
                "queries": counted,
                "outbox_after_create": backlog,
                "prepare_seconds": prepared,
            }
        finally:
            if stack is not None:
                stack.stop()
            redis.stop()


@contextmanager
def ceiling_server(args: argparse.Namespace, run_dir: Path) -> Iterator[tuple[str, int]]:
    """bench/drf_ceiling under gunicorn with the core's configuration file."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.drf_ceiling.settings",
        CORE_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(args.workers),
        LOG_LEVEL=args.log_level,
        PYTHONUNBUFFERED="1",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    with (run_dir / "logs" / "ceiling.log").open("ab") as output:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "-c",
                str(GUNICORN_CONF),
                "bench.drf_ceiling.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy({"ceiling": f"http://127.0.0.1:{port}/ceiling/"}, 30)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_ceiling(args: argparse.Namespace, run_dir: Path) -> Figures:
    with ceiling_server(args, run_dir) as (base, pid):
        phase = Phase("ceiling", "bare DRF APIView, a small dict (bench/drf_ceiling)", "/ceiling/")
        scripts = run_dir / "lua"
        return measure(
            base,
            phase,
            "unused",
            Processes(gunicorn_master=pid),
            seconds=args.seconds,
            warmup=args.warmup,
            connections=args.connections,
            scripts=scripts,
        )


# --- The report ---------------------------------------------------------------------------------


def _target(name: str, figures: Figures) -> tuple[str, str]:
    key = name.replace(" uncached", "")
    target = TARGETS.get(key)
    if target is None:
        return "", ""
    said: list[str] = []
    met = True
    if "p95_ms" in target:
        said.append(f"p95 ≤ {target['p95_ms']:g} ms")
        met &= figures.p95_ms <= target["p95_ms"]
    if "rps" in target:
        said.append(f"≥ {target['rps']:,.0f} r/s")
        met &= figures.rps >= target["rps"]
    if "queries" in target:
        said.append(f"≤ {target['queries']:g} queries")
        met &= figures.queries is not None and figures.queries <= target["queries"]
    met &= not figures.errors
    return ", ".join(said), "yes" if met else "no"


def cost(figures: Figures) -> float:
    """CPU milliseconds per request of every process serving it, wrk included."""
    cpu = figures.cpu_ms_per_request
    return sum(cpu.get(k, 0.0) for k in ("app", "postgres", "redis", "relay", "wrk"))


def table(
    results: list[Figures], ceilings: list[Figures], ceiling_rps: float, ceiling_cost: float
) -> str:
    lines = [
        "| endpoint | r/s | p50 / p95 / p99 ms | queries | cache hits "
        "| share of ceiling: r/s / CPU cost | CPU ms per request: app / postgres / redis / wrk "
        "| others' share of the CPU | target | met |",
        "| --- | ---: | --- | ---: | ---: | --- | --- | ---: | --- | --- |",
    ]
    for f in [*results, *ceilings]:
        cpu = f.cpu_ms_per_request
        target, met = _target(f.name, f)
        hits = "-" if f.cache_hit_share is None else f"{f.cache_hit_share:.0%}"
        lines.append(
            f"| {f.name} | {f.rps:,.0f} | {f.p50_ms:.1f} / {f.p95_ms:.1f} / {f.p99_ms:.1f} "
            f"| {'-' if f.queries is None else f.queries} | {hits} "
            f"| {f.rps / ceiling_rps:.2f} / {ceiling_cost / max(cost(f), 1e-9):.2f} "
            f"| {cpu.get('app', 0):.2f} / {cpu.get('postgres', 0):.2f} / "
            f"{cpu.get('redis', 0):.2f} / {cpu.get('wrk', 0):.2f} "
            f"| {cpu.get('other_share', 0):.0%} | {target} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15, help="measured, per endpoint")
    parser.add_argument("--warmup", type=float, default=3, help="before each measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="the core's LOG_LEVEL (INFO, production's: one access line per request)",
    )
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="helpdesk-apibench-"))
    try:
        core = run_core(args, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    results: list[Figures] = core["results"]
    ceilings: list[Figures] = core["ceilings"]
    ceilings[0].name, ceilings[1].name = "ceiling (before)", "ceiling (after)"
    ceiling_rps = sum(c.rps for c in ceilings) / len(ceilings)
    ceiling_cost = sum(cost(c) for c in ceilings) / len(ceilings)
    little = args.connections / 0.050
    report = {
        "benchmark": "core REST API, wrk direct to gunicorn (no nginx), loopback",
        "cores": os.cpu_count(),
        "connections": args.connections,
        "seconds_per_endpoint": args.seconds,
        "warmup_seconds": args.warmup,
        "gunicorn_sync_workers": args.workers,
        "core_log_level": args.log_level,
        "app_rate_limits": "off (RATE_LIMITS_ENABLED=0)",
        "seeded": core["seeded"],
        "prepare_seconds": core["prepare_seconds"],
        "outbox_after_create": core["outbox_after_create"],
        "endpoints": [
            {
                **asdict(f),
                "cpu_ms_per_request_total": round(cost(f), 3),
                "share_of_ceiling_rps": round(f.rps / ceiling_rps, 3),
                "share_of_ceiling_cpu_cost": round(ceiling_cost / max(cost(f), 1e-9), 3),
            }
            for f in results
        ],
        "ceilings": [
            {**asdict(c), "cpu_ms_per_request_total": round(cost(c), 3)} for c in ceilings
        ],
        "ceiling_rps_mean": round(ceiling_rps, 1),
        "ceiling_cpu_ms_per_request_mean": round(ceiling_cost, 3),
        "queries": {
            k: {key: v[key] for key in ("status", "queries", "transaction_control")}
            for k, v in core["queries"].items()
        },
        "targets": TARGETS,
        "littles_law": (
            f"{args.connections} connections with p95 ≤ 50 ms need a mean under 50 ms, "
            f"so ≥ {little:,.0f} r/s"
        ),
        "run_seconds": round(time.monotonic() - started, 1),
    }
    print(
        f"\nCore REST API, {args.connections} connections, {args.seconds:g} s per endpoint "
        f"after {args.warmup:g} s of warm-up, {os.cpu_count()} cores shared by gunicorn "
        f"({args.workers} sync workers), PostgreSQL, Redis and wrk; "
        f"{core['seeded']['tickets']:,} tickets with {core['seeded']['comments']:,} comments; "
        f"the core's rate limits off; run took {report['run_seconds']:.0f} s.\n"
    )
    print(table(results, ceilings, ceiling_rps, ceiling_cost))
    transaction_control = core["queries"]["create"]["transaction_control"]
    notes = [
        f"Share of ceiling: r/s over the mean of the two ceiling runs ({ceiling_rps:,.0f} r/s), "
        f"and the ceiling's CPU time per request ({ceiling_cost:.2f} ms, gunicorn and wrk) over "
        "the endpoint's (gunicorn, PostgreSQL, Redis, relay, wrk): what the r/s share would be "
        "on an otherwise idle machine; it moves less with other people's load.",
        f"Little's law: {report['littles_law']}.",
        "Queries: one request per endpoint through the test client (CaptureQueriesContext), "
        f"BEGIN and COMMIT included ({transaction_control} of the create's); a token's "
        "last-used time adds one UPDATE at most once a minute (not counted).",
        f"Outbox after the create run: {core['outbox_after_create']} (the relay kept up when "
        "none is unpublished).",
    ]
    print()
    for note in notes:
        print(textwrap.fill(note, 100, subsequent_indent="  "))
    print()
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
