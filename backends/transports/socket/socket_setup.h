// Connecting the socket transport: listen, connect to higher ranks, accept lower ranks. Strangers
// (wrong secret, wrong communicator, garbage, silence) are dropped with a warning and never stop
// the real peers from connecting.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/transports/socket/socket_util.h"
#include "backends/transports/transport.h"

namespace mixccl {

// Listens on `bindAddress` at a port the kernel picks; `bound` receives the actual address.
Status listenOn(const std::string& bindAddress, UniqueFd* fd, sockaddr_storage* bound);

// Connects to `peer` at `address` (retrying while it is not reachable yet) and says hello as the
// pair's connection number `lane`.
Status connectToPeer(const TransportContext& ctx, int peer, const sockaddr_storage& address,
                     const SetupDeadline& deadline, UniqueFd* out, int lane = 0);

// Accepts until every connection in `expected` said a valid hello (each gets a reply), or the
// deadline. `expected` and the keys of `out` are socketConnectionKey(rank, lane).
Status acceptPeers(const TransportContext& ctx, int listenFd, const std::string& listenText,
                   const std::vector<int>& expected, const SetupDeadline& deadline,
                   std::map<int, UniqueFd>* out);

// Reads and checks the reply of the peer this rank connected to.
Status readHelloReply(const TransportContext& ctx, int peer, int fd, const SetupDeadline& deadline);

}  // namespace mixccl
