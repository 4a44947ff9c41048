"""The torch.distributed backend "mixccl".

Importing this module registers the backend, after which::

    import mixccl.torch  # noqa: F401
    torch.distributed.init_process_group("mixccl")   # env://, or init_method="tcp://..." / "file://..."

works like "gloo": every collective of torch.distributed, asynchronous Work (wait, is_completed,
get_future), new_group, and DistributedDataParallel. CPU tensors run in place; CUDA tensors are staged
through host memory, so one group may mix ranks holding CPU and CUDA tensors.
"""

import torch
import torch.distributed as dist

from . import _C  # noqa: F401  (the C++ process group)

BACKEND_NAME = "mixccl"
TORCH_VERSION_BUILT_AGAINST = _C.torch_version_built_against


def _create_process_group(store, rank, world_size, timeout):
    return _C.create_process_group(store, rank, world_size, timeout)


def _register():
    if not dist.is_available():
        raise ImportError("mixccl.torch needs torch.distributed, which this torch build does not have")
    if BACKEND_NAME.upper() in getattr(dist.Backend, "_plugins", {}):
        return  # registered already (the module was reloaded)
    import inspect

    kwargs = {}
    if "devices" in inspect.signature(dist.Backend.register_backend).parameters:
        kwargs["devices"] = ["cpu", "cuda"]  # torch >= 2.1 asks which tensor devices a backend takes
    dist.Backend.register_backend(BACKEND_NAME, _create_process_group, **kwargs)


_register()
