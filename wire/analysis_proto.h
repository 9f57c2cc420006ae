// The analysis report (core/analysis) on the wire: request parameters into
// the core's AnalysisParameters, and a Report into the AnalyzeResponse's key
// fields plus its two renderings (ReportToJson, FormatReportTable), so the
// Analyze RPC and `rrmctl report --records` (offline) give identical output.
// Part of the small library rrm_wire (wire/CMakeLists.txt), which the C++
// client links too.
//
// Thread safety: pure functions.
#ifndef RRM_WIRE_ANALYSIS_PROTO_H_
#define RRM_WIRE_ANALYSIS_PROTO_H_

#include "absl/status/statusor.h"
#include "core/analysis/analysis.h"
#include "rrm/v1/dynamics.pb.h"

namespace rrm::wire {

// Unset / 0 fields take the core's defaults. INVALID_ARGUMENT naming
// `parameters.<field>`, the expected and the found value for a value the core
// would refuse (e.g. negative bootstrap, a non-finite tau).
absl::StatusOr<analysis::AnalysisParameters> AnalysisParametersFromProto(const v1::AnalysisParameters& parameters);

// Fills report_json, table, the counts, the decomposition, tau, the AUCs and
// the SPEC §6 claims;
// job_id, job_state, complete and note are left to the caller.
v1::AnalyzeResponse ReportToProto(const analysis::Report& report);

}  // namespace rrm::wire

#endif  // RRM_WIRE_ANALYSIS_PROTO_H_
