"""One rank of the mixccl Python-module test: every collective, p2p, groups and split on NumPy arrays
and torch tensors, checked against values computed here. argv: rank nranks rendezvous_file."""

import os
import sys
import time

import numpy as np

import mixccl

rank, n, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

# Rendezvous through a file: rank 0 writes the unique id, the others wait for it.
if rank == 0:
    uid = mixccl.get_unique_id()
    with open(store + ".tmp", "wb") as f:
        f.write(uid)
    os.rename(store + ".tmp", store)
else:
    deadline = time.time() + 60
    while not os.path.exists(store):
        assert time.time() < deadline, "rank 0 never published the unique id"
        time.sleep(0.05)
    with open(store, "rb") as f:
        uid = f.read()

comm = mixccl.Communicator(n, rank, uid, timeout=30)
assert (comm.rank, comm.size, comm.device) == (rank, n, "cpu")


def data(r, count=10, dtype=np.float32):
    return (np.arange(count) + 3 * r + 1).astype(dtype)


everyone = [data(r) for r in range(n)]
for dtype in (np.float32, np.float64, np.int32, np.int64, np.uint8, np.float16):
    x = data(rank, dtype=dtype)
    comm.all_reduce(x)
    np.testing.assert_array_equal(x, sum(data(r, dtype=dtype) for r in range(n)).astype(dtype))

x = data(rank)
out = np.empty_like(x)
comm.all_reduce(x, out, op=mixccl.MAX)
np.testing.assert_array_equal(out, np.max(everyone, axis=0))
comm.all_reduce(x, out, op="min")
np.testing.assert_array_equal(out, np.min(everyone, axis=0))

b = data(rank)
comm.broadcast(b, root=n - 1)
np.testing.assert_array_equal(b, everyone[n - 1])

red = np.zeros(10, np.float32)
comm.reduce(data(rank), red, op="sum", root=0)
if rank == 0:
    np.testing.assert_array_equal(red, np.sum(everyone, axis=0))

gathered = np.empty(10 * n, np.float32)
comm.all_gather(data(rank), gathered)
np.testing.assert_array_equal(gathered, np.concatenate(everyone))

rs = np.empty(10, np.float32)
comm.reduce_scatter(np.concatenate([data(rank)] * n), rs)
np.testing.assert_array_equal(rs, n * 0 + np.sum(everyone, axis=0))

a2a_in = np.array([100 * rank + j for j in range(n)], np.int64)
a2a_out = np.empty(n, np.int64)
comm.all_to_all(a2a_in, a2a_out)
np.testing.assert_array_equal(a2a_out, [100 * j + rank for j in range(n)])

g = np.empty(10 * n, np.float32) if rank == 0 else None
comm.gather(data(rank), g, root=0)
if rank == 0:
    np.testing.assert_array_equal(g, np.concatenate(everyone))

sc = np.empty(10, np.float32)
comm.scatter(np.concatenate(everyone) if rank == 1 % n else None, sc, root=1 % n)
np.testing.assert_array_equal(sc, everyone[rank])

# A ring exchange needs sends and receives to overlap: a group.
right, left = (rank + 1) % n, (rank - 1) % n
got = np.empty(10, np.float32)
with mixccl.group():
    comm.send(data(rank), right)
    comm.recv(got, left)
np.testing.assert_array_equal(got, everyone[left])

# 2-D arrays are viewed as their elements.
m = np.ones((3, 4), np.float64) * rank
comm.all_reduce(m)
np.testing.assert_array_equal(m, np.full((3, 4), sum(range(n)), np.float64))

# torch tensors go through the same calls (bfloat16, which NumPy lacks, included).
import torch  # noqa: E402

t = torch.full((5,), float(rank + 1), dtype=torch.bfloat16)
comm.all_reduce(t)
assert torch.equal(t, torch.full((5,), float(sum(range(1, n + 1))), dtype=torch.bfloat16)), t

# split: even and odd ranks.
sub = comm.split(rank % 2, rank)
assert sub.size == (n + 1 - rank % 2) // 2, (sub.size, n)
s = np.array([rank], np.int64)
sub.all_reduce(s)
assert s[0] == sum(r for r in range(n) if r % 2 == rank % 2), s
none = comm.split(mixccl.SPLIT_NOCOLOR if rank == 0 else 1, 0)
assert (none is None) == (rank == 0)
if none is not None:
    none.destroy()
sub.destroy()

# Bad use: clear errors, raised before anything is sent.
def raises(exc, words, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        for w in words:
            assert w in str(e), f"'{w}' not in the message: {e}"
        return
    raise AssertionError(f"{fn.__name__} did not raise {exc.__name__}")


raises(TypeError, ["float32", "float64"], comm.all_reduce, np.zeros(4, np.float32), np.zeros(4, np.float64))
raises(ValueError, ["recvbuf", "20"], comm.all_gather, np.zeros(4, np.float32), np.zeros(20, np.float32))
raises(ValueError, ["contiguous"], comm.all_reduce, np.zeros((4, 4), np.float32)[:, 1])
raises(ValueError, ["writable"], comm.all_reduce, np.frombuffer(b"\0" * 16, np.float32))
raises(TypeError, ["complex"], comm.all_reduce, torch.zeros(4, dtype=torch.complex64))
raises(TypeError, ["buffer protocol"], comm.all_reduce, [1.0, 2.0])
raises(ValueError, ["not a reduction"], comm.all_reduce, np.zeros(4, np.float32), None, "xor")
raises(mixccl.Error, ["root"], comm.broadcast, np.zeros(4, np.float32), None, n + 5)

comm.destroy()
raises(ValueError, ["destroyed"], comm.all_reduce, np.zeros(4, np.float32))
print(f"rank {rank}: all mixccl module checks passed")
