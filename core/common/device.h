// The one parser of a device name (rrm-measure --device, bench-forward
// --device, rrmd --devices): "cpu", "cuda" or "cuda:N", checked against what
// this build and machine have, so a wrong name gets an error naming the
// option, expected and found — not LibTorch's dispatcher message later.
#ifndef RRM_CORE_COMMON_DEVICE_H_
#define RRM_CORE_COMMON_DEVICE_H_

#include <string>

#include <torch/cuda.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/common/status.h"

namespace rrm {

inline absl::StatusOr<torch::Device> ParseDevice(const std::string& option, const std::string& name) {
  absl::StatusOr<torch::Device> device =
      RunTorch(absl::StrCat(option, ": '", name, "'"), [&]() -> absl::StatusOr<torch::Device> { return torch::Device(name); });
  if (!device.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(option, ": expected cpu or cuda:N, found '", name, "'"));
  }
  if (device->is_cpu()) return device;
  if (!device->is_cuda()) {
    return absl::InvalidArgumentError(absl::StrCat(option, ": expected cpu or cuda:N, found '", name, "'"));
  }
  const int64_t available = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  const int64_t index = device->has_index() ? device->index() : 0;
  if (index >= available) {
    return absl::InvalidArgumentError(absl::StrCat(
        option, ": expected ",
        available == 0 ? std::string("cpu (this build or machine has no CUDA device)")
                       : absl::StrCat("cpu or cuda:0..cuda:", available - 1),
        ", found '", name, "'"));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace rrm

#endif  // RRM_CORE_COMMON_DEVICE_H_
