"""Bad use of the "mixccl" torch backend raises a clear error instead of hanging: dtype mixes,
wrong sizes and counts, unsupported dtypes and ops are refused on the calling rank; sizes that differ
across ranks fail in the library within MIXCCL_TIMEOUT."""

from pathlib import Path

import mixccl_launch

WORKER = Path(__file__).with_name("mixccl_torch_bad_use_worker.py")


def test_bad_use_raises_clear_errors():
    mixccl_launch.require_torch_backend()
    env = mixccl_launch.env_for_ranks({"MIXCCL_TIMEOUT": "10"})
    outputs = mixccl_launch.run_ranks(WORKER, 2, timeout=90, env=env)
    for o in outputs:
        print(o)
        assert "mismatched sizes failed after" in o, o
