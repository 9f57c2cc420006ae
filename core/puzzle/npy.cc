// .npy layout (numpy/lib/format.py): the magic "\x93NUMPY", one byte major
// and one byte minor version, the header length (uint16 little-endian for
// 1.0, uint32 for 2.0 and 3.0), then the header: the repr of a Python dict
// with keys 'descr', 'fortran_order' and 'shape', padded with spaces and a
// final '\n' so that the data starts at a multiple of 64 (16 in old files).
// The data follows as raw elements in C order.
#include "core/puzzle/npy.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/common/status.h"

namespace rrm::puzzle {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the .npy reader copies little-endian data without swapping");

constexpr absl::string_view kMagic = "\x93NUMPY";
constexpr int64_t kPrefixBytes = 8;  // magic + 2 version bytes

absl::Status HeaderError(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": .npy header parse error: ", what));
}

// How a dtype string maps onto LibTorch: the element type the raw bytes are
// read as, and what (if anything) they are widened to afterwards.
enum class Widening { kNone, kUnsigned16, kUnsigned32, kUnsigned64, kBool };

struct ElementType {
  torch::ScalarType raw;
  int64_t item_size;
  Widening widening;
};

std::optional<ElementType> ElementTypeFor(absl::string_view kind_and_size) {
  struct Entry {
    absl::string_view code;
    ElementType type;
  };
  static const Entry kTable[] = {
      {"b1", {torch::kUInt8, 1, Widening::kBool}},
      {"u1", {torch::kUInt8, 1, Widening::kNone}},
      {"i1", {torch::kInt8, 1, Widening::kNone}},
      {"i2", {torch::kInt16, 2, Widening::kNone}},
      {"u2", {torch::kInt16, 2, Widening::kUnsigned16}},
      {"i4", {torch::kInt32, 4, Widening::kNone}},
      {"u4", {torch::kInt32, 4, Widening::kUnsigned32}},
      {"i8", {torch::kInt64, 8, Widening::kNone}},
      {"u8", {torch::kInt64, 8, Widening::kUnsigned64}},
      {"f2", {torch::kHalf, 2, Widening::kNone}},
      {"f4", {torch::kFloat32, 4, Widening::kNone}},
      {"f8", {torch::kFloat64, 8, Widening::kNone}},
  };
  for (const Entry& entry : kTable) {
    if (entry.code == kind_and_size) return entry.type;
  }
  return std::nullopt;
}

absl::StatusOr<ElementType> ResolveDescr(const std::string& descr, const std::string& name) {
  auto unsupported = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": unsupported dtype '", descr, "' (", why,
                     "; supported: |u1 |i1 <i2 <u2 <i4 <u4 <i8 <u8 <f2 <f4 <f8 |b1)"));
  };
  if (descr.size() < 2) return unsupported("not a NumPy dtype string");
  const char order = descr[0];
  std::optional<ElementType> type = ElementTypeFor(absl::string_view(descr).substr(1));
  if (!type.has_value()) return unsupported("unknown element type");
  const bool single_byte = type->item_size == 1;
  // '=' is native order, which the static_assert above pins to little.
  const bool little = order == '<' || order == '=' || (order == '|' && single_byte);
  if (order == '>' && !single_byte) return unsupported("big-endian");
  if (!little && !(single_byte && order == '>')) return unsupported("bad byte-order character");
  return *type;
}

// A value of the Python-literal subset .npy headers use.
struct PyValue {
  enum class Kind { kString, kInteger, kBool, kNone, kSequence } kind = Kind::kNone;
  std::string text;
  int64_t integer = 0;
  bool boolean = false;
  std::vector<PyValue> items;
};

// Recursive-descent parser over a header such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class PyLiteralParser {
 public:
  PyLiteralParser(absl::string_view text, const std::string& name) : text_(text), name_(name) {}

  absl::StatusOr<std::vector<std::pair<std::string, PyValue>>> ParseDict() {
    std::vector<std::pair<std::string, PyValue>> entries;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      RRM_ASSIGN_OR_RETURN(PyValue key, ParseValue());
      if (key.kind != PyValue::Kind::kString) return Error("dict key is not a string");
      SkipSpace();
      if (!Consume(':')) return Error("expected ':'");
      RRM_ASSIGN_OR_RETURN(PyValue value, ParseValue());
      entries.emplace_back(key.text, std::move(value));
      SkipSpace();
      if (Consume('}')) break;
      if (!Consume(',')) return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("text after the closing '}'");
    return entries;
  }

 private:
  absl::StatusOr<PyValue> ParseValue() {
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end of header");
    const char c = text_[pos_];
    if (c == '\'' || c == '"') return ParseString();
    if (c == '(' || c == '[') return ParseSequence();
    if (c == '-' || (c >= '0' && c <= '9')) return ParseInteger();
    for (auto [word, kind, boolean] : {std::tuple{"True", PyValue::Kind::kBool, true},
                                       std::tuple{"False", PyValue::Kind::kBool, false},
                                       std::tuple{"None", PyValue::Kind::kNone, false}}) {
      if (text_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        PyValue value;
        value.kind = kind;
        value.boolean = boolean;
        return value;
      }
    }
    return Error(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  absl::StatusOr<PyValue> ParseString() {
    const char quote = text_[pos_++];
    PyValue value;
    value.kind = PyValue::Kind::kString;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      value.text.push_back(text_[pos_++]);
    }
    if (!Consume(quote)) return Error("unterminated string");
    return value;
  }

  absl::StatusOr<PyValue> ParseSequence() {
    const char close = text_[pos_++] == '(' ? ')' : ']';
    PyValue value;
    value.kind = PyValue::Kind::kSequence;
    while (true) {
      SkipSpace();
      if (Consume(close)) break;
      RRM_ASSIGN_OR_RETURN(PyValue item, ParseValue());
      value.items.push_back(std::move(item));
      SkipSpace();
      if (Consume(close)) break;
      if (!Consume(',')) {
        return Error(absl::StrCat("expected ',' or '", std::string(1, close), "'"));
      }
    }
    return value;
  }

  absl::StatusOr<PyValue> ParseInteger() {
    const size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    int64_t magnitude = 0;
    bool any_digit = false;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_++] - '0';
      if (magnitude > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        return Error("integer out of range");
      }
      magnitude = magnitude * 10 + digit;
      any_digit = true;
    }
    if (!any_digit) return Error("malformed integer");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 longs: (3L, 4L)
    PyValue value;
    value.kind = PyValue::Kind::kInteger;
    value.integer = text_[start] == '-' ? -magnitude : magnitude;
    return value;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::Status Error(absl::string_view what) const {
    return HeaderError(name_, absl::StrCat(what, " at offset ", pos_, " in ", Quoted()));
  }
  std::string Quoted() const {
    std::string shown(text_.substr(0, 120));
    while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.pop_back();
    return absl::StrCat("\"", shown, text_.size() > 120 ? "..." : "", "\"");
  }

  absl::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
};

uint32_t LittleEndian(absl::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

// Number of header-length bytes after the prefix, or 0 for an unknown version.
size_t LengthFieldWidth(int major_version) {
  if (major_version == 1) return 2;
  if (major_version == 2 || major_version == 3) return 4;
  return 0;
}

absl::StatusOr<int64_t> ElementCount(const NpyHeader& header, const std::string& name) {
  int64_t count = 1;
  for (int64_t dim : header.shape) {
    if (dim < 0) return HeaderError(name, absl::StrCat("negative dimension ", dim, " in shape"));
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / 16 / dim) {
      return HeaderError(name, "shape too large");
    }
    count *= dim;
  }
  return count;
}

// Turns the raw elements into the tensor ReadNpy promises.
absl::StatusOr<torch::Tensor> Widen(torch::Tensor raw, Widening widening, const std::string& name) {
  return RunTorch(name, [&]() -> absl::StatusOr<torch::Tensor> {
    switch (widening) {
      case Widening::kNone:
        return raw;
      case Widening::kBool:
        return raw.ne(0);
      case Widening::kUnsigned16:
        return raw.to(torch::kInt32).bitwise_and(0xFFFF);
      case Widening::kUnsigned32:
        return raw.to(torch::kInt64).bitwise_and(int64_t{0xFFFFFFFF});
      case Widening::kUnsigned64:
        if (raw.numel() > 0 && raw.lt(0).any().item<bool>()) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": uint64 value above 2^63-1 cannot be held as int64"));
        }
        return raw;
    }
    return raw;
  });
}

using FilePtr = std::unique_ptr<FILE, int (*)(FILE*)>;

absl::StatusOr<FilePtr> OpenForReading(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a .npy file"));
  }
  FilePtr file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  return file;
}

// Appends up to `count` bytes from `file` to `out`; short only at end of file.
absl::Status ReadInto(FILE* file, size_t count, std::string& out, const std::string& path) {
  const size_t old_size = out.size();
  out.resize(old_size + count);
  const size_t got = std::fread(out.data() + old_size, 1, count, file);
  out.resize(old_size + got);
  if (std::ferror(file)) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  return absl::OkStatus();
}

std::string ShapeRepr(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// The header block (magic through the final '\n'), padded so that the data
// starts at a multiple of 64 bytes as NumPy >= 1.14 writes it.
std::string BuildHeader(const std::string& descr, const std::vector<int64_t>& shape) {
  const std::string dict = absl::StrCat(
      "{'descr': '", descr, "', 'fortran_order': False, 'shape': ", ShapeRepr(shape), ", }");
  for (int major : {1, 2}) {
    const size_t prefix = kPrefixBytes + LengthFieldWidth(major);
    const size_t unpadded = prefix + dict.size() + 1;  // + '\n'
    const size_t total = (unpadded + 63) / 64 * 64;
    const size_t header_len = total - prefix;
    if (major == 1 && header_len > 0xFFFF) continue;
    std::string out(kMagic);
    out.push_back(static_cast<char>(major));
    out.push_back(0);
    for (size_t i = 0; i < LengthFieldWidth(major); ++i) {
      out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xFF));
    }
    out += dict;
    out.append(total - unpadded, ' ');
    out.push_back('\n');
    return out;
  }
  return {};  // unreachable: a 2.0 length field holds any header we build
}

struct Prepared {
  std::string header;
  torch::Tensor data;  // contiguous CPU tensor in the stored element type
};

absl::StatusOr<Prepared> PrepareForWriting(const torch::Tensor& tensor, const std::string& name) {
  if (!tensor.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": tensor is undefined"));
  }
  RRM_ASSIGN_OR_RETURN(std::string descr, NpyDescrFor(tensor.scalar_type()));
  return RunTorch(name, [&]() -> absl::StatusOr<Prepared> {
    Prepared prepared;
    prepared.data = tensor.detach().to(torch::kCPU).contiguous();
    prepared.header = BuildHeader(descr, prepared.data.sizes().vec());
    return prepared;
  });
}

absl::Status CheckDataSize(const NpyHeader& header, int64_t expected, int64_t found,
                           const std::string& name) {
  if (found == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": ", found < expected ? "truncated" : "trailing", " data: expected ",
                   expected, " bytes for shape ", ShapeRepr(header.shape), " of '", header.descr,
                   "', found ", std::max<int64_t>(found, 0)));
}

}  // namespace

absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view file_bytes, const std::string& name) {
  const absl::string_view bytes(file_bytes.data(), file_bytes.size());
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a .npy file (bad magic; expected \"\\x93NUMPY\")"));
  }
  if (bytes.size() < kPrefixBytes) return HeaderError(name, "file ends inside the version field");
  NpyHeader header;
  header.major_version = static_cast<unsigned char>(bytes[6]);
  header.minor_version = static_cast<unsigned char>(bytes[7]);
  const size_t width = LengthFieldWidth(header.major_version);
  if (width == 0 || header.minor_version != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": unsupported .npy format version ",
                                                   header.major_version, ".", header.minor_version,
                                                   " (supported: 1.0, 2.0, 3.0)"));
  }
  if (bytes.size() < kPrefixBytes + width) {
    return HeaderError(name, "file ends inside the header length");
  }
  const uint32_t header_len = LittleEndian(bytes, kPrefixBytes, width);
  header.data_offset = static_cast<int64_t>(kPrefixBytes + width) + header_len;
  if (static_cast<int64_t>(bytes.size()) < header.data_offset) {
    return HeaderError(
        name, absl::StrCat("header of ", header_len, " bytes is truncated (file has ", bytes.size(),
                           " bytes)"));
  }
  const absl::string_view text = bytes.substr(kPrefixBytes + width, header_len);
  RRM_ASSIGN_OR_RETURN(auto entries, PyLiteralParser(text, name).ParseDict());

  bool seen_descr = false, seen_order = false, seen_shape = false;
  for (const auto& [key, value] : entries) {
    if (key == "descr") {
      if (value.kind == PyValue::Kind::kSequence) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": unsupported dtype (structured array with named fields)"));
      }
      if (value.kind != PyValue::Kind::kString) return HeaderError(name, "'descr' is not a string");
      header.descr = value.text;
      seen_descr = true;
    } else if (key == "fortran_order") {
      if (value.kind != PyValue::Kind::kBool) {
        return HeaderError(name, "'fortran_order' is not True/False");
      }
      header.fortran_order = value.boolean;
      seen_order = true;
    } else if (key == "shape") {
      if (value.kind != PyValue::Kind::kSequence) {
        return HeaderError(name, "'shape' is not a tuple");
      }
      for (const PyValue& item : value.items) {
        if (item.kind != PyValue::Kind::kInteger) {
          return HeaderError(name, "'shape' holds a non-integer");
        }
        header.shape.push_back(item.integer);
      }
      seen_shape = true;
    }
  }
  if (!seen_descr) return HeaderError(name, "missing key 'descr'");
  if (!seen_order) return HeaderError(name, "missing key 'fortran_order'");
  if (!seen_shape) return HeaderError(name, "missing key 'shape'");
  RRM_RETURN_IF_ERROR(ElementCount(header, name).status());
  RRM_RETURN_IF_ERROR(ResolveDescr(header.descr, name).status());
  if (header.fortran_order) {
    return absl::InvalidArgumentError(
        absl::StrCat(name,
                     ": Fortran-ordered array (fortran_order: True) is not supported; save it with "
                     "np.ascontiguousarray"));
  }
  return header;
}

absl::StatusOr<torch::Tensor> ParseNpy(std::string_view bytes, const std::string& name) {
  RRM_ASSIGN_OR_RETURN(NpyHeader header, ParseNpyHeader(bytes, name));
  RRM_ASSIGN_OR_RETURN(ElementType type, ResolveDescr(header.descr, name));
  RRM_ASSIGN_OR_RETURN(int64_t count, ElementCount(header, name));
  const int64_t expected = count * type.item_size;
  RRM_RETURN_IF_ERROR(CheckDataSize(header, expected,
                                    static_cast<int64_t>(bytes.size()) - header.data_offset, name));
  RRM_ASSIGN_OR_RETURN(
      torch::Tensor raw, RunTorch(name, [&]() -> absl::StatusOr<torch::Tensor> {
        torch::Tensor tensor = torch::empty(header.shape, torch::TensorOptions().dtype(type.raw));
        if (expected > 0) {
          std::memcpy(tensor.data_ptr(), bytes.data() + header.data_offset, expected);
        }
        return tensor;
      }));
  return Widen(std::move(raw), type.widening, name);
}

absl::StatusOr<torch::Tensor> ReadNpy(const std::string& path) {
  // Reads the header first and the data straight into the tensor, so a large
  // state dump is never held twice.
  RRM_ASSIGN_OR_RETURN(FilePtr file, OpenForReading(path));
  std::string prefix;
  RRM_RETURN_IF_ERROR(ReadInto(file.get(), kPrefixBytes + 4, prefix, path));
  if (prefix.size() >= kPrefixBytes + 4 && prefix.substr(0, kMagic.size()) == kMagic) {
    const size_t width = LengthFieldWidth(static_cast<unsigned char>(prefix[6]));
    if (width != 0) {
      const size_t data_offset = kPrefixBytes + width + LittleEndian(prefix, kPrefixBytes, width);
      if (data_offset > prefix.size()) {
        RRM_RETURN_IF_ERROR(ReadInto(file.get(), data_offset - prefix.size(), prefix, path));
      } else {
        prefix.resize(data_offset);  // a header this short is malformed; ParseNpyHeader says so
      }
    }
  }
  RRM_ASSIGN_OR_RETURN(NpyHeader header, ParseNpyHeader(prefix, path));
  RRM_ASSIGN_OR_RETURN(ElementType type, ResolveDescr(header.descr, path));
  RRM_ASSIGN_OR_RETURN(int64_t count, ElementCount(header, path));
  const int64_t expected = count * type.item_size;
  std::error_code error;
  const auto file_size = std::filesystem::file_size(path, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot stat: ", error.message()));
  }
  RRM_RETURN_IF_ERROR(
      CheckDataSize(header, expected, static_cast<int64_t>(file_size) - header.data_offset, path));
  RRM_ASSIGN_OR_RETURN(torch::Tensor raw, RunTorch(path, [&]() -> absl::StatusOr<torch::Tensor> {
                         return torch::empty(header.shape, torch::TensorOptions().dtype(type.raw));
                       }));
  if (expected > 0 &&
      std::fread(raw.data_ptr(), 1, expected, file.get()) != static_cast<size_t>(expected)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": read error (file changed while reading?)"));
  }
  return Widen(std::move(raw), type.widening, path);
}

absl::StatusOr<torch::Tensor> ReadNpyAs(const std::string& path, torch::ScalarType dtype) {
  if (dtype != torch::kInt64 && dtype != torch::kFloat32 && dtype != torch::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(path,
                                                   ": ReadNpyAs converts to int64, float32 or "
                                                   "float64, not ",
                                                   c10::toString(dtype)));
  }
  RRM_ASSIGN_OR_RETURN(torch::Tensor tensor, ReadNpy(path));
  if (dtype == torch::kInt64 && torch::isFloatingType(tensor.scalar_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": holds ", c10::toString(tensor.scalar_type()), " data, expected integers"));
  }
  return RunTorch(path, [&]() -> absl::StatusOr<torch::Tensor> { return tensor.to(dtype); });
}

absl::StatusOr<std::string> NpyDescrFor(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBool:
      return std::string("|b1");
    case torch::kUInt8:
      return std::string("|u1");
    case torch::kInt8:
      return std::string("|i1");
    case torch::kInt16:
      return std::string("<i2");
    case torch::kInt32:
      return std::string("<i4");
    case torch::kInt64:
      return std::string("<i8");
    case torch::kHalf:
      return std::string("<f2");
    case torch::kFloat32:
      return std::string("<f4");
    case torch::kFloat64:
      return std::string("<f8");
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "element type ", c10::toString(dtype),
          " has no .npy equivalent (supported: bool, uint8, int8, int16, int32, int64, float16, "
          "float32, float64)"));
  }
}

absl::StatusOr<std::string> EncodeNpy(const torch::Tensor& tensor) {
  RRM_ASSIGN_OR_RETURN(Prepared prepared, PrepareForWriting(tensor, "EncodeNpy"));
  std::string out = std::move(prepared.header);
  const size_t data_bytes = prepared.data.numel() * prepared.data.element_size();
  if (data_bytes > 0) out.append(static_cast<const char*>(prepared.data.data_ptr()), data_bytes);
  return out;
}

absl::Status WriteNpy(const std::string& path, const torch::Tensor& tensor) {
  absl::StatusOr<Prepared> prepared = PrepareForWriting(tensor, path);
  if (!prepared.ok()) {
    // NpyDescrFor cannot know the path; make sure every error names it.
    const std::string message(prepared.status().message());
    if (message.rfind(path, 0) == 0) return prepared.status();
    return absl::Status(prepared.status().code(), absl::StrCat(path, ": ", message));
  }
  // Unique per process and call, so concurrent writers never share a temporary.
  static std::atomic<uint64_t> writes{0};
  const std::string temporary = absl::StrCat(path, ".tmp", ::getpid(), "_", writes++);
  auto fail = [&](absl::string_view what) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot ", what, ": ", reason));
  };
  FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) return fail("create");
  const size_t data_bytes = prepared->data.numel() * prepared->data.element_size();
  bool written = std::fwrite(prepared->header.data(), 1, prepared->header.size(), file) ==
                 prepared->header.size();
  if (written && data_bytes > 0) {
    written = std::fwrite(prepared->data.data_ptr(), 1, data_bytes, file) == data_bytes;
  }
  if (std::fclose(file) != 0 || !written) return fail("write");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) return fail("rename into place");
  return absl::OkStatus();
}

}  // namespace rrm::puzzle
