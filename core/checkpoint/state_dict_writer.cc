#include "core/checkpoint/state_dict_writer.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/common/status.h"

namespace rrm::checkpoint {
namespace {

// torch's typed-storage class names, as torch.save still writes them.
absl::StatusOr<std::string> StorageClass(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32: return std::string("FloatStorage");
    case torch::kBFloat16: return std::string("BFloat16Storage");
    case torch::kFloat16: return std::string("HalfStorage");
    case torch::kFloat64: return std::string("DoubleStorage");
    case torch::kInt64: return std::string("LongStorage");
    case torch::kInt32: return std::string("IntStorage");
    case torch::kUInt8: return std::string("ByteStorage");
    case torch::kBool: return std::string("BoolStorage");
    default: return absl::InvalidArgumentError(absl::StrCat("unsupported dtype ", c10::toString(dtype)));
  }
}

void AppendLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// The opcodes of pickle protocol 2 that a state dict needs, with a memo so
// that repeated globals and strings are written once (as Python's pickler does).
class PickleWriter {
 public:
  PickleWriter() { out_.append("\x80\x02", 2); }  // PROTO 2

  void Global(const std::string& module, const std::string& name) {
    const std::string key = module + "\n" + name + "\n";
    if (Recall(key)) return;
    out_.push_back('c');
    out_.append(key);
    Remember(key);
  }
  void String(const std::string& text) {
    if (Recall("s:" + text)) return;
    out_.push_back('X');  // BINUNICODE
    AppendLittleEndian(out_, text.size(), 4);
    out_.append(text);
    Remember("s:" + text);
  }
  void Int(int64_t value) {
    if (value >= 0 && value < 256) {
      out_.push_back('K');
      AppendLittleEndian(out_, value, 1);
    } else if (value >= 0 && value < 65536) {
      out_.push_back('M');
      AppendLittleEndian(out_, value, 2);
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
      out_.push_back('J');
      AppendLittleEndian(out_, static_cast<uint32_t>(value), 4);
    } else {
      out_.push_back('\x8a');  // LONG1: 8-byte two's complement
      out_.push_back(8);
      AppendLittleEndian(out_, static_cast<uint64_t>(value), 8);
    }
  }
  void False() { out_.push_back('\x89'); }
  void Mark() { out_.push_back('('); }
  void Tuple() { out_.push_back('t'); }  // from the last MARK
  void EmptyTuple() { out_.push_back(')'); }
  void EmptyDict() { out_.push_back('}'); }
  void Reduce() { out_.push_back('R'); }
  void PersistentId() { out_.push_back('Q'); }  // BINPERSID
  void SetItem() { out_.push_back('s'); }
  void SetItems() { out_.push_back('u'); }  // from the last MARK
  void Build() { out_.push_back('b'); }
  std::string Finish() {
    out_.push_back('.');
    return std::move(out_);
  }

  // An int tuple (sizes, strides): MARK items TUPLE.
  void IntTuple(c10::IntArrayRef values) {
    if (values.empty()) return EmptyTuple();
    Mark();
    for (int64_t v : values) Int(v);
    Tuple();
  }
  // OrderedDict() — torch writes empty backward hooks and _metadata this way.
  void NewOrderedDict() {
    Global("collections", "OrderedDict");
    EmptyTuple();
    Reduce();
  }

 private:
  bool Recall(const std::string& key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) return false;
    if (it->second < 256) {
      out_.push_back('h');  // BINGET
      AppendLittleEndian(out_, it->second, 1);
    } else {
      out_.push_back('j');  // LONG_BINGET
      AppendLittleEndian(out_, it->second, 4);
    }
    return true;
  }
  void Remember(const std::string& key) {
    const uint32_t slot = static_cast<uint32_t>(memo_.size());
    memo_[key] = slot;
    if (slot < 256) {
      out_.push_back('q');  // BINPUT
      AppendLittleEndian(out_, slot, 1);
    } else {
      out_.push_back('r');  // LONG_BINPUT
      AppendLittleEndian(out_, slot, 4);
    }
  }

  std::string out_;
  absl::flat_hash_map<std::string, uint32_t> memo_;
};

constexpr std::array<uint32_t, 256> MakeCrc32Table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32Table = MakeCrc32Table();

uint32_t Crc32(const std::string& data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) crc = kCrc32Table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

// A zip archive of STORED entries (no compression, no data descriptors).
class ZipWriter {
 public:
  void Add(const std::string& name, const std::string& data) {
    if (out_.size() + data.size() > 0xFFFFFFF0ull) too_large_ = true;  // would need zip64
    const uint32_t crc = Crc32(data);
    const uint64_t offset = out_.size();
    // torch pads the local header's extra field (id "FB") so the data starts
    // on a 64-byte boundary, which lets readers map tensors in place.
    const uint64_t header_end = offset + 30 + name.size();
    uint64_t padding = (64 - (header_end + 4) % 64) % 64;
    const uint64_t extra = 4 + padding;
    AppendLittleEndian(out_, 0x04034b50, 4);
    AppendLittleEndian(out_, 20, 2);  // version needed: 2.0
    AppendLittleEndian(out_, 0, 2);   // flags
    AppendLittleEndian(out_, 0, 2);   // method: stored
    AppendLittleEndian(out_, 0, 2);   // time
    AppendLittleEndian(out_, 0x21, 2);  // date: 1980-01-01
    AppendLittleEndian(out_, crc, 4);
    AppendLittleEndian(out_, data.size(), 4);
    AppendLittleEndian(out_, data.size(), 4);
    AppendLittleEndian(out_, name.size(), 2);
    AppendLittleEndian(out_, extra, 2);
    out_.append(name);
    out_.append("FB", 2);
    AppendLittleEndian(out_, padding, 2);
    out_.append(padding, 'Z');
    out_.append(data);

    AppendLittleEndian(directory_, 0x02014b50, 4);
    AppendLittleEndian(directory_, 20, 2);  // made by
    AppendLittleEndian(directory_, 20, 2);  // needed
    AppendLittleEndian(directory_, 0, 2);
    AppendLittleEndian(directory_, 0, 2);
    AppendLittleEndian(directory_, 0, 2);
    AppendLittleEndian(directory_, 0x21, 2);
    AppendLittleEndian(directory_, crc, 4);
    AppendLittleEndian(directory_, data.size(), 4);
    AppendLittleEndian(directory_, data.size(), 4);
    AppendLittleEndian(directory_, name.size(), 2);
    AppendLittleEndian(directory_, 0, 2);  // extra
    AppendLittleEndian(directory_, 0, 2);  // comment
    AppendLittleEndian(directory_, 0, 2);  // disk
    AppendLittleEndian(directory_, 0, 2);  // internal attributes
    AppendLittleEndian(directory_, 0, 4);  // external attributes
    AppendLittleEndian(directory_, offset, 4);
    directory_.append(name);
    ++entries_;
  }

  absl::StatusOr<std::string> Finish() {
    if (too_large_ || entries_ > 0xFFFF) {
      return absl::InvalidArgumentError("checkpoint too large for a zip without zip64 (4 GiB)");
    }
    const uint64_t directory_offset = out_.size();
    out_.append(directory_);
    AppendLittleEndian(out_, 0x06054b50, 4);
    AppendLittleEndian(out_, 0, 2);
    AppendLittleEndian(out_, 0, 2);
    AppendLittleEndian(out_, entries_, 2);
    AppendLittleEndian(out_, entries_, 2);
    AppendLittleEndian(out_, directory_.size(), 4);
    AppendLittleEndian(out_, directory_offset, 4);
    AppendLittleEndian(out_, 0, 2);
    return std::move(out_);
  }

 private:
  std::string out_;
  std::string directory_;
  uint64_t entries_ = 0;
  bool too_large_ = false;
};

}  // namespace

absl::StatusOr<std::string> EncodeTorchZip(const NamedTensors& tensors, const std::string& root) {
  return RunTorch("writing checkpoint", [&]() -> absl::StatusOr<std::string> {
    std::set<std::string> seen;
    std::vector<std::string> module_paths = {""};
    std::set<std::string> module_seen = {""};
    std::vector<std::string> storages;
    PickleWriter pickle;
    pickle.NewOrderedDict();
    pickle.Mark();
    for (const auto& [key, tensor] : tensors) {
      if (key.empty() || !seen.insert(key).second) {
        return absl::InvalidArgumentError(absl::StrCat("checkpoint writer: duplicate or empty key '", key, "'"));
      }
      absl::StatusOr<std::string> storage_class = StorageClass(tensor.scalar_type());
      if (!storage_class.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("checkpoint writer: tensor '", key, "': ", storage_class.status().message()));
      }
      // Module paths: every dotted prefix of the key (the parameter name is the last part).
      for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
        const std::string path = key.substr(0, dot);
        if (module_seen.insert(path).second) module_paths.push_back(path);
      }
      const torch::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
      const std::string storage_key = std::to_string(storages.size());
      storages.emplace_back(static_cast<const char*>(data.data_ptr()), data.numel() * data.element_size());

      pickle.String(key);
      pickle.Global("torch._utils", "_rebuild_tensor_v2");
      pickle.Mark();
      // Persistent id ('storage', torch.<Type>Storage, key, location, numel).
      pickle.Mark();
      pickle.String("storage");
      pickle.Global("torch", *storage_class);
      pickle.String(storage_key);
      pickle.String("cpu");
      pickle.Int(data.numel());
      pickle.Tuple();
      pickle.PersistentId();
      pickle.Int(0);  // storage offset
      pickle.IntTuple(data.sizes());
      pickle.IntTuple(data.strides());
      pickle.False();  // requires_grad
      pickle.NewOrderedDict();  // backward hooks
      pickle.Tuple();
      pickle.Reduce();
    }
    pickle.SetItems();
    // state.__dict__ update {"_metadata": OrderedDict(path -> {"version": 1})}.
    pickle.EmptyDict();
    pickle.String("_metadata");
    pickle.NewOrderedDict();
    pickle.Mark();
    for (const std::string& path : module_paths) {
      pickle.String(path);
      pickle.EmptyDict();
      pickle.String("version");
      pickle.Int(1);
      pickle.SetItem();
    }
    pickle.SetItems();
    pickle.SetItem();
    pickle.Build();

    ZipWriter zip;
    zip.Add(root + "/data.pkl", pickle.Finish());
    // Storage records in name order, as torch writes them.
    std::vector<std::string> names;
    for (size_t i = 0; i < storages.size(); ++i) names.push_back(std::to_string(i));
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) zip.Add(root + "/data/" + name, storages[std::stoul(name)]);
    zip.Add(root + "/version", "3\n");
    return zip.Finish();
  });
}

absl::Status WriteTorchZip(const std::string& path, const NamedTensors& tensors) {
  const std::string root = std::filesystem::path(path).stem().string();
  absl::StatusOr<std::string> bytes = EncodeTorchZip(tensors, root.empty() ? "archive" : root);
  if (!bytes.ok()) return absl::Status(bytes.status().code(), absl::StrCat(path, ": ", bytes.status().message()));
  static std::atomic<int> writes{0};
  const std::string temporary = absl::StrCat(path, ".tmp", ::getpid(), "_", writes++);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      return absl::InternalError(absl::StrCat(path, ": cannot write checkpoint"));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot rename the temporary file into place"));
  }
  return absl::OkStatus();
}

}  // namespace rrm::checkpoint
