"""One rank of the torch backend test: every torch.distributed op on the "mixccl" process group,
compared with the same op on a Gloo group of the same ranks (or, for what Gloo lacks, with the value
computed from every rank's input, which each rank can rebuild). argv: rank nranks rendezvous_file."""

import datetime
import sys

import torch
import torch.distributed as dist

import mixccl.torch  # noqa: F401  (registers "mixccl")

rank, n, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("mixccl", init_method=f"file://{store}", rank=rank, world_size=n,
                        timeout=datetime.timedelta(seconds=60))
assert dist.get_backend() == "mixccl"
MIX = dist.group.WORLD
GLOO = dist.new_group(backend="gloo")
checked = []
OPS = {dist.ReduceOp.SUM: 'SUM', dist.ReduceOp.MIN: 'MIN', dist.ReduceOp.MAX: 'MAX', dist.ReduceOp.PRODUCT: 'PRODUCT'}


def inp(r, shape=(7,), dtype=torch.float32, salt=0):
    g = torch.Generator().manual_seed(1000 * salt + r)
    if dtype.is_floating_point:
        return (torch.rand(shape, generator=g) * 4 - 2).to(dtype)
    return torch.randint(1, 5, shape, generator=g).to(dtype)


def same(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}"
    if a.dtype.is_floating_point:
        # Sums in another order round differently: allow a few units in the last place of the dtype.
        tol = {torch.float16: 4e-3, torch.bfloat16: 3e-2}.get(a.dtype, 1e-5)
        ok = torch.allclose(a.double(), b.double(), rtol=tol, atol=tol)
    else:
        ok = torch.equal(a, b)
    assert ok, f"{what}: mixccl {a} differs from the reference {b}"
    checked.append(what)


def both(fn):
    """Runs fn(group) on the mixccl and Gloo groups; returns both results."""
    return fn(MIX), fn(GLOO)


# allreduce: every op and several dtypes.
for dtype in (torch.float32, torch.float64, torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.uint8,
              torch.int8):
    ops = [dist.ReduceOp.SUM, dist.ReduceOp.MIN, dist.ReduceOp.MAX]
    if dtype in (torch.float32, torch.float64, torch.int64):
        ops.append(dist.ReduceOp.PRODUCT)
    for op in ops:
        def run(group, dtype=dtype, op=op):
            t = inp(rank, dtype=dtype, salt=3)
            dist.all_reduce(t, op=op, group=group)
            return t
        if dtype == torch.bfloat16:  # Gloo has no bfloat16: reduce every rank's input here, in float32
            vals = torch.stack([inp(r, dtype=dtype, salt=3).float() for r in range(n)])
            ref = {dist.ReduceOp.SUM: vals.sum(0), dist.ReduceOp.MIN: vals.min(0).values,
                   dist.ReduceOp.MAX: vals.max(0).values}[op]
            same(run(MIX), ref.to(dtype), f"all_reduce {OPS[op]} {dtype}")
            continue
        m, g = both(run)
        same(m, g, f"all_reduce {OPS[op]} {dtype}")
# AVG: Gloo has none; compare with its SUM / n.
t = inp(rank, dtype=torch.float64)
dist.all_reduce(t, op=dist.ReduceOp.AVG)
ref = inp(rank, dtype=torch.float64)
dist.all_reduce(ref, group=GLOO)
same(t, ref / n, "all_reduce AVG")
# PREMUL_SUM (torch's _make_nccl_premul_sum): a float factor, and a factor held in a tensor.
if hasattr(dist, "_make_nccl_premul_sum"):
    # torch 1.13 takes a float or a list of 1-element tensors (one per device); 2.x a float or a tensor.
    tensor_factor = [torch.tensor([0.5], dtype=torch.float64)] if torch.__version__.startswith("1.") \
        else torch.tensor([0.5], dtype=torch.float64)
    for factor, value in ((2.5, 2.5), (tensor_factor, 0.5)):
        t = inp(rank, dtype=torch.float64)
        dist.all_reduce(t, op=dist._make_nccl_premul_sum(factor))
        same(t, sum(inp(r, dtype=torch.float64) for r in range(n)) * value, f"all_reduce PREMUL_SUM {value}")
    rs = torch.zeros(4)
    dist.reduce_scatter_tensor(rs, inp(rank, (n * 4,), salt=8), op=dist._make_nccl_premul_sum(3.0))
    same(rs, 3.0 * sum(inp(r, (n * 4,), salt=8) for r in range(n))[rank * 4:(rank + 1) * 4],
         "reduce_scatter_tensor PREMUL_SUM")
# bool: SUM is logical or.
b = torch.tensor([rank == 0, False, True])
dist.all_reduce(b)
same(b, torch.tensor([True, False, True]), "all_reduce SUM bool")
# complex sums.
c = torch.complex(inp(rank), inp(rank, salt=9))
dist.all_reduce(c)
same(torch.view_as_real(c), sum(torch.view_as_real(torch.complex(inp(r), inp(r, salt=9))) for r in range(n)),
     "all_reduce SUM complex64")
# non-contiguous tensors are staged and written back.
nc = torch.stack([inp(rank), inp(rank, salt=1)], dim=1)[:, 0]
assert not nc.is_contiguous()
dist.all_reduce(nc)
same(nc, sum(inp(r) for r in range(n)), "all_reduce non-contiguous")

# allreduce_coalesced
m, g = both(lambda grp: [dist.all_reduce_coalesced(ts := [inp(rank, (3, 2)), inp(rank, (5,), salt=1)], group=grp)
                         or ts][0])
for i in range(2):
    same(m[i], g[i], f"all_reduce_coalesced[{i}]")

# broadcast and reduce, every root.
for root in range(n):
    def bc(group, root=root):
        t = inp(rank, (4, 3), torch.int64)
        dist.broadcast(t, src=root, group=group)
        return t
    same(*both(bc), f"broadcast root {root}")

    def rd(group, root=root):
        t = inp(rank, dtype=torch.float64)
        dist.reduce(t, dst=root, op=dist.ReduceOp.MAX, group=group)
        return t
    m, g = both(rd)
    if rank == root:
        same(m, g, f"reduce MAX root {root}")

# all_gather, all_gather_into_tensor / _all_gather_base
def ag(group):
    out = [torch.zeros(3, 2) for _ in range(n)]
    dist.all_gather(out, inp(rank, (3, 2)), group=group)
    return torch.stack(out)
same(*both(ag), "all_gather")
big = torch.zeros(n * 6)
dist.all_gather_into_tensor(big, inp(rank, (6,)))
same(big, torch.cat([inp(r, (6,)) for r in range(n)]), "all_gather_into_tensor")
big2 = torch.zeros(n * 6)
dist._all_gather_base(big2, inp(rank, (6,)))
same(big2, big, "_all_gather_base")

# reduce_scatter and reduce_scatter_tensor / _reduce_scatter_base (Gloo has neither): the reference is
# Gloo's all_reduce of the whole input, this rank's piece.
def whole(salt):
    ref = inp(rank, (n * 4,), salt=salt)
    dist.all_reduce(ref, group=GLOO)
    return ref[rank * 4:(rank + 1) * 4]
out = torch.zeros(4)
dist.reduce_scatter(out, list(inp(rank, (n * 4,), salt=5).chunk(n)))
same(out, whole(5), "reduce_scatter")
out = torch.zeros(4)
dist.reduce_scatter_tensor(out, inp(rank, (n * 4,), salt=6))
same(out, whole(6), "reduce_scatter_tensor")
out = torch.zeros(4)
dist._reduce_scatter_base(out, inp(rank, (n * 4,), salt=7))
same(out, whole(7), "_reduce_scatter_base")

# all_to_all_single: equal pieces and with split sizes (rank r sends r+j+1 rows to rank j).
def a2a_equal(group):
    out = torch.zeros(n * 2, dtype=torch.int64)
    dist.all_to_all_single(out, torch.arange(n * 2) + 100 * rank, group=group)
    return out
same(*both(a2a_equal), "all_to_all_single")
in_splits = [rank + j + 1 for j in range(n)]
out_splits = [j + rank + 1 for j in range(n)]
def a2a_split(group):
    src = torch.arange(sum(in_splits) * 2, dtype=torch.float32).reshape(-1, 2) + 1000 * rank
    out = torch.zeros(sum(out_splits), 2)
    dist.all_to_all_single(out, src, out_splits, in_splits, group=group)
    return out
same(*both(a2a_split), "all_to_all_single with split sizes")

# all_to_all with a list of tensors of different sizes (Gloo has no list form): rank j's piece for
# rank i is j*10 + i repeated i+1 times... computed here.
outs = [torch.zeros(rank + 1, dtype=torch.int64) for _ in range(n)]
dist.all_to_all(outs, [torch.full((j + 1,), rank * 10 + j, dtype=torch.int64) for j in range(n)])
for j in range(n):
    same(outs[j], torch.full((rank + 1,), j * 10 + rank, dtype=torch.int64), f"all_to_all from {j}")

# gather and scatter, root n-1.
root = n - 1
def gt(group):
    outs = [torch.zeros(5) for _ in range(n)] if rank == root else None
    dist.gather(inp(rank, (5,)), outs, dst=root, group=group)
    return torch.stack(outs) if rank == root else torch.zeros(1)
same(*both(gt), "gather")
def sc(group):
    out = torch.zeros(5)
    dist.scatter(out, [inp(r, (5,), salt=2) for r in range(n)] if rank == root else None, src=root, group=group)
    return out
same(*both(sc), "scatter")

# send / recv: a ring, even ranks send first (blocking calls) ...
right, left = (rank + 1) % n, (rank - 1) % n
got = torch.zeros(4)
if rank % 2 == 0:
    dist.send(inp(rank, (4,)), right)
    dist.recv(got, left)
else:
    dist.recv(got, left)
    dist.send(inp(rank, (4,)), right)
same(got, inp(left, (4,)), "send/recv")
# ... and isend / irecv with Work objects.
reqs = [dist.isend(inp(rank, (3,), salt=4), right), dist.irecv(got2 := torch.zeros(3), left)]
for r in reqs:
    r.wait()
same(got2, inp(left, (3,), salt=4), "isend/irecv")
# batch_isend_irecv: every rank sends right and receives from the left at once, 4 MiB each (more than
# the transports buffer), which completes only because the batch runs as one mixccl group.
big_in = torch.full((1 << 20,), float(rank))
big_out = torch.zeros(1 << 20)
for r in dist.batch_isend_irecv([dist.P2POp(dist.isend, big_in, right), dist.P2POp(dist.irecv, big_out, left)]):
    r.wait()
same(big_out, torch.full((1 << 20,), float(left)), "batch_isend_irecv ring of 4 MiB")

# Asynchronous Work: many ops in flight, then wait; is_completed; get_future; wait(timeout).
works, tensors = [], []
for i in range(5):
    t = torch.full((1000,), float(rank + i))
    tensors.append(t)
    works.append(dist.all_reduce(t, async_op=True))
fut = dist.all_reduce(ft := torch.ones(3), async_op=True).get_future()
chained = fut.then(lambda f: f.value()[0] * 2)
for i, w in enumerate(works):
    assert w.wait(datetime.timedelta(seconds=30))
    assert w.is_completed() and w.is_success()
    same(tensors[i], torch.full((1000,), float(sum(range(n)) + n * i)), f"async all_reduce {i}")
same(fut.wait()[0], torch.full((3,), float(n)), "get_future value")
same(chained.wait(), torch.full((3,), 2.0 * n), "get_future then()")
assert dist.all_reduce(torch.ones(1), async_op=True).wait()

# new_group: a group of the first two ranks (and, with 3+ ranks, one of the others).
if n >= 2:
    first = dist.new_group([0, 1])
    rest = dist.new_group(list(range(2, n))) if n > 2 else None
    mine = first if rank < 2 else rest
    if mine is not None:
        members = [0, 1] if rank < 2 else list(range(2, n))
        t = torch.tensor([float(rank + 1)])
        dist.all_reduce(t, group=mine)
        same(t, torch.tensor([float(sum(m + 1 for m in members))]), "new_group all_reduce")

dist.barrier()
dist.destroy_process_group()
print(f"rank {rank}: {len(checked)} checks against Gloo/reference passed")
