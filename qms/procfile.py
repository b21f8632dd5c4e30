"""``make run``: the Procfile's web, worker and beat under honcho; one Ctrl-C stops them all.

honcho starts each process in its own session, so the terminal's Ctrl-C reaches only this manager; it
sends one SIGTERM to each process group (runserver and its reloader, the Celery worker and its pool,
beat), waits for them, and exits 0 with a one-line message. A second Ctrl-C, or a process still there
after 8 seconds, is killed. If a process stops on its own (a port in use), the others are
stopped too and its exit status is returned.

``PORTAL_BASE_URL`` (the links in emails, which the worker sends) follows ``HOST`` and ``PORT`` unless set.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from honcho import manager as honcho_manager
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_SIGNALS = (130, 143)  # honcho's return code after SIGINT / SIGTERM
# How long a stopping process may take before it is killed (honcho's default is 5 s; a Celery worker's warm
# shutdown on a busy machine can take a few seconds more).
honcho_manager.KILL_WAIT = 8


def environment(base: dict | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["HOST"] = env.get("HOST") or "127.0.0.1"
    env["PORT"] = env.get("PORT") or "8000"
    env["PORTAL_BASE_URL"] = env.get("PORTAL_BASE_URL") or f"http://{env['HOST']}:{env['PORT']}"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class PortalManager(Manager):
    killed = False

    def _start(self):
        super()._start()
        stop = signal.getsignal(signal.SIGINT)  # honcho's, installed by loop()

        def on_signal(signum, frame):
            if self._terminating:  # a second Ctrl-C: do not wait
                self.kill()
            else:
                stop(signum, frame)

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def terminate(self):
        if not self._terminating and self.returncode in STOP_SIGNALS:
            self._system_print("stopping web, worker and beat (Ctrl-C again to kill them now)\n")
        super().terminate()

    def kill(self):
        self.killed = True
        super().kill()


def main(procfile: Path = BASE_DIR / "Procfile") -> int:
    processes = parse_procfile(procfile.read_text()).processes
    env = environment()
    manager = PortalManager(Printer(sys.stdout, colour=sys.stdout.isatty()))
    for name, command in processes.items():
        manager.add_process(name, command, env=env, cwd=str(BASE_DIR))
    manager.loop()
    if manager.returncode in STOP_SIGNALS:
        if manager.killed:
            print("Some processes had to be killed.", flush=True)
            return 1
        print("Stopped.", flush=True)
        return 0
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
