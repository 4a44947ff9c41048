// Running collectives on CUDA device buffers without a cuda device backend: the buffers are copied
// to host memory on the caller's stream, the collective runs on the cpu backend, and the results are
// copied back (and the stream synchronized) before the call — or the outermost group — returns.
//
// This is how NCCL programs (PyTorch's "nccl" backend among them) run on this build: correct, with
// the stream ordering NCCL promises (work queued before the call is seen, work queued after sees the
// result), but synchronous with the host and bounded by PCIe. When a cuda device backend lands in
// backends/devices/, communicators created on CUDA devices should use it instead.
//
// The CUDA driver (libcuda.so.1) is found at run time only if the process has already loaded it
// (a process with device buffers always has); nothing here needs CUDA to build or to run without it.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/status.h"

namespace mixccl::nccl {

// True once the process has loaded the CUDA driver.
bool cudaDriverPresent();
// Whether ptr is CUDA device (or managed) memory, which this build must stage through the host.
bool isCudaDeviceMemory(const void* ptr);
// The CUDA device of the calling thread's current context, or -1 (no driver, no context).
int currentCudaDevice();

// One collective's buffers, staged through host memory when they are device memory.
class StagedBuffers {
 public:
  // send: bytes this rank reads from sendbuff (0: none); recv: bytes it writes to recvbuff (0: none).
  // Copies the device input to the host, ordered after the work already queued on stream.
  static Status stage(const void* sendbuff, size_t sendBytes, void* recvbuff, size_t recvBytes, void* stream,
                      std::unique_ptr<StagedBuffers>* out);
  ~StagedBuffers();

  bool staged() const { return staged_; }
  const void* send() const { return hostSend_; }
  void* recv() const { return hostRecv_; }
  // Copies the result back to the device buffer and waits for it (the host copy is freed after).
  Status finish();

 private:
  bool staged_ = false;
  const void* hostSend_ = nullptr;
  void* hostRecv_ = nullptr;
  void* deviceRecv_ = nullptr;
  size_t recvBytes_ = 0;
  void* stream_ = nullptr;
  void* context_ = nullptr;  // the CUDA context the device buffers belong to
  std::vector<unsigned char> span_;   // host copy of send and recv when they overlap (in place)
  std::vector<unsigned char> sendCopy_, recvCopy_;
};

}  // namespace mixccl::nccl
