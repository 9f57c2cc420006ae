// An unpickler for the subset of the Python pickle format that torch.save
// emits (protocol 2, plus the few protocol 4 opcodes `pickle_protocol=4` adds).
//
// Internal to core/checkpoint. Like Python's pickle.Unpickler, it leaves the
// meaning of globals and persistent ids to the caller (the hooks); unlike it,
// it never calls anything the hooks did not agree to, and corrupt input gives
// an error, never a crash.
#ifndef RRM_CORE_CHECKPOINT_PICKLE_READER_H_
#define RRM_CORE_CHECKPOINT_PICKLE_READER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rrm::checkpoint::internal {

enum class PickleKind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kDict,
  kGlobal,
  kObject
};

// "tuple", "dict", ... for error messages.
absl::string_view PickleKindName(PickleKind kind);

// One unpickled value. Scalars are held inline; strings and containers live in
// a PickleArena that `slot` indexes, so values copy cheaply, a string fetched
// from the memo a million times is stored once, and the cycles a hostile
// pickle can build (a list appended to itself) are just indices.
struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  // kBool: 0 or 1. kInt: the value. kGlobal: the id find_class gave it.
  // kObject: whatever the hook that made it chose.
  int64_t integer = 0;
  double real = 0;  // kFloat
  size_t slot = 0;  // kString, kTuple, kList, kDict: index into the arena
};

// Owns the strings and containers that PickleValues point to.
class PickleArena {
 public:
  using Items = std::vector<PickleValue>;
  using Entries = std::vector<std::pair<PickleValue, PickleValue>>;

  PickleValue NewString(std::string text);
  // `kind` is kTuple or kList.
  PickleValue NewSequence(PickleKind kind, Items items);
  PickleValue NewDict();

  // Preconditions: the value has the matching kind and came from this arena.
  const std::string& String(const PickleValue& value) const { return strings_[value.slot]; }
  // kTuple or kList.
  const Items& ItemsOf(const PickleValue& value) const { return sequences_[value.slot]; }
  Items& MutableItemsOf(const PickleValue& value) { return sequences_[value.slot]; }
  // kDict, in insertion order; a key set twice appears twice.
  const Entries& EntriesOf(const PickleValue& value) const { return dicts_[value.slot]; }
  Entries& MutableEntriesOf(const PickleValue& value) { return dicts_[value.slot]; }

 private:
  std::vector<std::string> strings_;
  std::vector<Items> sequences_;
  std::vector<Entries> dicts_;
};

// What the caller decides, mirroring the methods of Python's pickle.Unpickler.
// A hook's error aborts unpickling; the reader appends the opcode's position.
struct PickleHooks {
  // GLOBAL / STACK_GLOBAL `module`.`name`: an id for the reduce hook, or an
  // error for anything the caller does not support.
  std::function<absl::StatusOr<int64_t>(absl::string_view module, absl::string_view name)>
      find_class;
  // BINPERSID with the persistent id `pid`.
  std::function<absl::StatusOr<PickleValue>(PickleArena& arena, const PickleValue& pid)>
      persistent_load;
  // REDUCE: calls the global `callable_id` with the tuple `args`.
  std::function<absl::StatusOr<PickleValue>(PickleArena& arena, int64_t callable_id,
                                            const PickleValue& args)>
      reduce;
};

// Runs the pickle in `bytes` to its STOP and returns the value it leaves.
// BUILD is accepted only on dicts and its state is dropped: torch.save uses it
// to attach `_metadata` to an OrderedDict state dict. INVALID_ARGUMENT for
// unknown opcodes ("unknown pickle opcode 0x99 at byte 57"), truncation,
// malformed stacks and anything the hooks reject.
absl::StatusOr<PickleValue> Unpickle(absl::string_view bytes, const PickleHooks& hooks,
                                     PickleArena& arena);

}  // namespace rrm::checkpoint::internal

#endif  // RRM_CORE_CHECKPOINT_PICKLE_READER_H_
