"""mixccl: collective communication across mixed accelerators and CPUs.

The collectives take NumPy arrays (anything with the buffer protocol) or torch tensors::

    uid = mixccl.get_unique_id()            # on one rank; send the 128 bytes to the others
    comm = mixccl.Communicator(nranks, rank, uid)
    comm.all_reduce(x)                      # in place, op="sum"
    comm.all_gather(x, out)                 # out holds nranks * len(x) elements
    with mixccl.group():                    # sends and receives that must overlap
        comm.send(a, peer=1)
        comm.recv(b, peer=1)

Failures raise mixccl.Error (a RuntimeError) carrying the library's sentence and .result.
``import mixccl.torch`` registers the torch.distributed backend "mixccl".
"""

import contextlib

from ._mixccl import (  # noqa: F401  (re-exported)
    AVG,
    MAX,
    MIN,
    PROD,
    SPLIT_NOCOLOR,
    SUM,
    UNIQUE_ID_BYTES,
    Communicator,
    Error,
    RedOp,
    get_unique_id,
    group_end,
    group_start,
    version,
)

__version__ = "{}.{}.{}".format(version // 10000, version // 100 % 100, version % 100)


@contextlib.contextmanager
def group():
    """Queues the calls made inside the block and runs them together when it ends (mixcclGroupStart/End)."""
    group_start()
    try:
        yield
    finally:
        group_end()
