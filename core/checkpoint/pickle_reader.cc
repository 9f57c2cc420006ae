#include "core/checkpoint/pickle_reader.h"

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/status.h"

namespace rrm::checkpoint::internal {
namespace {

// Opcode bytes, named as in Python's pickletools.
enum Opcode : unsigned char {
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kBinFloat = 'G',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinUnicode = 'X',
  kEmptyList = ']',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kSetItems = 'u',
  kEmptyDict = '}',
  kEmptyTuple = ')',
  kProto = 0x80,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

constexpr int kHighestProtocol = 5;

// Executes one pickle; see Unpickle.
class Unpickler {
 public:
  Unpickler(absl::string_view bytes, const PickleHooks& hooks, PickleArena& arena)
      : bytes_(bytes), hooks_(hooks), arena_(arena) {}

  absl::StatusOr<PickleValue> Run() {
    while (true) {
      opcode_pos_ = pos_;
      if (pos_ >= bytes_.size()) return Error("truncated: no STOP opcode before the end");
      const unsigned char opcode = bytes_[pos_++];
      if (opcode == kStop) {
        if (stack_.empty()) return Error("STOP with an empty stack");
        return stack_.back();
      }
      RRM_RETURN_IF_ERROR(Execute(opcode));
    }
  }

 private:
  absl::Status Execute(unsigned char opcode) {
    switch (opcode) {
      case kProto: {
        RRM_ASSIGN_OR_RETURN(const uint64_t protocol, ReadUnsigned(1));
        if (protocol > kHighestProtocol) {
          return Error(absl::StrCat("unsupported pickle protocol ", protocol));
        }
        return absl::OkStatus();
      }
      case kFrame:  // Frames only help streaming readers; the whole pickle is in memory.
        return ReadUnsigned(8).status();
      case kMark: marks_.push_back(stack_.size()); return absl::OkStatus();
      case kPop: RRM_RETURN_IF_ERROR(Pop().status()); return absl::OkStatus();
      case kPopMark: RRM_RETURN_IF_ERROR(PopToMark().status()); return absl::OkStatus();
      case kDup: {
        RRM_ASSIGN_OR_RETURN(const PickleValue* top, Top());
        stack_.push_back(*top);
        return absl::OkStatus();
      }
      case kNone: stack_.push_back(PickleValue{}); return absl::OkStatus();
      case kNewTrue:
      case kNewFalse:
        stack_.push_back(PickleValue{PickleKind::kBool, opcode == kNewTrue ? 1 : 0});
        return absl::OkStatus();
      case kBinInt1:
      case kBinInt2: {
        RRM_ASSIGN_OR_RETURN(const uint64_t value, ReadUnsigned(opcode == kBinInt1 ? 1 : 2));
        return PushInt(static_cast<int64_t>(value));
      }
      case kBinInt: {
        RRM_ASSIGN_OR_RETURN(const int64_t value, ReadSigned(4));
        return PushInt(value);
      }
      case kLong1:
      case kLong4: {
        RRM_ASSIGN_OR_RETURN(const uint64_t width, ReadUnsigned(opcode == kLong1 ? 1 : 4));
        if (width > 8) return Error(absl::StrCat(width, "-byte integer does not fit 64 bits"));
        RRM_ASSIGN_OR_RETURN(const int64_t value, ReadSigned(static_cast<int>(width)));
        return PushInt(value);
      }
      case kBinFloat: {
        // The only big-endian field in the format.
        RRM_ASSIGN_OR_RETURN(const absl::string_view raw, ReadBytes(8));
        uint64_t bits = 0;
        for (unsigned char byte : raw) bits = (bits << 8) | byte;
        PickleValue value{PickleKind::kFloat};
        std::memcpy(&value.real, &bits, sizeof(bits));
        stack_.push_back(value);
        return absl::OkStatus();
      }
      case kShortBinUnicode:
      case kBinUnicode:
      case kBinUnicode8: {
        const int width = opcode == kShortBinUnicode ? 1 : opcode == kBinUnicode ? 4 : 8;
        RRM_ASSIGN_OR_RETURN(const uint64_t size, ReadUnsigned(width));
        RRM_ASSIGN_OR_RETURN(const absl::string_view text, ReadBytes(size));
        stack_.push_back(arena_.NewString(std::string(text)));
        return absl::OkStatus();
      }
      case kEmptyTuple:
        stack_.push_back(arena_.NewSequence(PickleKind::kTuple, {}));
        return absl::OkStatus();
      case kEmptyList:
        stack_.push_back(arena_.NewSequence(PickleKind::kList, {}));
        return absl::OkStatus();
      case kEmptyDict: stack_.push_back(arena_.NewDict()); return absl::OkStatus();
      case kTuple: {
        RRM_ASSIGN_OR_RETURN(PickleArena::Items items, PopToMark());
        stack_.push_back(arena_.NewSequence(PickleKind::kTuple, std::move(items)));
        return absl::OkStatus();
      }
      case kTuple1:
      case kTuple2:
      case kTuple3: return PushTupleOfTop(opcode - kTuple1 + 1);
      case kAppend:
      case kAppends: return Append(opcode == kAppends);
      case kSetItem:
      case kSetItems: return SetItems(opcode == kSetItems);
      case kBinPut:
      case kLongBinPut: {
        RRM_ASSIGN_OR_RETURN(const uint64_t index, ReadUnsigned(opcode == kBinPut ? 1 : 4));
        return Memoize(index);
      }
      case kMemoize: return Memoize(memo_.size());
      case kBinGet:
      case kLongBinGet: {
        RRM_ASSIGN_OR_RETURN(const uint64_t index, ReadUnsigned(opcode == kBinGet ? 1 : 4));
        auto it = memo_.find(index);
        if (it == memo_.end()) return Error(absl::StrCat("memo index ", index, " was never set"));
        stack_.push_back(it->second);
        return absl::OkStatus();
      }
      case kGlobal: {
        RRM_ASSIGN_OR_RETURN(const absl::string_view module, ReadLine());
        RRM_ASSIGN_OR_RETURN(const absl::string_view name, ReadLine());
        return PushGlobal(module, name);
      }
      case kStackGlobal: {
        RRM_ASSIGN_OR_RETURN(const PickleValue name, Pop());
        RRM_ASSIGN_OR_RETURN(const PickleValue module, Pop());
        if (name.kind != PickleKind::kString || module.kind != PickleKind::kString) {
          return Error("STACK_GLOBAL needs two strings");
        }
        return PushGlobal(arena_.String(module), arena_.String(name));
      }
      case kBinPersId: {
        RRM_ASSIGN_OR_RETURN(const PickleValue pid, Pop());
        if (!hooks_.persistent_load) return Error("persistent ids are not supported");
        return PushFromHook(hooks_.persistent_load(arena_, pid));
      }
      case kReduce: {
        RRM_ASSIGN_OR_RETURN(const PickleValue args, Pop());
        RRM_ASSIGN_OR_RETURN(const PickleValue callable, Pop());
        if (callable.kind != PickleKind::kGlobal) {
          return Error(
              absl::StrCat("REDUCE calls a ", PickleKindName(callable.kind), ", not a global"));
        }
        if (args.kind != PickleKind::kTuple) {
          return Error(
              absl::StrCat("REDUCE arguments are a ", PickleKindName(args.kind), ", not a tuple"));
        }
        if (!hooks_.reduce) return Error("REDUCE is not supported");
        return PushFromHook(hooks_.reduce(arena_, callable.integer, args));
      }
      case kBuild: {
        RRM_ASSIGN_OR_RETURN(const PickleValue state, Pop());
        RRM_ASSIGN_OR_RETURN(const PickleValue* target, Top());
        if (target->kind != PickleKind::kDict) {
          return Error(absl::StrCat("BUILD on a ", PickleKindName(target->kind),
                                    " is not supported (only dict attributes are)"));
        }
        (void)state;  // attributes of a dict subclass, e.g. an OrderedDict's `_metadata`
        return absl::OkStatus();
      }
      default: return Error(absl::StrFormat("unknown pickle opcode 0x%02x", opcode));
    }
  }

  // An INVALID_ARGUMENT error located at the current opcode.
  absl::Status Error(absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(problem, " at byte ", opcode_pos_));
  }

  absl::StatusOr<absl::string_view> ReadBytes(uint64_t size) {
    if (size > bytes_.size() - pos_) {
      return Error(absl::StrCat("truncated: ", size, "-byte argument runs past the end (",
                                bytes_.size(), " bytes)"));
    }
    absl::string_view result = bytes_.substr(pos_, size);
    pos_ += size;
    return result;
  }

  absl::StatusOr<uint64_t> ReadUnsigned(int width) {
    RRM_ASSIGN_OR_RETURN(const absl::string_view raw, ReadBytes(width));
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(raw[i]);
    return value;
  }

  // A little-endian two's-complement integer of 0 to 8 bytes.
  absl::StatusOr<int64_t> ReadSigned(int width) {
    RRM_ASSIGN_OR_RETURN(const uint64_t value, ReadUnsigned(width));
    if (width == 0 || width == 8) return static_cast<int64_t>(value);
    const uint64_t sign_bit = uint64_t{1} << (8 * width - 1);
    return static_cast<int64_t>((value ^ sign_bit) - sign_bit);
  }

  // A newline-terminated argument of the text opcode GLOBAL.
  absl::StatusOr<absl::string_view> ReadLine() {
    const size_t end = bytes_.find('\n', pos_);
    if (end == absl::string_view::npos) return Error("truncated: GLOBAL name has no newline");
    absl::string_view line = bytes_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  absl::StatusOr<PickleValue> Pop() {
    if (stack_.size() <= CurrentMarkFloor()) return Error("stack underflow");
    PickleValue value = stack_.back();
    stack_.pop_back();
    return value;
  }

  absl::StatusOr<const PickleValue*> Top() const {
    if (stack_.size() <= CurrentMarkFloor()) return Error("stack underflow");
    return &stack_.back();
  }

  // Values above the innermost MARK belong to it; plain pops must not reach below.
  size_t CurrentMarkFloor() const { return marks_.empty() ? 0 : marks_.back(); }

  // Removes the innermost MARK and returns the values pushed since, oldest first.
  absl::StatusOr<PickleArena::Items> PopToMark() {
    if (marks_.empty()) return Error("no MARK to pop to");
    const size_t mark = marks_.back();
    marks_.pop_back();
    PickleArena::Items items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }

  absl::Status PushInt(int64_t value) {
    stack_.push_back(PickleValue{PickleKind::kInt, value});
    return absl::OkStatus();
  }

  absl::Status PushTupleOfTop(size_t count) {
    if (stack_.size() < CurrentMarkFloor() + count) return Error("stack underflow");
    PickleArena::Items items(stack_.end() - count, stack_.end());
    stack_.resize(stack_.size() - count);
    stack_.push_back(arena_.NewSequence(PickleKind::kTuple, std::move(items)));
    return absl::OkStatus();
  }

  absl::Status PushGlobal(absl::string_view module, absl::string_view name) {
    if (!hooks_.find_class) return Error("globals are not supported");
    absl::StatusOr<int64_t> id = hooks_.find_class(module, name);
    if (!id.ok()) return Error(id.status().message());
    stack_.push_back(PickleValue{PickleKind::kGlobal, *id});
    return absl::OkStatus();
  }

  absl::Status PushFromHook(absl::StatusOr<PickleValue> value) {
    if (!value.ok()) return Error(value.status().message());
    stack_.push_back(*value);
    return absl::OkStatus();
  }

  absl::Status Memoize(uint64_t index) {
    RRM_ASSIGN_OR_RETURN(const PickleValue* top, Top());
    memo_[index] = *top;
    return absl::OkStatus();
  }

  // APPEND (one value) or APPENDS (all values since the MARK) onto a list.
  absl::Status Append(bool from_mark) {
    PickleArena::Items items;
    if (from_mark) {
      RRM_ASSIGN_OR_RETURN(items, PopToMark());
    } else {
      RRM_ASSIGN_OR_RETURN(PickleValue item, Pop());
      items.push_back(item);
    }
    RRM_ASSIGN_OR_RETURN(const PickleValue* list, Top());
    if (list->kind != PickleKind::kList) {
      return Error(absl::StrCat("APPEND to a ", PickleKindName(list->kind), ", not a list"));
    }
    PickleArena::Items& target = arena_.MutableItemsOf(*list);
    target.insert(target.end(), items.begin(), items.end());
    return absl::OkStatus();
  }

  // SETITEM (one key and value) or SETITEMS (all pairs since the MARK) into a dict.
  absl::Status SetItems(bool from_mark) {
    PickleArena::Items items;
    if (from_mark) {
      RRM_ASSIGN_OR_RETURN(items, PopToMark());
      if (items.size() % 2 != 0) return Error("SETITEMS with an odd number of values");
    } else {
      RRM_ASSIGN_OR_RETURN(PickleValue value, Pop());
      RRM_ASSIGN_OR_RETURN(PickleValue key, Pop());
      items = {key, value};
    }
    RRM_ASSIGN_OR_RETURN(const PickleValue* dict, Top());
    if (dict->kind != PickleKind::kDict) {
      return Error(absl::StrCat("SETITEM on a ", PickleKindName(dict->kind), ", not a dict"));
    }
    PickleArena::Entries& entries = arena_.MutableEntriesOf(*dict);
    for (size_t i = 0; i < items.size(); i += 2) entries.emplace_back(items[i], items[i + 1]);
    return absl::OkStatus();
  }

  const absl::string_view bytes_;
  const PickleHooks& hooks_;
  PickleArena& arena_;
  size_t pos_ = 0;
  size_t opcode_pos_ = 0;
  std::vector<PickleValue> stack_;
  std::vector<size_t> marks_;  // stack sizes at each open MARK
  absl::flat_hash_map<uint64_t, PickleValue> memo_;
};

}  // namespace

absl::string_view PickleKindName(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone: return "None";
    case PickleKind::kBool: return "bool";
    case PickleKind::kInt: return "int";
    case PickleKind::kFloat: return "float";
    case PickleKind::kString: return "str";
    case PickleKind::kTuple: return "tuple";
    case PickleKind::kList: return "list";
    case PickleKind::kDict: return "dict";
    case PickleKind::kGlobal: return "global";
    case PickleKind::kObject: return "object";
  }
  return "unknown";
}

PickleValue PickleArena::NewString(std::string text) {
  strings_.push_back(std::move(text));
  PickleValue value{PickleKind::kString};
  value.slot = strings_.size() - 1;
  return value;
}

PickleValue PickleArena::NewSequence(PickleKind kind, Items items) {
  sequences_.push_back(std::move(items));
  PickleValue value{kind};
  value.slot = sequences_.size() - 1;
  return value;
}

PickleValue PickleArena::NewDict() {
  dicts_.emplace_back();
  PickleValue value{PickleKind::kDict};
  value.slot = dicts_.size() - 1;
  return value;
}

absl::StatusOr<PickleValue> Unpickle(absl::string_view bytes, const PickleHooks& hooks,
                                     PickleArena& arena) {
  return Unpickler(bytes, hooks, arena).Run();
}

}  // namespace rrm::checkpoint::internal
