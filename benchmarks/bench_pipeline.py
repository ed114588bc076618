"""`make bench`: the `dwell analyze` pipeline against its floors and the original design, in one run.

Rows of the report (see benchmarks/README.md):

1. a synthetic event file (`dwell.synth.write_csv`), reused when already generated;
2. `dwell analyze FILE --json` end to end as a child process, on a PostgreSQL server;
3. the storage floor: COPY of the same file into a bare table, then the schema's indexes;
4. the compute floor: DuckDB reading the file and pairing sessions with window functions;
5. the original design (csv module, datetime.fromisoformat, SQLAlchemy ORM inserts, a Python
   pairing loop), measured on a sample and extrapolated linearly;
6. a 10,000-event file through `dwell analyze` on the embedded PostgreSQL, start included.

Every measured step runs in its own child process, so its peak RSS and CPU time are its own
(os.wait4), and every database step gets its own throw-away database, dropped afterwards. Steps
2 and 3 run `--repeat` times, alternately, and report the run with the median time: on a shared
machine one run can be seconds off. On a server of this machine the CPU time of its processes
is read from /proc around each of those runs, so the work a step costs is seen apart from the
time it takes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dwell.store.server import scratch_database, with_dbname

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
DATA_DIR = BENCH_DIR / "data"              # git-ignored: generated files, embedded clusters
RESULTS_DIR = BENCH_DIR / "results"
QUICK_RESULTS_DIR = DATA_DIR / "results"   # --quick runs are not kept in git

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
FULL_ROWS = 1_500_000
QUICK_ROWS = 100_000
ORIGINAL_SAMPLE_ROWS = 100_000
QUICK_ORIGINAL_SAMPLE_ROWS = 10_000
SMALL_FILE_ROWS = 10_000
# The full file is also analyzed in parts of this many rows, as files over 128 MB are.
PART_ROWS = 500_000
SMALL_FILE_RUNS = 3
REPEATS = 3   # runs of steps 2 and 3 in a full run; the median run is reported
ORM_CHUNK_ROWS = 1_000
COPY_BLOCK_BYTES = 1 << 20
DEFAULT_SEED = 20_241_126
MAX_SESSION_MS = 86_400_000   # SPEC §4 max_session_s, the default dwell analyze runs with
STEP_TIMEOUT_S = 3_600
BUSY_LOAD_PER_CPU = 0.5   # a 1-min load average above this per CPU means a shared machine

# Targets: (label, comparison, threshold).
ANALYZE_VS_STORAGE_MAX = 1.5
ORIGINAL_VS_ANALYZE_MIN = 8.0
PEAK_MEMORY_MAX_BYTES = 1_000_000_000
SMALL_FILE_MAX_S = 3.0

ENTRY_WORDS = ("entry", "enter", "entered", "in", "ingress", "arrival", "arrive")
EXIT_WORDS = ("exit", "exited", "out", "egress", "leave", "left", "departure", "depart")

# The storage floor: the file's columns as they are, then the indexes of camera_events
# (src/dwell/store/migrations/0001_initial.sql).
FLOOR_TABLE = "floor_events"
FLOOR_COLUMN_TYPES = {"timestamp": ("ts", "timestamptz")}
FLOOR_INDEXES = (
    "CREATE UNIQUE INDEX floor_events_key_idx ON floor_events (person_id, camera_id, ts, event_type)",
    "CREATE INDEX floor_events_ts_idx ON floor_events (ts)",
    "CREATE INDEX floor_events_camera_ts_idx ON floor_events (camera_id, ts)",
)
FLOOR_KEY_INDEX_NON_UNIQUE = (
    "CREATE INDEX floor_events_key_idx ON floor_events (person_id, camera_id, ts, event_type)"
)

# The compute floor: entry then the next event of the (person, camera) when it is an exit no
# more than max_session_s later (SPEC §4 rule 5). At one instant entries sort first (no session
# open). One scan of the file.
DUCKDB_PAIRING_SQL = f"""
WITH events AS (
    SELECT CAST("timestamp" AS TIMESTAMPTZ) AS ts, trim(person_id) AS person_id,
           trim(camera_id) AS camera_id,
           CASE WHEN lower(trim(event_type)) IN {ENTRY_WORDS} THEN 1
                WHEN lower(trim(event_type)) IN {EXIT_WORDS} THEN 2 ELSE 0 END AS kind
    FROM read_csv($path, header = true, all_varchar = true)
),
ordered AS (
    SELECT person_id, kind, ts,
           lead(kind) OVER by_key AS next_kind, lead(ts) OVER by_key AS next_ts
    FROM events
    WINDOW by_key AS (PARTITION BY person_id, camera_id ORDER BY ts, kind)
),
paired AS (
    SELECT person_id,
           CASE WHEN kind = 1 AND next_kind = 2
                     AND date_diff('millisecond', ts, next_ts) <= $max_session_ms
                THEN date_diff('millisecond', ts, next_ts) / 1000.0 END AS dwell_s
    FROM ordered
)
SELECT count(*) AS total_events, count(DISTINCT person_id) AS unique_visitors,
       count(dwell_s) AS complete_sessions, avg(dwell_s) AS avg_dwell_s,
       median(dwell_s) AS median_dwell_s
FROM paired
"""


# ------------------------------------------------------------------------------------------
# child processes: wall time and peak RSS


@dataclass
class ChildRun:
    """One child process: wall time, its own peak RSS, exit code and captured output."""

    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float = 0.0   # user + system time of the child (and of children it waited for)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self, limit: int = 4000) -> str:
        text = (self.stderr.strip() or self.stdout.strip())[-limit:]
        return f"exit code {self.returncode}:\n{text}"


def run_child(command: list[str], env: dict[str, str] | None = None,
              timeout_s: float = STEP_TIMEOUT_S) -> ChildRun:
    """Run a command to completion; ru_maxrss comes from wait4 on this very child, so it is
    not mixed with earlier children (RUSAGE_CHILDREN keeps the maximum over all of them)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=ROOT)
        killer = threading.Timer(timeout_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(seconds, usage.ru_maxrss * 1024, process.returncode,
                        out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                        usage.ru_utime + usage.ru_stime)


def run_step(name: str, **params: Any) -> tuple[dict[str, Any] | None, ChildRun]:
    """Run one in-process step (`--step NAME`) in a child; its result is its last stdout line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", name,
               "--step-params", json.dumps(params, default=str)]
    run = run_child(command)
    if not run.ok:
        return None, run
    return json.loads(run.stdout.strip().splitlines()[-1]), run


# ------------------------------------------------------------------------------------------
# servers and throw-away databases


@dataclass
class Server:
    conninfo: str
    kind: str                  # "local" or "embedded"
    description: str
    settings: dict[str, str] = field(default_factory=dict)
    cpu_clock: Callable[[], float] | None = None   # CPU seconds of its processes so far


def server_cpu_clock(conninfo: str) -> Callable[[], float] | None:
    """The CPU seconds the server's processes have used so far, when the server runs on this
    machine and /proc shows it: the postmaster's own and reaped children's time, plus that of
    its live children (backends, parallel workers, background processes). None otherwise."""
    try:
        with psycopg.connect(with_dbname(conninfo, "postgres")) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
        pid = int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
        if not _proc_stat(pid):
            return None
    except (psycopg.Error, OSError, ValueError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        total = 0
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
                if int(entry.name) == pid:
                    total += sum(int(v) for v in stat[11:15])   # utime stime cutime cstime
                elif int(stat[1]) == pid:                        # a child of the postmaster
                    total += int(stat[11]) + int(stat[12])
        return total / ticks

    return clock


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


SERVER_SETTINGS = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem",
                   "max_parallel_maintenance_workers", "max_wal_size", "synchronous_commit",
                   "wal_level", "fsync")


@contextmanager
def benchmark_server(url: str) -> Iterator[Server]:
    """The server at `url` when it answers, else an embedded one under benchmarks/data/."""
    try:
        with psycopg.connect(with_dbname(url, "postgres"), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        log(f"no server at {url} ({str(exc).strip().splitlines()[0]}); starting embedded")
    else:
        yield _described(Server(url, "local", f"PostgreSQL at {_host(url)}"))
        return
    import pgserver

    pgdata = DATA_DIR / "pg-server"
    pgdata.mkdir(parents=True, exist_ok=True)
    embedded = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield _described(Server(embedded.get_uri(), "embedded",
                                f"embedded PostgreSQL (pgserver, {pgdata.relative_to(ROOT)})"))
    finally:
        embedded.cleanup()


def _host(url: str) -> str:
    params = conninfo_to_dict(url)
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"


def _described(server: Server) -> Server:
    with psycopg.connect(with_dbname(server.conninfo, "postgres")) as conn:
        for name in SERVER_SETTINGS:
            server.settings[name] = conn.execute(
                "SELECT current_setting(%s)", (name,)).fetchone()[0]  # type: ignore[index]
    server.cpu_clock = server_cpu_clock(server.conninfo)
    return server


# ------------------------------------------------------------------------------------------
# step 1: the event files


def synth_module(wait_s: float) -> Any:
    """`dwell.synth`, polling (with a deadline) while it is not importable yet."""
    import importlib

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return importlib.import_module("dwell.synth")
        except ImportError:
            if time.monotonic() >= deadline:
                raise
            log("dwell.synth is not importable yet; polling")
            time.sleep(10)
            importlib.invalidate_caches()


def event_file(rows: int, seed: int, synth: Any) -> tuple[Path, dict[str, Any]]:
    """The CSV of `rows` synthetic events, generated once and reused while rows, seed and the
    generator's source are unchanged (a sidecar .json records them and the byte size)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"events-{rows}-seed{seed}.csv"
    sidecar = path.with_suffix(".json")
    generator = hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:16]
    wanted = {"rows": rows, "seed": seed, "generator": generator}
    if path.exists() and sidecar.exists():
        recorded = json.loads(sidecar.read_text())
        if {k: recorded.get(k) for k in wanted} == wanted and \
                recorded.get("bytes") == path.stat().st_size:
            return path, {**recorded, "reused": True, "seconds": None}
    started = time.perf_counter()
    written = synth.write_csv(path, rows, seed=seed)
    seconds = time.perf_counter() - started
    info = {**wanted, "written": written, "bytes": path.stat().st_size}
    sidecar.write_text(json.dumps(info, indent=2) + "\n")
    return path, {**info, "reused": False, "seconds": seconds}


# ------------------------------------------------------------------------------------------
# step 2 and 6: dwell analyze


def dwell_command() -> Path:
    beside = Path(sys.executable).parent / "dwell"
    return beside if beside.exists() else ROOT / ".venv" / "bin" / "dwell"


def run_analyze(path: Path, database_url: str | None, data_dir: Path,
                extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """`dwell analyze PATH --json` as a child; DATABASE_URL unset means the embedded server."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(extra_env or {})
    env["DWELL_DATA_DIR"] = str(data_dir)   # never the user's own embedded cluster
    env["_TYPER_STANDARD_TRACEBACK"] = "1"  # plain tracebacks in the report on failure
    if database_url:
        env["DATABASE_URL"] = database_url
    run = run_child([str(dwell_command()), "analyze", str(path), "--json"], env=env)
    result: dict[str, Any] = {"seconds": run.seconds, "peak_rss_bytes": run.peak_rss_bytes,
                              "client_cpu_s": run.cpu_s, "ok": run.ok}
    if not run.ok:
        result["error"] = run.failure()
        return result
    try:
        document = json.loads(run.stdout)
    except json.JSONDecodeError:
        result.update(ok=False, error="stdout is not JSON:\n" + run.stdout[-2000:])
        return result
    if "error" in document:
        result.update(ok=False, error=json.dumps(document["error"]))
        return result
    kpis = document.get("kpis", {})
    quality = document.get("quality", {})
    result["kpis"] = {
        "total_events": kpis.get("total_events"),
        "unique_visitors": kpis.get("unique_visitors"),
        "complete_sessions": (kpis.get("sessions") or {}).get("complete"),
        "avg_dwell_s": kpis.get("avg_dwell_s"),
        "median_dwell_s": kpis.get("median_dwell_s"),
    }
    result["quality"] = {k: quality.get(k) for k in ("total_rows", "valid_rows", "rejected_rows",
                                                     "duplicate_events")}
    return result


def embedded_cluster_ready(data_dir: Path) -> bool:
    return (data_dir / "pg" / "PG_VERSION").exists()


PROFILE_TOP = 25


def profile_analyze(path: Path, database_url: str, data_dir: Path) -> dict[str, Any]:
    """`dwell analyze` once more under cProfile: where the time goes, by dwell function.

    Cumulative times, so a phase (reading, checks, store, report) includes what it calls; time
    spent inside PostgreSQL shows up under the function that waits for it.
    """
    import pstats

    profile = data_dir.parent / "analyze.prof"
    env = {**os.environ, "DATABASE_URL": database_url, "DWELL_DATA_DIR": str(data_dir),
           "_TYPER_STANDARD_TRACEBACK": "1"}
    run = run_child([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "dwell.cli",
                     "analyze", str(path), "--json"], env=env)
    if not run.ok:
        return {"ok": False, "error": run.failure()}
    stats = pstats.Stats(str(profile))
    source = str(ROOT / "src" / "dwell")
    functions = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.startswith(source) or filename.endswith("/dwell/cli.py"):
            where = os.path.relpath(filename, ROOT / "src")
            functions.append({"function": f"{where}:{line} {name}", "calls": calls,
                              "own_s": own, "cumulative_s": cumulative})
    functions.sort(key=lambda f: f["cumulative_s"], reverse=True)
    return {"ok": True, "seconds": run.seconds, "profile": str(profile.relative_to(ROOT)),
            "top": functions[:PROFILE_TOP]}


# ------------------------------------------------------------------------------------------
# step 3: storage floor (runs in a child: --step copy)


def step_copy(server: str, path: str) -> dict[str, Any]:
    """COPY the file's bytes into a bare table, then build the schema's three indexes."""
    with open(path, newline="", encoding="utf-8") as file:
        header = next(csv.reader(file))
    columns = [FLOOR_COLUMN_TYPES.get(name.strip().lower(), (name.strip().lower(), "text"))
               for name in header]
    create = sql.SQL("CREATE TABLE {} ({})").format(
        sql.Identifier(FLOOR_TABLE),
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                           for n, t in columns))
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
        sql.Identifier(FLOOR_TABLE), sql.SQL(", ").join(sql.Identifier(n) for n, _ in columns))
    notes = []
    with scratch_database(server, "bench_copy") as conninfo, \
            psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(create)
        started = time.perf_counter()
        with conn.cursor().copy(copy_sql) as copy, open(path, "rb") as file:
            while block := file.read(COPY_BLOCK_BYTES):
                copy.write(block)
        copy_s = time.perf_counter() - started
        rows = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(FLOOR_TABLE))
        ).fetchone()[0]  # type: ignore[index]
        started = time.perf_counter()
        for statement in FLOOR_INDEXES:
            try:
                conn.execute(statement)
            except psycopg.errors.UniqueViolation:
                notes.append("the file repeats a (person, camera, ts, event_type) key: "
                             "the key index was built non-unique")
                conn.execute(FLOOR_KEY_INDEX_NON_UNIQUE)
        index_s = time.perf_counter() - started
    return {"rows": rows, "copy_s": copy_s, "index_s": index_s, "notes": notes}


# ------------------------------------------------------------------------------------------
# step 4: compute floor (runs in a child: --step duckdb)


def step_duckdb(path: str) -> dict[str, Any]:
    import duckdb

    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET enable_progress_bar = false")
        started = time.perf_counter()
        row = conn.execute(DUCKDB_PAIRING_SQL,
                           {"path": path, "max_session_ms": MAX_SESSION_MS}).fetchone()
        seconds = time.perf_counter() - started
        threads = conn.execute("SELECT current_setting('threads')").fetchone()[0]  # type: ignore[index]
    names = ("total_events", "unique_visitors", "complete_sessions", "avg_dwell_s",
             "median_dwell_s")
    kpis = {n: (float(v) if isinstance(v, (int, float)) and n.endswith("_s") else v)
            for n, v in zip(names, row)}  # type: ignore[arg-type]
    return {"seconds": seconds, "rows": kpis["total_events"], "kpis": kpis,
            "duckdb": duckdb.__version__, "threads": threads}


# ------------------------------------------------------------------------------------------
# step 5: the original design (runs in a child: --step original)


def _original_model() -> tuple[Any, Any]:
    """The original declarative model: one ORM object per event, the schema's indexes."""
    from sqlalchemy import BigInteger, DateTime, Index, String
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    class Base(DeclarativeBase):
        pass

    class CameraEvent(Base):
        __tablename__ = "camera_events"
        __table_args__ = (
            Index("camera_events_key_idx", "person_id", "camera_id", "ts", "event_type",
                  unique=True),
            Index("camera_events_ts_idx", "ts"),
            Index("camera_events_camera_ts_idx", "camera_id", "ts"),
        )
        # Un-annotated columns: the model is built inside a function, where string
        # annotations could not be resolved.
        id = mapped_column(BigInteger, primary_key=True, autoincrement=True)
        ts = mapped_column(DateTime(timezone=True), nullable=False)
        person_id = mapped_column(String(100), nullable=False)
        camera_id = mapped_column(String(50), nullable=False)
        event_type = mapped_column(String(16), nullable=False)
        raw_event_type = mapped_column(String(100), nullable=False)
        age_group = mapped_column(String(50))
        gender = mapped_column(String(50))

    return Base, CameraEvent


def _event_kind(raw: str) -> str:
    word = raw.strip().lower()
    return "entry" if word in ENTRY_WORDS else "exit" if word in EXIT_WORDS else "other"


def step_original(server: str, path: str, rows: int) -> dict[str, Any]:
    """Chunks of 1000 rows through the csv module, a per-row parse, ORM add_all + commit per
    chunk, then the sessions paired in a Python loop over the stored events."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    base, camera_event = _original_model()
    with scratch_database(server, "bench_original") as conninfo:
        params = conninfo_to_dict(conninfo)
        engine = create_engine("postgresql+psycopg://", connect_args=params)
        try:
            base.metadata.create_all(engine)
            started = time.perf_counter()
            loaded = 0
            with open(path, newline="", encoding="utf-8") as file, Session(engine) as session:
                reader = csv.reader(file)
                header = [name.strip().lower() for name in next(reader)]
                at = {name: i for i, name in enumerate(header)}
                while chunk := list(itertools.islice(reader, min(ORM_CHUNK_ROWS, rows - loaded))):
                    session.add_all([
                        camera_event(
                            ts=datetime.fromisoformat(row[at["timestamp"]].strip()),
                            person_id=row[at["person_id"]].strip(),
                            camera_id=row[at["camera_id"]].strip(),
                            event_type=_event_kind(row[at["event_type"]]),
                            raw_event_type=row[at["event_type"]],
                            age_group=row[at["age_group"]].strip() or None,
                            gender=row[at["gender"]].strip() or None,
                        )
                        for row in chunk
                    ])
                    session.commit()
                    loaded += len(chunk)
            insert_s = time.perf_counter() - started

            started = time.perf_counter()
            with Session(engine) as session:
                events = session.execute(
                    select(camera_event.person_id, camera_event.camera_id, camera_event.ts,
                           camera_event.event_type)
                    .order_by(camera_event.person_id, camera_event.camera_id, camera_event.ts,
                              camera_event.event_type)
                ).all()
                kpis = _pair_in_python(events)
            pairing_s = time.perf_counter() - started
        finally:
            engine.dispose()
    return {"rows": loaded, "insert_s": insert_s, "pairing_s": pairing_s, "kpis": kpis}


def _pair_in_python(events: list[Any]) -> dict[str, Any]:
    """Entry opens, exit closes, an entry while open ends the open one as missing_exit."""
    dwell_s: list[float] = []
    persons: set[str] = set()
    key = None
    opened: datetime | None = None
    for person, camera, ts, kind in events:
        persons.add(person)
        if (person, camera) != key:
            key, opened = (person, camera), None
        if kind == "entry":
            opened = ts
        elif kind == "exit" and opened is not None:
            dwell_s.append((ts - opened).total_seconds())
            opened = None
    return {
        "total_events": len(events),
        "unique_visitors": len(persons),
        "complete_sessions": len(dwell_s),
        "avg_dwell_s": statistics.fmean(dwell_s) if dwell_s else None,
        "median_dwell_s": statistics.median(dwell_s) if dwell_s else None,
    }


STEPS = {"copy": step_copy, "duckdb": step_duckdb, "original": step_original}


# ------------------------------------------------------------------------------------------
# the run


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def git_commit() -> tuple[str, bool]:
    """The short commit and whether src/ has changes that are not committed (measured too)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    return git("rev-parse", "--short", "HEAD") or "unknown", bool(
        git("status", "--porcelain", "--", "src"))


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_bytes": mem_kb * 1024,
            "python": platform.python_version(), "platform": platform.platform()}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    sample_rows = min(args.original_rows or (QUICK_ORIGINAL_SAMPLE_ROWS if args.quick
                                             else ORIGINAL_SAMPLE_ROWS), rows)
    small_runs = 1 if args.quick else SMALL_FILE_RUNS
    repeats = args.repeat or (1 if args.quick else REPEATS)
    load_start = os.getloadavg()[0]
    commit, src_dirty = git_commit()
    result: dict[str, Any] = {
        "date": date.today().isoformat(), "commit": commit, "src_uncommitted_changes": src_dirty,
        "quick": args.quick, "rows": rows, "seed": args.seed, "repeats": repeats,
        "machine": machine(),
        "steps": {}, "notes": [],
    }
    steps = result["steps"]

    log(f"1/6 event file: {rows:,} rows, seed {args.seed}")
    synth = synth_module(args.wait_synth)
    path, info = event_file(rows, args.seed, synth)
    steps["generate"] = {**info, "path": str(path.relative_to(ROOT))}
    small_path, _ = event_file(SMALL_FILE_ROWS, args.seed, synth)

    with benchmark_server(args.server) as server:
        result["server"] = {"kind": server.kind, "description": server.description,
                            "settings": server.settings}
        log(f"server: {server.description}")

        log(f"2-3/6 dwell analyze (server) and the storage floor (COPY + indexes), "
            f"alternately, {repeats} run(s) each")
        analyze_runs, floor_runs = [], []
        for run in range(1, repeats + 1):
            log(f"   run {run}/{repeats}: dwell analyze")
            analyze_runs.append(with_server_cpu(server, lambda: run_analyze(
                path, server.conninfo, DATA_DIR / "embedded")))
            _report_failure("analyze", analyze_runs[-1])
            log(f"   run {run}/{repeats}: storage floor")
            floor_runs.append(with_server_cpu(server, lambda: _measured_step(
                "copy", server=server.conninfo, path=str(path))))
        steps["analyze"] = median_run(analyze_runs, lambda r: r["seconds"])
        steps["storage_floor"] = median_run(floor_runs, lambda r: r["copy_s"] + r["index_s"])

        log(f"   the same file in parts of {PART_ROWS:,} rows, as a larger file would be")
        steps["analyze_in_parts"] = with_server_cpu(server, lambda: run_analyze(
            path, server.conninfo, DATA_DIR / "embedded",
            {"DWELL_SPILL_ABOVE_BYTES": "0", "DWELL_PART_ROWS": str(PART_ROWS)}))
        _report_failure("analyze in parts", steps["analyze_in_parts"])

        if args.profile and steps["analyze"]["ok"]:
            log("   profiling dwell analyze (cProfile, not timed)")
            result["profile"] = profile_analyze(path, server.conninfo, DATA_DIR / "embedded")

        log("4/6 compute floor: DuckDB")
        steps["compute_floor"] = _measured_step("duckdb", path=str(path))

        log(f"5/6 original design on {sample_rows:,} rows")
        original = with_server_cpu(server, lambda: _measured_step(
            "original", server=server.conninfo, path=str(path), rows=sample_rows))
        if original.get("ok"):
            measured = original["insert_s"] + original["pairing_s"]
            original["measured_s"] = measured
            original["extrapolated_s"] = measured * rows / original["rows"]
        steps["original"] = original

    log(f"6/6 {SMALL_FILE_ROWS:,}-event file, embedded PostgreSQL, {small_runs} run(s)")
    embedded_dir = DATA_DIR / "embedded"
    small: dict[str, Any] = {"rows": SMALL_FILE_ROWS, "runs": []}
    if not embedded_cluster_ready(embedded_dir):
        log("   first use of the embedded cluster: one untimed run creates it (initdb)")
        small["cold_start"] = run_analyze(small_path, None, embedded_dir)
        _report_failure("10k cold start", small["cold_start"])
    for _ in range(small_runs):
        small["runs"].append(run_analyze(small_path, None, embedded_dir))
    ok_runs = [r["seconds"] for r in small["runs"] if r["ok"]]
    small["ok"] = len(ok_runs) == len(small["runs"])
    small["median_s"] = statistics.median(ok_runs) if small["ok"] else None
    small["peak_rss_bytes"] = max((r["peak_rss_bytes"] for r in small["runs"]), default=0)
    if not small["ok"]:
        small["error"] = next(r["error"] for r in small["runs"] if not r["ok"])
        _report_failure("10k file", small)
    steps["small_file"] = small

    result["ratios"] = ratios(steps)
    for step in steps.values():
        result["notes"].extend(step.get("notes", []))
    result["load_average"] = {"start": load_start, "end": os.getloadavg()[0]}
    busiest = max(result["load_average"].values())
    if busiest > BUSY_LOAD_PER_CPU * (os.cpu_count() or 1):
        result["notes"].append(
            f"other work shared the CPUs (1-min load average {load_start:.1f} at start, "
            f"{result['load_average']['end']:.1f} at end, {os.cpu_count()} CPUs): "
            "timings are pessimistic")
    return result


def with_server_cpu(server: Server, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A step's result with the CPU seconds the server's processes used while it ran."""
    before = server.cpu_clock() if server.cpu_clock else None
    result = measure()
    if before is not None and server.cpu_clock:
        result["server_cpu_s"] = server.cpu_clock() - before
    return result


def median_run(runs: list[dict[str, Any]], seconds: Callable[[dict[str, Any]], float]
               ) -> dict[str, Any]:
    """The run with the median time (the lower one of an even count), with every run's time
    and the highest peak memory of them; the first failed run if any failed."""
    failed = [run for run in runs if not run.get("ok")]
    if failed:
        return failed[0]
    chosen = dict(sorted(runs, key=seconds)[(len(runs) - 1) // 2])
    chosen["runs_s"] = [seconds(run) for run in runs]
    chosen["peak_rss_bytes"] = max(run["peak_rss_bytes"] for run in runs)
    return chosen


def _measured_step(name: str, **params: Any) -> dict[str, Any]:
    outcome, run = run_step(name, **params)
    if outcome is None:
        failed = {"ok": False, "error": run.failure(), "peak_rss_bytes": run.peak_rss_bytes}
        _report_failure(name, failed)
        return failed
    return {"ok": True, **outcome, "peak_rss_bytes": run.peak_rss_bytes,
            "client_cpu_s": run.cpu_s}


def _report_failure(name: str, step: dict[str, Any]) -> None:
    if not step.get("ok", True):
        log(f"   {name} FAILED: {step['error']}")


# ------------------------------------------------------------------------------------------
# ratios, targets and the report


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    target: str
    passed: bool | None   # None: not measured (a step failed)
    unit: str = "x"


def ratios(steps: dict[str, Any]) -> dict[str, Any]:
    analyze = steps["analyze"]["seconds"] if steps["analyze"]["ok"] else None
    floor = steps["storage_floor"]
    storage = floor["copy_s"] + floor["index_s"] if floor.get("ok") else None
    duck = steps["compute_floor"]["seconds"] if steps["compute_floor"].get("ok") else None
    original = steps["original"].get("extrapolated_s")

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    parts = steps.get("analyze_in_parts") or {}
    in_parts = parts["seconds"] if parts.get("ok") else None
    analyze_vs_storage = ratio(analyze, storage)
    original_vs_analyze = ratio(original, analyze)
    peak = steps["analyze"]["peak_rss_bytes"] if analyze is not None else None
    small = steps["small_file"]["median_s"]
    analyze_cpu, floor_cpu = cpu_seconds(steps["analyze"]), cpu_seconds(floor)
    cores = os.cpu_count() or 1
    checks = [
        Check("analyze / (COPY + index)", analyze_vs_storage, f"<= {ANALYZE_VS_STORAGE_MAX}x",
              None if analyze_vs_storage is None else analyze_vs_storage <= ANALYZE_VS_STORAGE_MAX),
        Check("original design (extrapolated) / analyze", original_vs_analyze,
              f">= {ORIGINAL_VS_ANALYZE_MIN:g}x",
              None if original_vs_analyze is None else original_vs_analyze >= ORIGINAL_VS_ANALYZE_MIN),
        Check("analyze / (COPY + index), CPU work (client + server)",
              ratio(analyze_cpu, floor_cpu), "(no target)", None),
        Check(f"analyze CPU work / {cores} cores: least possible wall time",
              None if analyze_cpu is None else analyze_cpu / cores, "(no target)", None, " s"),
        Check("analyze / DuckDB", ratio(analyze, duck), "(no target)", None),
        Check("analyze in parts / analyze (time)", ratio(in_parts, analyze), "(no target)", None),
        Check("analyze in parts / analyze (peak memory)",
              ratio(parts.get("peak_rss_bytes") if in_parts else None,
                    steps["analyze"]["peak_rss_bytes"] if analyze else None),
              "(no target)", None),
        Check("analyze peak memory", None if peak is None else peak / 1e6,
              f"< {PEAK_MEMORY_MAX_BYTES / 1e6:,.0f} MB",
              None if peak is None else peak < PEAK_MEMORY_MAX_BYTES, " MB"),
        Check(f"{SMALL_FILE_ROWS:,}-event file, embedded (median)", small,
              f"< {SMALL_FILE_MAX_S:g} s", None if small is None else small < SMALL_FILE_MAX_S,
              " s"),
    ]
    return {c.name: asdict(c) for c in checks}


def cpu_seconds(step: dict[str, Any]) -> float | None:
    """Client plus server CPU seconds of a step, when both were measured."""
    if not step.get("ok") or "server_cpu_s" not in step or "client_cpu_s" not in step:
        return None
    return step["client_cpu_s"] + step["server_cpu_s"]


def _cpu(step: dict[str, Any]) -> str:
    if not step.get("ok") or "client_cpu_s" not in step:
        return "-"
    if "server_cpu_s" not in step:
        return f"{step['client_cpu_s']:,.1f}"
    return f"{step['client_cpu_s']:,.1f} + {step['server_cpu_s']:,.1f}"


def _runs(step: dict[str, Any]) -> str:
    runs = step.get("runs_s") or []
    return f" (median of {', '.join(_num(s) for s in runs)})" if len(runs) > 1 else ""


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _rate(rows: int | None, seconds: float | None) -> str:
    return "-" if not rows or not seconds else f"{rows / seconds:,.0f}"


def _mb(value: int | None) -> str:
    return "-" if not value else f"{value / 1e6:,.0f} MB"


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(step, seconds, rows/s, peak memory, CPU seconds) for every measured line."""
    steps = result["steps"]
    rows = result["rows"]
    out: list[tuple[str, str, str, str, str]] = []
    gen = steps["generate"]
    out.append((f"1. generate CSV ({gen['bytes'] / 1e6:,.0f} MB)",
                "reused" if gen["reused"] else _num(gen["seconds"]),
                "-" if gen["reused"] else _rate(rows, gen["seconds"]), "-", "-"))
    analyze = steps["analyze"]
    label = f"2. dwell analyze --json ({result['server']['kind']} server){_runs(analyze)}"
    out.append((label, _num(analyze["seconds"]), _rate(rows, analyze["seconds"]),
                _mb(analyze["peak_rss_bytes"]), _cpu(analyze)) if analyze["ok"]
               else (label, "FAILED", "-", "-", "-"))
    parts = steps.get("analyze_in_parts")
    if parts:
        label = f"2'. same, spilled in parts of {PART_ROWS:,} rows"
        out.append((label, _num(parts["seconds"]), _rate(rows, parts["seconds"]),
                    _mb(parts["peak_rss_bytes"]), _cpu(parts)) if parts["ok"]
                   else (label, "FAILED", "-", "-", "-"))
    floor = steps["storage_floor"]
    if floor.get("ok"):
        total = floor["copy_s"] + floor["index_s"]
        out += [("3a. PostgreSQL COPY", _num(floor["copy_s"]), _rate(rows, floor["copy_s"]),
                 _mb(floor["peak_rss_bytes"]), "-"),
                ("3b. index build (3 indexes)", _num(floor["index_s"]),
                 _rate(rows, floor["index_s"]), "-", "-"),
                (f"3. storage floor: COPY + index{_runs(floor)}", _num(total),
                 _rate(rows, total), "-", _cpu(floor))]
    else:
        out.append(("3. storage floor: COPY + index", "FAILED", "-", "-", "-"))
    duck = steps["compute_floor"]
    out.append(("4. compute floor: DuckDB pairing + KPIs",
                _num(duck["seconds"]) if duck.get("ok") else "FAILED",
                _rate(rows, duck.get("seconds")), _mb(duck.get("peak_rss_bytes")), _cpu(duck)))
    original = steps["original"]
    if original.get("ok"):
        sample = original["rows"]
        out += [(f"5a. original design, {sample:,} rows: ORM inserts",
                 _num(original["insert_s"]), _rate(sample, original["insert_s"]),
                 _mb(original["peak_rss_bytes"]), "-"),
                (f"5b. original design, {sample:,} rows: Python pairing",
                 _num(original["pairing_s"]), _rate(sample, original["pairing_s"]), "-",
                 "-"),
                (f"5. original design, extrapolated to {rows:,} rows",
                 _num(original["extrapolated_s"]), _rate(rows, original["extrapolated_s"]), "-",
                 "-")]
    else:
        out.append(("5. original design", "FAILED", "-", "-", "-"))
    small = steps["small_file"]
    label = f"6. {small['rows']:,}-event file, embedded PostgreSQL"
    if small["ok"]:
        runs = ", ".join(_num(r["seconds"]) for r in small["runs"])
        out.append((f"{label} (median of {runs})", _num(small["median_s"]),
                    _rate(small["rows"], small["median_s"]), _mb(small["peak_rss_bytes"]), "-"))
    else:
        out.append((label, "FAILED", "-", "-", "-"))
    if small.get("cold_start", {}).get("ok"):
        cold = small["cold_start"]
        out.append(("6'. same, first use (initdb), not in the median", _num(cold["seconds"]),
                    "-", _mb(cold["peak_rss_bytes"]), "-"))
    return out


def check_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = []
    for check in result["ratios"].values():
        status = {True: "PASS", False: "MISS", None: "-"}[check["passed"]]
        if check["value"] is None and check["target"] != "(no target)":
            status = "not measured"
        digits = 0 if check["unit"] == " MB" else 2
        out.append((check["name"], _num(check["value"], digits) + check["unit"].rstrip()
                    if check["value"] is not None else "-", check["target"], status))
    return out


KPI_NAMES = ("total_events", "unique_visitors", "complete_sessions", "avg_dwell_s",
             "median_dwell_s")


def kpi_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The analyze KPIs next to DuckDB's: the floors do the same work on the same events."""
    analyze = result["steps"]["analyze"].get("kpis") or {}
    duck = result["steps"]["compute_floor"].get("kpis") or {}
    parts = (result["steps"].get("analyze_in_parts") or {}).get("kpis") or {}

    def show(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"

    return [(name, show(analyze.get(name)), show(parts.get(name)), show(duck.get(name)))
            for name in KPI_NAMES]


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells)

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


STEP_HEADER = ("step", "seconds", "rows/s", "peak memory", "CPU s (client + server)")
CHECK_HEADER = ("ratio / measure", "value", "target", "result")
KPI_HEADER = ("KPI", "dwell analyze", "in parts", "DuckDB floor")


def setup_lines(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    server = result["server"]
    s = server["settings"]
    gen = result["steps"]["generate"]
    dirty = " (src/ has uncommitted changes, measured as they were)" \
        if result["src_uncommitted_changes"] else ""
    return [
        f"commit {result['commit']}{dirty}, {result['date']}"
        + (", QUICK run" if result["quick"] else ""),
        f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_bytes'] / 2**30:.0f} GiB RAM, "
        f"Python {m['python']}",
        f"server: {server['description']}, PostgreSQL {s.get('server_version')}, "
        f"shared_buffers {s.get('shared_buffers')}, maintenance_work_mem "
        f"{s.get('maintenance_work_mem')}, max_parallel_maintenance_workers "
        f"{s.get('max_parallel_maintenance_workers')}, synchronous_commit "
        f"{s.get('synchronous_commit')}, fsync {s.get('fsync')}",
        f"file: {gen['path']}, {result['rows']:,} rows, {gen['bytes'] / 1e6:,.1f} MB, "
        f"seed {result['seed']}",
    ]


def failures(result: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, step in result["steps"].items():
        if not step.get("ok", True) and step.get("error"):
            out.append((name, step["error"]))
    return out


PROFILE_HEADER = ("function", "calls", "own s", "cumulative s")


def profile_section(result: dict[str, Any]) -> tuple[str, list[tuple[str, ...]]] | None:
    profile = result.get("profile")
    if not profile or not profile["ok"]:
        return None
    rows = [(f["function"], f"{f['calls']:,}", _num(f["own_s"]), _num(f["cumulative_s"]))
            for f in profile["top"]]
    return (f"dwell analyze under cProfile ({_num(profile['seconds'])} s with profiling "
            f"overhead; {profile['profile']}):", rows)


def render_text(result: dict[str, Any]) -> str:
    parts = ["", *setup_lines(result), "", text_table(STEP_HEADER, table_rows(result)), "",
             text_table(CHECK_HEADER, check_rows(result)), "",
             text_table(KPI_HEADER, kpi_rows(result))]
    parts += [f"note: {n}" for n in result["notes"]]
    if profile := profile_section(result):
        parts += ["", profile[0], text_table(PROFILE_HEADER, profile[1])]
    for name, error in failures(result):
        parts += ["", f"{name} failed: {error}"]
    return "\n".join(parts) + "\n"


def render_markdown(result: dict[str, Any]) -> str:
    parts = [f"# Pipeline benchmark, {result['date']}, commit {result['commit']}", "",
             *[f"- {line}" for line in setup_lines(result)], "",
             markdown_table(STEP_HEADER, table_rows(result)), "",
             markdown_table(CHECK_HEADER, check_rows(result)), "",
             "Same events, same KPIs (the DuckDB floor pairs an entry with the next event when "
             "it is an exit within max_session_s, without the duplicate-entry rule):", "",
             markdown_table(KPI_HEADER, kpi_rows(result))]
    if result["notes"]:
        parts += ["", *[f"- {n}" for n in result["notes"]]]
    if profile := profile_section(result):
        parts += ["", profile[0], "", markdown_table(PROFILE_HEADER, profile[1])]
    for name, error in failures(result):
        parts += ["", f"**{name} failed:**", "", "```", error, "```"]
    parts.append("")
    parts.append("Produced by `make bench` (benchmarks/bench_pipeline.py); rows are explained in "
                 "benchmarks/README.md.")
    return "\n".join(parts) + "\n"


def save(result: dict[str, Any], markdown: str | None = None, prefix: str = "") -> list[Path]:
    """Dated files plus <prefix>latest.*; --quick runs, and runs on a store loaded before
    (`scratch`), go to the git-ignored data directory."""
    scratch = result["quick"] or result.get("scratch", False)
    directory = QUICK_RESULTS_DIR if scratch else RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}{result['date']}-{result['commit']}" + (
        "-quick" if result["quick"] else "-reused" if scratch else "")
    markdown = render_markdown(result) if markdown is None else markdown
    document = json.dumps(result, indent=2, default=str) + "\n"
    paths = []
    for name in (stem, f"{prefix}latest"):
        (directory / f"{name}.md").write_text(markdown)
        (directory / f"{name}.json").write_text(document)
        paths += [directory / f"{name}.md", directory / f"{name}.json"]
    return paths


def publish(text: str, paths: list[Path]) -> None:
    """Print a run's table and say where its files were written."""
    print(text)
    for path in paths:
        log(f"wrote {path.relative_to(ROOT)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, help=f"events in the big file (default {FULL_ROWS:,}, "
                                                 f"--quick {QUICK_ROWS:,})")
    parser.add_argument("--quick", action="store_true",
                        help="a fast run: small file, small original-design sample, one 10k run; "
                             "results go to benchmarks/data/results/")
    parser.add_argument("--original-rows", type=int,
                        help=f"sample for the original design (default {ORIGINAL_SAMPLE_ROWS:,})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--server", default=os.environ.get("BENCH_SERVER_URL", LOCAL_SERVER),
                        help="PostgreSQL server for steps 2, 3 and 5 (embedded when unreachable)")
    parser.add_argument("--wait-synth", type=float, default=900.0, metavar="SECONDS",
                        help="how long to poll for dwell.synth when it is not importable yet")
    parser.add_argument("--repeat", type=int, metavar="N",
                        help=f"runs of dwell analyze and of the storage floor, alternately; the "
                             f"median is reported (default {REPEATS}, --quick 1)")
    parser.add_argument("--profile", action="store_true",
                        help="also run dwell analyze under cProfile and list where time goes")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--step-params", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.step:
        outcome = STEPS[args.step](**json.loads(args.step_params or "{}"))
        print(json.dumps(outcome, default=str))
        return 0
    result = benchmark(args)
    publish(render_text(result), save(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
