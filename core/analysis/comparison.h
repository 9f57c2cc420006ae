// Several analyses side by side (issue 16): the SPEC §6 claims table with one
// column per model, the decomposition shares, the AUCs with their intervals,
// the matched and early-window AUCs, halting and the restart curves, as one
// plain-text table (rrmctl report JOB_A JOB_B ...). Each column is a Report
// computed by Analyze() on one job's records; the caller names the columns
// (model name, or model and job id) and says whether the jobs' puzzle sets
// agree. The Python client's rrmdyn.compare builds the same rows from the
// report JSON.
//
// Thread-safety: a pure function of its arguments.
#ifndef RRM_CORE_ANALYSIS_COMPARISON_H_
#define RRM_CORE_ANALYSIS_COMPARISON_H_

#include <string>
#include <utility>
#include <vector>

#include "core/analysis/analysis.h"
#include "core/measure/record.h"

namespace rrm::analysis {

// One row per quantity, one column per (name, report), in the given order:
// a header line "quantity | name ...", then records and population, accuracy
// (Wilson 95%), model family and T; each claim (SPEC §6 order: its id with
// "measured [CI] (verdict)" per column, then a "paper" row, since the paper's
// value depends on the family); the decomposition shares (Wilson 95%) and
// tau; the AUCs (auc_raw [CI]) for lambda_1, d_T, h_T; the matched AUCs
// pooled; the early-window AUCs; the halting AUC and the failures' confident
// shares; restart accuracy by R (first run and best h_T, R = 1..the largest
// R_max). A number a report lacks prints "n/a". `puzzle_set_note` (e.g.
// "puzzle sets: identical") is printed as a line above the table when
// non-empty. Ends with a newline.
std::string FormatComparisonTable(const std::vector<std::pair<std::string, Report>>& named_reports,
                                  const std::string& puzzle_set_note);

// The puzzle-set line for jobs' records (restart 0 records, each job's
// puzzle_ids as a multiset; records without a puzzle_id count by
// example_index): "puzzle sets: identical (N puzzles)" or "puzzle sets
// differ: NAME N puzzles, NAME M puzzles; K shared" (the names as given).
std::string PuzzleSetNote(const std::vector<std::pair<std::string, std::vector<measure::ExampleRecord>>>& named_records);

}  // namespace rrm::analysis

#endif  // RRM_CORE_ANALYSIS_COMPARISON_H_
