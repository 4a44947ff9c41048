// Buffer registration, windows and communication memory.
//
// Registration exists so that a transport can pin or map a buffer once instead of at every call. No
// transport of this build gains from it: shm moves data through its own shared slots and sockets send
// from the user's buffer as it is. So a registration (and a window) records the range and its
// communicator, which is all deregistration checks; the day a transport (cuda_ipc, ucx) can use it,
// this is where it hooks in.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "backends/devices/device.h"
#include "backends/devices/device_factory.h"
#include "core/env.h"
#include "core/api_util.h"
#include "core/log.h"

using namespace mixccl;

struct mixcclWindow {
  mixcclComm* comm;
  void* buff;
  size_t size;
  int flags;
};

namespace {

struct Registration {
  mixcclComm* comm;
  void* buff;
  size_t size;
};

// Every live handle, so that a stale or foreign one is refused with a sentence instead of a crash.
std::mutex gMutex;
std::map<void*, std::unique_ptr<Registration>>& registrations() {
  static auto* m = new std::map<void*, std::unique_ptr<Registration>>;
  return *m;
}
std::map<mixcclWindow*, std::unique_ptr<mixcclWindow>>& windows() {
  static auto* m = new std::map<mixcclWindow*, std::unique_ptr<mixcclWindow>>;
  return *m;
}

// Memory from mixcclMemAlloc, by pointer, with the backend that must free it.
struct Allocation {
  std::shared_ptr<Device> device;
  size_t size;
};
std::map<void*, Allocation>& allocations() {
  static auto* m = new std::map<void*, Allocation>;
  return *m;
}

// The device mixcclMemAlloc allocates on: MIXCCL_DEVICE=kind[:ordinal] (default cpu:0), as NCCL
// allocates on the current CUDA device. One Device per kind:ordinal serves every allocation (a
// plugin device owns a stream and a thread); never freed, so none is torn down during exit.
Status allocationDevice(std::shared_ptr<Device>* out) {
  DeviceSelection sel;
  if (auto d = env::get("DEVICE")) MIXCCL_CHECK(parseDeviceSpec(*d, &sel).withContext("MIXCCL_DEVICE: "));
  static std::mutex m;
  static auto* cache = new std::map<std::string, std::shared_ptr<Device>>;
  std::lock_guard<std::mutex> lock(m);
  std::shared_ptr<Device>& dev = (*cache)[sel.kind + ":" + std::to_string(sel.ordinal)];
  if (!dev) {
    std::unique_ptr<Device> made;
    MIXCCL_CHECK(createDevice(sel.kind, sel.ordinal, 1, env::get("DEVICE_PLUGIN").value_or(""), &made));
    dev = std::move(made);
  }
  *out = dev;
  return Status::ok();
}

Status checkRange(const char* fn, const void* buff, size_t size) {
  if (buff == nullptr) return errorStatus(mixcclInvalidArgument, "%s: buff is NULL", fn);
  if (size == 0) return errorStatus(mixcclInvalidArgument, "%s: size is 0", fn);
  return Status::ok();
}

}  // namespace

MIXCCL_API mixcclResult_t mixcclCommRegister(mixcclComm_t comm, void* buff, size_t size, void** handle) {
  Status st = checkComm(comm, "mixcclCommRegister");
  if (!st.isOk()) return report(nullptr, st);
  st = checkRange("mixcclCommRegister", buff, size);
  if (st.isOk() && handle == nullptr) st = errorStatus(mixcclInvalidArgument, "mixcclCommRegister: handle is NULL");
  if (!st.isOk()) return report(comm, st);
  auto reg = std::make_unique<Registration>(Registration{comm, buff, size});
  void* key = reg.get();
  {
    std::lock_guard<std::mutex> lock(gMutex);
    registrations()[key] = std::move(reg);
  }
  MIXCCL_TRACE("%s rank %d: registered %p (%zu bytes): recorded only, no transport of this build uses registration",
               comm->name.c_str(), comm->rank, buff, size);
  *handle = key;
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommDeregister(mixcclComm_t comm, void* handle) {
  Status st = checkComm(comm, "mixcclCommDeregister");
  if (!st.isOk()) return report(nullptr, st);
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = registrations().find(handle);
  if (it == registrations().end()) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommDeregister: %p is not a live registration "
                                    "handle (never registered, or deregistered already)", handle));
  }
  if (it->second->comm != comm) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommDeregister: handle %p was registered on "
                                    "another communicator", handle));
  }
  registrations().erase(it);
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommWindowRegister(mixcclComm_t comm, void* buff, size_t size, mixcclWindow_t* win,
                                                   int flags) {
  Status st = checkComm(comm, "mixcclCommWindowRegister");
  if (!st.isOk()) return report(nullptr, st);
  st = checkRange("mixcclCommWindowRegister", buff, size);
  if (st.isOk() && win == nullptr) st = errorStatus(mixcclInvalidArgument, "mixcclCommWindowRegister: win is NULL");
  if (st.isOk() && flags < 0) st = errorStatus(mixcclInvalidArgument, "mixcclCommWindowRegister: flags is %d", flags);
  if (!st.isOk()) return report(comm, st);
  auto w = std::make_unique<mixcclWindow>(mixcclWindow{comm, buff, size, flags});
  mixcclWindow* key = w.get();
  {
    std::lock_guard<std::mutex> lock(gMutex);
    windows()[key] = std::move(w);
  }
  *win = key;
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclCommWindowDeregister(mixcclComm_t comm, mixcclWindow_t win) {
  Status st = checkComm(comm, "mixcclCommWindowDeregister");
  if (!st.isOk()) return report(nullptr, st);
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = windows().find(win);
  if (it == windows().end() || it->second->comm != comm) {
    return report(comm, errorStatus(mixcclInvalidArgument, "mixcclCommWindowDeregister: %p is not a live window of "
                                    "this communicator", static_cast<void*>(win)));
  }
  windows().erase(it);
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclMemAlloc(void** ptr, size_t size) {
  if (ptr == nullptr) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclMemAlloc: ptr is NULL"));
  *ptr = nullptr;
  if (size == 0) return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclMemAlloc: size is 0"));
  std::shared_ptr<Device> device;
  Status st = allocationDevice(&device);
  void* p = nullptr;
  if (st.isOk()) st = device->allocate(size, &p);
  if (!st.isOk()) return report(nullptr, st.withContext("mixcclMemAlloc: "));
  std::lock_guard<std::mutex> lock(gMutex);
  allocations()[p] = Allocation{device, size};
  *ptr = p;
  return mixcclSuccess;
}

MIXCCL_API mixcclResult_t mixcclMemFree(void* ptr) {
  if (ptr == nullptr) return mixcclSuccess;
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = allocations().find(ptr);
  if (it == allocations().end()) {
    return report(nullptr, errorStatus(mixcclInvalidArgument, "mixcclMemFree: %p was not returned by mixcclMemAlloc "
                                       "(or was freed already)", ptr));
  }
  it->second.device->release(ptr);
  allocations().erase(it);
  return mixcclSuccess;
}
