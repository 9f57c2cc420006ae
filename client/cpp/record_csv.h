// Records as one CSV table (rrmctl records --format=csv): one row per record,
// scalar fields first, then the per-segment and per-exponent arrays
// flattened into numbered columns, so a spreadsheet or pandas.read_csv reads
// it directly. Columns, in order:
//   job_id, model, model_family, example_index, puzzle_id, restart, restart_kind, seed, givens,
//   updates_per_segment, segments (T of this record), correct,
//   first_correct_segment, lyapunov_method, lyapunov_window_segments,
//   lyapunov_iterations, lyapunov_tolerance, lyapunov_converged, device,
//   compute_seconds, error,
//   lyapunov_1..K, lyapunov_sd_1..K, lyapunov_window_1..K,
//   <f>_1..T for f in correct, token_accuracy, halt_confidence, q_halt_logit,
//     q_continue_logit, flips, displacement_h, displacement_l,
//     displacement_joint (segment t = 1..T),
//   lyapunov_increment_<t>_<i> (segment t, exponent i),
//   prediction (the final tokens, space-separated).
// T and K are the largest over the records; shorter records leave cells
// empty. Doubles are written in shortest round-trip form, non-finite ones as
// NaN / Infinity / -Infinity (as in the JSONL); booleans as true / false;
// text is quoted (RFC 4180) when it holds a comma, quote or line break.
#ifndef RRM_CLIENT_CPP_RECORD_CSV_H_
#define RRM_CLIENT_CPP_RECORD_CSV_H_

#include <string>
#include <vector>

#include "core/measure/record.h"

namespace rrm {

// The header line and one line per record, each ending in '\n'.
std::string RecordsToCsv(const std::vector<measure::ExampleRecord>& records);

}  // namespace rrm

#endif  // RRM_CLIENT_CPP_RECORD_CSV_H_
