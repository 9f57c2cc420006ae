// The one conversion from the core's record (core/measure/record.h) to the
// wire message rrm.v1.ExampleRecord (SPEC §4). Field for field; no defaults
// are invented here.
//
// Thread safety: a pure function.
#ifndef RRM_SERVER_RECORD_PROTO_H_
#define RRM_SERVER_RECORD_PROTO_H_

#include "core/measure/record.h"
#include "rrm/v1/dynamics.pb.h"

namespace rrm::server {

v1::ExampleRecord RecordToProto(const measure::ExampleRecord& record);

}  // namespace rrm::server

#endif  // RRM_SERVER_RECORD_PROTO_H_
