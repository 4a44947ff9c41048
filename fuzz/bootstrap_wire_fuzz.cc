// libFuzzer target: the bootstrap's message parsers (core/bootstrap_wire.h) on arbitrary bytes, as a
// stranger on the network would send them. The first bytes pick the parser and its expectations.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/bootstrap_wire.h"
#include "core/op_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mixccl;
  if (size < 2) return 0;
  const uint8_t which = data[0] % 5;
  const int nranks = 1 + data[1] % 16;
  data += 2;
  size -= 2;
  uint8_t secret[16];
  std::memset(secret, 0x42, sizeof(secret));
  switch (which) {
    case 0: {
      wire::Hello out{};
      wire::HelloProblem p = wire::parseHello(data, size, secret, nranks % 2 ? 0 : nranks, &out);
      if (p == wire::HelloProblem::Ok && (out.rank < 0 || out.rank >= out.nranks)) __builtin_trap();
      (void)wire::describe(p);
      break;
    }
    case 1: {
      std::string why;
      (void)wire::parseRingHello(data, size, secret, 7, nranks - 1, &why);
      break;
    }
    case 2: {
      wire::Reply out{};
      Status st = wire::parseReply(data, size, nranks, &out);
      // Whatever the root sent, the message handed to the user is printable.
      for (char c : st.message()) {
        if (c != '\0' && (c < 0x20 || c > 0x7e)) __builtin_trap();
      }
      break;
    }
    case 3: {
      std::vector<WireAddress> table;
      (void)wire::parseAddressTable(data, size, nranks, &table);
      break;
    }
    case 4: {
      // MIXCCL_CHECK signatures as a peer could send them.
      size_t n = size / sizeof(OpSignature);
      if (n == 0) break;
      std::vector<OpSignature> table(n);
      std::memcpy(table.data(), data, n * sizeof(OpSignature));
      (void)compareSignatures(table.data(), static_cast<int>(n), 0);
      break;
    }
  }
  return 0;
}
