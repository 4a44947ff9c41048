// What mixccl changes in UCX's defaults, and why. Every change is skipped when the user set the
// UCX variable it stands for, so UCX_* in the environment always wins.
#pragma once

#include <ucp/api/ucp.h>

#include <string>

#include "core/status.h"

namespace mixccl {

// UCX's memory hooks (UCX_MEM_EVENTS) patch mmap/munmap/malloc in the whole process so that its
// registration cache can drop entries for freed memory. In UCX 1.13 (Debian 12) installing them
// races with UCX's own async thread and can leave the hook lock held: ucp_init then blocks for
// ever (seen here in about 1 init of 10 in freshly forked ranks). They also rewrite the allocator
// of the application (PyTorch's, say) behind its back. So mixccl turns them off unless
// UCX_MEM_EVENTS is set; UCX then registers buffers per operation where a fabric needs it (RDMA),
// and needs no registration at all over tcp and shared memory. Returns true when it turned them off.
// Call before ucp_init.
bool turnOffUcxMemoryHooksUnlessAsked();

// UCX's tcp wire moves 8 KiB segments by default; 256 KiB sends and 1 MiB receives let a large
// message go in far fewer system calls (64 MiB all-reduce on loopback: docs/performance.md).
// Applied to `config` (read by ucp_config_read) unless UCX_TCP_TX_SEG_SIZE / UCX_TCP_RX_SEG_SIZE
// are set, or UCX_TLS leaves tcp out (UCX warns about settings no wire takes). `applied` gets the
// settings made, for the INFO log ("" when none).
Status applyUcxTcpDefaults(ucp_config_t* config, std::string* applied);

// Whether a UCX_TLS value (nullptr: unset, which means "all") can open UCX's tcp wire: "all",
// a list naming tcp, or an exclusion list ("^...") that does not.
bool ucxTlsMayUseTcp(const char* tls);

}  // namespace mixccl
