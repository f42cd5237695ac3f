"""Shared plumbing of the benchmarks: environment, database, machine, servers, wrk.

Every benchmark runs against its own PostgreSQL database (created and dropped here,
never ``billing_portal``), with production settings: DEBUG=0, a fresh random
SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, SECURE_SSL_REDIRECT=0 (plain HTTP on loopback;
everything else of ``check --deploy`` stays on), the database task queue, and the
Midtrans gateway with a bench server key (no HTTP leaves the machine: status
verification is off and nothing here calls the gateway).
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
SERVER_KEY = "SB-Mid-server-BENCHKEY0123456789abcdef"
HOST, PORT = "127.0.0.1", int(os.environ.get("BENCH_PORT", "8765"))
# 2 workers (one per core) x 4 threads: CPU-bound views get both cores, and a request
# waiting on PostgreSQL (or, with the sandbox gateway, on our own webhook) does not
# block its worker. Override with BENCH_WORKERS / BENCH_THREADS.
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def bench_env(db_name: str) -> dict[str, str]:
    pg = PG_ADMIN.rsplit("/", 1)[0]
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SITE_URL": f"http://{HOST}:{PORT}",
        "DATABASE_URL": f"{pg}/{db_name}",
        "STATIC_ROOT": str(ROOT / "var" / "bench-static"),
        "MIDTRANS_SERVER_KEY": SERVER_KEY,
        "MIDTRANS_VERIFY_STATUS": "0",
        "SUBSCRIPTIONS_GATEWAY": "midtrans",
        "LOG_LEVEL": "WARNING",
        # The embedded defaults (database cache, database sessions) unless asked:
        # BENCH_CACHE_URL=redis://127.0.0.1:6379/14 BENCH_SESSION_ENGINE=cached_db
        # measures the deployment the README recommends.
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "dbcache://django_cache"),
        "SESSION_ENGINE": os.environ.get("BENCH_SESSION_ENGINE", "db"),
    }


def setup_django(db_name: str, *, fresh: bool = True) -> dict[str, str]:
    """Point this process at ``db_name`` (created fresh, migrated) and set Django up."""
    env = bench_env(db_name)
    os.environ.update(env)
    os.environ["BENCH_SECRET_KEY"] = env["SECRET_KEY"]  # children share the session key
    sys.path.insert(0, str(ROOT))
    if fresh:
        drop_db(db_name)
        create_db(db_name)
    import django

    django.setup()
    from django.core.management import call_command

    if fresh:
        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)
    return env


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def create_db(name: str) -> None:
    assert name != "billing_portal", "the bench never touches the shared database"
    _admin(f'CREATE DATABASE "{name}"')


def drop_db(name: str) -> None:
    assert name != "billing_portal", "the bench never touches the shared database"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def machine() -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    import psycopg

    with psycopg.connect(PG_ADMIN) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    commit = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "postgresql": pg,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": os.environ.get("BENCH_LABEL") or commit,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[0],
    }


def median(values):
    return statistics.median(values)


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# --- gunicorn -----------------------------------------------------------------------------


def collectstatic() -> None:
    """The manifest storage of production needs collected static files (once)."""
    from django.conf import settings
    from django.core.management import call_command

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", verbosity=0, interactive=False)


class Gunicorn:
    def __init__(self, env: dict[str, str], *, workers: int = WORKERS, threads: int = THREADS):
        self.env = {**os.environ, **env}
        self.workers, self.threads = workers, threads
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        close_django_connections()
        try:
            socket.create_connection((HOST, PORT), timeout=1).close()
        except OSError:
            pass  # nothing listens there: good
        else:
            raise RuntimeError(f"something already listens on {HOST}:{PORT}; set BENCH_PORT")
        self.proc = subprocess.Popen(  # noqa: S603
            [
                GUNICORN,
                "portal.wsgi:application",
                "--bind",
                f"{HOST}:{PORT}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
                "--keep-alive",
                "30",
                # A listening socket per worker (SO_REUSEPORT): the kernel spreads
                # wrk's 8 keep-alive connections over the workers. With one shared
                # socket, half the runs had all 8 on one worker (one core idle, half
                # the rate): measured with each worker's CPU time per run.
                "--reuse-port",
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{PORT}/healthz", timeout=2) as r:
                    if r.status == 200 and len(self.worker_pids()) == self.workers:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not come up")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(  # noqa: S603
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [int(pid) for pid in out.split()]

    def worker_peak_rss_mb(self) -> list[float]:
        return [vm_hwm_mb(pid) for pid in self.worker_pids()]

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def vm_hwm_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- wrk ------------------------------------------------------------------------------------

WRK_REPORT = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
    .. '"non2xx": %d, "errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is missing: apt-get install -y wrk (Debian's package)")
    return path


def wrk(
    path: str,
    *,
    seconds: int,
    connections: int = 8,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    lua: str = "",
) -> dict:
    """Run wrk against ``path``; requests/s and latency percentiles (milliseconds)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_REPORT)
    cmd = [
        require_wrk(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
    ]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(f"http://{HOST}:{PORT}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON ") :])
    seconds_run = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "rps": data["requests"] / seconds_run,
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "non2xx": data["non2xx"],
        "errors": data["errors"],
    }


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_md(info: dict[str, str]) -> str:
    return (
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['ram']} RAM, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}, code {info['commit']}, "
        f"load average {info['loadavg_at_start']} at the start."
    )


def profiled(work):
    """Run ``work()`` under pyinstrument, print the profile, return what it returned.
    pyinstrument is a profiling tool, not a project dependency."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("pip install pyinstrument to profile")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        return work()
    finally:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
