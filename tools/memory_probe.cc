// memory-probe: rrmd's own reading of a device's memory (server/device_memory.cc,
// the numbers behind rrm_device_memory_bytes and --device_memory_budget),
// checked against a tensor of known size. The GPU check (scripts/gpu-check.sh)
// runs it, so the CUDA branch is compiled and read on the first machine that
// has a GPU; its CPU dry run keeps the tool from rotting.
//
//   memory-probe --device=cuda [--mib=256]
//
// Prints used / reserved / free / total before, while a float32 tensor of
// --mib MiB is held, and after it is dropped and the cache released; exits 1
// when a reading contradicts the tensor (CUDA: `used` must rise by at least the
// tensor, `reserved` must cover `used`; CPU: the resident set must rise by
// most of it) or free exceeds total.
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "core/common/device.h"
#include "server/device_memory.h"

ABSL_FLAG(std::string, device, "cpu", "the device to read: cpu, cuda, cuda:N");
ABSL_FLAG(int64_t, mib, 256, "size of the probe tensor in MiB");

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

void Print(const char* when, const rrm::server::DeviceMemory& m) {
  std::printf("%-28s %12.1f %12.1f %12.1f %12.1f\n", when, m.used / kMiB, m.reserved / kMiB, m.free / kMiB,
              m.total / kMiB);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<torch::Device> device = rrm::ParseDevice("--device", absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    std::fprintf(stderr, "memory-probe: %s\n", std::string(device.status().message()).c_str());
    return 2;
  }
  const int64_t mib = absl::GetFlag(FLAGS_mib);
  if (mib < 1) {
    std::fprintf(stderr, "memory-probe: --mib: expected at least 1, found %lld\n", static_cast<long long>(mib));
    return 2;
  }
  auto read = [&](const char* when) -> absl::StatusOr<rrm::server::DeviceMemory> {
    absl::StatusOr<rrm::server::DeviceMemory> m = rrm::server::ReadDeviceMemory(*device);
    if (m.ok()) Print(when, *m);
    return m;
  };
  std::printf("%-28s %12s %12s %12s %12s  (MiB, %s)\n", "", "used", "reserved", "free", "total",
              device->str().c_str());
  absl::StatusOr<rrm::server::DeviceMemory> before = read("before");
  if (!before.ok()) {
    std::fprintf(stderr, "memory-probe: %s\n", before.status().ToString().c_str());
    return 1;
  }
  const double bytes = static_cast<double>(mib) * kMiB;
  absl::StatusOr<rrm::server::DeviceMemory> held;
  {
    // Filled, so a CPU's pages are resident and not merely reserved.
    torch::Tensor probe = torch::ones({mib * 1024 * 1024 / 4}, torch::TensorOptions().device(*device));
    held = read(absl::StrCat("holding ", mib, " MiB").c_str());
  }
  rrm::server::ReleaseCachedMemory(*device);
  absl::StatusOr<rrm::server::DeviceMemory> after = read("dropped, cache released");
  if (!held.ok() || !after.ok()) {
    std::fprintf(stderr, "memory-probe: %s\n", (held.ok() ? after : held).status().ToString().c_str());
    return 1;
  }

  std::vector<std::string> failures;
  const double rise = held->used - before->used;
  // CUDA counts the allocator's blocks (at least the tensor); a CPU's resident
  // set also moves with the rest of the process, so ask for most of it.
  const double expected_rise = device->is_cuda() ? bytes : 0.8 * bytes;
  if (rise < expected_rise) {
    failures.push_back(absl::StrCat("used rose by ", rise / kMiB, " MiB, expected at least ", expected_rise / kMiB));
  }
  for (const rrm::server::DeviceMemory* m : {&*before, &*held, &*after}) {
    if (m->total <= 0 || m->free > m->total) failures.push_back("free exceeds total, or total is 0");
    if (m->reserved < m->used) failures.push_back("reserved is below used");
  }
  if (device->is_cuda() && after->reserved >= held->reserved) {
    failures.push_back("releasing the cache did not lower reserved");
  }
  for (const std::string& f : failures) std::printf("FAIL: %s\n", f.c_str());
  std::printf("%s: used rose by %.1f MiB for a %lld MiB tensor\n", failures.empty() ? "ok" : "FAIL", rise / kMiB,
              static_cast<long long>(mib));
  return failures.empty() ? 0 : 1;
}
