// One name for what differs between torch versions. torch 1.13 lets a third-party backend subclass
// c10d::ProcessGroup; torch 2.x has it subclass c10d::Backend (ProcessGroup became the wrapper that
// dispatches to backends). The Work class moved from c10d::ProcessGroup::Work to c10d::Work during
// 1.13's development; Debian's 1.13 already has Work.hpp, upstream 1.13.0 may not.
#pragma once

#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
namespace mixccl_torch {
using BackendBase = ::c10d::Backend;
using WorkBase = ::c10d::Work;
}  // namespace mixccl_torch
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#if __has_include(<torch/csrc/distributed/c10d/Work.hpp>)
#include <torch/csrc/distributed/c10d/Work.hpp>
namespace mixccl_torch {
using WorkBase = ::c10d::Work;
}  // namespace mixccl_torch
#else
namespace mixccl_torch {
using WorkBase = ::c10d::ProcessGroup::Work;
}  // namespace mixccl_torch
#endif
namespace mixccl_torch {
using BackendBase = ::c10d::ProcessGroup;
}  // namespace mixccl_torch
#endif

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
