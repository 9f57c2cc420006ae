// ExampleRecord <-> one line of JSON, in the proto3 JSON mapping of
// `rrm.v1.ExampleRecord` with the proto field names preserved (SPEC §4):
// every field is written (defaults too), uint64 `seed` is a JSON string,
// non-finite doubles are "NaN" / "Infinity" / "-Infinity", doubles are printed
// in their shortest round-trip form.
#ifndef RRM_CORE_MEASURE_RECORD_JSON_H_
#define RRM_CORE_MEASURE_RECORD_JSON_H_

#include <string>

#include "core/measure/record.h"

namespace rrm::measure {

// One line, no trailing newline.
std::string RecordToJson(const ExampleRecord& record);

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_RECORD_JSON_H_
