// The SPEC §6 claims table: what the reference paper reported, next to what
// these records measure, with a verdict. Computed from a Report alone, so
// every rendering (table, JSON, AnalyzeResponse) shows the same rows.
#ifndef RRM_CORE_ANALYSIS_CLAIMS_H_
#define RRM_CORE_ANALYSIS_CLAIMS_H_

#include <vector>

#include "core/analysis/analysis.h"

namespace rrm::analysis {

// One row per claim, in SPEC §6's order: accuracy, failures_settled,
// least_mobile_failure, median_lambda_1, auc_lambda_1, matched_auc_deciles,
// auc_within_givens, early_window, halting. The paper value is chosen by
// report.population.model_family where SPEC gives one per family; the
// verdict rule is Claim's (analysis.h) and docs/analysis.md's.
std::vector<Claim> Claims(const Report& report);

}  // namespace rrm::analysis

#endif  // RRM_CORE_ANALYSIS_CLAIMS_H_
