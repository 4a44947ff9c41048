"""The torch.distributed backend "mixccl": every op against Gloo's result (or the computed value for
ops Gloo lacks) on 2, 3 and 4 processes. One launch per world size runs all ops."""

from pathlib import Path

import pytest

import mixccl_launch

WORKER = Path(__file__).with_name("mixccl_torch_ops_worker.py")


@pytest.mark.parametrize("nranks", [2, 3, 4])
def test_every_op_matches_gloo(nranks):
    mixccl_launch.require_torch_backend()
    outputs = mixccl_launch.run_ranks(WORKER, nranks, timeout=180)
    for o in outputs:
        assert "checks against Gloo/reference passed" in o, o
