// The out-of-band network every rank of a communicator has after bootstrap: small, slow-path
// exchanges (addresses, host identities, barriers) used while setting up transports and splitting.
// Never used on the data path.
#pragma once

#include <cstddef>

#include "core/status.h"

namespace mixccl {

class BootstrapNet {
 public:
  virtual ~BootstrapNet() = default;
  virtual int rank() const = 0;
  virtual int nranks() const = 0;
  // data holds nranks slots of bytesPerRank; this rank's slot (data + rank*bytesPerRank) is filled
  // in by the caller; on return every slot holds that rank's contribution.
  virtual Status allGather(void* data, size_t bytesPerRank) = 0;
  virtual Status barrier() = 0;
};

}  // namespace mixccl
