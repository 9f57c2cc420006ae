#include "server/device_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/common/status.h"

// Debian's LibTorch is CPU-only yet ships the c10/cuda headers, so
// __has_include cannot tell; server/CMakeLists.txt defines RRM_CUDA_MEMORY
// when the LibTorch found has c10_cuda (a CUDA build).
#ifdef RRM_CUDA_MEMORY
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace rrm::server {
namespace {

std::optional<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first number of a file ("max" and unreadable files: nullopt).
std::optional<double> ReadNumber(const std::string& path) {
  const std::optional<std::string> text = ReadText(path);
  double value = 0;
  if (!text || !absl::SimpleAtod(absl::StripAsciiWhitespace(*text), &value)) return std::nullopt;
  return value;
}

// The memory limit and usage of this process's cgroup (v2, or the v1 memory
// controller as a container sees it), nullopt without a limit: in a container
// /proc/meminfo shows the host, but the limit is what the kernel enforces.
std::optional<std::pair<double, double>> CgroupMemory() {
  std::string unified;
  std::istringstream lines(ReadText("/proc/self/cgroup").value_or(""));
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, "0::")) unified = line.substr(3);
  }
  const std::pair<std::string, std::string> files[] = {
      {absl::StrCat("/sys/fs/cgroup", unified, "/memory.max"), absl::StrCat("/sys/fs/cgroup", unified, "/memory.current")},
      {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
  for (const auto& [limit_file, usage_file] : files) {
    const std::optional<double> limit = ReadNumber(limit_file);
    // v1 writes "no limit" as about 2^63.
    if (!limit || *limit >= std::ldexp(1.0, 60)) continue;
    return std::make_pair(*limit, ReadNumber(usage_file).value_or(0));
  }
  return std::nullopt;
}

absl::StatusOr<DeviceMemory> ReadCpuMemory() {
  DeviceMemory memory;
  std::istringstream statm(ReadText("/proc/self/statm").value_or(""));
  double size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return absl::InternalError("/proc/self/statm: cannot read");
  memory.used = memory.reserved = resident_pages * static_cast<double>(::sysconf(_SC_PAGESIZE));

  double total_kib = -1, available_kib = -1;
  std::istringstream meminfo(ReadText("/proc/meminfo").value_or(""));
  for (std::string line; std::getline(meminfo, line);) {
    std::istringstream fields(line);
    std::string key;
    double kib = 0;
    if (!(fields >> key >> kib)) continue;
    if (key == "MemTotal:") total_kib = kib;
    if (key == "MemAvailable:") available_kib = kib;
  }
  if (total_kib < 0 || available_kib < 0) {
    return absl::InternalError("/proc/meminfo: expected MemTotal and MemAvailable, found neither or one");
  }
  memory.total = total_kib * 1024;
  memory.free = available_kib * 1024;
  if (const auto cgroup = CgroupMemory(); cgroup && cgroup->first < memory.total) {
    memory.total = cgroup->first;
    memory.free = std::clamp(cgroup->first - cgroup->second, 0.0, memory.free);
  }
  return memory;
}

}  // namespace

absl::StatusOr<DeviceMemory> ReadDeviceMemory(const torch::Device& device) {
  if (device.is_cpu()) return ReadCpuMemory();
  if (!device.is_cuda()) {
    return absl::UnimplementedError(absl::StrCat("device memory of ", device.str(), ": only cpu and cuda are read"));
  }
#ifdef RRM_CUDA_MEMORY
  return RunTorch(absl::StrCat("reading the memory of ", device.str()), [&]() -> absl::StatusOr<DeviceMemory> {
    const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
    // Index 0 of each StatArray is StatType::AGGREGATE (every pool); the
    // enum's namespace moved between LibTorch releases, the index did not.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    DeviceMemory memory;
    memory.used = static_cast<double>(stats.allocated_bytes[0].current);
    memory.reserved = static_cast<double>(stats.reserved_bytes[0].current);
    const c10::cuda::CUDAGuard guard(index);
    size_t free = 0, total = 0;
    if (const cudaError_t error = cudaMemGetInfo(&free, &total); error != cudaSuccess) {
      return absl::InternalError(absl::StrCat("cudaMemGetInfo on ", device.str(), ": ", cudaGetErrorString(error)));
    }
    memory.free = static_cast<double>(free);
    memory.total = static_cast<double>(total);
    return memory;
  });
#else
  return absl::UnimplementedError(absl::StrCat("device memory of ", device.str(),
                                               ": rrmd was built against a LibTorch without CUDA"));
#endif
}

void ReleaseCachedMemory(const torch::Device& device) {
#ifdef RRM_CUDA_MEMORY
  if (device.is_cuda()) {
    // Best effort: a failure here changes nothing the caller could act on.
    (void)RunTorch("emptyCache", [] {
      c10::cuda::CUDACachingAllocator::emptyCache();
      return absl::OkStatus();
    });
  }
#endif
}

std::string MemoryBudget::ToString() const {
  if (bytes > 0) return absl::StrCat(bytes, " bytes");
  if (fraction > 0) return absl::StrCat(fraction, " of the device's memory");
  return "none";
}

absl::StatusOr<MemoryBudget> ParseMemoryBudget(absl::string_view text) {
  const std::string value(absl::StripAsciiWhitespace(text));
  const auto invalid = [&](absl::string_view expected) {
    return absl::InvalidArgumentError(absl::StrCat("--device_memory_budget: expected ", expected, ", found '", value, "'"));
  };
  const char kExpected[] =
      "bytes (8000000000, 500MiB, 8GiB), a share of the device's memory in (0, 1] (0.8), or 0 for no budget";
  if (value.empty()) return MemoryBudget{};
  const size_t unit_at = std::min(value.find_first_not_of("0123456789."), value.size());
  const std::string number = value.substr(0, unit_at);
  const std::string unit = absl::AsciiStrToLower(absl::StripLeadingAsciiWhitespace(value.substr(unit_at)));
  double x = 0;
  if (number.empty() || !absl::SimpleAtod(number, &x) || !std::isfinite(x)) return invalid(kExpected);
  // Without a unit a decimal point makes a share: "1" is one byte, "1.0" the whole device.
  if (unit.empty() && absl::StrContains(number, '.')) {
    if (x > 1) return invalid("a share of the device's memory in (0, 1], or bytes without a decimal point");
    MemoryBudget budget;
    budget.fraction = x;
    return budget;
  }
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"b", 1},          {"kib", 1024.0},   {"mib", 1048576.0}, {"gib", 1073741824.0},
      {"tib", 1099511627776.0}, {"kb", 1e3}, {"mb", 1e6},       {"gb", 1e9},        {"tb", 1e12}};
  const auto found = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& u) { return unit == u.first; });
  if (found == std::end(kUnits)) return invalid("a unit of B, KiB, MiB, GiB, TiB, KB, MB, GB or TB after the number");
  MemoryBudget budget;
  budget.bytes = std::floor(x * found->second);
  if (x > 0 && budget.bytes < 1) return invalid(kExpected);
  return budget;
}

int64_t ExamplesThatFit(const MemoryBudget& budget, const DeviceMemory& memory, double bytes_per_example,
                        int64_t examples) {
  if (!budget.enabled() || examples <= 1 || !(bytes_per_example > 0)) return examples;
  const double room = std::min(budget.BytesOn(memory) - memory.used, memory.free + (memory.reserved - memory.used));
  const double fit = std::floor(room / bytes_per_example);
  if (!(fit >= 1)) return 1;  // NaN and negative rooms too
  return fit >= static_cast<double>(examples) ? examples : static_cast<int64_t>(fit);
}

}  // namespace rrm::server
