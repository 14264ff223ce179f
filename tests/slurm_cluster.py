"""A throwaway single-node SLURM cluster for tests: Debian's slurmctld, slurmd and munge, one fake GPU.

The session fixture `slurm_cluster` writes `slurm.conf` and `gres.conf` to /etc/slurm/, starts
munged, slurmctld and slurmd, waits until the node is idle and stops what it started at the end of
the session. It is careful with the machine it runs on (`plan` decides, tested in
tests/test_slurm_cluster.py); the tests that use it are skipped, with the reason, when:
- /etc/slurm/ already holds a slurm.conf or gres.conf that these tests did not write (no MARKER on
  its first line): such a configuration is never overwritten, nor removed;
- the SLURM commands are missing: Debian's packages are installed (apt-get, as root) only when
  GROKSTUDY_TEST_INSTALL_SLURM=1 is set, as .ci/run does; otherwise nothing is installed;
- this process is not root (the daemons run as root and the configuration lives in /etc).

Why the configuration looks the way it does:
- The files go to /etc/slurm/, the default path: the executor plugin runs `srun` inside each batch
  job, and that `srun` does not see a SLURM_CONF pointing elsewhere. State, spool and logs stay in
  a temporary directory.
- No systemd, no cgroups and no accounting database in a container: process tracking by
  /proc, no task plugin, `accounting_storage/none`. Without accounting `sacct` never reports a
  finished job, so the profile polls with `squeue`, and MinJobAge keeps finished jobs visible to it.
- The GPU is a gres backed by /dev/null: a job asking for `--gpus=1` is scheduled on it and runs
  with CUDA_VISIBLE_DEVICES=0 (nothing can actually use it; the smoke preset trains on the CPU).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "scancel", "munged")
ETC = Path("/etc/slurm")
MARKER = "# Written by grokstudy tests/slurm_cluster.py"
CONFIG_FILES = ("slurm.conf", "gres.conf")
# Set to 1 to let the fixture install the SLURM packages with apt-get when they are missing (CI does).
INSTALL_VARIABLE = "GROKSTUDY_TEST_INSTALL_SLURM"
PARTITION = "debug"


@dataclass
class SlurmCluster:
    """What the tests need to know about the running cluster."""

    host: str
    root: Path
    cpus: int
    memory_mb: int
    partition: str = PARTITION
    timings: dict = field(default_factory=dict)

    @property
    def controller_log(self) -> Path:
        return self.root / "log" / "slurmctld.log"

    @property
    def node_log(self) -> Path:
        return self.root / "log" / "slurmd.log"

    def jobs(self) -> list[dict]:
        """Every job the controller still holds (finished ones included, for MinJobAge), as key=value maps."""
        out = _run("scontrol", "show", "job", "--oneliner").stdout
        return [_parse_record(line) for line in out.splitlines() if line.startswith("JobId=")]

    def cancel_all(self) -> None:
        ids = [job["JobId"] for job in self.jobs() if job.get("JobState") in ("PENDING", "RUNNING", "CONFIGURING")]
        if ids:
            _run("scancel", *ids, check=False)


def _run(*command: str, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result


def _parse_record(line: str) -> dict:
    """`scontrol --oneliner` output: space-separated key=value pairs (values may hold '=' but no spaces)."""
    record = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            record[key] = value
    return record


def written_by_these_tests(path: Path) -> bool:
    """Whether the file at `path` starts with MARKER (an unreadable or non-text file does not)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.readline().startswith(MARKER)
    except OSError:
        return False


def foreign_configuration(etc: Path) -> list[Path]:
    """The SLURM configuration files in `etc` that these tests did not write: never overwritten."""
    return [etc / name for name in CONFIG_FILES if (etc / name).exists() and not written_by_these_tests(etc / name)]


@dataclass(frozen=True)
class Plan:
    """What the fixture may do on this machine: skip (with the reason), or go on, installing first or not."""

    skip: str | None = None
    install: bool = False


def plan(
    etc: Path,
    environ: Mapping[str, str],
    which: Callable[[str], str | None] = shutil.which,
    euid: int | None = None,
) -> Plan:
    """Decide, touching nothing, whether a test cluster can be set up with the configuration in `etc`.

    Packages are installed only when the environment sets INSTALL_VARIABLE=1, and a configuration that
    these tests did not write is never overwritten."""
    euid = os.geteuid() if euid is None else euid
    foreign = foreign_configuration(etc)
    if foreign:
        names = ", ".join(str(path) for path in foreign)
        return Plan(
            skip=f"{names}: a SLURM configuration not written by these tests (no '{MARKER}' line); not overwriting it"
        )
    missing = [command for command in COMMANDS if which(command) is None]
    if missing:
        absent = f"SLURM is not installed ({', '.join(missing)} missing)"
        if environ.get(INSTALL_VARIABLE) != "1":
            return Plan(
                skip=f"{absent}; set {INSTALL_VARIABLE}=1 to let the tests install Debian's packages (apt-get, as root)"
            )
        if euid != 0:
            return Plan(skip=f"{absent}; {INSTALL_VARIABLE}=1 is set, but installing it needs root")
        if which("apt-get") is None:
            return Plan(skip=f"{absent}; {INSTALL_VARIABLE}=1 is set, but apt-get is unavailable")
        return Plan(install=True)
    if euid != 0:
        return Plan(skip=f"starting the test cluster needs root (it writes {etc} and runs the daemons as root)")
    return Plan()


def install_packages() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run("apt-get", "update", env=env, timeout=600)
    _run("apt-get", "install", "-y", *PACKAGES, env=env, timeout=900)


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def slurm_conf(host: str, root: Path, cpus: int, memory_mb: int) -> str:
    return f"""{MARKER}: a single-node test cluster; state, spool and logs in {root}.
ClusterName=grokstudy-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MinJobAge=600
ReturnToService=2
KillWait=10
MailProg=/bin/true
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName={host} CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def gres_conf(host: str) -> str:
    return f"{MARKER}: one fake GPU.\nNodeName={host} Name=gpu File=/dev/null\n"


def _write_configuration(etc: Path, files: dict[str, str]) -> None:
    """Write the configuration files, checking again just before: a foreign one is never overwritten."""
    foreign = foreign_configuration(etc)
    if foreign:
        pytest.skip(
            f"{', '.join(map(str, foreign))}: a SLURM configuration not written by these tests; not overwriting it"
        )
    etc.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (etc / name).write_text(text)


def _munge_works() -> bool:
    if shutil.which("munge") is None or shutil.which("unmunge") is None:
        return False
    encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if encoded.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, timeout=10).returncode == 0


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(pid: int | None, timeout: float = 15) -> None:
    if pid is None or not _alive(pid):
        return
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, 9)


def _wait_for(predicate, timeout: float, what: str, diagnose=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnose()}")


def _node_state() -> str:
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10)
    return result.stdout.strip() if result.returncode == 0 else ""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"--- {path}: unreadable"


def start_cluster(root: Path, started: list[int]) -> SlurmCluster:
    """Write the configuration and start the daemons, recording in `started` the pid of each one started."""
    host = socket.gethostname().split(".")[0]
    cpus = len(os.sched_getaffinity(0))
    memory_mb = max(1024, _memory_mb() - 2048)
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write_configuration(ETC, {"slurm.conf": slurm_conf(host, root, cpus, memory_mb), "gres.conf": gres_conf(host)})

    if not _munge_works():
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            _run("mungekey", "--create", "--keyfile", str(key))
            shutil.chown(key, "munge", "munge")
            key.chmod(0o400)
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        _run("runuser", "-u", "munge", "--", "munged")
        _wait_for(_munge_works, 20, "munged")
        pid = _pid(run_dir / "munged.pid")
        if pid:
            started.append(pid)

    for daemon in ("slurmctld", "slurmd"):
        _run(daemon)  # both daemonise; each writes its pid file once it is up
        pid_file, log = root / f"{daemon}.pid", root / "log" / f"{daemon}.log"
        _wait_for(lambda f=pid_file: _pid(f) is not None, 20, f"{daemon}'s pid file", lambda f=log: _tail(f))
        started.append(_pid(pid_file))

    def idle() -> bool:
        state = _node_state()
        if state.startswith(("down", "drain", "inval")):
            subprocess.run(["scontrol", "update", f"nodename={host}", "state=resume"], capture_output=True, timeout=10)
        return state.startswith("idle")

    def diagnose() -> str:
        logs = [_tail(root / "log" / f"{daemon}.log") for daemon in ("slurmctld", "slurmd")]
        return "\n".join([f"sinfo: {_node_state()}", *logs])

    _wait_for(idle, 60, f"node {host} to become idle", diagnose)
    return SlurmCluster(host=host, root=root, cpus=cpus, memory_mb=memory_mb)


def stop_cluster(cluster: SlurmCluster | None, started: list[int]) -> None:
    if cluster is not None:
        try:
            cluster.cancel_all()
            deadline = time.monotonic() + 20
            busy = ("RUNNING", "COMPLETING")
            while time.monotonic() < deadline and any(j.get("JobState") in busy for j in cluster.jobs()):
                time.sleep(0.5)
        except (RuntimeError, subprocess.SubprocessError, OSError):
            pass
    # slurmd, then slurmctld, then munged: the reverse of the start order.
    for pid in reversed(started):
        _stop(pid)
    for name in CONFIG_FILES:
        path = ETC / name
        if path.exists() and written_by_these_tests(path):
            path.unlink()


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    decision = plan(ETC, os.environ)
    if decision.skip:
        pytest.skip(decision.skip)
    began = time.monotonic()
    if decision.install:
        install_packages()
        missing = [command for command in COMMANDS if shutil.which(command) is None]
        if missing:
            raise RuntimeError(f"apt-get installed {', '.join(PACKAGES)}, yet {', '.join(missing)} are still missing")
    installed = time.monotonic()
    # Before anything is written: the clean-up below removes the configuration, which would pull
    # it from under a controller that another test process started.
    if subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0:
        pytest.skip("a slurmctld is already running on this machine; not starting a second controller")
    cluster, started = None, []
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"), started)
        cluster.timings = {"install_s": round(installed - began, 1), "start_s": round(time.monotonic() - installed, 1)}
        print(f"\nSLURM test cluster on {cluster.host}: {cluster.timings}")
        yield cluster
    finally:
        stop_cluster(cluster, started)
