// The failure decomposition of SPEC §5, computed from records alone (no model):
// settling, the success/failure × settled/unsettled table, AUCs with
// direction and seeded bootstrap CIs, matched (pairs-within-bin) AUCs, the
// early window, halting, and restart selection. Every client (the Analyze RPC,
// rrmctl report, the Python client, rrm-measure output read offline) calls
// Analyze(), so every client gets the same numbers. docs/analysis.md explains
// each number in one sentence.
//
// Populations. The outcome analyses (settling, decomposition, AUCs, matched,
// early window, halting, summaries) use the puzzle as given: records with
// restart == 0. Records with restart > 0 feed only the restart-selection
// analysis. Records with a non-empty `error`, or without segments, are
// excluded from everything and counted.
//
// Missing values. A statistic never reads a NaN: values that are NaN (or
// absent, e.g. λ_1 when k = 0) are dropped from that statistic and counted in
// its `n_missing`. A statistic that cannot be computed (zero records, one
// class only, no Lyapunov data, no givens, …) is NaN with a non-empty
// `absent_reason`, never 0 and never a crash.
//
// Thread-safety: Analyze is a pure function of its arguments.
#ifndef RRM_CORE_ANALYSIS_ANALYSIS_H_
#define RRM_CORE_ANALYSIS_ANALYSIS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/measure/record.h"

namespace rrm::analysis {

inline constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();

struct AnalysisParameters {
  // Settling threshold on d_T^joint (SPEC §5); default: 95th percentile of
  // d_T among successes. Must be finite and ≥ 0 when given.
  std::optional<double> tau;
  // Early-window segment w (SPEC §5), also the pruning segment of the restart
  // analysis. ≥ 1.
  int early_window = 4;
  // Bootstrap replicates per CI; 0 disables CIs (they are then NaN). ≥ 0.
  int bootstrap = 1000;
  // Seed of every bootstrap (each CI restarts std::mt19937_64(seed)).
  uint64_t seed = 0;
  // Quantile bins of d_T among the unsettled population for the matched AUC
  // (10 = deciles). ≥ 1.
  int displacement_bins = 10;
  // Which records' λ to use ("qr" | "propagator"). Unset: the one method the
  // records carry; records mixing methods then leave λ statistics absent.
  std::optional<std::string> lyapunov_method;
  // Runs per puzzle for the restart analysis. Unset: the largest R such that
  // some puzzle has valid runs 0..R−1. Puzzles lacking any run 0..R−1 are
  // left out of the restart analysis and counted. ≥ 1 when given.
  std::optional<int> restarts;
};

// Median and quartiles (linear interpolation, numpy's default).
struct Quartiles {
  int64_t n = 0;          // values used
  double q1 = kAbsent;
  double median = kAbsent;
  double q3 = kAbsent;
};

// One Mann–Whitney AUC (SPEC §5: ties count one half, direction stated).
struct AucStat {
  std::string score;           // e.g. "lambda_1", "d_T", "h_T", "lambda_1[1..4]"
  std::string positive_class;  // "failure" or "success"
  int64_t n_positive = 0;
  int64_t n_negative = 0;
  int64_t n_missing = 0;       // population members without a usable score
  // P(s_pos > s_neg) + ½·P(s_pos = s_neg), the AUC for `positive_class`.
  double auc_raw = kAbsent;
  // max(auc_raw, 1 − auc_raw): separation strength, read with `direction`.
  double auc = kAbsent;
  // true when auc_raw ≥ 0.5, i.e. higher scores point to `positive_class`.
  bool higher_predicts_positive = true;
  std::string direction;       // e.g. "higher lambda_1 -> failure"
  // 95% percentile bootstrap CI of `auc` (in the orientation fixed by the
  // point estimate), stratified by class; NaN when bootstrap = 0.
  double ci_low = kAbsent;
  double ci_high = kAbsent;
  std::string absent_reason;   // non-empty ⇔ auc is NaN
};

// One bin of a pairs-within-bin AUC.
struct BinRow {
  std::string label;           // "d_T decile 3" or "givens 25"
  double low = kAbsent;        // bin edges (d_T) or the givens value (low = high)
  double high = kAbsent;
  int64_t n_positive = 0;
  int64_t n_negative = 0;
  double pairs = 0;
  // This bin's AUC in the pooled statistic's orientation (so a bin below 0.5
  // goes against the pooled direction); NaN when the bin has no pairs.
  double auc = kAbsent;
};

// SPEC §5 matched AUC: pairs compared only within a bin,
// AUC = Σ_bins (concordant + ½ ties) / Σ_bins pairs.
struct MatchedAuc {
  std::string binning;         // "d_T deciles (unsettled)" or "givens"
  AucStat pooled;              // CI: bootstrap within each (bin, class) cell
  std::vector<BinRow> bins;
};

// SPEC §5 settling and the decomposition.
struct Settling {
  double tau = kAbsent;
  std::string tau_source;      // "given" | "p95_d_T_successes" | "" when absent
  std::string absent_reason;
  int64_t n_missing = 0;       // population records with NaN d_T (in no cell)
  int64_t success_settled = 0;
  int64_t success_unsettled = 0;
  int64_t failure_settled = 0;
  int64_t failure_unsettled = 0;
  // Cells as shares of the classified population (the four counts' sum).
  double share_success_settled = kAbsent;
  double share_success_unsettled = kAbsent;
  double share_failure_settled = kAbsent;
  double share_failure_unsettled = kAbsent;
  // Settled share within each outcome.
  double settled_share_of_successes = kAbsent;
  double settled_share_of_failures = kAbsent;
  // Settling segment (first t with d_s ≤ τ for every s ≥ t) among settled records.
  Quartiles settling_segment_success;
  Quartiles settling_segment_failure;
  // Successes with d_T strictly below min over failures of d_T.
  double least_mobile_failure_d_t = kAbsent;
  int64_t successes_below_least_mobile_failure = 0;
  double share_successes_below_least_mobile_failure = kAbsent;
  std::string least_mobile_absent_reason;
};

// Median and quartiles of one score by outcome.
struct ScoreSummary {
  std::string score;           // "lambda_1", "d_T", "h_T"
  Quartiles success;
  Quartiles failure;
  int64_t n_missing = 0;
  std::string absent_reason;
};

// SPEC §5 early window: among population records with correct_w false, how
// well scores at w predict eventual success (positive class "success").
struct EarlyWindow {
  int w = 0;
  int64_t n_at_risk = 0;            // T ≥ w and not correct at w
  int64_t n_eventual_success = 0;
  int64_t n_correct_at_w = 0;       // left out: already correct at w
  int64_t n_too_short = 0;          // left out: fewer than w segments
  AucStat lambda_1;                 // λ_1[1..w] = mean of ℓ_{t,1}, t = 1..w
  AucStat d_w;
  AucStat h_w;
};

// SPEC §5 halting.
struct Halting {
  AucStat auc;                      // h_T, positive class "success"
  int64_t failures = 0;             // failures with a finite h_T
  int64_t failures_confident = 0;   // of which h_T > 0.5
  double share_failures_confident = kAbsent;
};

// Accuracy of the selection strategies with runs 0..R−1 (SPEC §5).
struct RestartRow {
  int runs = 0;                     // R
  double segments = 0;              // R·T per puzzle
  double first_run = kAbsent;       // run 0 alone (its cost is T)
  double best_of_h = kAbsent;       // run with the highest h_T
  double majority = kAbsent;        // most common prediction; ties by h_T
  double oracle = kAbsent;          // any run correct
};

// Early pruning at segment w: C candidate runs for w segments, keep the one
// with the highest h_w, continue it to T; cost C·w + (T − w) per puzzle. At
// equal compute it is compared with best-of-R by h_T for the largest R with
// R·T ≤ that cost (R ≥ 1, at most the runs available).
struct PruneRow {
  int candidates = 0;               // C
  double segments = 0;              // C·w + T − w
  double accuracy = kAbsent;
  int full_runs_same_budget = 0;    // R
  double best_of_h_same_budget = kAbsent;
};

struct Restarts {
  int64_t puzzles = 0;              // puzzles with valid runs 0..R_max−1
  int64_t puzzles_left_out = 0;     // puzzles lacking one of those runs
  int64_t runs_ignored = 0;         // valid runs with restart ≥ R_max
  int max_runs = 0;                 // R_max
  int segments_per_run = 0;         // T
  std::vector<std::string> restart_kinds;  // distinct kinds of runs 1..R_max−1
  std::vector<RestartRow> rows;     // R = 1..R_max
  std::string majority_absent_reason;
  int prune_window = 0;             // w
  std::vector<PruneRow> pruning;    // C = 1..R_max
  std::string pruning_absent_reason;
  std::string absent_reason;
};

struct Counts {
  int64_t records = 0;              // all records given
  int64_t errors = 0;               // excluded: non-empty `error`
  int64_t without_segments = 0;     // excluded: no segments
  int64_t population = 0;           // valid records with restart 0
  int64_t restart_records = 0;      // valid records with restart > 0
  int64_t successes = 0;            // in the population
  int64_t failures = 0;
  double accuracy = kAbsent;        // successes / population
};

struct LyapunovInfo {
  std::string method;               // "qr" | "propagator" | "" (no λ data)
  int k = 0;                        // largest number of exponents in a record
  int64_t records_with_lyapunov = 0;  // population records whose λ is used
  // Mean of lyapunov_sd[0] over population records when some draw spread is
  // non-zero (draws > 1); NaN otherwise, with the reason.
  double lambda_1_seed_sd_mean = kAbsent;
  std::string seed_sd_absent_reason;
  std::string absent_reason;        // why λ statistics are absent, if they are
};

struct Report {
  AnalysisParameters parameters;    // as used (tau: the given one, if any)
  Counts counts;
  LyapunovInfo lyapunov;
  Settling settling;
  std::vector<ScoreSummary> summaries;  // lambda_1, d_T, h_T
  std::vector<AucStat> aucs;            // lambda_1, d_T, h_T; positive "failure"
  std::vector<MatchedAuc> matched;      // lambda_1, h_T in d_T deciles; lambda_1, d_T, h_T in givens
  EarlyWindow early;
  Halting halting;
  Restarts restarts;
};

// Computes the report. Returns INVALID_ARGUMENT for bad parameters (naming
// the parameter and the value) or for two valid records with the same
// (example_index, restart); every data-dependent gap is reported inside the
// Report instead (see the header comment).
absl::StatusOr<Report> Analyze(const std::vector<measure::ExampleRecord>& records,
                               const AnalysisParameters& parameters);

// SPEC §5 settling segment of one record: the first t (1-based) such that
// d_s^joint ≤ τ for every s in t..T; 0 when d_T > τ (never settles) or d_T is
// NaN. A NaN d_s before T counts as "not ≤ τ".
int SettlingSegment(const measure::ExampleRecord& record, double tau);

}  // namespace rrm::analysis

#endif  // RRM_CORE_ANALYSIS_ANALYSIS_H_
