"""The pybind11 module `mixccl` (bindings/python): collectives on NumPy arrays and torch tensors,
groups, split and errors, on 2 and 3 real ranks."""

from pathlib import Path

import pytest

import mixccl_launch

WORKER = Path(__file__).with_name("mixccl_py_worker.py")


@pytest.mark.parametrize("nranks", [2, 3])
def test_module_collectives(nranks):
    mixccl_launch.require_module()
    outputs = mixccl_launch.run_ranks(WORKER, nranks, timeout=120)
    assert all("all mixccl module checks passed" in o for o in outputs)


def test_import_and_errors_in_process():
    mixccl_launch.require_module()
    import subprocess

    code = ("import mixccl, numpy as np\n"
            "uid = mixccl.get_unique_id(); assert len(uid) == mixccl.UNIQUE_ID_BYTES\n"
            "try:\n  mixccl.Communicator(2, 5, uid)\nexcept ValueError as e:\n  print('refused:', e)\n"
            "try:\n  mixccl.Communicator(1, 0, b'short')\nexcept ValueError as e:\n  print('refused:', e)\n"
            "c = mixccl.Communicator(1, 0, uid)\nx = np.arange(4, dtype=np.float32); c.all_reduce(x)\n"
            "print('single', list(x), mixccl.__version__, issubclass(mixccl.Error, RuntimeError))\n")
    r = subprocess.run([mixccl_launch.PYTHON, "-c", code], capture_output=True, text=True, timeout=60,
                       env=mixccl_launch.env_for_ranks())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "refused: rank must be in [0, 2), not 5" in r.stdout
    assert "refused: uid must be the 128 bytes" in r.stdout
    assert "single [0.0, 1.0, 2.0, 3.0]" in r.stdout and "True" in r.stdout
