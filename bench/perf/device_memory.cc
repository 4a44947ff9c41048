#include "bench/perf/device_memory.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "mixccl.h"
#include "mixccl_device_plugin.h"

#ifdef MIXCCL_PERF_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mixcclperf {
namespace {

class HostMemory final : public DeviceMemory {
 public:
  char* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<char*>(p);
  }
  void release(char* p) override { std::free(p); }
  void toDevice(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void toHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
};

#ifdef MIXCCL_PERF_WITH_CUDA
class CudaMemory final : public DeviceMemory {
 public:
  explicit CudaMemory(int ordinal) : ordinal_(ordinal) { check(cudaSetDevice(ordinal), "cudaSetDevice"); }
  char* allocate(size_t bytes) override {
    void* p = nullptr;
    check(cudaSetDevice(ordinal_), "cudaSetDevice");
    check(cudaMalloc(&p, bytes), "cudaMalloc");
    return static_cast<char*>(p);
  }
  void release(char* p) override { cudaFree(p); }
  void toDevice(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  void toHost(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
  }

 private:
  static void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorString(e));
  }
  int ordinal_;
};
#endif

// A device plugin, loaded from where mixccl loads it (MIXCCL_DEVICE_PLUGIN, MIXCCL_PLUGIN_PATH, or
// libmixccl-<kind>.so beside libmixccl.so); dlopen of the same file shares one copy with mixccl.
class PluginMemory final : public DeviceMemory {
 public:
  PluginMemory(const std::string& kind, int ordinal) : ordinal_(ordinal) {
    std::vector<std::string> candidates;
    const char* spec = std::getenv("MIXCCL_DEVICE_PLUGIN");
    std::string file = "libmixccl-" + kind + ".so";
    if (spec != nullptr && std::strchr(spec, '/') != nullptr) candidates.push_back(spec);
    if (spec != nullptr && *spec != '\0' && std::strchr(spec, '/') == nullptr) file = std::string("libmixccl-") + spec + ".so";
    if (const char* path = std::getenv("MIXCCL_PLUGIN_PATH")) {
      std::string s = path;
      for (size_t start = 0; start <= s.size();) {
        size_t colon = s.find(':', start);
        std::string dir = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (!dir.empty()) candidates.push_back(dir + "/" + file);
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    }
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&mixcclGetVersion), &info) != 0 && info.dli_fname != nullptr) {
      std::string lib = info.dli_fname;
      size_t slash = lib.rfind('/');
      candidates.push_back((slash == std::string::npos ? std::string(".") : lib.substr(0, slash)) + "/" + file);
    }
    candidates.push_back(file);
    void* handle = nullptr;
    for (const auto& c : candidates)
      if ((handle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    if (handle == nullptr) throw std::runtime_error("cannot load the device plugin " + file + " for device kind '" + kind + "'");
    auto get = reinterpret_cast<mixcclDevicePluginGetV1_t>(dlsym(handle, MIXCCL_DEVICE_PLUGIN_GETTER_V1));
    t_ = get != nullptr ? get() : nullptr;
    if (t_ == nullptr || t_->abiVersion != MIXCCL_DEVICE_PLUGIN_ABI_VERSION || t_->structSize < sizeof(*t_))
      throw std::runtime_error(file + " is not a device plugin of ABI version 1");
    check(t_->streamCreate(ordinal_, &stream_), "streamCreate");
  }
  ~PluginMemory() override {
    if (stream_ != nullptr) t_->streamDestroy(stream_);
  }
  char* allocate(size_t bytes) override {
    void* p = nullptr;
    if (t_->memAlloc(ordinal_, bytes, &p) != MIXCCL_PLUGIN_OK) throw std::bad_alloc();
    return static_cast<char*>(p);
  }
  void release(char* p) override { t_->memFree(ordinal_, p); }
  void toDevice(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes, MIXCCL_PLUGIN_HOST_TO_DEVICE); }
  void toHost(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes, MIXCCL_PLUGIN_DEVICE_TO_HOST); }

 private:
  void copy(void* dst, const void* src, size_t bytes, mixcclPluginCopyKind_t kind) {
    check(t_->memcpyAsync(dst, src, bytes, kind, stream_), "memcpyAsync");
    check(t_->streamSynchronize(stream_), "streamSynchronize");
  }
  void check(mixcclPluginResult_t r, const char* what) {
    if (r != MIXCCL_PLUGIN_OK) throw std::runtime_error(std::string("device plugin ") + what + " failed: " + t_->lastError());
  }
  const mixccl_device_plugin_v1* t_ = nullptr;
  int ordinal_;
  mixcclPluginStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceMemory> openDeviceMemory(const std::string& kind, int ordinal) {
  if (kind == "cpu") return std::make_unique<HostMemory>();
  if (kind == "cuda") {
#ifdef MIXCCL_PERF_WITH_CUDA
    return std::make_unique<CudaMemory>(ordinal);
#else
    throw std::runtime_error("--devices cuda: this mixccl-perf was built without the CUDA runtime");
#endif
  }
  if (kind == "hip") throw std::runtime_error("--devices hip: mixccl-perf has no HIP allocator yet");
  return std::make_unique<PluginMemory>(kind, ordinal);
}

DeviceBuffer::DeviceBuffer(DeviceMemory& mem, size_t bytes) : mem_(mem) {
  const size_t rounded = std::max<size_t>(4096, (bytes + 4095) / 4096 * 4096);
  ptr_ = mem_.allocate(rounded);
  std::vector<char> zeros(rounded, 0);  // every page touched before timing
  mem_.toDevice(ptr_, zeros.data(), rounded);
}

DeviceBuffer::~DeviceBuffer() { mem_.release(ptr_); }

}  // namespace mixcclperf
