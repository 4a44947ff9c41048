"""One rank of the bad-use test: mistakes raise a clear error instead of hanging.
argv: rank nranks rendezvous_file. MIXCCL_TIMEOUT is small (set by the test)."""

import datetime
import sys
import time

import torch
import torch.distributed as dist

import mixccl.torch  # noqa: F401

rank, n, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("mixccl", init_method=f"file://{store}", rank=rank, world_size=n,
                        timeout=datetime.timedelta(seconds=60))
pg = dist.distributed_c10d._get_default_group()


def raises(words, fn, *args, **kwargs):
    try:
        r = fn(*args, **kwargs)
        if hasattr(r, "wait"):
            r.wait()
    except (RuntimeError, ValueError, TypeError) as e:
        for w in words:
            assert w in str(e), f"'{w}' not in the message: {e}"
        print(f"rank {rank}: refused as expected: {type(e).__name__}: {e}", flush=True)
        return
    raise AssertionError(f"{fn} did not raise")


# Caught on this rank, before anything is sent: the group stays usable.
raises(["allreduce_coalesced tensors[1] is Double", "one dtype"], pg.allreduce_coalesced,
       [torch.zeros(3), torch.zeros(3, dtype=torch.float64)])
raises(["allgather output[1] has 5 elements but must have 4"], pg.allgather,
       [[torch.zeros(4), torch.zeros(5)] + [torch.zeros(4)] * (n - 2)], [torch.zeros(4)])
raises(["all_gather_into_tensor output"], pg._allgather_base, torch.zeros(3), torch.zeros(4))
raises(["Short", "cannot reduce"], dist.all_reduce, torch.zeros(3, dtype=torch.int16))
max_opts = dist.AllreduceOptions()
max_opts.reduceOp = dist.ReduceOp.MAX
raises(["complex", "not MAX"], pg.allreduce, [torch.zeros(3, dtype=torch.complex64)], max_opts)
raises(["BXOR"], dist.all_reduce, torch.zeros(3, dtype=torch.int32), op=dist.ReduceOp.BXOR)
opts = dist.BroadcastOptions()
opts.rootRank = n + 5
raises([f"broadcast root is {n + 5}", "outside this group"], pg.broadcast, [torch.zeros(3)], opts)
raises(["split sizes add up to"], dist.all_to_all_single, torch.zeros(4 * n), torch.zeros(4 * n), None,
       [1] * n)
raises(["any source"], dist.recv, torch.zeros(2))
t = torch.ones(4)
dist.all_reduce(t)
assert torch.equal(t, torch.full((4,), float(n))), "the group is unusable after refused calls"

# Mismatched sizes across ranks: only the library can see it; it must fail, not hang.
start = time.time()
raises(["mixccl: allreduce (SUM) of", "failed"], dist.all_reduce, torch.ones(8 if rank == 0 else 16))
print(f"rank {rank}: mismatched sizes failed after {time.time() - start:.1f} s", flush=True)
