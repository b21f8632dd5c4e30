"""Concurrent load against gunicorn on 127.0.0.1: wrk when it is installed, else a small Python generator.

Every loop is bounded by a request count and a deadline; only loopback traffic.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WRK_SUMMARY = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %.6f %.3f %.3f\\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


@dataclass
class Server:
    """gunicorn serving the project on a free loopback port, with the caller's environment."""

    workers: int
    log_path: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [
                *(sys.executable, "-m", "gunicorn", "qms.wsgi:application"),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--log-level", "warning"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request("127.0.0.1", self.port, "GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def request(host, port, method, path, body: str | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def csrf_for_form(port: int, path: str, cookie: str) -> tuple[str, str]:
    """(csrftoken cookie, form token) from a GET of the form, as a browser gets them."""
    status, headers, body = request("127.0.0.1", port, "GET", path, headers={"Cookie": cookie})
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}; is the session valid?")
    cookie_value = next(
        (
            m.group(1)
            for k, v in headers
            if k.lower() == "set-cookie"
            for m in [re.search(r"csrftoken=([^;]+)", v)]
            if m
        ),
        None,
    )
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not cookie_value or not token:
        raise RuntimeError("no CSRF cookie or token on the form")
    return cookie_value, token.group(1).decode()


def python_load(
    *, port: int, make_request: Callable[[int], tuple], expect: int, concurrency: int, seconds: float, total: int
) -> dict:
    """``concurrency`` threads, each with its own connection, until ``total`` requests or ``seconds`` pass."""
    lock, issued, results = threading.Lock(), [0], []
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if issued[0] >= total or time.monotonic() > deadline:
                    break
                n = issued[0]
                issued[0] += 1
            method, path, body, headers = make_request(n)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
            elapsed = time.perf_counter() - started
            with lock:
                results.append((status, elapsed))
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    wall = time.perf_counter() - started
    ok = [elapsed for status, elapsed in results if status == expect]
    latencies = sorted(elapsed for _, elapsed in results)
    return {
        "tool": "python",
        "requests": len(results),
        "ok": len(ok),
        "failed": len(results) - len(ok),
        "seconds": wall,
        "rps": len(ok) / wall if wall else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p95_ms": latencies[max(0, int(len(latencies) * 0.95 + 0.5) - 1)] * 1000 if latencies else None,
    }


def wrk_load(*, port: int, path: str, cookie: str, concurrency: int, seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SUMMARY)
    threads = min(2, concurrency)
    out = subprocess.run(  # noqa: S603
        [
            *("wrk", f"-t{threads}", f"-c{concurrency}", f"-d{int(seconds)}s", "--timeout", "30s"),
            *("-s", script.name, "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}{path}"),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    Path(script.name).unlink()
    match = re.search(r"^BENCH (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)$", out, re.M)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests, bad_status, socket_errors = (int(match.group(i)) for i in (1, 2, 3))
    wall, p50, p95 = (float(match.group(i)) for i in (4, 5, 6))
    ok = requests - bad_status - socket_errors
    return {
        "tool": "wrk",
        "requests": requests,
        "ok": ok,
        "failed": requests - ok,
        "seconds": wall,
        "rps": ok / wall if wall else 0.0,
        "p50_ms": p50,
        "p95_ms": p95,
    }


def run_load(*, session_cookie: str, workers: int, concurrency: int, seconds: float, filings: int, log_dir: Path):
    """Reading the dashboard for ``seconds``, then a burst of ``filings`` stubs, against one gunicorn."""
    cookie = f"sessionid={session_cookie}"
    results = []
    with Server(workers=workers, log_path=log_dir / "gunicorn.log") as server:
        status, _, _ = request("127.0.0.1", server.port, "GET", "/", headers={"Cookie": cookie})
        if status != 200:
            raise RuntimeError(f"the dashboard answered {status} to the bench session")
        # Every worker boots Django on its own; measure once all of them answer (bounded: 20 per worker, 60 s).
        python_load(
            port=server.port,
            make_request=lambda n: ("GET", "/", None, {"Cookie": cookie}),
            expect=200,
            concurrency=concurrency,
            seconds=60,
            total=20 * workers,
        )
        if shutil.which("wrk"):
            read = wrk_load(port=server.port, path="/", cookie=cookie, concurrency=concurrency, seconds=seconds)
        else:
            read = python_load(
                port=server.port,
                make_request=lambda n: ("GET", "/", None, {"Cookie": cookie}),
                expect=200,
                concurrency=concurrency,
                seconds=seconds,
                total=100_000,
            )
        results.append({"name": "read the dashboard", **read})

        csrf_cookie, token = csrf_for_form(server.port, "/emergencies/new/", cookie)
        headers = {"Cookie": f"{cookie}; csrftoken={csrf_cookie}", "Content-Type": "application/x-www-form-urlencoded"}

        def filing(n: int) -> tuple:
            body = urllib.parse.urlencode(
                {
                    "csrfmiddlewaretoken": token,
                    "title": f"Load: checkout down #{n}",
                    "category": "p1_incident",
                    "problem_statement": "Every order fails.",
                }
            )
            return "POST", "/emergencies/new/", body, headers

        burst = python_load(
            port=server.port, make_request=filing, expect=302, concurrency=concurrency, seconds=120, total=filings
        )
        results.append({"name": f"file stubs (a burst of {filings})", **burst})
    return results
