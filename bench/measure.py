"""One size's measurements, in a process whose settings point at that size's throwaway database.

    DATABASE_URL=postgres://…/qms_bench python -m bench.measure --size 100000 --out result.json

``bench.run`` starts it; it is not meant to be run by hand (it files stubs and runs the sweep for real).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")

import django

django.setup()

from django.apps import apps  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import NoReverseMatch, get_resolver, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.errors import NoData, NotBuilt  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.scenarios import JOBS, PAGES, Job, Page  # noqa: E402

PERSONAS = {"commander": "seed-commander-1", "qms": "seed-qms-1", "oncall": "seed-oncall-1"}
WARMUP = 3


class Context:
    def __init__(self, *, size: int, job_budget: float):
        from qms.models import User

        self.size, self.job_budget = size, job_budget
        self.users = {persona: User.objects.get(username=name) for persona, name in PERSONAS.items()}
        first_of_month = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        self.last_month_start = (first_of_month - timedelta(days=1)).replace(day=1)

    def newest(self, label: str, field_name: str, **filters):
        try:
            model = apps.get_model(label)
        except LookupError as exc:
            raise NotBuilt(f"no model {label} yet") from exc
        value = model._default_manager.filter(**filters).order_by("-pk").values_list(field_name, flat=True).first()
        if value is None:
            raise NoData(f"the seed writes no {label} yet")
        return value


def url_name_exists(name: str) -> bool:
    resolver = get_resolver()
    *namespaces, short = name.split(":")
    for namespace in namespaces:
        if namespace not in resolver.namespace_dict:
            return False
        resolver = resolver.namespace_dict[namespace][1]
    return short in resolver.reverse_dict


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def measure_page(page: Page, ctx: Context, samples: int) -> dict:
    row = {"name": page.name, "url_name": page.url_name, "persona": page.persona, "method": page.method}
    try:
        if not url_name_exists(page.url_name):
            raise NotBuilt(f"no URL named {page.url_name!r} yet")
        url = reverse(page.url_name, kwargs=page.kwargs(ctx) if page.kwargs else None)
    except NotBuilt as exc:
        return {**row, "status": "not built yet", "detail": str(exc)}
    except NoData as exc:
        return {**row, "status": "no data", "detail": str(exc)}
    except NoReverseMatch as exc:
        return {**row, "status": "error", "detail": str(exc)}
    client = Client()
    client.force_login(ctx.users[page.persona])
    counter = [0]

    def hit():
        counter[0] += 1
        response = client.post(url, page.data(counter[0])) if page.method == "POST" else client.get(url)
        if response.status_code != page.expect:
            raise AssertionError(f"{page.method} {url} answered {response.status_code}: {response.content[:300]!r}")
        return response

    n = page.samples or samples
    try:
        for _ in range(WARMUP):
            hit()
        with CaptureQueriesContext(connection) as queries:
            hit()
        query_count = len(queries)  # now: the log is reset by the requests that follow
        times = []
        for _ in range(n):
            started = time.perf_counter()
            hit()
            times.append((time.perf_counter() - started) * 1000)
    except Exception as exc:  # one broken page must not hide the others
        traceback.print_exc()
        return {**row, "status": "error", "detail": str(exc)[:300]}
    return {
        **row,
        "status": "ok",
        "url": url,
        "samples": n,
        "p50_ms": statistics.median(times),
        "p95_ms": percentile(times, 95),
        "queries": query_count,
        "target_p95_ms": page.target_p95_ms,
        "target_ratio": page.target_ratio,
        "target_queries": page.target_queries,
        "baseline": page.baseline,
    }


def run_job(job: Job, ctx: Context) -> dict:
    row = {"name": job.name, "target_seconds": job.target_seconds}
    try:
        return {**row, "status": "ok", **job.run(ctx)}
    except NotBuilt as exc:
        return {**row, "status": "not built yet", "detail": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        return {**row, "status": "error", "detail": str(exc)[:300]}


def table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for label in (
            "emergencies.ChangeRecord",
            "emergencies.Incident",
            "emergencies.BypassRequest",
            "emergencies.CCBSession",
            "emergencies.Vote",
            "emergencies.PostMortem",
            "emergencies.ActionItem",
            "audits.Obligation",
            "audits.AuditEvent",
            "qms.Notification",
            "qms.Signature",
        ):
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
            counts[label] = cursor.fetchone()[0]
        history = 0
        for model in apps.get_models():
            if model.__name__.startswith("Historical"):
                cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
                history += cursor.fetchone()[0]
        counts["history rows"] = history
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--job-budget", type=float, default=60.0)
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--load-seconds", type=float, default=15.0)
    parser.add_argument("--load-workers", type=int, default=4)
    parser.add_argument("--load-concurrency", type=int, default=8)
    parser.add_argument("--load-filings", type=int, default=70)
    args = parser.parse_args(argv)

    ctx = Context(size=args.size, job_budget=args.job_budget)
    result = {"size": args.size, "counts": table_counts(), "pages": [], "jobs": [], "load": []}
    for page in PAGES:
        row = measure_page(page, ctx, args.samples)
        print(f"  {page.name:<28} {_summary(row)}", flush=True)
        result["pages"].append(row)
    if args.load:
        client = Client()
        client.force_login(ctx.users["commander"])  # the dashboard's persona above; commanders file too
        try:
            result["load"] = run_load(
                session_cookie=client.cookies["sessionid"].value,
                workers=args.load_workers,
                concurrency=args.load_concurrency,
                seconds=args.load_seconds,
                filings=args.load_filings,
                log_dir=args.out.parent,
            )
        except Exception as exc:
            traceback.print_exc()
            result["load"] = [{"name": "load", "status": "error", "detail": str(exc)[:300]}]
        for row in result["load"]:
            print(f"  load: {row['name']:<34} {row.get('rps', 0):8.1f} req/s  ({row.get('ok')} ok)", flush=True)
    for job in JOBS:
        row = run_job(job, ctx)
        print(f"  job: {job.name:<23} {row['status']} {row.get('seconds', '')}", flush=True)
        result["jobs"].append(row)
    _purge_broker()
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


def _summary(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('detail', '')}"
    return f"p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  {row['queries']:3d} queries"


def _purge_broker() -> None:
    """The filings and the sweep published notification tasks no worker consumes; drop them."""
    from qms.celery import app

    try:
        app.control.purge()
    except Exception as exc:  # the broker is optional for the measurements themselves
        print(f"  (could not purge the bench broker: {exc})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
