// Device memory (issue #18): what a device worker's device holds, read from
// the device itself, and the --device_memory_budget that work items are sized
// by (server/README.md "Device memory").
//
// Thread safety: every function may be called from any thread.
#ifndef RRM_SERVER_DEVICE_MEMORY_H_
#define RRM_SERVER_DEVICE_MEMORY_H_

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rrm::server {

// Bytes. CUDA: `used` is what tensors hold (the caching allocator's allocated
// bytes), `reserved` what the allocator holds from the driver (used plus its
// cache), `total` and `free` the device's own (cudaMemGetInfo, every process
// on the GPU counted). CPU: `used` = `reserved` = this process's resident set
// (every CPU worker shares the process, so each reports the same numbers);
// `total` the machine's memory and `free` MemAvailable, both within the
// cgroup's memory limit where one is set (a container).
struct DeviceMemory {
  double used = 0;
  double reserved = 0;
  double total = 0;
  double free = 0;
};

// UNIMPLEMENTED for a CUDA device when rrmd was built against a CPU-only
// LibTorch; INTERNAL when the device or /proc cannot be read.
absl::StatusOr<DeviceMemory> ReadDeviceMemory(const torch::Device& device);

// CUDA: hands the caching allocator's unused blocks back to the driver, so the
// retry after an out-of-memory error (and other processes on the GPU) can have
// them. A no-op on the CPU and without CUDA support.
void ReleaseCachedMemory(const torch::Device& device);

// --device_memory_budget, per worker: none, a number of bytes, or a share of
// the device's total.
struct MemoryBudget {
  double bytes = 0;     // > 0: this many bytes
  double fraction = 0;  // > 0: this share of DeviceMemory::total
  bool enabled() const { return bytes > 0 || fraction > 0; }
  double BytesOn(const DeviceMemory& memory) const { return bytes > 0 ? bytes : fraction * memory.total; }
  std::string ToString() const;
};

// Parses the flag's value: "" or "0" (no budget); bytes as an integer
// ("8000000000") or with a binary or decimal unit ("500MiB", "8GiB", "1.5GB");
// a fraction in (0, 1] written with a decimal point ("0.8", "1.0").
// INVALID_ARGUMENT naming --device_memory_budget, what it expects and found.
absl::StatusOr<MemoryBudget> ParseMemoryBudget(absl::string_view text);

// The one sizing rule: how many of an item's `examples` to run at once on a
// device holding `memory`, each example needing `bytes_per_example` more. As
// many as fit both within the budget beyond what is used and within what the
// device can still give (its free bytes plus the allocator's cache); all of
// them without a budget; at least 1, so an item always makes progress (the
// out-of-memory split is the fallback).
int64_t ExamplesThatFit(const MemoryBudget& budget, const DeviceMemory& memory, double bytes_per_example,
                        int64_t examples);

}  // namespace rrm::server

#endif  // RRM_SERVER_DEVICE_MEMORY_H_
