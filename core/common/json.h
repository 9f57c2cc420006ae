// The one JSON reader of the core: RFC 8259 text into a small tree, for the
// safetensors header, dataset.json and the JSONL records. (Writing is
// json_text.h.)
//
// Strict by default: no leading zeros, no control characters or unknown
// escapes in strings, \u escapes combined into UTF-8 (surrogate pairs joined,
// a lone surrogate refused), nothing after the value but whitespace. The only
// extension, off unless asked for, is Python json.dump's NaN / Infinity /
// -Infinity. Errors are INVALID_ARGUMENT,
//   "<source>: invalid JSON at byte <offset>: <problem>"
// with the 0-based byte offset of the problem in `text` (no "<source>: "
// when the source is empty).
#ifndef RRM_CORE_COMMON_JSON_H_
#define RRM_CORE_COMMON_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rrm {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;  // kBool
  // kNumber: the nearest double (±infinity beyond its range, ±0 below it;
  // NaN / ±infinity for the special literals) ...
  double number = 0;
  // ... and the exact value when the literal is an integer (no fraction or
  // exponent) that fits int64.
  std::optional<int64_t> integer;
  std::string text;              // kString: the decoded UTF-8; kNumber: the literal as written
  std::vector<JsonValue> items;  // kArray
  std::vector<std::pair<std::string, JsonValue>> members;  // kObject, in file order, repeats kept

  // The first member named `key` of an object; nullptr if none (or not an object).
  const JsonValue* Find(absl::string_view key) const;
};

struct JsonOptions {
  // Arrays and objects nested deeper than this are an error ("[]" is depth 1);
  // it also bounds the parser's recursion.
  int max_depth = 64;
  // Accept the bare literals NaN, Infinity and -Infinity as numbers.
  bool allow_nonfinite = false;
};

// Parses `text`, which must hold exactly one JSON value (whitespace around it
// allowed). `source` names the text in errors: a file name, "safetensors header".
absl::StatusOr<JsonValue> ParseJson(absl::string_view text, absl::string_view source,
                                    const JsonOptions& options = {});

}  // namespace rrm

#endif  // RRM_CORE_COMMON_JSON_H_
