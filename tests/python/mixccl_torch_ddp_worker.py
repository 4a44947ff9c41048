"""One rank of the DDP equivalence test: examples/ddp_train.py's training run over the mixccl
group and over a Gloo group of the same ranks, in the same process; prints the relative difference
of the final parameters. argv: rank nranks rendezvous_file steps."""

import datetime
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import ddp_train  # noqa: E402

rank, n, store, steps = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
dist.init_process_group("mixccl", init_method=f"file://{store}", rank=rank, world_size=n,
                        timeout=datetime.timedelta(seconds=60))
gloo = dist.new_group(backend="gloo")
device = torch.device("cpu")
on_mixccl = ddp_train.train(steps, seed=7, group=None, device=device)
on_gloo = ddp_train.train(steps, seed=7, group=gloo, device=device)
start = ddp_train.make_model(7)

a = torch.cat([p.detach().reshape(-1) for p in on_mixccl.parameters()]).double()
b = torch.cat([p.detach().reshape(-1) for p in on_gloo.parameters()]).double()
s = torch.cat([p.detach().reshape(-1) for p in start.parameters()]).double()
rel = ((a - b).norm() / b.norm()).item()
moved = ((b - s).norm() / s.norm()).item()
# The parameters must have trained (moved) and must agree across ranks (DDP keeps replicas equal).
mine = torch.tensor([a.sum().item()], dtype=torch.float64)
everyone = [torch.zeros(1, dtype=torch.float64) for _ in range(n)]
dist.all_gather(everyone, mine, group=gloo)
assert all(torch.equal(e, everyone[0]) for e in everyone), f"replicas differ: {everyone}"
print(f"rank {rank}: relative difference mixccl vs gloo {rel:.3e} after {steps} steps "
      f"(parameters moved {moved:.3e})", flush=True)
assert moved > 1e-3, "training did not change the parameters"
assert rel <= 1e-6, f"mixccl and Gloo DDP runs differ: relative difference {rel}"
dist.destroy_process_group()
