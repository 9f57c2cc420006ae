// libFuzzer target: any bytes given to the checkpoint readers produce a state
// dict or an error status, never a crash, hang, leak or out-of-bounds access.
// How to build and run it: tests/checkpoint/README.md.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/checkpoint/state_dict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)rrm::checkpoint::ReadTorchZipBytes(bytes, "fuzz");
  (void)rrm::checkpoint::ReadSafetensorsBytes(bytes, "fuzz");
  return 0;
}
