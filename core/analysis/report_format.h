// The two renderings of an analysis Report that clients show: JSON for
// programs and a plain-text table for people (rrmctl report, the Python
// client). Field names and their meaning: docs/analysis.md.
#ifndef RRM_CORE_ANALYSIS_REPORT_FORMAT_H_
#define RRM_CORE_ANALYSIS_REPORT_FORMAT_H_

#include <string>

#include "core/analysis/analysis.h"

namespace rrm::analysis {

// One JSON object, no trailing newline, opening with "claims" (SPEC §6).
// Every struct member appears under its C++ name (snake_case), in declaration
// order, always (absent values too). Doubles that are NaN (absent) or
// infinite are written as the strings "NaN", "Infinity", "-Infinity" (the
// proto3 JSON convention records use), except in "claims", where an absent
// number is null; uint64 `seed` is a string; unset optionals are null. The
// names are stable: a client may rely on them.
std::string ReportToJson(const Report& report);

// A plain-text report a researcher can paste, opening with the SPEC §6 claims
// table: then counts and population, the decomposition 2×2 table with counts
// and shares (Wilson intervals), medians and quartiles, AUC lines (auc_raw in
// the stated direction with its CI, the folded value beside it), matched and
// plain AUCs with their per-bin rows, early window, halting, and the restart
// and pruning tables with their paired comparisons. Absent numbers print as
// "n/a" with the reason. Ends with a newline.
std::string FormatReportTable(const Report& report);

}  // namespace rrm::analysis

#endif  // RRM_CORE_ANALYSIS_REPORT_FORMAT_H_
