#!/usr/bin/python3
"""The Gloo side of the peer comparison: times torch.distributed.all_reduce (float sum) on the
"gloo" backend the way mixccl-perf times mixcclAllReduce: warm-up, barrier, a timed loop, the maximum
over ranks of the mean time per call. Starts its own ranks (one process each) on this host.

Prints one line per size: "bytes time_us algbw_gbps busbw_gbps".
Usage: /usr/bin/python3 gloo_allreduce.py NRANKS MINBYTES MAXBYTES [ITERS] [WARMUP]
"""
import os
import socket
import sys
import time


def parse_bytes(text):
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    if text[-1].upper() in mult:
        return int(float(text[:-1]) * mult[text[-1].upper()])
    return int(text)


def iterations_for(nbytes, iters):
    # Fewer iterations for large sizes (as mpi_allreduce.c does), so a sweep stays short.
    if nbytes >= 16 << 20:
        return max(3, iters // 50)
    if nbytes >= 1 << 20:
        return max(5, iters // 10)
    return iters


def run_rank(rank, nranks, port, min_bytes, max_bytes, iters, warmup):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nranks)
    nbytes = max(4, min_bytes)
    while nbytes <= max_bytes:
        count = nbytes // 4
        data = torch.full((count,), float(rank + 1), dtype=torch.float32)
        for _ in range(warmup):
            dist.all_reduce(data)
        n = iterations_for(nbytes, iters)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(n):
            dist.all_reduce(data)
        us = torch.tensor([(time.perf_counter() - start) * 1e6 / n], dtype=torch.float64)
        dist.all_reduce(us, op=dist.ReduceOp.MAX)
        if rank == 0:
            t = us.item()
            algbw = nbytes / (t * 1e-6) / 1e9
            busbw = algbw * 2.0 * (nranks - 1) / nranks
            print(f"{nbytes} {t:.3f} {algbw:.4f} {busbw:.4f}", flush=True)
        nbytes *= 2
    dist.destroy_process_group()


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    nranks = int(sys.argv[1])
    min_bytes, max_bytes = parse_bytes(sys.argv[2]), parse_bytes(sys.argv[3])
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    children = []
    for rank in range(nranks):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_rank(rank, nranks, port, min_bytes, max_bytes, iters, warmup)
            except Exception as e:  # the parent reports the failure through the exit code
                print(f"gloo rank {rank}: {e}", file=sys.stderr)
                code = 1
            sys.stdout.flush()
            os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed |= status != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
