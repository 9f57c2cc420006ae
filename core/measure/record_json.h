// ExampleRecord <-> one line of JSON, in the proto3 JSON mapping of
// `rrm.v1.ExampleRecord` with the proto field names preserved (SPEC §4):
// every field is written (defaults too), uint64 `seed` is a JSON string,
// non-finite doubles are "NaN" / "Infinity" / "-Infinity", doubles are printed
// in their shortest round-trip form.
#ifndef RRM_CORE_MEASURE_RECORD_JSON_H_
#define RRM_CORE_MEASURE_RECORD_JSON_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/measure/record.h"

namespace rrm::measure {

// One line, no trailing newline.
std::string RecordToJson(const ExampleRecord& record);

// Parses one line in the proto3 JSON mapping of `rrm.v1.ExampleRecord`, as
// RecordToJson writes it and as protobuf's own printers do: field names as in
// the proto or in lowerCamelCase; integers as numbers or decimal strings;
// doubles as numbers, numeric strings or "NaN" / "Infinity" / "-Infinity";
// null or an absent field means the proto3 default (0, "", false, empty) —
// note: givens 0 and restart_kind "", not record.h's in-struct defaults.
// RecordFromJson(RecordToJson(r)) == r for every r.
// Errors (INVALID_ARGUMENT) name the field path, e.g.
// `field "segments[2].correct": expected true or false, found a string "yes"`:
// malformed JSON ("invalid JSON at byte <offset in the line>: ..."), a wrong
// type, an integer out of range, an unknown field, a field given twice.
absl::StatusOr<ExampleRecord> RecordFromJson(absl::string_view line);

// Reads a JSONL file (one record per line, as rrm-measure writes). Blank lines
// are skipped. Errors: NOT_FOUND when the file cannot be opened; otherwise the
// RecordFromJson error prefixed with "<path>:<line>: ".
absl::StatusOr<std::vector<ExampleRecord>> ReadRecordsJsonl(const std::string& path);

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_RECORD_JSON_H_
