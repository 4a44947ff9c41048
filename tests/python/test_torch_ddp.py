"""DistributedDataParallel over "mixccl" ends where the same run over Gloo ends, and
examples/ddp_train.py runs under `python3 -m torch.distributed.run` as the README says."""

import re
import subprocess
from pathlib import Path

import pytest

import mixccl_launch

WORKER = Path(__file__).with_name("mixccl_torch_ddp_worker.py")
EXAMPLE = mixccl_launch.REPO / "examples" / "ddp_train.py"


@pytest.mark.parametrize("nranks", [2, 4])
def test_ddp_matches_gloo(nranks):
    mixccl_launch.require_torch_backend()
    outputs = mixccl_launch.run_ranks(WORKER, nranks, args=(20,), timeout=180)
    for o in outputs:
        m = re.search(r"relative difference mixccl vs gloo (\S+) after 20 steps", o)
        assert m, o
        assert float(m.group(1)) <= 1e-6, o
        print(o.strip())


def test_example_under_torch_distributed_run(tmp_path):
    mixccl_launch.require_torch_backend()
    port = mixccl_launch.free_port()
    cmd = [mixccl_launch.PYTHON, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}",
           # torch 1.13's launcher under Python 3.11 cannot parse its own default "--redirects 0"
           # (enum iteration skips the 0 member); any explicit non-zero value works.
           "--redirects=1", "--tee=1", f"--log_dir={tmp_path / 'logs'}", str(EXAMPLE), "--steps", "10", "--save", str(tmp_path / "params.pt")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=mixccl_launch.env_for_ranks(),
                       cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "ddp_train: 2 ranks, backend mixccl, device cpu" in out, out
    sums = re.findall(r"rank (\d): done, parameter checksum (\S+)", out)
    assert sorted(s[0] for s in sums) == ["0", "1"], out
    assert sums[0][1] == sums[1][1], f"the two ranks ended with different parameters:\n{out}"
    assert (tmp_path / "params.pt").exists()
