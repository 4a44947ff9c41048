"""`cmake --install` puts a working mixccl package (and mixccl.torch) under the prefix: importable
from the installed site-packages alone, finding libmixccl.so through its relative RPATH."""

import shutil
import subprocess

import pytest

import mixccl_launch

CODE = """
import mixccl, numpy as np
assert mixccl.__file__.startswith({prefix!r}), mixccl.__file__
c = mixccl.Communicator(1, 0, mixccl.get_unique_id())
x = np.arange(3, dtype=np.float32); c.all_reduce(x); print("module", list(x))
try:
    import torch, torch.distributed as dist
except ImportError:
    print("no torch")
else:
    import mixccl.torch
    dist.init_process_group("mixccl", init_method="file://{prefix}/store", rank=0, world_size=1)
    t = torch.ones(2); dist.all_reduce(t); print("torch", t.tolist())
"""


def test_installed_package_works(tmp_path):
    mixccl_launch.require_module()
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not on PATH")
    prefix = tmp_path / "prefix"
    r = subprocess.run([cmake, "--install", str(mixccl_launch.BUILD_DIR), "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    inits = [p for p in prefix.rglob("mixccl/__init__.py") if p.parent.parent.name.endswith("-packages")]
    assert inits, f"no mixccl package under {prefix}:\n{r.stdout}"
    site = inits[0].parent.parent
    env = mixccl_launch.env_for_ranks()
    env["PYTHONPATH"] = str(site)  # the installed package only, not the build tree
    env.pop("LD_LIBRARY_PATH", None)
    r = subprocess.run([mixccl_launch.PYTHON, "-c", CODE.format(prefix=str(prefix))], capture_output=True,
                       text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "module [0.0, 1.0, 2.0]" in r.stdout, r.stdout
    if any(site.glob("mixccl/torch/_C*.so")):
        assert "torch [1.0, 1.0]" in r.stdout, r.stdout
