// torch.save zip archives, format dispatch and key clean-up. The safetensors
// reader lives in safetensors.cc.
#include "core/checkpoint/state_dict.h"

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "core/checkpoint/checkpoint_io.h"
#include "core/checkpoint/pickle_reader.h"
#include "core/checkpoint/zip_archive.h"
#include "core/common/status.h"

namespace rrm::checkpoint {
namespace {

using internal::PickleArena;
using internal::PickleKind;
using internal::PickleKindName;
using internal::PickleValue;
using internal::ZipArchive;
using internal::ZipEntry;

// torch.save names a storage's dtype by its legacy typed-storage class, even
// in torch 2.x: ('storage', torch.FloatStorage, key, location, numel).
struct StorageType {
  absl::string_view class_name;
  torch::ScalarType dtype;
};
constexpr StorageType kSupportedStorageTypes[] = {
    {"FloatStorage", torch::kFloat32}, {"BFloat16Storage", torch::kBFloat16},
    {"HalfStorage", torch::kFloat16},  {"DoubleStorage", torch::kFloat64},
    {"LongStorage", torch::kInt64},    {"IntStorage", torch::kInt32},
    {"ByteStorage", torch::kUInt8},    {"BoolStorage", torch::kBool},
};

// Ids find_class hands out for the globals a state dict pickle uses. Every
// `torch.*Storage` class is accepted at GLOBAL time and gets
// kFirstStorageClass + i, so that an unsupported one is reported later
// together with the name of the tensor that needs it.
enum GlobalId : int64_t {
  kOrderedDict = 0,
  kRebuildTensorV2 = 1,
  kRebuildParameter = 2,
  kFirstStorageClass = 16,
};

// A persistent id: the storage record `<root>/data/<key>` holding `numel`
// elements of the type `class_name` names.
struct StorageRef {
  std::string class_name;
  std::string key;
  int64_t numel = 0;
};

// The arguments of torch._utils._rebuild_tensor_v2: a strided view of a storage.
struct TensorRef {
  size_t storage = 0;  // index into TorchZipLoader::objects_
  int64_t offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

// Unpickles `<root>/data.pkl` and builds the state dict it describes. Tensors
// are only recorded while unpickling and built afterwards, so that an error
// about one names the state-dict key it belongs to and storages nobody uses
// are never copied.
class TorchZipLoader {
 public:
  TorchZipLoader(const ZipArchive& archive, std::string root)
      : archive_(archive), root_(std::move(root)) {}

  // Errors name the problem but not the file; the caller adds it.
  absl::StatusOr<StateDict> Load(absl::string_view pickle) {
    internal::PickleHooks hooks;
    hooks.find_class = [this](absl::string_view module, absl::string_view name) {
      return FindClass(module, name);
    };
    hooks.persistent_load = [this](PickleArena& arena, const PickleValue& pid) {
      return PersistentLoad(arena, pid);
    };
    hooks.reduce = [this](PickleArena& arena, int64_t callable, const PickleValue& args) {
      return Reduce(arena, callable, args);
    };
    PickleArena arena;
    absl::StatusOr<PickleValue> top = internal::Unpickle(pickle, hooks, arena);
    if (!top.ok()) return internal::WithContext("data.pkl", top.status());
    if (top->kind != PickleKind::kDict) {
      return absl::InvalidArgumentError(
          absl::StrCat("data.pkl holds a ", PickleKindName(top->kind), ", not a dict of tensors"));
    }
    StateDict state_dict;
    for (const auto& [key, value] : arena.EntriesOf(*top)) {
      if (key.kind != PickleKind::kString) {
        return absl::InvalidArgumentError(absl::StrCat("data.pkl: state dict key is a ",
                                                       PickleKindName(key.kind), ", not a str"));
      }
      const std::string& name = arena.String(key);
      // Non-tensor values are refused rather than skipped: a state dict holds
      // only tensors, so anything else means this is not the file we expect.
      const TensorRef* tensor = value.kind == PickleKind::kObject
                                    ? std::get_if<TensorRef>(&objects_[value.integer])
                                    : nullptr;
      if (tensor == nullptr) {
        const absl::string_view kind =
            value.kind == PickleKind::kObject ? "storage" : PickleKindName(value.kind);
        return absl::InvalidArgumentError(
            absl::StrCat("value of key '", name, "' is a ", kind, ", not a tensor"));
      }
      absl::StatusOr<torch::Tensor> built = BuildTensor(*tensor);
      if (!built.ok())
        return internal::WithContext(absl::StrCat("tensor '", name, "'"), built.status());
      // Like Python's dict, a key set twice keeps its last value.
      state_dict[name] = *std::move(built);
    }
    return state_dict;
  }

 private:
  using Object = std::variant<StorageRef, TensorRef>;

  absl::StatusOr<int64_t> FindClass(absl::string_view module, absl::string_view name) {
    if (module == "collections" && name == "OrderedDict") return kOrderedDict;
    if (module == "torch._utils" && name == "_rebuild_tensor_v2") return kRebuildTensorV2;
    if (module == "torch._utils" && name == "_rebuild_parameter") return kRebuildParameter;
    if (module == "torch" && absl::EndsWith(name, "Storage")) {
      auto [it, inserted] = storage_class_ids_.emplace(
          std::string(name), kFirstStorageClass + storage_classes_.size());
      if (inserted) storage_classes_.emplace_back(name);
      return it->second;
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown global ", module, ".", name));
  }

  // ('storage', torch.<Type>Storage, key, location, numel); the location
  // (e.g. "cuda:0") is ignored since every tensor is loaded on the CPU.
  absl::StatusOr<PickleValue> PersistentLoad(const PickleArena& arena, const PickleValue& pid) {
    const PickleArena::Items* items =
        pid.kind == PickleKind::kTuple ? &arena.ItemsOf(pid) : nullptr;
    if (items == nullptr || items->size() != 5 || (*items)[0].kind != PickleKind::kString ||
        arena.String((*items)[0]) != "storage" || (*items)[1].kind != PickleKind::kGlobal ||
        (*items)[1].integer < kFirstStorageClass || (*items)[2].kind != PickleKind::kString ||
        (*items)[3].kind != PickleKind::kString || (*items)[4].kind != PickleKind::kInt ||
        (*items)[4].integer < 0) {
      return absl::InvalidArgumentError(
          "persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
    }
    StorageRef storage;
    storage.class_name = storage_classes_[(*items)[1].integer - kFirstStorageClass];
    storage.key = arena.String((*items)[2]);
    storage.numel = (*items)[4].integer;
    return NewObject(std::move(storage));
  }

  absl::StatusOr<PickleValue> Reduce(PickleArena& arena, int64_t callable,
                                     const PickleValue& args) {
    const PickleArena::Items& items = arena.ItemsOf(args);
    switch (callable) {
      case kOrderedDict:
        if (!items.empty()) {
          return absl::InvalidArgumentError("OrderedDict called with arguments");
        }
        return arena.NewDict();
      case kRebuildTensorV2: return RebuildTensor(arena, items);
      case kRebuildParameter:
        // _rebuild_parameter(data, requires_grad, backward_hooks): the data is the tensor.
        if (items.size() != 3 || !IsTensor(items[0])) {
          return absl::InvalidArgumentError(
              "_rebuild_parameter expects (tensor, requires_grad, backward_hooks)");
        }
        return items[0];
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "torch.", storage_classes_[callable - kFirstStorageClass], " is not callable"));
    }
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  // backward_hooks[, metadata]); torch 2.x appends metadata only for tensors
  // carrying Python-side state, which does not change the data.
  absl::StatusOr<PickleValue> RebuildTensor(const PickleArena& arena,
                                            const PickleArena::Items& items) {
    if (items.size() != 6 && items.size() != 7) {
      return absl::InvalidArgumentError(
          absl::StrCat("_rebuild_tensor_v2 expects 6 or 7 arguments, got ", items.size()));
    }
    if (items[0].kind != PickleKind::kObject ||
        !std::holds_alternative<StorageRef>(objects_[items[0].integer])) {
      return absl::InvalidArgumentError("_rebuild_tensor_v2: first argument is not a storage");
    }
    if (items[1].kind != PickleKind::kInt) {
      return absl::InvalidArgumentError("_rebuild_tensor_v2: storage offset is not an int");
    }
    TensorRef tensor;
    tensor.storage = static_cast<size_t>(items[0].integer);
    tensor.offset = items[1].integer;
    RRM_ASSIGN_OR_RETURN(tensor.sizes, IntTuple(arena, items[2], "size"));
    RRM_ASSIGN_OR_RETURN(tensor.strides, IntTuple(arena, items[3], "stride"));
    return NewObject(std::move(tensor));
  }

  static absl::StatusOr<std::vector<int64_t>> IntTuple(const PickleArena& arena,
                                                       const PickleValue& value,
                                                       absl::string_view what) {
    std::vector<int64_t> ints;
    if (value.kind == PickleKind::kTuple) {
      for (const PickleValue& item : arena.ItemsOf(value)) {
        if (item.kind != PickleKind::kInt) break;
        ints.push_back(item.integer);
      }
      if (ints.size() == arena.ItemsOf(value).size()) return ints;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("_rebuild_tensor_v2: ", what, " is not a tuple of ints"));
  }

  PickleValue NewObject(Object object) {
    objects_.push_back(std::move(object));
    return PickleValue{PickleKind::kObject, static_cast<int64_t>(objects_.size() - 1)};
  }

  bool IsTensor(const PickleValue& value) const {
    return value.kind == PickleKind::kObject &&
           std::holds_alternative<TensorRef>(objects_[value.integer]);
  }

  // The view `ref` describes, over its storage (which it shares with every
  // other tensor on the same storage).
  absl::StatusOr<torch::Tensor> BuildTensor(const TensorRef& ref) {
    RRM_ASSIGN_OR_RETURN(torch::Tensor storage,
                         LoadStorage(std::get<StorageRef>(objects_[ref.storage])));
    if (ref.sizes.size() != ref.strides.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "size has ", ref.sizes.size(), " dimensions but stride has ", ref.strides.size()));
    }
    RRM_ASSIGN_OR_RETURN(const int64_t numel, internal::CheckedNumel(ref.sizes));
    const int64_t storage_numel = storage.numel();
    if (ref.offset < 0 || ref.offset > storage_numel) {
      return absl::InvalidArgumentError(absl::StrCat(
          "storage offset ", ref.offset, " outside storage of ", storage_numel, " elements"));
    }
    // The last element the view touches must lie inside the storage.
    int64_t last = ref.offset;
    for (size_t i = 0; i < ref.sizes.size(); ++i) {
      int64_t step = 0;
      if (ref.strides[i] < 0) {
        return absl::InvalidArgumentError(absl::StrCat("negative stride ", ref.strides[i]));
      }
      if (numel > 0 && (__builtin_mul_overflow(ref.sizes[i] - 1, ref.strides[i], &step) ||
                        __builtin_add_overflow(last, step, &last))) {
        return absl::InvalidArgumentError("view extent overflows int64");
      }
    }
    if (numel > 0 && last >= storage_numel) {
      return absl::InvalidArgumentError(
          absl::StrCat("view (offset ", ref.offset, ", size [", absl::StrJoin(ref.sizes, ", "),
                       "], stride [", absl::StrJoin(ref.strides, ", "), "]) reaches element ", last,
                       " of a storage of ", storage_numel, " elements"));
    }
    return RunTorch("building a tensor view", [&]() -> absl::StatusOr<torch::Tensor> {
      return storage.as_strided(ref.sizes, ref.strides, ref.offset);
    });
  }

  // The storage's elements as a 1-D tensor, read once per key.
  absl::StatusOr<torch::Tensor> LoadStorage(const StorageRef& ref) {
    const StorageType* type = nullptr;
    for (const StorageType& candidate : kSupportedStorageTypes) {
      if (candidate.class_name == ref.class_name) type = &candidate;
    }
    if (type == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unsupported storage type torch.",
                                                     ref.class_name, " (storage ", ref.key, ")"));
    }
    if (auto it = loaded_storages_.find(ref.key); it != loaded_storages_.end()) {
      const torch::Tensor& storage = it->second;
      if (storage.scalar_type() != type->dtype || storage.numel() != ref.numel) {
        return absl::InvalidArgumentError(absl::StrCat(
            "storage ", ref.key, " is used as ", ref.numel, " x torch.", ref.class_name, " and as ",
            storage.numel(), " x ", c10::toString(storage.scalar_type())));
      }
      return storage;
    }
    const std::string record = absl::StrCat(root_, "/data/", ref.key);
    const ZipEntry* entry = archive_.Find(record);
    if (entry == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("storage record '", record, "' is missing"));
    }
    absl::StatusOr<torch::Tensor> storage =
        internal::TensorFromBytes(entry->data, type->dtype, {ref.numel});
    if (!storage.ok()) {
      return internal::WithContext(absl::StrCat("storage record '", record, "' (", ref.numel,
                                                " x torch.", ref.class_name, ")"),
                                   storage.status());
    }
    loaded_storages_.emplace(ref.key, *storage);
    return *storage;
  }

  const ZipArchive& archive_;
  const std::string root_;
  std::vector<std::string> storage_classes_;
  absl::flat_hash_map<std::string, int64_t> storage_class_ids_;
  std::vector<Object> objects_;  // PickleValue kObject: integer indexes this
  absl::flat_hash_map<std::string, torch::Tensor> loaded_storages_;
};

// The folder holding data.pkl: "archive" for torch.save to a buffer, the file's
// own name (e.g. "step_7") for torch.save to a path.
absl::StatusOr<std::string> FindRoot(const ZipArchive& archive) {
  std::vector<std::string> roots;
  for (const ZipEntry& entry : archive.entries()) {
    absl::string_view name = entry.name;
    if (absl::ConsumeSuffix(&name, "/data.pkl") && !name.empty() &&
        name.find('/') == absl::string_view::npos) {
      roots.emplace_back(name);
    }
  }
  if (roots.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(roots.empty() ? "no" : "more than one",
                     " <root>/data.pkl entry; not a torch.save archive"));
  }
  return roots.front();
}

// What the start of an unrecognised file looks like, for error messages.
std::string DescribeStart(absl::string_view bytes) {
  if (bytes.empty()) return "the file is empty";
  std::string description = absl::StrCat("first bytes ", internal::FirstBytesForMessage(bytes));
  // torch < 1.6, or torch.save(..., _use_new_zipfile_serialization=False),
  // writes a bare pickle stream, which starts with PROTO 2.
  if (absl::StartsWith(bytes, "\x80\x02")) {
    absl::StrAppend(&description,
                    "; this looks like the legacy torch.save format: re-save it with the "
                    "default torch.save of torch >= 1.6");
  }
  return description;
}

absl::StatusOr<StateDict> ReadTorchZipUnnamed(absl::string_view bytes) {
  // "PK" and not the full local-header magic: an archive with no entries
  // starts with its end record, and deserves "no data.pkl" more than "not a zip".
  if (!absl::StartsWith(bytes, "PK")) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a zip archive (", DescribeStart(bytes), ")"));
  }
  RRM_ASSIGN_OR_RETURN(const ZipArchive archive, ZipArchive::Parse(bytes));
  RRM_ASSIGN_OR_RETURN(const std::string root, FindRoot(archive));
  // torch >= 2.1 records the writer's byte order; older files are little-endian.
  if (const ZipEntry* byteorder = archive.Find(absl::StrCat(root, "/byteorder"));
      byteorder != nullptr && byteorder->data != "little") {
    return absl::InvalidArgumentError(
        absl::StrCat("byte order '", byteorder->data, "' is not supported, only 'little'"));
  }
  const ZipEntry* pickle = archive.Find(absl::StrCat(root, "/data.pkl"));
  return TorchZipLoader(archive, root).Load(pickle->data);
}

}  // namespace

absl::StatusOr<StateDict> ReadTorchZipBytes(std::string_view bytes, const std::string& name) {
  const absl::string_view view(bytes.data(), bytes.size());
  // RunTorch also turns a stray std::bad_alloc into a status.
  absl::StatusOr<StateDict> state_dict =
      RunTorch("reading", [&] { return ReadTorchZipUnnamed(view); });
  if (!state_dict.ok()) return internal::WithContext(name, state_dict.status());
  return state_dict;
}

absl::StatusOr<StateDict> ReadTorchZip(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(const std::string bytes, internal::ReadFileBytes(path));
  return ReadTorchZipBytes(bytes, path);
}

absl::StatusOr<StateDict> ReadStateDict(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(const std::string bytes, internal::ReadFileBytes(path));
  // A safetensors file starts with its 8-byte header length, then '{'.
  if (bytes.size() > 8 && bytes[8] == '{' && !absl::StartsWith(bytes, "PK")) {
    return ReadSafetensorsBytes(bytes, path);
  }
  if (absl::StartsWith(bytes, "PK")) return ReadTorchZipBytes(bytes, path);
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": neither a torch.save zip archive nor a safetensors file (",
                   DescribeStart(bytes), ")"));
}

absl::StatusOr<StateDict> StripWrapperPrefixes(StateDict state_dict) {
  StateDict stripped;
  absl::flat_hash_map<std::string, std::string> original_of;
  for (auto& [key, tensor] : state_dict) {
    absl::string_view name = key;
    absl::ConsumePrefix(&name, "_orig_mod.");
    absl::ConsumePrefix(&name, "model.");
    auto [it, inserted] = original_of.emplace(std::string(name), key);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("keys '", it->second, "' and '", key,
                                                     "' both become '", name,
                                                     "' without wrapper prefixes"));
    }
    stripped.emplace(std::string(name), std::move(tensor));
  }
  return stripped;
}

}  // namespace rrm::checkpoint
