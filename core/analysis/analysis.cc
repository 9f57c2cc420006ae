#include "core/analysis/analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/analysis/auc.h"
#include "core/common/status.h"

namespace rrm::analysis {
namespace {

using measure::ExampleRecord;

// One population record (restart 0, valid) with the scores SPEC §5 reads.
struct Example {
  const ExampleRecord* record;
  bool success;     // SPEC §5: success = correct_T
  double d_t;       // d_T^joint
  double h_t;       // h_T
  double lambda_1;  // λ_1, NaN when absent or of another method
};

bool IsMissing(double v) { return std::isnan(v); }

Quartiles QuartilesOf(const std::vector<double>& values) {
  Quartiles q;
  q.n = static_cast<int64_t>(values.size());
  q.q1 = Quantile(values, 0.25);
  q.median = Quantile(values, 0.5);
  q.q3 = Quantile(values, 0.75);
  return q;
}

double Share(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : kAbsent;
}

const char* OtherClass(const std::string& positive_class) {
  return positive_class == "failure" ? "success" : "failure";
}

// Fills the AUC, its orientation and CI from samples in `num_bins` bins (one
// bin for the plain AUC). SPEC §5: Mann–Whitney, ties ½, direction stated.
void FillAuc(const std::vector<Scored>& samples, int num_bins, const AnalysisParameters& params,
             AucStat* stat) {
  for (const Scored& s : samples) (s.positive ? stat->n_positive : stat->n_negative) += 1;
  if (stat->n_positive == 0 || stat->n_negative == 0) {
    stat->absent_reason =
        stat->n_positive + stat->n_negative == 0
            ? absl::StrCat("no records with a usable ", stat->score)
            : absl::StrCat("one class only: no ", stat->n_positive == 0 ? stat->positive_class
                                                                        : OtherClass(stat->positive_class),
                           " records with a usable ", stat->score);
    return;
  }
  stat->auc_raw = PooledAuc(TallyPairsWithinBins(samples, num_bins));
  if (std::isnan(stat->auc_raw)) {
    stat->absent_reason = "no bin holds both classes: no pairs to compare";
    return;
  }
  // Orientation is fixed by the point estimate, then the whole bootstrap
  // distribution is read in it (re-orienting each replicate would bias the CI up).
  stat->higher_predicts_positive = stat->auc_raw >= 0.5;
  stat->auc = stat->higher_predicts_positive ? stat->auc_raw : 1.0 - stat->auc_raw;
  stat->direction = absl::StrCat(
      "higher ", stat->score, " -> ",
      stat->higher_predicts_positive ? stat->positive_class : OtherClass(stat->positive_class));
  const Interval ci = BootstrapAucInterval(samples, num_bins, params.bootstrap, params.seed);
  stat->ci_low = stat->higher_predicts_positive ? ci.low : 1.0 - ci.high;
  stat->ci_high = stat->higher_predicts_positive ? ci.high : 1.0 - ci.low;
}

// Plain AUC of `score_of` over the population; positive = failure or success.
template <typename ScoreFn>
AucStat OutcomeAuc(const std::string& score, const std::string& positive_class,
                   const std::vector<Example>& population, const AnalysisParameters& params,
                   ScoreFn score_of) {
  AucStat stat;
  stat.score = score;
  stat.positive_class = positive_class;
  std::vector<Scored> samples;
  for (const Example& e : population) {
    const double v = score_of(e);
    if (IsMissing(v)) {
      ++stat.n_missing;
      continue;
    }
    samples.push_back({v, (positive_class == "failure") != e.success, 0});
  }
  FillAuc(samples, 1, params, &stat);
  return stat;
}

// Pairs-within-bin AUC (SPEC §5 matched AUCs): `bin_of` gives each example's
// bin or −1 to leave it out (counted as missing with NaN scores).
template <typename ScoreFn, typename BinFn>
MatchedAuc BinnedAuc(const std::string& binning, const std::string& score,
                     const std::vector<Example>& population, std::vector<BinRow> bins,
                     const AnalysisParameters& params, ScoreFn score_of, BinFn bin_of) {
  MatchedAuc matched;
  matched.binning = binning;
  matched.pooled.score = score;
  matched.pooled.positive_class = "failure";
  std::vector<Scored> samples;
  for (const Example& e : population) {
    const int bin = bin_of(e);
    const double v = score_of(e);
    if (bin < 0 || IsMissing(v)) {
      ++matched.pooled.n_missing;
      continue;
    }
    samples.push_back({v, !e.success, bin});
  }
  const int num_bins = static_cast<int>(bins.size());
  FillAuc(samples, num_bins, params, &matched.pooled);
  const std::vector<PairTally> tallies = TallyPairsWithinBins(samples, num_bins);
  for (int b = 0; b < num_bins; ++b) {
    BinRow& row = bins[b];
    row.n_positive = tallies[b].n_positive;
    row.n_negative = tallies[b].n_negative;
    row.pairs = tallies[b].pairs;
    if (tallies[b].pairs > 0) {
      const double raw = tallies[b].favourable / tallies[b].pairs;
      row.auc = matched.pooled.higher_predicts_positive ? raw : 1.0 - raw;
    }
  }
  matched.bins = std::move(bins);
  return matched;
}

MatchedAuc AbsentMatched(const std::string& binning, const std::string& score, const std::string& reason) {
  MatchedAuc matched;
  matched.binning = binning;
  matched.pooled.score = score;
  matched.pooled.positive_class = "failure";
  matched.pooled.absent_reason = reason;
  return matched;
}

ScoreSummary Summarize(const std::string& score, const std::vector<Example>& population,
                       double (*score_of)(const Example&)) {
  ScoreSummary summary;
  summary.score = score;
  std::vector<double> success, failure;
  for (const Example& e : population) {
    const double v = score_of(e);
    if (IsMissing(v)) {
      ++summary.n_missing;
    } else {
      (e.success ? success : failure).push_back(v);
    }
  }
  summary.success = QuartilesOf(success);
  summary.failure = QuartilesOf(failure);
  if (success.empty() && failure.empty()) summary.absent_reason = absl::StrCat("no records with a usable ", score);
  return summary;
}

double LambdaOf(const Example& e) { return e.lambda_1; }
double DisplacementOf(const Example& e) { return e.d_t; }
double HaltOf(const Example& e) { return e.h_t; }

absl::Status ValidateParameters(const AnalysisParameters& p) {
  if (p.tau.has_value() && !(std::isfinite(*p.tau) && *p.tau >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("tau: expected a finite value >= 0, found ", *p.tau));
  }
  if (p.early_window < 1) {
    return absl::InvalidArgumentError(absl::StrCat("early_window: expected >= 1, found ", p.early_window));
  }
  if (p.bootstrap < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bootstrap: expected >= 0, found ", p.bootstrap));
  }
  if (p.displacement_bins < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("displacement_bins: expected >= 1, found ", p.displacement_bins));
  }
  if (p.lyapunov_method.has_value() && *p.lyapunov_method != "qr" && *p.lyapunov_method != "propagator") {
    return absl::InvalidArgumentError(
        absl::StrCat("lyapunov_method: expected \"qr\" or \"propagator\", found \"", *p.lyapunov_method, "\""));
  }
  if (p.restarts.has_value() && *p.restarts < 1) {
    return absl::InvalidArgumentError(absl::StrCat("restarts: expected >= 1, found ", *p.restarts));
  }
  return absl::OkStatus();
}

std::string MethodName(const ExampleRecord& r) {
  return r.lyapunov_method.empty() ? "unspecified" : r.lyapunov_method;
}

// Chooses the λ method (see AnalysisParameters::lyapunov_method) and fills
// everything in LyapunovInfo except the seed spread.
LyapunovInfo ChooseLyapunov(const std::vector<const ExampleRecord*>& population,
                            const AnalysisParameters& params) {
  LyapunovInfo info;
  std::set<std::string> methods;
  for (const ExampleRecord* r : population) {
    if (!r->lyapunov.empty()) methods.insert(MethodName(*r));
  }
  if (params.lyapunov_method.has_value()) {
    info.method = *params.lyapunov_method;
    if (!methods.count(info.method)) {
      info.absent_reason = methods.empty()
                               ? "no Lyapunov data in the records (k = 0)"
                               : absl::StrCat("no records with lyapunov_method \"", info.method, "\" (found: ",
                                              absl::StrJoin(methods, ", "), ")");
    }
  } else if (methods.empty()) {
    info.absent_reason = "no Lyapunov data in the records (k = 0)";
  } else if (methods.size() > 1) {
    info.method = "mixed";
    info.absent_reason = absl::StrCat("records mix Lyapunov methods (", absl::StrJoin(methods, ", "),
                                      "); choose one with lyapunov_method");
  } else {
    info.method = *methods.begin();
  }
  return info;
}

bool UsesLyapunov(const LyapunovInfo& info, const ExampleRecord& r) {
  return info.absent_reason.empty() && !r.lyapunov.empty() && MethodName(r) == info.method;
}

// λ_1[1..w] (SPEC §3 windowed exponent): mean of ℓ_{t,1} over t = 1..w; NaN
// when any of those segments carries no increments (k = 0, or a method
// without per-segment increments).
double EarlyLambda(const LyapunovInfo& info, const ExampleRecord& r, int w) {
  if (!UsesLyapunov(info, r) || static_cast<int>(r.segments.size()) < w) return kAbsent;
  double sum = 0;
  for (int t = 0; t < w; ++t) {
    if (r.segments[t].lyapunov_increments.empty()) return kAbsent;
    sum += r.segments[t].lyapunov_increments[0];
  }
  return sum / w;
}

void FillSeedSpread(const std::vector<const ExampleRecord*>& population, LyapunovInfo* info) {
  if (!info->absent_reason.empty()) {
    info->seed_sd_absent_reason = info->absent_reason;
    return;
  }
  double sum = 0;
  int64_t n = 0;
  bool any_spread = false;
  for (const ExampleRecord* r : population) {
    if (!UsesLyapunov(*info, *r)) continue;
    ++info->records_with_lyapunov;
    info->k = std::max(info->k, static_cast<int>(r->lyapunov.size()));
    if (r->lyapunov_sd.empty() || IsMissing(r->lyapunov_sd[0])) continue;
    sum += r->lyapunov_sd[0];
    ++n;
    any_spread = any_spread || r->lyapunov_sd[0] != 0;
  }
  if (!any_spread) {
    info->seed_sd_absent_reason = "lyapunov_sd is zero or absent: one draw per start";
  } else {
    info->lambda_1_seed_sd_mean = sum / static_cast<double>(n);
  }
}

Settling ComputeSettling(const std::vector<Example>& population, const AnalysisParameters& params) {
  Settling s;
  std::vector<double> success_d, failure_d;
  for (const Example& e : population) {
    if (IsMissing(e.d_t)) {
      ++s.n_missing;
    } else {
      (e.success ? success_d : failure_d).push_back(e.d_t);
    }
  }
  // The least mobile failure needs no τ (SPEC §5 decomposition, last clause).
  if (failure_d.empty()) {
    s.least_mobile_absent_reason = "no failures with a finite d_T";
  } else if (success_d.empty()) {
    s.least_mobile_absent_reason = "no successes with a finite d_T";
  } else {
    s.least_mobile_failure_d_t = *std::min_element(failure_d.begin(), failure_d.end());
    for (double d : success_d) s.successes_below_least_mobile_failure += d < s.least_mobile_failure_d_t;
    s.share_successes_below_least_mobile_failure =
        Share(s.successes_below_least_mobile_failure, static_cast<int64_t>(success_d.size()));
  }

  if (params.tau.has_value()) {
    s.tau = *params.tau;
    s.tau_source = "given";
  } else if (!success_d.empty()) {
    s.tau = Quantile(success_d, 0.95);
    s.tau_source = "p95_d_T_successes";
  } else {
    s.absent_reason = "no successes with a finite d_T to set the default tau; give tau";
    return s;
  }
  std::vector<double> segment_success, segment_failure;
  for (const Example& e : population) {
    if (IsMissing(e.d_t)) continue;
    const bool settled = e.d_t <= s.tau;  // SPEC §5: settled ⇔ d_T ≤ τ
    if (e.success) {
      ++(settled ? s.success_settled : s.success_unsettled);
    } else {
      ++(settled ? s.failure_settled : s.failure_unsettled);
    }
    if (settled) {
      (e.success ? segment_success : segment_failure).push_back(SettlingSegment(*e.record, s.tau));
    }
  }
  const int64_t total = s.success_settled + s.success_unsettled + s.failure_settled + s.failure_unsettled;
  if (total == 0) s.absent_reason = "no records with a finite d_T";
  s.share_success_settled = Share(s.success_settled, total);
  s.share_success_unsettled = Share(s.success_unsettled, total);
  s.share_failure_settled = Share(s.failure_settled, total);
  s.share_failure_unsettled = Share(s.failure_unsettled, total);
  s.settled_share_of_successes = Share(s.success_settled, s.success_settled + s.success_unsettled);
  s.settled_share_of_failures = Share(s.failure_settled, s.failure_settled + s.failure_unsettled);
  s.settling_segment_success = QuartilesOf(segment_success);
  s.settling_segment_failure = QuartilesOf(segment_failure);
  return s;
}

// SPEC §5 matched AUCs in quantile bins of d_T among the unsettled population.
std::vector<MatchedAuc> DisplacementMatched(const std::vector<Example>& population, const Settling& settling,
                                            const LyapunovInfo& lyapunov, const AnalysisParameters& params) {
  const std::string binning = absl::StrCat("d_T quantile bins (", params.displacement_bins, ", unsettled)");
  std::vector<MatchedAuc> out;
  std::vector<double> unsettled_d;
  for (const Example& e : population) {
    if (!IsMissing(e.d_t) && !std::isnan(settling.tau) && e.d_t > settling.tau) unsettled_d.push_back(e.d_t);
  }
  std::string reason;
  if (std::isnan(settling.tau)) {
    reason = absl::StrCat("no tau: ", settling.absent_reason);
  } else if (unsettled_d.empty()) {
    reason = "no unsettled records";
  }
  if (!reason.empty()) {
    out.push_back(AbsentMatched(binning, "lambda_1", lyapunov.absent_reason.empty() ? reason : lyapunov.absent_reason));
    out.push_back(AbsentMatched(binning, "h_T", reason));
    return out;
  }
  // Edges at quantiles i/bins (type 7); a bin is (e_b, e_{b+1}], the first one
  // closed below, so values on an edge fall in the lower bin.
  const int bins = params.displacement_bins;
  std::vector<double> edges;
  for (int i = 0; i <= bins; ++i) edges.push_back(Quantile(unsettled_d, static_cast<double>(i) / bins));
  std::vector<BinRow> rows(bins);
  for (int b = 0; b < bins; ++b) {
    rows[b].label = absl::StrCat("d_T bin ", b + 1);
    rows[b].low = edges[b];
    rows[b].high = edges[b + 1];
  }
  const double tau = settling.tau;
  auto bin_of = [&edges, bins, tau](const Example& e) {
    if (IsMissing(e.d_t) || !(e.d_t > tau)) return -1;
    return static_cast<int>(std::lower_bound(edges.begin() + 1, edges.begin() + bins, e.d_t) - (edges.begin() + 1));
  };
  // Only the unsettled population is binned; settled records are not "missing".
  std::vector<Example> unsettled;
  for (const Example& e : population) {
    if (bin_of(e) >= 0) unsettled.push_back(e);
  }
  if (lyapunov.absent_reason.empty()) {
    out.push_back(BinnedAuc(binning, "lambda_1", unsettled, rows, params, LambdaOf, bin_of));
  } else {
    out.push_back(AbsentMatched(binning, "lambda_1", lyapunov.absent_reason));
  }
  out.push_back(BinnedAuc(binning, "h_T", unsettled, rows, params, HaltOf, bin_of));
  return out;
}

// SPEC §5 difficulty control: one bin per distinct givens value.
std::vector<MatchedAuc> GivensMatched(const std::vector<Example>& population, const LyapunovInfo& lyapunov,
                                      const AnalysisParameters& params) {
  const std::string binning = "givens (one bin per value)";
  std::vector<int> values;
  for (const Example& e : population) {
    if (e.record->givens >= 0) values.push_back(e.record->givens);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::vector<MatchedAuc> out;
  if (values.empty()) {
    const std::string reason = "no givens in the records (givens = -1: not Sudoku)";
    for (const char* score : {"lambda_1", "d_T", "h_T"}) out.push_back(AbsentMatched(binning, score, reason));
    return out;
  }
  std::vector<BinRow> rows(values.size());
  for (size_t b = 0; b < values.size(); ++b) {
    rows[b].label = absl::StrCat("givens ", values[b]);
    rows[b].low = rows[b].high = values[b];
  }
  auto bin_of = [&values](const Example& e) {
    auto it = std::lower_bound(values.begin(), values.end(), e.record->givens);
    return e.record->givens >= 0 && it != values.end() && *it == e.record->givens
               ? static_cast<int>(it - values.begin())
               : -1;
  };
  if (lyapunov.absent_reason.empty()) {
    out.push_back(BinnedAuc(binning, "lambda_1", population, rows, params, LambdaOf, bin_of));
  } else {
    out.push_back(AbsentMatched(binning, "lambda_1", lyapunov.absent_reason));
  }
  out.push_back(BinnedAuc(binning, "d_T", population, rows, params, DisplacementOf, bin_of));
  out.push_back(BinnedAuc(binning, "h_T", population, rows, params, HaltOf, bin_of));
  return out;
}

EarlyWindow ComputeEarlyWindow(const std::vector<Example>& population, const LyapunovInfo& lyapunov,
                               const AnalysisParameters& params) {
  EarlyWindow early;
  const int w = early.w = params.early_window;
  std::vector<Example> at_risk;
  for (const Example& e : population) {
    if (static_cast<int>(e.record->segments.size()) < w) {
      ++early.n_too_short;
    } else if (e.record->segments[w - 1].correct) {
      ++early.n_correct_at_w;
    } else {
      at_risk.push_back(e);
      early.n_eventual_success += e.success;
    }
  }
  early.n_at_risk = static_cast<int64_t>(at_risk.size());
  const std::string window = absl::StrCat("[1..", w, "]");
  early.lambda_1 = OutcomeAuc(absl::StrCat("lambda_1", window), "success", at_risk, params,
                              [&](const Example& e) { return EarlyLambda(lyapunov, *e.record, w); });
  if (!lyapunov.absent_reason.empty()) early.lambda_1.absent_reason = lyapunov.absent_reason;
  early.d_w = OutcomeAuc(absl::StrCat("d_", w), "success", at_risk, params,
                         [w](const Example& e) { return e.record->segments[w - 1].displacement_joint; });
  early.h_w = OutcomeAuc(absl::StrCat("h_", w), "success", at_risk, params,
                         [w](const Example& e) { return e.record->segments[w - 1].halt_confidence; });
  if (at_risk.empty()) {
    const std::string reason =
        population.empty() ? "no records"
                           : absl::StrCat("no record is still incorrect at segment ", w, " (with at least ", w,
                                          " segments)");
    for (AucStat* stat : {&early.lambda_1, &early.d_w, &early.h_w}) stat->absent_reason = reason;
  }
  return early;
}

Halting ComputeHalting(const std::vector<Example>& population, const AnalysisParameters& params) {
  Halting halting;
  halting.auc = OutcomeAuc("h_T", "success", population, params, HaltOf);
  for (const Example& e : population) {
    if (e.success || IsMissing(e.h_t)) continue;
    ++halting.failures;
    halting.failures_confident += e.h_t > 0.5;
  }
  halting.share_failures_confident = Share(halting.failures_confident, halting.failures);
  return halting;
}

// Index of the run with the highest score among runs[0..count); NaN scores
// rank lowest; ties go to the lowest restart index (the puzzle as given first).
template <typename ScoreFn>
int BestRun(const std::vector<const ExampleRecord*>& runs, int count, ScoreFn score_of) {
  int best = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  bool found = false;
  for (int i = 0; i < count; ++i) {
    const double v = score_of(*runs[i]);
    if (IsMissing(v)) continue;
    if (!found || v > best_score) {
      best = i;
      best_score = v;
      found = true;
    }
  }
  return best;
}

double FinalHalt(const ExampleRecord& r) { return r.segments.back().halt_confidence; }

// Majority vote over final predictions of runs[0..count): the prediction
// given by most runs; ties go to the group whose best h_T is highest, then to
// the group holding the lowest restart index. Returns that group's best run.
int MajorityRun(const std::vector<const ExampleRecord*>& runs, int count) {
  struct Group {
    int votes = 0;
    int best_run = -1;
    double best_h = -std::numeric_limits<double>::infinity();
    int first_run = 0;
  };
  std::map<std::vector<int32_t>, Group> groups;
  for (int i = 0; i < count; ++i) {
    auto [it, inserted] = groups.try_emplace(runs[i]->prediction);
    Group& g = it->second;
    if (inserted) g.first_run = i;
    ++g.votes;
    const double h = FinalHalt(*runs[i]);
    if (g.best_run < 0 || (!IsMissing(h) && h > g.best_h)) {
      g.best_run = i;
      if (!IsMissing(h)) g.best_h = h;
    }
  }
  const Group* winner = nullptr;
  for (const auto& [prediction, g] : groups) {
    if (winner == nullptr || g.votes > winner->votes ||
        (g.votes == winner->votes &&
         (g.best_h > winner->best_h || (g.best_h == winner->best_h && g.first_run < winner->first_run)))) {
      winner = &g;
    }
  }
  return winner->best_run;
}

Restarts ComputeRestarts(const std::vector<const ExampleRecord*>& valid, const AnalysisParameters& params) {
  Restarts out;
  std::map<int32_t, std::map<int32_t, const ExampleRecord*>> puzzles;
  for (const ExampleRecord* r : valid) puzzles[r->example_index][r->restart] = r;
  int max_runs = 0;
  if (params.restarts.has_value()) {
    max_runs = *params.restarts;
  } else {
    for (const auto& [index, runs] : puzzles) {
      int contiguous = 0;
      while (runs.count(contiguous)) ++contiguous;
      max_runs = std::max(max_runs, contiguous);
    }
  }
  out.max_runs = max_runs;
  out.prune_window = params.early_window;
  if (max_runs == 0) {
    out.absent_reason = "no puzzle has a valid run 0";
    return out;
  }
  std::vector<std::vector<const ExampleRecord*>> included;
  for (const auto& [index, runs] : puzzles) {
    std::vector<const ExampleRecord*> list;
    for (int r = 0; r < max_runs; ++r) {
      auto it = runs.find(r);
      if (it == runs.end()) break;
      list.push_back(it->second);
    }
    for (const auto& [restart, record] : runs) out.runs_ignored += restart >= max_runs || restart < 0;
    if (static_cast<int>(list.size()) == max_runs) {
      included.push_back(std::move(list));
    } else {
      ++out.puzzles_left_out;
    }
  }
  out.puzzles = static_cast<int64_t>(included.size());
  if (included.empty()) {
    out.absent_reason = absl::StrCat("no puzzle has valid runs 0..", max_runs - 1);
    return out;
  }
  const size_t t = included[0][0]->segments.size();
  std::set<std::string> kinds;
  bool all_predict = true;
  for (const auto& runs : included) {
    for (size_t r = 0; r < runs.size(); ++r) {
      if (runs[r]->segments.size() != t) {
        out.absent_reason = "runs differ in their number of segments T";
        return out;
      }
      if (r > 0) kinds.insert(runs[r]->restart_kind);
      all_predict = all_predict && !runs[r]->prediction.empty();
    }
  }
  out.segments_per_run = static_cast<int>(t);
  out.restart_kinds.assign(kinds.begin(), kinds.end());
  if (!all_predict) out.majority_absent_reason = "some runs carry no prediction";

  const double n_puzzles = static_cast<double>(included.size());
  for (int runs_used = 1; runs_used <= max_runs; ++runs_used) {
    RestartRow row;
    row.runs = runs_used;
    row.segments = static_cast<double>(runs_used) * t;
    double first = 0, best = 0, majority = 0, oracle = 0;
    for (const auto& runs : included) {
      first += runs[0]->correct;
      best += runs[BestRun(runs, runs_used, FinalHalt)]->correct;
      if (all_predict) majority += runs[MajorityRun(runs, runs_used)]->correct;
      bool any = false;
      for (int i = 0; i < runs_used; ++i) any = any || runs[i]->correct;
      oracle += any;
    }
    row.first_run = first / n_puzzles;
    row.best_of_h = best / n_puzzles;
    row.majority = all_predict ? majority / n_puzzles : kAbsent;
    row.oracle = oracle / n_puzzles;
    out.rows.push_back(row);
  }

  const int w = params.early_window;
  if (w >= static_cast<int>(t)) {
    out.pruning_absent_reason = absl::StrCat("w = ", w, " >= T = ", t, ": pruning saves nothing");
    return out;
  }
  for (int candidates = 1; candidates <= max_runs; ++candidates) {
    PruneRow row;
    row.candidates = candidates;
    row.segments = static_cast<double>(candidates) * w + static_cast<double>(t - w);
    double correct = 0;
    for (const auto& runs : included) {
      correct += runs[BestRun(runs, candidates, [w](const ExampleRecord& r) {
                   return r.segments[w - 1].halt_confidence;
                 })]->correct;
    }
    row.accuracy = correct / n_puzzles;
    row.full_runs_same_budget =
        std::clamp(static_cast<int>(std::floor(row.segments / static_cast<double>(t))), 1, max_runs);
    row.best_of_h_same_budget = out.rows[row.full_runs_same_budget - 1].best_of_h;
    out.pruning.push_back(row);
  }
  return out;
}

}  // namespace

int SettlingSegment(const ExampleRecord& record, double tau) {
  int t = static_cast<int>(record.segments.size());
  // Walk back from T while d ≤ τ; NaN compares false and so stops the walk.
  while (t > 0 && record.segments[t - 1].displacement_joint <= tau) --t;
  return t == static_cast<int>(record.segments.size()) ? 0 : t + 1;
}

absl::StatusOr<Report> Analyze(const std::vector<ExampleRecord>& records, const AnalysisParameters& params) {
  RRM_RETURN_IF_ERROR(ValidateParameters(params));
  Report report;
  report.parameters = params;
  Counts& counts = report.counts;
  counts.records = static_cast<int64_t>(records.size());

  std::vector<const ExampleRecord*> valid, population_records;
  std::set<std::pair<int32_t, int32_t>> seen;
  for (const ExampleRecord& r : records) {
    if (!r.error.empty()) {
      ++counts.errors;
      continue;
    }
    if (r.segments.empty()) {
      ++counts.without_segments;
      continue;
    }
    if (!seen.insert({r.example_index, r.restart}).second) {
      return absl::InvalidArgumentError(absl::StrCat("two valid records for example_index ", r.example_index,
                                                     " restart ", r.restart, "; analyse one job's records"));
    }
    valid.push_back(&r);
    if (r.restart == 0) {
      population_records.push_back(&r);
    } else {
      ++counts.restart_records;
    }
  }
  // The records' order (store append order, merged shard streams) depends on
  // scheduling; bootstrap resampling walks the population in order, so sort
  // by (example_index, restart): the same records always give the same report.
  auto by_key = [](const ExampleRecord* a, const ExampleRecord* b) {
    return std::make_pair(a->example_index, a->restart) < std::make_pair(b->example_index, b->restart);
  };
  std::sort(valid.begin(), valid.end(), by_key);
  std::sort(population_records.begin(), population_records.end(), by_key);
  counts.population = static_cast<int64_t>(population_records.size());

  report.lyapunov = ChooseLyapunov(population_records, params);
  FillSeedSpread(population_records, &report.lyapunov);

  std::vector<Example> population;
  for (const ExampleRecord* r : population_records) {
    Example e;
    e.record = r;
    e.success = r->correct;
    e.d_t = r->segments.back().displacement_joint;
    e.h_t = r->segments.back().halt_confidence;
    e.lambda_1 = UsesLyapunov(report.lyapunov, *r) ? r->lyapunov[0] : kAbsent;
    population.push_back(e);
    (e.success ? counts.successes : counts.failures) += 1;
  }
  counts.accuracy = Share(counts.successes, counts.population);

  report.settling = ComputeSettling(population, params);
  if (population.empty()) report.settling.absent_reason = "no records in the population (restart 0, no error)";

  report.summaries.push_back(Summarize("lambda_1", population, LambdaOf));
  if (!report.lyapunov.absent_reason.empty()) report.summaries.back().absent_reason = report.lyapunov.absent_reason;
  report.summaries.push_back(Summarize("d_T", population, DisplacementOf));
  report.summaries.push_back(Summarize("h_T", population, HaltOf));

  report.aucs.push_back(OutcomeAuc("lambda_1", "failure", population, params, LambdaOf));
  if (!report.lyapunov.absent_reason.empty()) report.aucs.back().absent_reason = report.lyapunov.absent_reason;
  report.aucs.push_back(OutcomeAuc("d_T", "failure", population, params, DisplacementOf));
  report.aucs.push_back(OutcomeAuc("h_T", "failure", population, params, HaltOf));

  report.matched = DisplacementMatched(population, report.settling, report.lyapunov, params);
  for (MatchedAuc& m : GivensMatched(population, report.lyapunov, params)) report.matched.push_back(std::move(m));

  report.early = ComputeEarlyWindow(population, report.lyapunov, params);
  report.halting = ComputeHalting(population, params);
  report.restarts = ComputeRestarts(valid, params);
  return report;
}

}  // namespace rrm::analysis
