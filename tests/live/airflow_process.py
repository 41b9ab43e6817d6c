"""A real Airflow (API server, scheduler, dag-processor, triggerer, and any more) started for one test module.

Each component runs as its own process group, in its own working directory inside AIRFLOW_HOME, with its
own log file, and reports its name as its hostname (so task instances and triggerer jobs say which
component ran them). Every process started from the instance's AIRFLOW_HOME (including task processes,
which Airflow moves into process groups of their own) is found again through /proc on shutdown and
killed, so a failing test leaves nothing behind. A test can also kill, pause and resume one component,
as a machine failing would.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.fernet import Fernet

AIRFLOW_CLI = str(Path(sys.executable).with_name("airflow"))
# Every component imports `component_hostname` from here, to report its name as its hostname.
HOSTNAME_MODULE_DIR = Path(__file__).resolve().parent / "component_path"
COMPONENT_ENV = "KIZEN_TEST_COMPONENT"
# Task logs stay on this machine, so the scheduler and triggerer need not serve them (their log
# servers would listen on every interface, on a fixed port).
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
ADMIN_USER = "admin"
FINISHED_RUN_STATES = frozenset({"success", "failed"})
T = TypeVar("T")


class AirflowProcessError(RuntimeError):
    """A component failed to start or died; the message carries the tail of its log."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, interval: float = 0.5) -> T:
    """Call `probe` until it returns something other than None; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _airflow_env(
    home: Path, dags_folder: Path, api_port: int, extra_env: Mapping[str, str]
) -> dict[str, str]:
    """An environment owing nothing to the caller's Airflow settings, connections or variables."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    api_url = f"http://127.0.0.1:{api_port}"
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # No scheduled runs: the tests trigger every run themselves and know each one's conf.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow_provider_kizen\..*",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Parse the DAGs folder and pick up new runs and triggers quickly: the test waits on all three.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        # Task processes talk to the API server, which shares a busy machine with everything else;
        # its 5 s default fails tasks under load (Airflow's own advice for "high load").
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        **extra_env,
    }


def _processes_of(home: Path, component: str | None = None) -> list[int]:
    """Pids of every live process started from this AIRFLOW_HOME, or from one component of it.

    A process counts when its working directory is inside `home` (or the component's directory in it),
    where the components start, or when its environment names `home` as AIRFLOW_HOME (and the
    component). Either alone misses some: Airflow's process titles overwrite what /proc shows of a
    worker's environment, and BashOperator runs its command in a temporary directory.
    """
    directory = home if component is None else home / component
    markers = [f"AIRFLOW_HOME={home}".encode()]
    if component is not None:
        markers.append(f"{COMPONENT_ENV}={component}".encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if "State:\tZ" in (entry / "status").read_text():
                continue
            cwd = Path(os.readlink(entry / "cwd"))
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if cwd.is_relative_to(directory) or all(marker in environ for marker in markers):
            found.append(int(entry.name))
    return found


def _signal_all(pids: Iterable[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _ti_key(ti: Mapping[str, Any]) -> str:
    """`task_id`, or `task_id[map_index]` for an expanded mapped task instance."""
    return str(ti["task_id"]) if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"


@dataclass
class RunWatch:
    """What was seen of one DAG run: its state and, per task instance, every state it passed through."""

    dag_id: str
    run_id: str
    state: str | None = None
    task_states: dict[str, list[str | None]] = field(default_factory=dict)
    operators: dict[str, str | None] = field(default_factory=dict)
    task_instances: list[dict[str, Any]] = field(default_factory=list)

    def poll(self, api: httpx.Client) -> None:
        run_path = f"/api/v2/dags/{self.dag_id}/dagRuns/{self.run_id}"
        self.task_instances = (
            api.get(f"{run_path}/taskInstances", params={"limit": 1000}).raise_for_status().json()
        )["task_instances"]
        for ti in self.task_instances:
            key = _ti_key(ti)
            seen = self.task_states.setdefault(key, [])
            if not seen or seen[-1] != ti["state"]:
                seen.append(ti["state"])
            self.operators[key] = ti["operator"]
        self.state = api.get(run_path).raise_for_status().json()["state"]

    def tasks_of(self, operator: str) -> dict[str, list[str | None]]:
        """The state histories of the task instances of one operator class that exist now.

        A mapped task's placeholder instance disappears once it is expanded, so it is left out.
        """
        current = {_ti_key(ti) for ti in self.task_instances}
        return {
            key: states
            for key, states in self.task_states.items()
            if key in current and self.operators[key] == operator
        }

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_RUN_STATES

    def final_states(self, task_id: str) -> list[str | None]:
        """The current state of each instance of `task_id` (one per map index, in order)."""
        instances = sorted(
            (ti for ti in self.task_instances if ti["task_id"] == task_id), key=lambda ti: ti["map_index"]
        )
        return [ti["state"] for ti in instances]

    def describe(self) -> str:
        return f"{self.dag_id} run {self.run_id} is {self.state}; task states seen: {self.task_states}"


@dataclass
class LiveAirflow:
    home: Path
    api_url: str
    # The environment every component starts with, and each component's CLI arguments.
    env: dict[str, str] = field(repr=False)
    commands: Mapping[str, Sequence[str]] = field(repr=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    # The token signs in as admin.
    token: str | None = field(default=None, repr=False)
    # Seconds spent in each phase, for spotting where a slow run lost its time.
    timings: dict[str, float] = field(default_factory=dict)

    def log_tail(self, component: str, lines: int = 40) -> str:
        path = self.home / f"{component}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=60)

    def cli(self, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run `airflow <arguments>` against this instance; the result is not checked."""
        return subprocess.run(
            [AIRFLOW_CLI, *arguments],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, name: str) -> None:
        """Start one component in its own process group and working directory, logging to `<name>.log`."""
        workdir = self.home / name
        workdir.mkdir(exist_ok=True)
        pythonpath = os.pathsep.join(filter(None, [str(HOSTNAME_MODULE_DIR), self.env.get("PYTHONPATH")]))
        env = {
            **self.env,
            COMPONENT_ENV: name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "component_hostname.hostname",
            "PYTHONPATH": pythonpath,
        }
        with (self.home / f"{name}.log").open("ab") as log_file:
            self.processes[name] = subprocess.Popen(
                [AIRFLOW_CLI, *self.commands[name]],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str) -> None:
        """SIGKILL one component and every process it started, as if its machine had died."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        # Task and trigger processes may have left the component's process group.
        _signal_all(_processes_of(self.home, name), signal.SIGKILL)

        def gone() -> bool | None:
            return True if not _processes_of(self.home, name) else None

        wait_for(f"every process of {name} to die", gone, timeout=15, interval=0.1)

    def pause(self, name: str) -> None:
        """SIGSTOP one component and its children: it keeps its state but does no work."""
        _signal_all(_processes_of(self.home, name), signal.SIGSTOP)

    def resume(self, name: str) -> None:
        _signal_all(_processes_of(self.home, name), signal.SIGCONT)

    def wait_for_log(self, name: str, text: str, timeout: float = 90) -> None:
        """Wait until the log of component `name` contains `text` (a start-up message, say)."""

        def logged() -> bool | None:
            self.check_alive()
            return True if text in (self.home / f"{name}.log").read_text(errors="replace") else None

        wait_for(f"{name} to log {text!r}", logged, timeout=timeout)

    def wait_for_deferral_reported(self, run: RunWatch, task_id: str, *, map_index: int = -1) -> None:
        """Wait until the scheduler has taken in the executor's report on a deferred task's workload.

        A task that defers ends its workload, and the executor reports that as a success. Airflow 3.3
        fails the task when that report reaches the scheduler only after the trigger has fired and the
        task has resumed (apache/airflow#72716). A test that releases a wait right after the deferral
        waits for this first, as a slower Kizen user would.
        """
        key = (
            f"TaskInstanceKey(dag_id='{run.dag_id}', task_id='{task_id}', run_id='{run.run_id}', "
            f"try_number=1, map_index={map_index})"
        )
        self.wait_for_log("scheduler", f"Received executor event with state success for task instance {key}")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AirflowProcessError(
                    f"airflow {name} exited with {process.returncode}:\n{self.log_tail(name)}"
                )

    def wait_until_gone(self, timeout: float = 15) -> None:
        """Wait until no process carrying this AIRFLOW_HOME is left; fail naming any that is."""
        deadline = time.monotonic() + timeout
        while (left := _processes_of(self.home)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"Airflow processes still running after shutdown: {left}"

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 90) -> None:
        """Wait until the dag-processor has parsed every DAG in `dag_ids`; fail at once on an import error."""
        wanted = set(dag_ids)
        with self.client() as api:

            def parsed() -> bool | None:
                self.check_alive()
                errors = api.get("/api/v2/importErrors").raise_for_status().json()["import_errors"]
                if errors:
                    details = "\n".join(f"{error['filename']}: {error['stack_trace']}" for error in errors)
                    raise AssertionError(f"the DAGs folder has import errors:\n{details}")
                listed = api.get("/api/v2/dags", params={"limit": 100}).raise_for_status().json()["dags"]
                return True if wanted <= {dag["dag_id"] for dag in listed} else None

            started = time.monotonic()
            wait_for(f"the dag-processor to parse {sorted(wanted)}", parsed, timeout=timeout)
            self.timings["parse DAGs"] = time.monotonic() - started

    def unpause(self, dag_id: str) -> None:
        with self.client() as api:
            api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def run_count(self, dag_id: str) -> int:
        with self.client() as api:
            runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1}).raise_for_status().json()
        return int(runs["total_entries"])

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> httpx.Response:
        """POST a manual run with `conf`, as the UI's trigger form does; the response is not checked."""
        with self.client() as api:
            return api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf)})

    def xcom(self, dag_id: str, run_id: str, *, task_id: str, map_index: int = -1) -> Any:
        """The `return_value` XCom of one task instance, as JSON."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        with self.client() as api:
            response = api.get(path, params={"map_index": map_index, "deserialize": True})
        return response.raise_for_status().json()["value"]

    def trigger_run(self, dag_id: str, conf: Mapping[str, Any]) -> RunWatch:
        """Trigger a run that must be accepted, and return a watch on it."""
        response = self.trigger(dag_id, conf)
        assert response.status_code == 200, f"triggering {dag_id} failed: {response.text}"
        return RunWatch(dag_id, response.json()["dag_run_id"])

    def watch(
        self, runs: Sequence[RunWatch], until: Callable[[], bool], *, what: str, timeout: float
    ) -> None:
        """Poll `runs`, recording every task state seen, until `until()` holds.

        Fails early when every run has finished and `until()` still does not hold.
        """
        with self.client() as api:

            def probe() -> bool | None:
                self.check_alive()
                for run in runs:
                    if not run.finished:
                        run.poll(api)
                if until():
                    return True
                if all(run.finished for run in runs):
                    details = "\n".join(run.describe() for run in runs)
                    raise AssertionError(f"the runs finished before {what}:\n{details}")
                return None

            started = time.monotonic()
            wait_for(what, probe, timeout=timeout, interval=0.5)
            self.timings[what] = time.monotonic() - started

    def stop(self, grace_seconds: float = 10) -> None:
        """Ask each component to shut down, then SIGKILL its process group and any task process left."""
        started = time.monotonic()
        # SIGTERM goes to the leader only: a component stops its own children in order, while
        # signalling the whole group at once makes the scheduler wait out its executor workers.
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace_seconds
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            # Only while its leader lives is the group certainly still ours; what outlives the
            # leader is found below.
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Task processes run in process groups of their own; find them through /proc.
        _signal_all(_processes_of(self.home), signal.SIGKILL)
        self.timings["stop"] = time.monotonic() - started


def _login(api_url: str, password: str) -> str:
    response = httpx.post(
        f"{api_url}/auth/token", json={"username": ADMIN_USER, "password": password}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _healthy(api_url: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{api_url}/api/v2/monitor/health", timeout=5)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    health = response.json()
    components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    if all((health.get(name) or {}).get("status") == "healthy" for name in components):
        return dict(health)
    return None


@contextlib.contextmanager
def running_airflow(
    home: Path,
    dags_folder: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    components: Mapping[str, Sequence[str]] = COMPONENTS,
    startup_timeout: float = 300,
) -> Iterator[LiveAirflow]:
    """Migrate a fresh metadata database, start the components, log in as admin.

    The database is SQLite in `home` unless `extra_env` sets another one; `extra_env` overrides any
    setting made here. `components` maps each component's name to its `airflow` CLI arguments.
    """
    home.mkdir(parents=True, exist_ok=True)
    api_port = free_loopback_port()
    env = _airflow_env(home, dags_folder, api_port, extra_env or {})
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({ADMIN_USER: password}))
    started = time.monotonic()
    migrate = subprocess.run(
        # A guard against a hang, not a speed check: on a busy machine migrating takes minutes.
        [AIRFLOW_CLI, "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if migrate.returncode != 0:
        raise AirflowProcessError(
            f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}"
        )

    airflow = LiveAirflow(home=home, api_url=f"http://127.0.0.1:{api_port}", env=env, commands=components)
    airflow.timings["db migrate"] = time.monotonic() - started
    try:
        for name in components:
            airflow.start(name)

        def ready() -> dict[str, Any] | None:
            airflow.check_alive()
            return _healthy(airflow.api_url)

        wait_for("Airflow to report every component healthy", ready, timeout=startup_timeout)
        # The execution API builds its versioned routes on its first request, holding up the API server's
        # event loop for many seconds on a busy machine. Paying that here keeps it out of the first task.
        httpx.get(f"{airflow.api_url}/execution/health", timeout=startup_timeout).raise_for_status()
        airflow.timings["start components"] = time.monotonic() - started - airflow.timings["db migrate"]
        airflow.token = _login(airflow.api_url, password)
        yield airflow
    finally:
        airflow.stop()
