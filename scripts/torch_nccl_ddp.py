#!/usr/bin/env python3
"""DistributedDataParallel through PyTorch's own "nccl" backend, on mixccl's libnccl.so.2.

Run by scripts/torch-nccl-ddp.sh (which preloads the library and launches the ranks):
  --mode single   one process trains on the whole batch: the reference loss curve
  --mode ddp      one of WORLD_SIZE ranks (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR/PORT); each
                  trains on its share of the batch, DDP averages the gradients over NCCL
Each writes {"losses": [...], ...} as JSON to --out (in ddp mode, rank 0 writes it).

Both modes see the same model, data and optimizer, so the loss curves must agree within fp32
rounding: the mean of equal halves' mean losses is the full batch's mean loss, and DDP's averaged
gradient is the full batch's gradient.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

STEPS = 30
BATCH = 256
IN, HIDDEN, OUT = 32, 128, 8


def make_model():
    torch.manual_seed(1234)
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh(),
                         nn.Linear(HIDDEN, OUT))


def make_data(step):
    # Four fixed batches in turn: the loss falls visibly over the run.
    g = torch.Generator().manual_seed(10_000 + step % 4)
    x = torch.randn(BATCH, IN, generator=g)
    w = torch.linspace(-1, 1, IN * OUT).reshape(IN, OUT)
    y = torch.sin(x @ w) + 0.1 * torch.randn(BATCH, OUT, generator=g)
    return x, y


def loaded_nccl_libraries():
    """The libnccl files mapped into this process (to prove which NCCL PyTorch really uses)."""
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if "libnccl" in line and "/" in line})


def train(model, device, shard, world):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.MSELoss()
    losses = []
    for step in range(STEPS):
        x, y = make_data(step)
        lo, hi = shard
        x, y = x[lo:hi].to(device), y[lo:hi].to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        reported = loss.detach().clone()
        if world > 1:
            import torch.distributed as dist
            dist.all_reduce(reported)  # through ncclAllReduce as well
            reported /= world
        losses.append(float(reported.item()))
    return losses


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["single", "ddp"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--expect-lib", default="", help="ddp: path of the libnccl.so.2 that must be the one loaded")
    # The method itself can be checked without a GPU: --device cpu --backend gloo.
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--backend", default="nccl")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 everywhere: the comparison is in fp32
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)

    if a.mode == "single":
        model = make_model().to(device)
        losses = train(model, device, (0, BATCH), 1)
        result = {"mode": "single", "losses": losses}
    else:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        assert BATCH % world == 0
        # Every rank on the one GPU: NVIDIA's NCCL refuses this ("Duplicate GPU detected"), mixccl allows it.
        if a.backend == "nccl":
            dist.init_process_group("nccl", device_id=device)
            version = torch.cuda.nccl.version()
        else:
            dist.init_process_group(a.backend)
            version = None
        libs = loaded_nccl_libraries()
        if a.expect_lib:
            want = os.path.realpath(a.expect_lib)
            if [os.path.realpath(l) for l in libs] != [want]:
                print(f"rank {rank}: expected only {want} to be loaded, found {libs}", file=sys.stderr)
                sys.exit(2)
        model = DDP(make_model().to(device), device_ids=[device.index or 0] if cuda else None)
        share = BATCH // world
        losses = train(model, device, (rank * share, (rank + 1) * share), world)
        dist.barrier()
        dist.destroy_process_group()
        result = {"mode": "ddp", "world": world, "losses": losses, "nccl_libraries": libs,
                  "nccl_version": list(version) if isinstance(version, tuple) else version}
        if rank != 0:
            return
    result["torch"] = torch.__version__
    result["device"] = torch.cuda.get_device_name(device) if cuda else str(device)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
