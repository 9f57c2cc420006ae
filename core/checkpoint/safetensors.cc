// The safetensors reader declared in state_dict.h, with the small JSON parser
// its header needs.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "core/checkpoint/checkpoint_io.h"
#include "core/checkpoint/state_dict.h"
#include "core/common/status.h"

namespace rrm::checkpoint {
namespace {

// The safetensors reference implementation refuses larger headers too.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
// Deep enough for any real header ({"name": {"shape": [...]}} is depth 3),
// shallow enough that the recursive parser cannot exhaust the stack.
constexpr int kMaxJsonDepth = 32;

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  std::optional<int64_t> integer;  // kNumber written as an integer that fits int64
  std::string text;                // kString
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  const JsonValue* Find(absl::string_view key) const {
    for (const auto& [name, value] : object) {
      if (name == key) return &value;
    }
    return nullptr;
  }
};

// Recursive-descent parser for RFC 8259 JSON. Numbers are only validated
// unless they are integers: the header needs nothing else.
class JsonParser {
 public:
  explicit JsonParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    RRM_ASSIGN_OR_RETURN(JsonValue value, ParseValue(0));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("trailing characters after the JSON value");
    return value;
  }

 private:
  absl::Status Error(absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(problem, " at header byte ", pos_));
  }

  void SkipWhitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(absl::string_view token) {
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }

  absl::StatusOr<JsonValue> ParseValue(int depth) {
    if (depth > kMaxJsonDepth) return Error("JSON nested too deeply");
    SkipWhitespace();
    if (pos_ >= text_.size()) return Error("truncated JSON");
    JsonValue value;
    const char c = text_[pos_];
    if (c == '{') {
      value.type = JsonValue::Type::kObject;
      ++pos_;
      SkipWhitespace();
      if (Consume("}")) return value;
      while (true) {
        SkipWhitespace();
        RRM_ASSIGN_OR_RETURN(std::string key, ParseString());
        SkipWhitespace();
        if (!Consume(":")) return Error("expected ':'");
        RRM_ASSIGN_OR_RETURN(JsonValue member, ParseValue(depth + 1));
        value.object.emplace_back(std::move(key), std::move(member));
        SkipWhitespace();
        if (Consume("}")) return value;
        if (!Consume(",")) return Error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      value.type = JsonValue::Type::kArray;
      ++pos_;
      SkipWhitespace();
      if (Consume("]")) return value;
      while (true) {
        RRM_ASSIGN_OR_RETURN(JsonValue item, ParseValue(depth + 1));
        value.array.push_back(std::move(item));
        SkipWhitespace();
        if (Consume("]")) return value;
        if (!Consume(",")) return Error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      value.type = JsonValue::Type::kString;
      RRM_ASSIGN_OR_RETURN(value.text, ParseString());
      return value;
    }
    if (Consume("true")) {
      value.type = JsonValue::Type::kBool;
      value.boolean = true;
      return value;
    }
    if (Consume("false")) {
      value.type = JsonValue::Type::kBool;
      return value;
    }
    if (Consume("null")) return value;
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
    return Error(absl::StrFormat("unexpected character 0x%02x", static_cast<unsigned char>(c)));
  }

  bool ConsumeDigits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  absl::StatusOr<JsonValue> ParseNumber() {
    JsonValue value;
    value.type = JsonValue::Type::kNumber;
    const bool negative = Consume("-");
    const size_t digits_start = pos_;
    if (!ConsumeDigits()) return Error("malformed number");
    const absl::string_view digits = text_.substr(digits_start, pos_ - digits_start);
    if (digits.size() > 1 && digits[0] == '0') return Error("number with a leading zero");
    bool is_integer = true;
    if (Consume(".")) {
      is_integer = false;
      if (!ConsumeDigits()) return Error("malformed number");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_integer = false;
      ++pos_;
      if (!Consume("+")) Consume("-");
      if (!ConsumeDigits()) return Error("malformed number");
    }
    if (!is_integer) return value;
    int64_t magnitude = 0;
    for (char digit : digits) {
      if (__builtin_mul_overflow(magnitude, 10, &magnitude) ||
          __builtin_add_overflow(magnitude, digit - '0', &magnitude)) {
        return value;  // too large for int64: a number, but not a usable integer
      }
    }
    value.integer = negative ? -magnitude : magnitude;
    return value;
  }

  // Four hex digits of a \u escape.
  absl::StatusOr<uint32_t> ParseHex4() {
    if (text_.size() - pos_ < 4) return Error("truncated \\u escape");
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9')
        code |= h - '0';
      else if (h >= 'a' && h <= 'f')
        code |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        code |= h - 'A' + 10;
      else
        return Error("bad hex digit in \\u escape");
    }
    return code;
  }

  static void AppendUtf8(uint32_t code, std::string& out) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  absl::StatusOr<std::string> ParseString() {
    if (!Consume("\"")) return Error("expected a string");
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char escape = text_[pos_++];
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          RRM_ASSIGN_OR_RETURN(uint32_t code, ParseHex4());
          if (code >= 0xd800 && code < 0xdc00) {  // a UTF-16 surrogate pair
            if (!Consume("\\u")) return Error("unpaired surrogate in \\u escape");
            RRM_ASSIGN_OR_RETURN(const uint32_t low, ParseHex4());
            if (low < 0xdc00 || low >= 0xe000) return Error("unpaired surrogate in \\u escape");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          } else if (code >= 0xdc00 && code < 0xe000) {
            return Error("unpaired surrogate in \\u escape");
          }
          AppendUtf8(code, out);
          break;
        }
        default: return Error(absl::StrFormat("bad escape \\%c", escape));
      }
    }
  }

  const absl::string_view text_;
  size_t pos_ = 0;
};

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
  if (value == nullptr || value->type != JsonValue::Type::kArray) return std::nullopt;
  std::vector<int64_t> ints;
  for (const JsonValue& item : value->array) {
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
  if (entry.type != JsonValue::Type::kObject) return error("header entry is not an object");
  const JsonValue* dtype = entry.Find("dtype");
  if (dtype == nullptr || dtype->type != JsonValue::Type::kString) {
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
  absl::StatusOr<JsonValue> json = JsonParser(header).ParseDocument();
  if (!json.ok()) return internal::WithContext("bad safetensors header", json.status());
  if (json->type != JsonValue::Type::kObject) {
    return absl::InvalidArgumentError("bad safetensors header: not a JSON object");
  }
  std::vector<TensorSpec> specs;
  for (const auto& [name, entry] : json->object) {
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
