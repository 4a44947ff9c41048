"""Helpers for the mixccl Python tests: where the build tree is, and a launcher that runs one
script as N local ranks (separate processes on 127.0.0.1) with a deadline, so that a hang fails
fast instead of stalling CI."""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("MIXCCL_BUILD_DIR", "build"))
if not BUILD_DIR.is_absolute():
    BUILD_DIR = REPO / BUILD_DIR
PYTHON_DIR = BUILD_DIR / "python"
PYTHON = "/usr/bin/python3"  # Debian's interpreter: numpy, pytest and torch come from apt


def require_module():
    if not any((PYTHON_DIR / "mixccl").glob("_mixccl*.so")):
        pytest.skip(f"the mixccl Python module is not built in {PYTHON_DIR} (CMake printed why; "
                    "build with scripts/build.sh or set MIXCCL_BUILD_DIR)")


def require_torch_backend():
    require_module()
    if not any((PYTHON_DIR / "mixccl" / "torch").glob("_C*.so")):
        pytest.skip(f"the mixccl torch backend is not built in {PYTHON_DIR} (no torch at configure time; "
                    "CMake printed 'mixccl: torch backend skipped: ...')")


def env_for_ranks(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), str(Path(__file__).parent),
                                                      env.get("PYTHONPATH", "")]))
    env.update({"MIXCCL_SOCKET_IFNAME": "lo", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1",
                "OMP_NUM_THREADS": "1"})
    env.setdefault("MIXCCL_TIMEOUT", "30")  # a lost peer fails a collective well inside the launch deadline
    if extra:
        env.update(extra)
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(script, nranks, args=(), timeout=150, env=None):
    """Runs `script rank nranks rendezvous_file *args` as nranks processes; returns their outputs.
    Fails the test (with every rank's output) if a rank exits non-zero or the deadline passes."""
    with tempfile.TemporaryDirectory(prefix="mixccl-pytest-") as tmp:
        store = os.path.join(tmp, "store")
        procs = []
        for rank in range(nranks):
            out = open(os.path.join(tmp, f"rank{rank}.log"), "w+")
            cmd = [PYTHON, str(script), str(rank), str(nranks), store, *map(str, args)]
            procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or env_for_ranks()),
                          out))
        timed_out = False
        for p, _ in procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                break
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        outputs = []
        for p, out in procs:
            out.seek(0)
            outputs.append(out.read())
            out.close()
        report = "\n".join(f"--- rank {r} (exit {p.returncode}) ---\n{o[-6000:]}"
                           for r, ((p, _), o) in enumerate(zip(procs, outputs)))
        if timed_out:
            pytest.fail(f"{script.name} with {nranks} ranks did not finish in {timeout} s\n{report}")
        if any(p.returncode != 0 for p, _ in procs):
            pytest.fail(f"{script.name} with {nranks} ranks failed\n{report}")
        return outputs
