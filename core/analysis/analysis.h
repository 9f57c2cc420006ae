// The failure decomposition of SPEC §5, computed from records alone (no model):
// settling, the success/failure × settled/unsettled table, AUCs with
// direction and seeded bootstrap CIs, matched (pairs-within-bin) AUCs, the
// early window, halting, and restart selection. Every client (the Analyze RPC,
// rrmctl report, the Python client, rrm-measure output read offline) calls
// Analyze(), so every client gets the same numbers. docs/analysis.md explains
// each number in one sentence.
//
// Populations (SPEC §5). The outcome analyses (settling, decomposition, AUCs,
// matched, early window, halting, summaries) use the puzzle as given: records
// with restart == 0. Records with restart > 0 feed only the restart-selection
// analysis. Records with a non-empty `error`, without segments, or without
// labels (every token_accuracy NaN) are excluded from everything and counted;
// unlabelled records are never failures. One model and one T per analysis,
// one Lyapunov method and k: otherwise the statistics are absent with the
// reason.
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
#include "core/analysis/energy.h"
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

// A share k / n with its Wilson score 95% interval (SPEC §5: every share
// carries a binomial interval): with p = k/n and z = 1.959964,
// centre = (p + z²/2n) / (1 + z²/n), half = z·sqrt(p(1−p)/n + z²/4n²) / (1 + z²/n).
// share and the interval are NaN when n = 0.
struct Proportion {
  int64_t k = 0;
  int64_t n = 0;
  double share = kAbsent;
  double ci_low = kAbsent;
  double ci_high = kAbsent;
};

Proportion Wilson(int64_t k, int64_t n);

// Two-sided exact McNemar p-value for b and c discordant pairs:
// min(1, 2·P(X ≤ min(b, c))) with X ~ Binomial(b + c, ½); 1 when b + c = 0.
double McNemarExactP(int64_t b, int64_t c);

// Median and quartiles (linear interpolation, numpy's default), and a
// distribution-free 95% interval of the median: the order statistics
// x_(l), x_(u) with l = floor((n − 1.96·sqrt n) / 2), u = ceil(1 + (n + 1.96·sqrt n) / 2)
// (1-based, clamped to 1..n; Conover's normal approximation to the binomial).
struct Quartiles {
  int64_t n = 0;          // values used
  double q1 = kAbsent;
  double median = kAbsent;
  double q3 = kAbsent;
  double median_ci_low = kAbsent;
  double median_ci_high = kAbsent;
};

// One Mann–Whitney AUC in its pre-specified direction (SPEC §5: higher λ_1,
// higher d_T -> failure; higher h_T -> success; early window: positive class
// eventual success). Ties count one half.
struct AucStat {
  std::string score;           // e.g. "lambda_1", "d_T", "h_T", "lambda_1[1..4]"
  std::string positive_class;  // "failure" or "success", fixed in advance
  int64_t n_positive = 0;
  int64_t n_negative = 0;
  int64_t n_missing = 0;       // population members without a usable score
  // P(s_pos > s_neg) + ½·P(s_pos = s_neg): the AUC in the stated direction;
  // below 0.5 when the data go against it. This is the reported number.
  double auc_raw = kAbsent;
  // max(auc_raw, 1 − auc_raw), shown beside auc_raw, never instead of it.
  double auc_folded = kAbsent;
  std::string direction;       // the stated direction, e.g. "higher lambda_1 -> failure"
  // 95% percentile bootstrap CI of auc_raw; NaN when bootstrap = 0.
  double ci_low = kAbsent;
  double ci_high = kAbsent;
  std::string ci_method;       // how the replicates were drawn (docs/analysis.md)
  int64_t ci_replicates = 0;   // replicates in which the AUC was defined
  std::string absent_reason;   // non-empty ⇔ auc_raw is NaN
};

// One bin of a pairs-within-bin AUC.
struct BinRow {
  std::string label;           // "d_T bin 3" or "givens 25"
  double low = kAbsent;        // bin edges (d_T) or the givens value (low = high)
  double high = kAbsent;
  int64_t n_positive = 0;
  int64_t n_negative = 0;
  double pairs = 0;
  double auc_raw = kAbsent;    // this bin's AUC in the stated direction; NaN without pairs
};

// SPEC §5 matched AUC: pairs compared only within a bin,
// AUC = Σ_bins (concordant + ½ ties) / Σ_bins pairs, beside the plain AUC of
// the same sample (every pair, bins ignored). Both CIs come from one
// bootstrap over puzzles that redoes the matching in every replicate: τ (when
// not given), the unsettled set and the d_T bin edges, or the givens values.
struct MatchedAuc {
  std::string binning;         // "d_T quantile bins (10, unsettled)" or "givens (one bin per value)"
  AucStat pooled;              // the pairs-within-bin AUC
  AucStat plain;               // the plain AUC of the same matched sample
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
  Proportion share_success_settled;
  Proportion share_success_unsettled;
  Proportion share_failure_settled;
  Proportion share_failure_unsettled;
  // Settled share within each outcome.
  Proportion settled_share_of_successes;
  Proportion settled_share_of_failures;
  // Settling segment (first t with d_s ≤ τ for every s ≥ t) among settled records.
  Quartiles settling_segment_success;
  Quartiles settling_segment_failure;
  // Successes with d_T strictly below min over failures of d_T, of the
  // successes with a finite d_T.
  double least_mobile_failure_d_t = kAbsent;
  Proportion successes_below_least_mobile_failure;
  std::string least_mobile_absent_reason;
};

// Median and quartiles of one score by outcome.
struct ScoreSummary {
  std::string score;           // "lambda_1", "lambda_1_per_update", "d_T", "h_T"
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
  // What λ_1[1..w] is: the propagator's own window exponent
  // (1/w)·log σ_1(J_w ⋯ J_1) (lyapunov_window[0], when its window is w), or
  // the mean of the first w QR increments, which still depends on Q_0.
  std::string lambda_1_source;
  AucStat lambda_1;
  AucStat d_w;
  AucStat h_w;
};

// SPEC §5 halting.
struct Halting {
  AucStat auc;                      // h_T, positive class "success"
  Proportion failures_confident;    // failures (finite h_T) with h_T > 0.5
  // Failures that are settled (d_T ≤ τ) and confident (h_T > 0.5): the
  // reference's "~0.5% of failures that settle confidently".
  Proportion failures_settled_confident;
  // The model's own halting rule at T, named by the records' family:
  // TRM "q_halt > 0", HRM "q_halt > q_continue".
  std::string rule;
  Proportion failures_halted_by_rule;
  std::string rule_absent_reason;
};

// A strategy against the first run on the same puzzles: exact McNemar test
// on the discordant puzzles (SPEC §5 paired comparison; docs/analysis.md).
struct PairedComparison {
  int64_t n = 0;                    // puzzles
  int64_t only_strategy = 0;        // strategy correct, first run wrong
  int64_t only_first = 0;           // first run correct, strategy wrong
  double difference = kAbsent;      // (only_strategy − only_first) / n
  // Two-sided exact p: min(1, 2·P(X ≤ min(b, c))), X ~ Binomial(b + c, ½); 1 when b + c = 0.
  double p_value = kAbsent;
};

// Accuracy of the selection strategies with runs 0..R−1 (SPEC §5).
struct RestartRow {
  int runs = 0;                     // R
  double segments = 0;              // R·T per puzzle
  Proportion first_run;             // run 0 alone (its cost is T)
  Proportion best_of_h;             // run with the highest h_T
  Proportion majority;              // most common prediction; ties by h_T
  Proportion oracle;                // any run correct
  PairedComparison best_of_h_vs_first;
  PairedComparison majority_vs_first;
};

// Early pruning at segment w (SPEC §5): C candidate runs for w segments, keep
// the one with the highest h_w, continue it to T; cost C·w + (T − w) per
// puzzle. Compared at exactly equal compute with best-of-R by h_T at the same
// number of segments: R = segments / T full runs, and where R is not an
// integer, the linear interpolation between ⌊R⌋ and ⌈R⌉ (the accuracy of
// running ⌈R⌉ runs on a fraction R − ⌊R⌋ of the puzzles and ⌊R⌋ on the rest).
struct PruneRow {
  int candidates = 0;               // C
  double segments = 0;              // C·w + T − w
  Proportion accuracy;
  PairedComparison vs_first;
  double full_runs_same_budget = kAbsent;  // R = segments / T
  double best_of_h_same_budget = kAbsent;  // best-of-R accuracy at R (interpolated)
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
  // Excluded from outcomes and restarts, never failures: every segment's
  // token_accuracy is NaN (puzzles submitted without labels).
  int64_t unlabelled = 0;
  int64_t population = 0;           // valid labelled records with restart 0
  int64_t restart_records = 0;      // valid labelled records with restart > 0
  int64_t successes = 0;            // in the population
  int64_t failures = 0;
  Proportion accuracy;              // successes / population
};

// SPEC §5 population rule: one model, one T per analysis (one Lyapunov
// method and k: LyapunovInfo). Checked over the valid labelled records.
struct PopulationInfo {
  std::vector<std::string> models;  // distinct `model` ("unknown" for an empty one)
  std::string model_family;         // "hrm" | "trm" | "unknown" (empty in the records) | "" when mixed
  std::vector<int> segment_counts;  // distinct T
  int segments = 0;                 // T when one
  bool sudoku = false;              // some record has givens ≥ 0
  // Non-empty: the records mix models or T, and every statistic is absent
  // with this reason (the counts remain).
  std::string absent_reason;
};

struct LyapunovInfo {
  std::string method;               // "qr" | "propagator" | "" (no λ data)
  int k = 0;                        // the number of exponents per record
  int64_t records_with_lyapunov = 0;  // population records whose λ is used
  // Propagator records whose residuals missed their tolerance (SPEC §3).
  int64_t records_not_converged = 0;
  // H_cycles·(L_cycles + 1), when every record agrees; λ / it is the
  // per-update exponent. 0 when unknown or mixed.
  int updates_per_segment = 0;
  // Mean of lyapunov_sd[0] over population records when some draw spread is
  // non-zero (draws > 1); NaN otherwise, with the reason.
  double lambda_1_seed_sd_mean = kAbsent;
  std::string seed_sd_absent_reason;
  std::string absent_reason;        // why λ statistics are absent, if they are
};

// One row of the SPEC §6 claims table: the reference paper's claim, its
// value (chosen by the records' family where the paper gives both), the value
// measured here with its 95% interval, and a verdict: "consistent" when the
// paper value (or range) meets the interval, "not consistent" when it does
// not, "not measurable" (with the reason) when there is no measured value,
// no interval, or no paper value for this family.
struct Claim {
  std::string id;                   // accuracy, failures_settled, … (SPEC §6 order)
  std::string claim;
  std::string paper;                // the paper's value as text
  double paper_value = kAbsent;
  double measured = kAbsent;
  double ci_low = kAbsent;
  double ci_high = kAbsent;
  std::string measured_text;
  std::string verdict;
  std::string reason;
};

struct Report {
  std::vector<Claim> claims;        // SPEC §6, computed from the rest of the report
  AnalysisParameters parameters;    // as used (tau: the given one, if any)
  Counts counts;
  PopulationInfo population;
  LyapunovInfo lyapunov;
  Settling settling;
  std::vector<ScoreSummary> summaries;  // lambda_1, lambda_1_per_update, d_T, h_T
  std::vector<AucStat> aucs;            // lambda_1, d_T (failure), h_T (success)
  std::vector<MatchedAuc> matched;      // lambda_1, h_T in d_T bins; lambda_1, d_T, h_T in givens
  EarlyWindow early;
  Halting halting;
  EnergyAnalysis energy;            // issue 17 energy maps (core/analysis/energy.h)
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
