// The safetensors reader declared in state_dict.h.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/checkpoint/checkpoint_io.h"
#include "core/checkpoint/state_dict.h"
#include "core/common/json.h"
#include "core/common/status.h"

namespace rrm::checkpoint {
namespace {

// The safetensors reference implementation refuses larger headers too.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
// Deep enough for any real header ({"name": {"shape": [...]}} is depth 3).
constexpr int kMaxJsonDepth = 32;

std::optional<torch::ScalarType> DtypeFromSafetensorsName(absl::string_view name) {
  if (name == "F32") return torch::kFloat32;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F16") return torch::kFloat16;
  if (name == "F64") return torch::kFloat64;
  if (name == "I64") return torch::kInt64;
  if (name == "I32") return torch::kInt32;
  if (name == "U8") return torch::kUInt8;
  if (name == "BOOL") return torch::kBool;
  return std::nullopt;
}

// A JSON array of non-negative integers, or nullopt.
std::optional<std::vector<int64_t>> NonNegativeInts(const JsonValue* value) {
  if (value == nullptr || value->kind != JsonValue::Kind::kArray) return std::nullopt;
  std::vector<int64_t> ints;
  for (const JsonValue& item : value->items) {
    if (!item.integer.has_value() || *item.integer < 0) return std::nullopt;
    ints.push_back(*item.integer);
  }
  return ints;
}

// One header entry, checked against the data section.
struct TensorSpec {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

absl::StatusOr<TensorSpec> ParseTensorSpec(const std::string& name, const JsonValue& entry,
                                           uint64_t data_size) {
  auto error = [&](absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", problem));
  };
  if (entry.kind != JsonValue::Kind::kObject) return error("header entry is not an object");
  const JsonValue* dtype = entry.Find("dtype");
  if (dtype == nullptr || dtype->kind != JsonValue::Kind::kString) {
    return error("no \"dtype\" string");
  }
  TensorSpec spec;
  spec.name = name;
  std::optional<torch::ScalarType> scalar_type = DtypeFromSafetensorsName(dtype->text);
  if (!scalar_type.has_value()) {
    return error(absl::StrCat("unsupported dtype '", dtype->text,
                              "' (supported: F32, BF16, F16, F64, I64, I32, U8, BOOL)"));
  }
  spec.dtype = *scalar_type;
  std::optional<std::vector<int64_t>> shape = NonNegativeInts(entry.Find("shape"));
  if (!shape.has_value()) return error("\"shape\" is not an array of non-negative integers");
  spec.shape = *std::move(shape);
  std::optional<std::vector<int64_t>> offsets = NonNegativeInts(entry.Find("data_offsets"));
  if (!offsets.has_value() || offsets->size() != 2) {
    return error("\"data_offsets\" is not [begin, end]");
  }
  spec.begin = (*offsets)[0];
  spec.end = (*offsets)[1];
  if (spec.begin > spec.end || spec.end > data_size) {
    return error(absl::StrCat("data_offsets [", spec.begin, ", ", spec.end,
                              "] out of range of the ", data_size, "-byte data section"));
  }
  absl::StatusOr<int64_t> numel = internal::CheckedNumel(spec.shape);
  if (!numel.ok()) return error(numel.status().message());
  const uint64_t element_size = c10::elementSize(spec.dtype);
  if (static_cast<uint64_t>(*numel) > (spec.end - spec.begin) / element_size ||
      *numel * element_size != spec.end - spec.begin) {
    return error(absl::StrCat("data_offsets [", spec.begin, ", ", spec.end, "] hold ",
                              spec.end - spec.begin, " bytes, not ", *numel, " x ", dtype->text));
  }
  return spec;
}

absl::StatusOr<StateDict> ReadSafetensorsUnnamed(absl::string_view bytes) {
  if (bytes.size() < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "truncated: ", bytes.size(), " bytes is too short for a safetensors header length"));
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i)
    header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_size > kMaxHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat("safetensors header length ", header_size,
                                                   " exceeds the ", kMaxHeaderSize, "-byte limit"));
  }
  if (header_size > bytes.size() - 8) {
    return absl::InvalidArgumentError(absl::StrCat("truncated: safetensors header of ", header_size,
                                                   " bytes beyond file size ", bytes.size()));
  }
  const absl::string_view header = bytes.substr(8, header_size);
  const absl::string_view data = bytes.substr(8 + header_size);
  JsonOptions options;
  options.max_depth = kMaxJsonDepth;
  RRM_ASSIGN_OR_RETURN(const JsonValue json, ParseJson(header, "safetensors header", options));
  if (json.kind != JsonValue::Kind::kObject) {
    return absl::InvalidArgumentError("bad safetensors header: not a JSON object");
  }
  std::vector<TensorSpec> specs;
  for (const auto& [name, entry] : json.members) {
    if (name == "__metadata__") continue;  // free-form strings; nothing to check
    RRM_ASSIGN_OR_RETURN(TensorSpec spec, ParseTensorSpec(name, entry, data.size()));
    specs.push_back(std::move(spec));
  }
  // Overlapping tensors are invalid safetensors; refusing them also bounds the
  // memory a hostile file can make us allocate to the size of its data.
  std::vector<const TensorSpec*> by_offset;
  for (const TensorSpec& spec : specs) by_offset.push_back(&spec);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorSpec* a, const TensorSpec* b) {
    return std::pair(a->begin, a->end) < std::pair(b->begin, b->end);
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return absl::InvalidArgumentError(absl::StrCat("tensors '", by_offset[i - 1]->name, "' and '",
                                                     by_offset[i]->name, "' overlap"));
    }
  }
  StateDict state_dict;
  for (const TensorSpec& spec : specs) {
    absl::StatusOr<torch::Tensor> tensor = internal::TensorFromBytes(
        data.substr(spec.begin, spec.end - spec.begin), spec.dtype, spec.shape);
    if (!tensor.ok()) {
      return internal::WithContext(absl::StrCat("tensor '", spec.name, "'"), tensor.status());
    }
    if (!state_dict.emplace(spec.name, *std::move(tensor)).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", spec.name, "' appears twice"));
    }
  }
  return state_dict;
}

}  // namespace

absl::StatusOr<StateDict> ReadSafetensorsBytes(std::string_view bytes, const std::string& name) {
  const absl::string_view view(bytes.data(), bytes.size());
  absl::StatusOr<StateDict> state_dict =
      RunTorch("reading", [&] { return ReadSafetensorsUnnamed(view); });
  if (!state_dict.ok()) return internal::WithContext(name, state_dict.status());
  return state_dict;
}

absl::StatusOr<StateDict> ReadSafetensors(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(const std::string bytes, internal::ReadFileBytes(path));
  return ReadSafetensorsBytes(bytes, path);
}

}  // namespace rrm::checkpoint
