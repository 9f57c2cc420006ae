// The one conversion between the core's record (core/measure/record.h) and
// the wire message rrm.v1.ExampleRecord (SPEC §4), both ways. Field for field;
// no defaults are invented here. Also linked by the C++ client (rrmctl), as
// the small library rrm_wire (wire/CMakeLists.txt).
//
// Thread safety: a pure function.
#ifndef RRM_WIRE_RECORD_PROTO_H_
#define RRM_WIRE_RECORD_PROTO_H_

#include "core/measure/record.h"
#include "rrm/v1/dynamics.pb.h"

namespace rrm::wire {

v1::ExampleRecord RecordToProto(const measure::ExampleRecord& record);

// The inverse: RecordFromProto(RecordToProto(r)) == r for every r. Used where
// the core reads wire records (the Analyze RPC, rrmctl's JSONL and report).
measure::ExampleRecord RecordFromProto(const v1::ExampleRecord& record);

}  // namespace rrm::wire

#endif  // RRM_WIRE_RECORD_PROTO_H_
