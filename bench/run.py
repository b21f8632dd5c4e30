"""The benchmark: seed each size into its own PostgreSQL database, measure, print and save the results.

    make bench                                    # 10^3 and 10^5 changes
    .venv/bin/python -m bench.run --sizes 1000    # quicker
    .venv/bin/python -m bench.run --help

Databases (never the test or development ones): each size is seeded once into a template database
``<name>_seed_<size>_<key>`` (the key changes with the migrations and the seeder, so stale seeds are
rebuilt), and every run measures a fresh copy of it, ``<name>`` (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/qms_bench``), because filing stubs and the sweep write.

Results: a table on stdout, ``bench/results/latest.json`` (everything) and ``bench/results/latest.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import dj_database_url
import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/qms_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
TARGET_P95_PAGES = ("dashboard", "change list")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated numbers of changes (1000,100000)")
    parser.add_argument("--samples", type=int, default=60, help="timed requests per page (60)")
    parser.add_argument("--job-budget", type=float, default=60.0, help="seconds the sweep may run before projecting")
    parser.add_argument("--no-load", action="store_true", help="skip the gunicorn load test")
    parser.add_argument("--load-seconds", type=float, default=15.0, help="seconds of dashboard reads (15)")
    parser.add_argument("--load-workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--load-concurrency", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--reseed", action="store_true", help="seed again even if a seeded database exists")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    db = dj_database_url.parse(url)
    if not db["ENGINE"].endswith("postgresql"):
        sys.exit("The benchmark runs on PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    server = Postgres(db)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs = {}
    for size in sizes:
        print(f"\n== {size:,} changes ==", flush=True)
        template = server.seeded_template(size, reseed=args.reseed)
        server.recreate(db["NAME"], template=template)
        out = args.out_dir / f".measure-{size}.json"
        command = [sys.executable, "-m", "bench.measure", "--size", str(size), "--out", str(out)]
        command += ["--samples", str(args.samples), "--job-budget", str(args.job_budget)]
        if not args.no_load and size == sizes[-1]:
            command += ["--load", "--load-seconds", str(args.load_seconds), "--load-workers", str(args.load_workers)]
            command += ["--load-concurrency", str(args.load_concurrency)]
        subprocess.run(command, cwd=BASE_DIR, env=bench_env(server.url(db["NAME"])), check=True)  # noqa: S603
        runs[size] = json.loads(out.read_text())
        out.unlink()
    results = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain")),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgres": server.version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "method": {
            "pages": f"in-process Django test client, DEBUG off, {args.samples} timed requests after {3} warm-up",
            "load": f"gunicorn, {args.load_workers} sync workers, {args.load_concurrency} concurrent clients",
        },
        "sizes": sizes,
        "runs": {str(size): run for size, run in runs.items()},
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    results["targets"] = check_targets(results)
    markdown = render_markdown(results)
    (args.out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out_dir / "latest.md").write_text(markdown)
    print("\n" + markdown)
    print(f"Saved {args.out_dir / 'latest.json'} and {args.out_dir / 'latest.md'}.")
    return 0


def bench_env(database_url: str) -> dict:
    """Production settings (DEBUG off) over plain HTTP on loopback, on the bench database and broker."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "qms.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER_URL),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        # Measure the server, not the API's per-user throttle.
        "API_USER_RATE": "1000000/minute",
        "LOG_LEVEL": "WARNING",
    }


class Postgres:
    """The PostgreSQL server the bench databases live on (through its maintenance database)."""

    def __init__(self, db: dict):
        self.db = db
        self.admin = psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        )

    def url(self, name: str) -> str:
        user = quote(self.db["USER"] or "", safe="")
        password = f":{quote(self.db['PASSWORD'], safe='')}" if self.db["PASSWORD"] else ""
        return f"postgres://{user}{password}@{self.db['HOST'] or '127.0.0.1'}:{self.db['PORT'] or 5432}/{name}"

    def version(self) -> str:
        return self.admin.execute("SHOW server_version").fetchone()[0]

    def exists(self, name: str) -> bool:
        return self.admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def recreate(self, name: str, *, template: str | None = None) -> None:
        self.drop(name)
        self.admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def seeded_template(self, size: int, *, reseed: bool) -> str:
        prefix = f"{self.db['NAME']}_seed_{size}_"
        name = prefix + seed_key()
        if self.exists(name) and not reseed:
            print(f"Reusing {name} (seeded earlier with the same migrations and seeder).", flush=True)
            return name
        stale = self.admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix.replace("_", r"\_") + "%"]
        ).fetchall()
        for (old,) in stale:
            self.drop(old)
        building = f"{name}_building"
        self.recreate(building)
        env = bench_env(self.url(building))
        started = time.monotonic()
        print(f"Seeding {size:,} changes into {name} (once; later runs reuse it)…", flush=True)
        manage = [sys.executable, "manage.py"]
        for command in (["migrate", "--no-input", "-v", "0"], ["seed_bulk", "--changes", str(size), "--force"]):
            subprocess.run([*manage, *command], cwd=BASE_DIR, env=env, check=True)  # noqa: S603
        self.admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        print(f"Seeded in {time.monotonic() - started:.0f} s.", flush=True)
        return name


def seed_key() -> str:
    """Changes whenever the schema or the seeder changes, so a stale seeded database is rebuilt."""
    digest = hashlib.sha256()
    seeder = BASE_DIR / "audits" / "management" / "bulk"  # the bulk generator seed_bulk runs
    paths = [*sorted(BASE_DIR.glob("*/migrations/*.py")), *sorted(seeder.glob("*.py"))]
    for path in paths:
        digest.update(str(path.relative_to(BASE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _git(*args) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True, check=True)  # noqa: S603,S607
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# --- report -------------------------------------------------------------------------------------------


def check_targets(results: dict) -> list[dict]:
    sizes = results["sizes"]
    small, large = results["runs"][str(sizes[0])], results["runs"][str(sizes[-1])]
    checks = []
    if len(sizes) > 1:
        for page_small, page_large in zip(small["pages"], large["pages"], strict=True):
            if page_small["status"] == page_large["status"] == "ok":
                same = page_small["queries"] == page_large["queries"]
                checks.append(
                    {
                        "target": f"{page_small['name']}: same query count at {sizes[0]:,} and {sizes[-1]:,}",
                        "met": same,
                        "value": f"{page_small['queries']} / {page_large['queries']}",
                    }
                )
    for page in large["pages"]:
        if page.get("target_p95_ms") and page["status"] == "ok":
            checks.append(
                {
                    "target": f"{page['name']}: p95 under {page['target_p95_ms']:.0f} ms at {sizes[-1]:,}",
                    "met": page["p95_ms"] < page["target_p95_ms"],
                    "value": f"{page['p95_ms']:.1f} ms",
                }
            )
    base = next((p for p in large["pages"] if p.get("baseline") and p["status"] == "ok"), None)
    for page in large["pages"]:
        if page["status"] != "ok":
            continue
        if page.get("target_ratio") and base:
            ratio = page["p50_ms"] / base["p50_ms"]
            checks.append(
                {
                    "target": f"{page['name']}: p50 ≤ {page['target_ratio']:g}× the trivial view at {sizes[-1]:,}",
                    "met": ratio <= page["target_ratio"],
                    "value": f"{ratio:.1f}× ({page['p50_ms']:.1f} / {base['p50_ms']:.1f} ms)",
                }
            )
        if page.get("target_queries"):
            checks.append(
                {
                    "target": f"{page['name']}: at most {page['target_queries']} queries",
                    "met": page["queries"] <= page["target_queries"],
                    "value": str(page["queries"]),
                }
            )
    checks += _load_targets(large.get("load") or [], sizes[-1])
    for job in large["jobs"]:
        if job.get("target_seconds") is None:
            if job["status"] == "ok":  # report-only: the figure, no target
                checks.append(
                    {
                        "target": f"{job['name']} at {sizes[-1]:,}",
                        "met": None,
                        "report_only": True,
                        "value": _job_time(job),
                    }
                )
            continue
        entry = {"target": f"{job['name']}: under {job['target_seconds']:g} s at {sizes[-1]:,}"}
        if job["status"] == "ok":
            projected = " (projected)" if job.get("projected") else ""
            entry.update(met=job["seconds"] < job["target_seconds"], value=_job_time(job, digits=1) + projected)
        else:
            entry.update(met=None, value=job["status"])
        checks.append(entry)
    return checks


# Under load (gunicorn): dashboard reads per second and their p95; stub filings per second in a burst.
LOAD_TARGETS = {"read the dashboard": (150.0, 100.0), "file stubs": (100.0, None)}


def _load_targets(rows: list[dict], size: int) -> list[dict]:
    checks = []
    for row in rows:
        key = next((k for k in LOAD_TARGETS if row.get("name", "").startswith(k)), None)
        if key is None or row.get("status", "ok") != "ok":
            continue
        rps, p95 = LOAD_TARGETS[key]
        checks.append(
            {
                "target": f"{row['name']}: at least {rps:g} req/s at {size:,}",
                "met": row.get("rps", 0) >= rps,
                "value": f"{row.get('rps', 0):.1f} req/s ({row.get('ok')} ok)",
            }
        )
        if p95 is not None and row.get("p95_ms") is not None:
            checks.append(
                {
                    "target": f"{row['name']}: p95 ≤ {p95:g} ms at {size:,}",
                    "met": row["p95_ms"] <= p95,
                    "value": f"{row['p95_ms']:.0f} ms",
                }
            )
    return checks


def _job_time(job: dict, *, digits: int = 2) -> str:
    """A job's time, with its own figure when it gives one (a rate)."""
    figure = f" ({job['figure']})" if job.get("figure") else ""
    if job["seconds"] < 1:  # a sub-second figure against a sub-second target: in milliseconds
        return f"{job['seconds'] * 1000:,.0f} ms{figure}"
    return f"{job['seconds']:,.{digits}f} s{figure}"


def _ms(value) -> str:
    return f"{value:,.1f}" if value is not None else "—"


def render_markdown(results: dict) -> str:
    sizes = results["sizes"]
    runs = [results["runs"][str(s)] for s in sizes]
    machine = results["machine"]
    dirty = " (with uncommitted changes)" if results["uncommitted_changes"] else ""
    lines = [
        f"Benchmark of {results['commit'] or 'a working tree'}{dirty}, {results['generated_at']}: "
        f"{machine['cpus']} CPUs (load average {machine['load_average_before'][0]:.1f} before, "
        f"{machine['load_average_after'][0]:.1f} after), PostgreSQL {machine['postgres']}, Python {machine['python']}. "
        f"Pages: {results['method']['pages']}. Load: {results['method']['load']}.",
        "",
    ]
    header = ["page"]
    for size in sizes:
        header += [f"{size:,}: p50 / p95 ms", "× trivial", "queries"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    baselines = [next((p for p in run["pages"] if p.get("baseline") and p["status"] == "ok"), None) for run in runs]
    for i, page in enumerate(runs[0]["pages"]):
        cells = [page["name"]]
        for run, baseline in zip(runs, baselines, strict=True):
            row = run["pages"][i]
            if row["status"] != "ok":
                cells += [row["status"], "", ""]
                continue
            ratio = (
                f"{row['p50_ms'] / baseline['p50_ms']:.1f} / {row['p95_ms'] / baseline['p95_ms']:.1f}"
                if baseline
                else "—"
            )
            cells += [f"{_ms(row['p50_ms'])} / {_ms(row['p95_ms'])}", ratio, str(row["queries"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| job | changes | time | target | what it did |", "|---|---|---|---|---|"]
    for size, run in zip(sizes, runs, strict=True):
        for job in run["jobs"]:
            if job["status"] == "ok":
                time_cell = _job_time(job) + (" (projected)" if job.get("projected") else "")
            else:
                time_cell = job["status"]
            target = f"< {job['target_seconds']:g} s" if job.get("target_seconds") else ""
            lines.append(f"| {job['name']} | {size:,} | {time_cell} | {target} | {job.get('detail', '')} |")
    load = [row for run in runs for row in run.get("load", [])]
    if load:
        lines += [
            "",
            f"Concurrent load at {sizes[-1]:,} changes ({results['method']['load']}):",
            "",
            "| scenario | tool | requests (ok) | req/s | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|",
        ]
        for row in load:
            if "rps" not in row:
                lines.append(f"| {row['name']} | | {row.get('status')}: {row.get('detail', '')} | | | |")
                continue
            lines.append(
                f"| {row['name']} | {row['tool']} | {row['requests']:,} ({row['ok']:,}) | {row['rps']:,.1f} "
                f"| {_ms(row['p50_ms'])} | {_ms(row['p95_ms'])} |"
            )
    lines += ["", "| target | value | met |", "|---|---|---|"]
    for check in results["targets"]:
        met = (
            "report only"
            if check.get("report_only")
            else {True: "yes", False: "**no**", None: "not built yet"}[check["met"]]
        )
        lines.append(f"| {check['target']} | {check['value']} | {met} |")
    counts = runs[-1]["counts"]
    lines += [
        "",
        f"Data at {sizes[-1]:,}: " + ", ".join(f"{label.split('.')[-1]} {n:,}" for label, n in counts.items()) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
