"""Accuracy, calibration and speed of the AI service's classification, through its HTTP API.

Starts the AI service (uvicorn) and its worker (``python -m app.worker --only training``) as
separate processes on a free port, with a key prefix and a model folder of their own on the Redis
at ``REDIS_URL``; writes one API token record into Redis as core would; then:

1. BANKING77 (``--banking77``, default ``../shared/datasets/banking77``): trains on train.csv
   through ``POST /ai/v1/models`` and evaluates test.csv through ``/classify/batch``: accuracy,
   macro-F1, expected calibration error (15 bins), training time (queued to ready);
2. the same with 10 examples per intent (seeded sample);
3. CLINC150 (``--clinc150``): trains on the 150 in-scope intents, then in-scope accuracy (an
   unsure answer counts as wrong) and out-of-scope recall (unsure answers on ``oos_test``) at the
   service's threshold (``AI_CONFIDENCE_THRESHOLD``), and at a few others for comparison;
4. speed, under ``flock /tmp/helpdesk-bench.lock``: one text in process (p50/p99), one text over
   HTTP, sequential on one keep-alive connection (p50/p99), and requests per second with wrk at
   32 connections. Latency is measured at concurrency 1 and throughput at 32: by Little's law
   p99 <= 5 ms at 32 connections would need > 6,400 r/s, so the two are not one measurement;
5. the accurate tier (``"tier": "accurate"``: TF-IDF + all-MiniLM-L6-v2 sentence embeddings), when
   it is installed in the Python that runs this (README of the AI service: "The accurate tier";
   skipped with the reason otherwise): BANKING77 full and 10 per intent as in 1 and 2, then one
   text in process and over HTTP (p50/p99) and wrk at 32 connections, with that model.

    flock /tmp/helpdesk-bench.lock .venv/bin/python -m bench.ai_classify
    python -m bench.ai_classify --skip-accuracy      # speed only (trains BANKING77 still)
    python -m bench.ai_classify --only-accurate      # section 5 alone

Not a test: prints figures, checks no thresholds.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import redis

from helpdesk_shared.tokens import ApiTokenRecord, api_token_key
from tools.stack import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
AI_DIR = ROOT / "services" / "ai-fastapi"
DATASETS = ROOT.parent / "shared" / "datasets"

BATCH = 100


def expected_calibration_error(confidence: Any, correct: Any, bins: int = 15) -> float:
    """As the service computes it (app/ml/metrics.py): top-label confidence, equal bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


class Service:
    """The AI service and its training worker as child processes."""

    def __init__(self, workers: int) -> None:
        self.port = free_port()
        self.prefix = f"bench:ai:{secrets.token_hex(4)}:"
        self.model_dir = Path(tempfile.mkdtemp(prefix="ai-bench-models-"))
        self.redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.redis = redis.Redis.from_url(self.redis_url)
        self.token = secrets.token_urlsafe(32)
        record = ApiTokenRecord(
            organization_id=1, user_id=1, role="bot", scopes=["ai:classify", "ai:train"]
        )
        self.redis.set(api_token_key(self.token), record.model_dump_json(), ex=6 * 3600)
        env = {
            **os.environ,
            "ENVIRONMENT": "local",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": self.redis_url,
            "AI_MODEL_DIR": str(self.model_dir),
            "AI_KEY_PREFIX": self.prefix,
            "AI_RATE_LIMIT": "1000000/second",
            "AI_TRAIN_RATE_LIMIT": "1000/minute",
            "AI_BATCH_MAX_ITEMS": str(BATCH),
        }
        python = str(Path(sys.executable))
        uvicorn = [python, "-m", "uvicorn", "app.main:app", "--port", str(self.port)]
        uvicorn += ["--no-access-log", "--workers", str(workers)]
        log = (self.model_dir / "service.log").open("ab")
        self.processes = [
            subprocess.Popen(uvicorn, cwd=AI_DIR, env=env, stdout=log, stderr=log),
            subprocess.Popen(
                [python, "-m", "app.worker", "--only", "training"],
                cwd=AI_DIR,
                env=env,
                stdout=log,
                stderr=log,
            ),
        ]
        self.url = f"http://127.0.0.1:{self.port}"
        wait_healthy({"ai": f"{self.url}/health/"}, timeout=180)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (loopback)
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
            return json.loads(response.read())

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(30)
        for key in self.redis.scan_iter(match=f"{self.prefix}*"):
            self.redis.delete(key)
        self.redis.delete(api_token_key(self.token))
        shutil.rmtree(self.model_dir, ignore_errors=True)


def train(
    service: Service, name: str, rows: list[tuple[str, str]], tier: str = "standard"
) -> dict[str, Any]:
    started = time.perf_counter()
    examples = [{"text": text, "label": label} for text, label in rows]
    body = {"name": name, "examples": examples, "tier": tier}
    record = service.call("POST", "/ai/v1/models", body)
    while record["status"] not in ("ready", "failed"):
        time.sleep(0.5)
        record = service.call("GET", f"/ai/v1/models/{record['id']}")
    record["wall_seconds"] = round(time.perf_counter() - started, 1)
    if record["status"] != "ready":
        raise RuntimeError(f"training {name} failed: {record['error']}")
    return dict(record)


def predict(service: Service, model_id: str, texts: list[str]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for i in range(0, len(texts), BATCH):
        items = [{"body": text} for text in texts[i : i + BATCH]]
        answer = service.call("POST", "/ai/v1/classify/batch", {"items": items, "model": model_id})
        out += [(it["category"]["label"], it["category"]["confidence"]) for it in answer["items"]]
    return out


def scores(truth: list[str], predicted: list[tuple[str, float]]) -> dict[str, float]:
    labels = sorted(set(truth))
    correct = np.array([p[0] == t for p, t in zip(predicted, truth, strict=True)])
    f1s = []
    for label in labels:
        tp = sum(1 for p, t in zip(predicted, truth, strict=True) if p[0] == label == t)
        fp = sum(1 for p, t in zip(predicted, truth, strict=True) if p[0] == label != t)
        fn = sum(1 for p, t in zip(predicted, truth, strict=True) if t == label != p[0])
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    confidence = np.array([p[1] for p in predicted])
    return {
        "accuracy": round(float(correct.mean()), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "ece": round(expected_calibration_error(confidence, correct), 4),
    }


def read_csv(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def banking77(
    service: Service, folder: Path, results: dict[str, Any], tier: str = "standard"
) -> tuple[str, list[str]]:
    """Train on train.csv (all of it, then 10 per intent) and score test.csv, into ``results``;
    return the full model's id and the test texts."""
    train_rows, test_rows = read_csv(folder / "train.csv"), read_csv(folder / "test.csv")
    texts, truth = [t for t, _ in test_rows], [label for _, label in test_rows]
    name = "banking77" if tier == "standard" else f"banking77-{tier}"
    label = "banking77" if tier == "standard" else f"{tier} banking77"
    full = train(service, name, train_rows, tier=tier)
    results["banking77_full"] = {
        **scores(truth, predict(service, full["id"], texts)),
        "training_seconds": full["training_seconds"],
        "queued_to_ready_seconds": full["wall_seconds"],
        "hyperparameters": full["hyperparameters"],
        "held_out_metrics_reported_by_api": {
            k: full["metrics"][k] for k in ("accuracy", "macro_f1", "ece")
        },
    }
    print(f"{label} full", results["banking77_full"], flush=True)
    ten = train(service, f"{name}-10shot", ten_per_intent(train_rows), tier=tier)
    results["banking77_10_per_intent"] = {
        **scores(truth, predict(service, ten["id"], texts)),
        "training_seconds": ten["training_seconds"],
    }
    print(f"{label} 10-shot", results["banking77_10_per_intent"], flush=True)
    return str(full["id"]), texts


def available_tier() -> str | None:
    """Why the accurate tier cannot run with this Python (None: it can)."""
    out = subprocess.run(
        [sys.executable, "-c", "from app.ml.embeddings import available; print(available() or '')"],
        cwd=AI_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return out or None


def accurate_tier(
    service: Service, folder: Path, results: dict[str, Any], wrk_seconds: int
) -> None:
    figures: dict[str, Any] = {}
    model_id, texts = banking77(service, folder, figures, tier="accurate")
    sample = random.Random(1).sample(texts, 1000)  # noqa: S311
    figures["in_process_banking77_model"] = in_process_latency(sample, service.model_dir, model_id)
    figures["http_sequential_banking77_model"] = http_latency(service, sample, model_id)
    text = "I still have not received my new card, I ordered over a week ago."
    figures["wrk_32_connections_banking77_model"] = wrk(service, text, model_id, wrk_seconds)
    results["accurate_tier"] = figures


def ten_per_intent(train_rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in train_rows:
        by_label[row[1]].append(row)
    rng = random.Random(77)  # noqa: S311 (a sample, not a secret)
    return [row for rows in by_label.values() for row in rng.sample(rows, 10)]


def clinc150(service: Service, folder: Path, threshold: float, results: dict[str, Any]) -> None:
    data = json.loads((folder / "data_full.json").read_text(encoding="utf-8"))
    model = train(service, "clinc150", [(t, label) for t, label in data["train"]])
    in_scope = predict(service, model["id"], [t for t, _ in data["test"]])
    oos = predict(service, model["id"], [t for t, _ in data["oos_test"]])
    truth = [label for _, label in data["test"]]
    figures: dict[str, Any] = {"training_seconds": model["training_seconds"]}
    for t in sorted({threshold, 0.3, 0.5, 0.7}):
        accurate = [p[0] == y and p[1] >= t for p, y in zip(in_scope, truth, strict=True)]
        figures[f"threshold_{t}"] = {
            "in_scope_accuracy": round(sum(accurate) / len(truth), 4),
            "oos_recall": round(sum(p[1] < t for p in oos) / len(oos), 4),
        }
    figures["in_scope_accuracy_without_threshold"] = scores(truth, in_scope)["accuracy"]
    results["clinc150"] = figures
    print("clinc150", figures, flush=True)


# Runs inside services/ai-fastapi (its own ``app`` package), timing Classifier.classify: with the
# default models, or with a trained category model (argv[2], its artifact in the model folder).
_IN_PROCESS = """
import json, pickle, sys, time
from app.ml.classifier import CategoryModel, Classifier
from app.ml.defaults import load_or_train
from app.ml.language import DEFAULT_LANGUAGES, LanguageModel
from app.ml.store import LocalArtifactStore
from pathlib import Path
texts = json.load(sys.stdin)
store = LocalArtifactStore(Path(sys.argv[1]))
bundle = load_or_train(store)
classifier = Classifier(bundle, LanguageModel(DEFAULT_LANGUAGES.split(",")), 0.5)
category = None
if len(sys.argv) > 2:
    model = pickle.loads(store.get(f"models/{sys.argv[2]}.pkl"))
    model.prepare()
    category = CategoryModel(sys.argv[2], "bench", model)
timings = []
for text in texts:
    started = time.perf_counter()
    classifier.classify("", text, category)
    timings.append((time.perf_counter() - started) * 1000)
print(json.dumps(timings))
"""


def in_process_latency(
    texts: list[str], model_dir: Path, model_id: str | None = None
) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, str(model_dir), *([model_id] if model_id else [])],
        cwd=AI_DIR,
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    timings = json.loads(out.strip().splitlines()[-1])
    return {
        "p50_ms": round(percentile(timings, 0.5), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
    }


def http_latency(service: Service, texts: list[str], model_id: str | None) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    headers = {"Authorization": f"Bearer {service.token}", "Content-Type": "application/json"}
    timings = []
    for text in texts:
        body: dict[str, Any] = {"body": text}
        if model_id:
            body["model"] = model_id
        payload = json.dumps(body)
        started = time.perf_counter()
        connection.request("POST", "/ai/v1/classify", payload, headers)
        response = connection.getresponse()
        response.read()
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    connection.close()
    return {
        "p50_ms": round(percentile(timings, 0.5), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
    }


def wrk(service: Service, text: str, model_id: str | None, seconds: int) -> dict[str, Any]:
    body: dict[str, Any] = {"body": text}
    if model_id:
        body["model"] = model_id
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {service.token}"\n'
    )
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c32",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"{service.url}/ai/v1/classify",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()
    rps = next(
        float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec")
    )
    non2xx = next((line for line in out.splitlines() if "Non-2xx" in line), "")
    latency = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.strip().startswith(("50%", "99%"))
    }
    return {"requests_per_second": rps, "latency_at_32": latency, "errors": non2xx.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ai_classify")
    parser.add_argument(
        "--banking77",
        type=Path,
        default=Path(os.environ.get("BANKING77_DIR", DATASETS / "banking77")),
    )
    parser.add_argument(
        "--clinc150", type=Path, default=Path(os.environ.get("CLINC150_DIR", DATASETS / "clinc150"))
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers for throughput")
    parser.add_argument("--wrk-seconds", type=int, default=15)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument(
        "--only-accurate", action="store_true", help="the accurate tier's section alone"
    )
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    threshold = float(os.environ.get("AI_CONFIDENCE_THRESHOLD", "0.5"))
    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "threshold": threshold}

    missing = available_tier()
    results["accurate_tier_installed"] = missing or True
    service = Service(args.workers)
    try:
        if args.only_accurate:
            if missing is not None:
                raise SystemExit(f"the accurate tier cannot run: {missing}")
            accurate_tier(service, args.banking77, results, args.wrk_seconds)
            return
        test_texts = [t for t, _ in read_csv(args.banking77 / "test.csv")]
        if args.skip_accuracy:
            full = train(service, "banking77", read_csv(args.banking77 / "train.csv"))
            model_id = str(full["id"])
        else:
            model_id, _ = banking77(service, args.banking77, results)
            clinc150(service, args.clinc150, threshold, results)
        sample = random.Random(1).sample(test_texts, 2000)  # noqa: S311
        results["in_process_default_models"] = in_process_latency(sample, service.model_dir)
        results["http_sequential_default_model"] = http_latency(service, sample, None)
        results["http_sequential_banking77_model"] = http_latency(service, sample, model_id)
        text = "I still have not received my new card, I ordered over a week ago."
        results["wrk_32_connections_default_model"] = wrk(service, text, None, args.wrk_seconds)
        results["wrk_32_connections_banking77_model"] = wrk(
            service, text, model_id, args.wrk_seconds
        )
        results["uvicorn_workers"] = args.workers
        if missing is None and not args.skip_accuracy:
            accurate_tier(service, args.banking77, results, args.wrk_seconds)
        else:
            print(f"accurate tier skipped: {missing or '--skip-accuracy'}", flush=True)
    finally:
        service.stop()
        print(json.dumps(results, indent=2))
        if args.output:
            args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
