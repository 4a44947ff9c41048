#!/usr/bin/env python3
"""Trains a small MLP with DistributedDataParallel over the torch.distributed backend "mixccl".

    PYTHONPATH=build/python python3 -m torch.distributed.run --nproc_per_node=2 examples/ddp_train.py

Each rank draws its own batches from a fixed seed, so a run is reproducible; --backend gloo runs the
same training over Gloo for comparison. Tensors live on the GPU given by LOCAL_RANK when CUDA is
available (--device auto), else on the CPU; the mixccl backend takes either.
"""

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

import mixccl.torch  # noqa: F401  (registers the "mixccl" backend)


def make_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 4))


def train(steps=20, seed=0, group=None, device="cpu", lr=0.05, log_every=0):
    """Runs `steps` SGD steps of DDP over `group` (None: the default group); returns the model."""
    rank = dist.get_rank()
    model = make_model(seed).to(device)
    ddp = DDP(model, process_group=group, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9)
    data = torch.Generator().manual_seed(seed * 1000 + rank)  # each rank sees different batches
    for step in range(steps):
        x = torch.randn(32, 16, generator=data).to(device)
        y = torch.randn(32, 4, generator=data).to(device)
        opt.zero_grad()
        loss = nn.functional.mse_loss(ddp(x), y)
        loss.backward()  # gradients are averaged across ranks here, by the backend's all_reduce
        opt.step()
        if log_every and rank == 0 and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:3d}  loss {loss.item():.6f}", flush=True)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="mixccl", help="torch.distributed backend (default: mixccl)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--save", help="rank 0 writes the trained parameters here (torch.save)")
    args = parser.parse_args()

    dist.init_process_group(args.backend)  # env://: torch.distributed.run sets RANK, WORLD_SIZE, MASTER_*
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if rank == 0:
        print(f"ddp_train: {world} ranks, backend {args.backend}, device {device.type}", flush=True)
    model = train(args.steps, device=device, log_every=5)
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"rank {rank}: done, parameter checksum {checksum:.10f}", flush=True)
    if args.save and rank == 0:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.save)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
