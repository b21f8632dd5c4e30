"""``make run``'s process manager: web, worker and beat start, and one Ctrl-C (SIGINT to the foreground
process group, as a terminal sends it) stops every process within 10 s, with exit status 0."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_members(pgids: set[int]) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) in pgids:
                members.append(int(entry.name))
    return members


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_one_interrupt_stops_web_worker_and_beat(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env.update(
        VAR_DIR=str(tmp_path),
        DEBUG="1",
        HOST="127.0.0.1",
        PORT=str(port),
        DJANGO_SETTINGS_MODULE="qms.settings",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PORTAL_BASE_URL", None)
    manager = subprocess.Popen(
        [sys.executable, "-m", "qms.procfile"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, like a shell's foreground job
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in manager.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            any("celery@" in line and "ready." in line for line in lines)
            and any("beat: Starting..." in line for line in lines)
            and any("Quit the server with CONTROL-C" in line for line in lines)
        ):
            assert manager.poll() is None, "".join(lines)
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.status == 200
        started = [line for line in lines if " started (pid=" in line]
        assert len(started) == 3, "".join(lines)
        pgids = {int(line.rsplit("pid=", 1)[1].rstrip(")\n")) for line in started}
        processes = _group_members(pgids)
        assert len(processes) >= 3
        # The worker sends the emails: its links follow HOST and PORT.
        worker = next(p for p in processes if b"worker" in Path(f"/proc/{p}/cmdline").read_bytes())
        assert _environ(worker)["PORTAL_BASE_URL"] == f"http://127.0.0.1:{port}"

        interrupted = time.monotonic()
        os.killpg(manager.pid, signal.SIGINT)
        status = manager.wait(timeout=10)
        elapsed = time.monotonic() - interrupted
        reader.join(timeout=2)
        output = "".join(lines)
        assert status == 0, output
        assert elapsed < 10
        assert _group_members(pgids | {manager.pid}) == [], output
        tail = output.split("SIGINT received", 1)[1]
        assert "Stopped." in tail and "SIGKILL" not in tail and "Traceback" not in tail
        assert tail.count("Warm shutdown") <= 1 and len(tail.splitlines()) < 25, tail
    finally:
        if manager.poll() is None:
            os.killpg(manager.pid, signal.SIGKILL)
            manager.wait()
