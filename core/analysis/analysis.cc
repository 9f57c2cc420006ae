#include "core/analysis/analysis.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/analysis/auc.h"
#include "core/analysis/claims.h"
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

constexpr double kZ95 = 1.959963984540054;  // Φ⁻¹(0.975)

Quartiles QuartilesOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  Quartiles q;
  q.n = static_cast<int64_t>(values.size());
  q.q1 = SortedQuantile(values, 0.25);
  q.median = SortedQuantile(values, 0.5);
  q.q3 = SortedQuantile(values, 0.75);
  if (q.n > 0) {
    // Distribution-free median interval (analysis.h Quartiles).
    const double n = static_cast<double>(q.n), spread = kZ95 * std::sqrt(n);
    const int64_t l = std::clamp<int64_t>(static_cast<int64_t>(std::floor((n - spread) / 2)), 1, q.n);
    const int64_t u = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(1 + (n + spread) / 2)), 1, q.n);
    q.median_ci_low = values[l - 1];
    q.median_ci_high = values[u - 1];
  }
  return q;
}

// The pre-specified direction of SPEC §5, written once for every AUC.
std::string StatedDirection(const std::string& score, const std::string& positive_class) {
  return absl::StrCat("higher ", score, " -> ", positive_class);
}

// SPEC §5: higher λ_1 and higher d_T point to failure, higher h_T to success
// (the outcome AUCs and the matched ones; the early window is all "success").
const char* PositiveClassOf(const std::string& score) { return score == "h_T" ? "success" : "failure"; }

AucStat NewAuc(const std::string& score, const std::string& positive_class) {
  AucStat stat;
  stat.score = score;
  stat.positive_class = positive_class;
  stat.direction = StatedDirection(score, positive_class);
  return stat;
}

const char* OtherClass(const std::string& positive_class) {
  return positive_class == "failure" ? "success" : "failure";
}

// Counts the classes and fills auc_raw / auc_folded in the stated direction
// from samples in `num_bins` bins (one bin for the plain AUC); false (with
// the reason) when the AUC is undefined. No CI.
bool FillAucFromTallies(const std::vector<PairTally>& tallies, AucStat* stat);

bool FillAucPoint(const std::vector<Scored>& samples, int num_bins, AucStat* stat) {
  return FillAucFromTallies(TallyPairsWithinBins(samples, num_bins), stat);
}

// The same from per-bin tallies already made (matched AUCs reuse them for
// their bin rows: one sort per statistic and bootstrap replicate, not two).
bool FillAucFromTallies(const std::vector<PairTally>& tallies, AucStat* stat) {
  for (const PairTally& t : tallies) {
    stat->n_positive += t.n_positive;
    stat->n_negative += t.n_negative;
  }
  if (stat->n_positive == 0 || stat->n_negative == 0) {
    stat->absent_reason =
        stat->n_positive + stat->n_negative == 0
            ? absl::StrCat("no records with a usable ", stat->score)
            : absl::StrCat("one class only: no ", stat->n_positive == 0 ? stat->positive_class
                                                                        : OtherClass(stat->positive_class),
                           " records with a usable ", stat->score);
    return false;
  }
  stat->auc_raw = PooledAuc(tallies);
  if (std::isnan(stat->auc_raw)) {
    stat->absent_reason = "no bin holds both classes: no pairs to compare";
    return false;
  }
  stat->auc_folded = std::max(stat->auc_raw, 1.0 - stat->auc_raw);
  return true;
}

// Plain AUC of `score_of` over the population in the stated direction, with
// a class-stratified bootstrap CI of auc_raw.
template <typename ScoreFn>
AucStat OutcomeAuc(const std::string& score, const std::string& positive_class,
                   const std::vector<Example>& population, const AnalysisParameters& params,
                   ScoreFn score_of) {
  AucStat stat = NewAuc(score, positive_class);
  std::vector<Scored> samples;
  for (const Example& e : population) {
    const double v = score_of(e);
    if (IsMissing(v)) {
      ++stat.n_missing;
      continue;
    }
    samples.push_back({v, (positive_class == "failure") != e.success, 0});
  }
  if (!FillAucPoint(samples, 1, &stat) || params.bootstrap < 1) return stat;
  const Interval ci = BootstrapAucInterval(samples, 1, params.bootstrap, params.seed);
  stat.ci_low = ci.low;
  stat.ci_high = ci.high;
  stat.ci_method = "bootstrap stratified by class";
  stat.ci_replicates = params.bootstrap;
  return stat;
}

ScoreSummary Summarize(const std::string& score, const std::vector<Example>& population,
                       const std::function<double(const Example&)>& score_of) {
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

// Type-7 quantile of a multiset given as (value, multiplicity) pairs sorted by
// value: the same number SortedQuantile gives on the expanded values.
double WeightedSortedQuantile(const std::vector<std::pair<double, double>>& sorted, double q) {
  double total = 0;
  for (const auto& [value, weight] : sorted) total += weight;
  if (total < 1) return kAbsent;
  const double position = q * (total - 1);
  const double below = std::floor(position), fraction = position - below;
  // Value at 0-based rank r of the expanded multiset.
  auto at_rank = [&sorted](double r) {
    double seen = 0;
    for (const auto& [value, weight] : sorted) {
      seen += weight;
      if (r < seen) return value;
    }
    return sorted.back().first;
  };
  const double low = at_rank(below);
  if (fraction == 0) return low;
  const double high = at_rank(std::min(below + 1, total - 1));
  return low == high ? low : low + fraction * (high - low);
}

// SPEC §5 settling threshold: τ as given, or the 95th percentile of d_T among
// successes (NaN when there is none), from the successes' finite d_T as
// (value, multiplicity) pairs sorted by value. The one definition, used by
// the decomposition and by every matched-AUC bootstrap replicate.
double SettlingThresholdOf(const std::vector<std::pair<double, double>>& success_d, const AnalysisParameters& params) {
  return params.tau.has_value() ? *params.tau : WeightedSortedQuantile(success_d, 0.95);
}

double SettlingThreshold(const std::vector<Example>& sample, const AnalysisParameters& params) {
  std::vector<std::pair<double, double>> success_d;
  for (const Example& e : sample) {
    if (e.success && !IsMissing(e.d_t)) success_d.push_back({e.d_t, 1.0});
  }
  std::sort(success_d.begin(), success_d.end());
  return SettlingThresholdOf(success_d, params);
}

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

// Chooses the λ method (see AnalysisParameters::lyapunov_method) and k, and
// fills everything in LyapunovInfo except the seed spread. SPEC §5: one
// method and one k per analysis.
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
  if (!info.absent_reason.empty()) return info;
  std::set<size_t> ks;
  std::set<int32_t> updates;
  for (const ExampleRecord* r : population) {
    if (r->lyapunov.empty() || MethodName(*r) != info.method) continue;
    ks.insert(r->lyapunov.size());
    updates.insert(r->updates_per_segment);
  }
  if (ks.size() > 1) {
    info.absent_reason = absl::StrCat("records mix the number of exponents k (", absl::StrJoin(ks, ", "),
                                      "): analyse one k (SPEC 5)");
    return info;
  }
  info.k = static_cast<int>(*ks.begin());
  if (updates.size() == 1 && *updates.begin() > 0) info.updates_per_segment = *updates.begin();
  return info;
}

bool UsesLyapunov(const LyapunovInfo& info, const ExampleRecord& r) {
  return info.absent_reason.empty() && !r.lyapunov.empty() && MethodName(r) == info.method;
}

// λ_1[1..w] (SPEC §5 early window): the propagator's own window exponent
// (1/w)·log σ_1(J_w ⋯ J_1) when the record's window is w; with QR, the mean of
// ℓ_{t,1} over t = 1..w. NaN when the record carries neither for this w.
double EarlyLambda(const LyapunovInfo& info, const ExampleRecord& r, int w) {
  if (!UsesLyapunov(info, r) || static_cast<int>(r.segments.size()) < w) return kAbsent;
  if (info.method == "propagator") {
    return r.lyapunov_window_segments == w && !r.lyapunov_window.empty() ? r.lyapunov_window[0] : kAbsent;
  }
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
    info->records_not_converged += info->method == "propagator" && !r->lyapunov_converged;
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

// SPEC §5 population rule over the valid labelled records: one model (an
// empty name is the one model "unknown"), one family, one T.
PopulationInfo CheckPopulation(const std::vector<const ExampleRecord*>& labelled) {
  PopulationInfo info;
  std::set<std::string> models, families;
  std::set<int> segment_counts;
  for (const ExampleRecord* r : labelled) {
    models.insert(r->model.empty() ? "unknown" : r->model);
    families.insert(r->model_family.empty() ? "unknown" : r->model_family);
    segment_counts.insert(static_cast<int>(r->segments.size()));
    info.sudoku = info.sudoku || r->givens >= 0;
  }
  info.models.assign(models.begin(), models.end());
  info.segment_counts.assign(segment_counts.begin(), segment_counts.end());
  if (families.size() == 1) info.model_family = *families.begin();
  if (segment_counts.size() == 1) info.segments = *segment_counts.begin();
  if (models.size() > 1) {
    info.absent_reason = absl::StrCat("records mix models (", absl::StrJoin(models, ", "),
                                      "): analyse one model's records (SPEC 5)");
  } else if (families.size() > 1) {
    info.absent_reason = absl::StrCat("records mix model families (", absl::StrJoin(families, ", "),
                                      "): analyse one model's records (SPEC 5)");
  } else if (segment_counts.size() > 1) {
    info.absent_reason = absl::StrCat("records mix T (", absl::StrJoin(segment_counts, ", "),
                                      " segments): analyse one T (SPEC 5)");
  }
  return info;
}

// SPEC §4/§5: a record measured without labels has token_accuracy NaN at
// every segment; its `correct` is false but it is not a failure.
bool IsUnlabelled(const ExampleRecord& r) {
  for (const measure::SegmentRecord& s : r.segments) {
    if (!std::isnan(s.token_accuracy)) return false;
  }
  return true;
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
    int64_t below = 0;
    for (double d : success_d) below += d < s.least_mobile_failure_d_t;
    s.successes_below_least_mobile_failure = Wilson(below, static_cast<int64_t>(success_d.size()));
  }

  s.tau = SettlingThreshold(population, params);
  if (std::isnan(s.tau)) {
    s.absent_reason = "no successes with a finite d_T to set the default tau; give tau";
    return s;
  }
  s.tau_source = params.tau.has_value() ? "given" : "p95_d_T_successes";
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
  s.share_success_settled = Wilson(s.success_settled, total);
  s.share_success_unsettled = Wilson(s.success_unsettled, total);
  s.share_failure_settled = Wilson(s.failure_settled, total);
  s.share_failure_unsettled = Wilson(s.failure_unsettled, total);
  s.settled_share_of_successes = Wilson(s.success_settled, s.success_settled + s.success_unsettled);
  s.settled_share_of_failures = Wilson(s.failure_settled, s.failure_settled + s.failure_unsettled);
  s.settling_segment_success = QuartilesOf(segment_success);
  s.settling_segment_failure = QuartilesOf(segment_failure);
  return s;
}

MatchedAuc AbsentMatched(const std::string& binning, const std::string& score, const std::string& reason) {
  MatchedAuc matched;
  matched.binning = binning;
  matched.pooled = NewAuc(score, PositiveClassOf(score));
  matched.plain = NewAuc(score, PositiveClassOf(score));
  matched.pooled.absent_reason = matched.plain.absent_reason = reason;
  return matched;
}

// The SPEC §5 matched AUCs of one sample of puzzles, the sample given as
// multiplicities over the population (all ones: the data; a bootstrap
// replicate: how often each puzzle was drawn). The population is sorted by
// each score once, so a replicate costs O(n) per statistic instead of a sort;
// the numbers are those of the expanded sample (the tallies are sums of
// integers and halves, exact in double).
class MatchedAucs {
 public:
  MatchedAucs(const std::vector<Example>& population, const LyapunovInfo& lyapunov, const AnalysisParameters& params)
      : population_(population), lyapunov_(lyapunov), params_(params) {
    for (size_t i = 0; i < population.size(); ++i) {
      if (!IsMissing(population[i].d_t)) by_d_.push_back(i);
    }
    SortBy(DisplacementOf, &by_d_);
    by_lambda_ = Finite(LambdaOf);
    by_h_ = Finite(HaltOf);
  }

  // Five entries, always in this order (so a replicate lines up with the
  // estimate): λ_1 and h_T in d_T quantile bins among the unsettled, then
  // λ_1, d_T and h_T in givens bins. τ (unless given), the unsettled set, the
  // bin edges and the givens values all come from the sample.
  std::vector<MatchedAuc> Compute(const std::vector<double>& weight) const {
    std::vector<MatchedAuc> out;
    const size_t n = population_.size();
    // --- d_T bins among the unsettled.
    const std::string d_binning = absl::StrCat("d_T quantile bins (", params_.displacement_bins, ", unsettled)");
    std::vector<std::pair<double, double>> success_d;
    for (size_t i : by_d_) {
      if (population_[i].success && weight[i] > 0) success_d.push_back({population_[i].d_t, weight[i]});
    }
    const double tau = SettlingThresholdOf(success_d, params_);
    std::vector<std::pair<double, double>> unsettled_d;
    for (size_t i : by_d_) {
      if (weight[i] > 0 && population_[i].d_t > tau) unsettled_d.push_back({population_[i].d_t, weight[i]});
    }
    std::string reason;
    if (std::isnan(tau)) {
      reason = "no tau: no successes with a finite d_T to set the default tau; give tau";
    } else if (unsettled_d.empty()) {
      reason = "no unsettled records";
    }
    if (!reason.empty()) {
      out.push_back(AbsentMatched(d_binning, "lambda_1", lyapunov_.absent_reason.empty() ? reason : lyapunov_.absent_reason));
      out.push_back(AbsentMatched(d_binning, "h_T", reason));
    } else {
      // Edges at quantiles i/bins (type 7); a bin is (e_b, e_{b+1}], the first
      // one closed below, so values on an edge fall in the lower bin.
      const int bins = params_.displacement_bins;
      std::vector<double> edges;
      for (int i = 0; i <= bins; ++i) edges.push_back(WeightedSortedQuantile(unsettled_d, static_cast<double>(i) / bins));
      std::vector<BinRow> rows(bins);
      for (int b = 0; b < bins; ++b) {
        rows[b].label = absl::StrCat("d_T bin ", b + 1);
        rows[b].low = edges[b];
        rows[b].high = edges[b + 1];
      }
      std::vector<int> bin(n, -1);
      for (size_t i = 0; i < n; ++i) {
        const double d = population_[i].d_t;
        if (weight[i] > 0 && !IsMissing(d) && d > tau) {
          bin[i] = static_cast<int>(std::lower_bound(edges.begin() + 1, edges.begin() + bins, d) - (edges.begin() + 1));
        }
      }
      if (lyapunov_.absent_reason.empty()) {
        out.push_back(Matched(d_binning, "lambda_1", LambdaOf, by_lambda_, rows, bin, weight));
      } else {
        out.push_back(AbsentMatched(d_binning, "lambda_1", lyapunov_.absent_reason));
      }
      out.push_back(Matched(d_binning, "h_T", HaltOf, by_h_, rows, bin, weight));
    }
    // --- givens: one bin per distinct value (the difficulty control).
    const std::string g_binning = "givens (one bin per value)";
    std::vector<int> values;
    double without = 0;  // records without givens: outside the matched sample, counted missing
    for (size_t i = 0; i < n; ++i) {
      if (weight[i] == 0) continue;
      if (population_[i].record->givens >= 0) {
        values.push_back(population_[i].record->givens);
      } else {
        without += weight[i];
      }
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    if (values.empty()) {
      const std::string none = "no givens in the records (givens = -1: not Sudoku)";
      for (const char* score : {"lambda_1", "d_T", "h_T"}) out.push_back(AbsentMatched(g_binning, score, none));
      return out;
    }
    std::vector<BinRow> rows(values.size());
    for (size_t b = 0; b < values.size(); ++b) {
      rows[b].label = absl::StrCat("givens ", values[b]);
      rows[b].low = rows[b].high = values[b];
    }
    std::vector<int> bin(n, -1);
    for (size_t i = 0; i < n; ++i) {
      const int g = population_[i].record->givens;
      if (weight[i] > 0 && g >= 0) bin[i] = static_cast<int>(std::lower_bound(values.begin(), values.end(), g) - values.begin());
    }
    if (lyapunov_.absent_reason.empty()) {
      out.push_back(Matched(g_binning, "lambda_1", LambdaOf, by_lambda_, rows, bin, weight));
    } else {
      out.push_back(AbsentMatched(g_binning, "lambda_1", lyapunov_.absent_reason));
    }
    out.push_back(Matched(g_binning, "d_T", DisplacementOf, by_d_, rows, bin, weight));
    out.push_back(Matched(g_binning, "h_T", HaltOf, by_h_, rows, bin, weight));
    for (size_t i = out.size() - 3; i < out.size(); ++i) {
      out[i].pooled.n_missing += static_cast<int64_t>(without);
      out[i].plain.n_missing += static_cast<int64_t>(without);
    }
    return out;
  }

 private:
  using ScoreFn = double (*)(const Example&);

  void SortBy(ScoreFn score_of, std::vector<size_t>* order) const {
    std::stable_sort(order->begin(), order->end(), [this, score_of](size_t a, size_t b) {
      return score_of(population_[a]) < score_of(population_[b]);
    });
  }

  std::vector<size_t> Finite(ScoreFn score_of) const {
    std::vector<size_t> order;
    for (size_t i = 0; i < population_.size(); ++i) {
      if (!IsMissing(score_of(population_[i]))) order.push_back(i);
    }
    SortBy(score_of, &order);
    return order;
  }

  // Pairs-within-bin tallies (pooled) and all-pairs tallies (plain) of one
  // score in one pass over its sorted order: within a tie group, equal
  // scores count one half (SPEC §5).
  MatchedAuc Matched(const std::string& binning, const std::string& score, ScoreFn score_of,
                     const std::vector<size_t>& order, std::vector<BinRow> rows, const std::vector<int>& bin,
                     const std::vector<double>& weight) const {
    MatchedAuc matched;
    matched.binning = binning;
    matched.pooled = NewAuc(score, PositiveClassOf(score));
    matched.plain = NewAuc(score, PositiveClassOf(score));
    const bool failure_positive = matched.pooled.positive_class == "failure";
    for (size_t i = 0; i < population_.size(); ++i) {
      if (bin[i] >= 0 && IsMissing(score_of(population_[i]))) {
        matched.pooled.n_missing += static_cast<int64_t>(weight[i]);
        matched.plain.n_missing += static_cast<int64_t>(weight[i]);
      }
    }
    const size_t num_bins = rows.size();
    std::vector<double> favourable(num_bins), positives(num_bins), negatives(num_bins), group_pos(num_bins),
        group_neg(num_bins);
    std::vector<int> touched;
    PairTally plain;
    double plain_negatives_below = 0;
    size_t k = 0;
    while (k < order.size()) {
      const double value = score_of(population_[order[k]]);
      double all_pos = 0, all_neg = 0;
      touched.clear();
      for (; k < order.size() && score_of(population_[order[k]]) == value; ++k) {
        const size_t i = order[k];
        if (bin[i] < 0) continue;
        const bool positive = failure_positive != population_[i].success;
        const int b = bin[i];
        if (group_pos[b] == 0 && group_neg[b] == 0) touched.push_back(b);
        (positive ? group_pos[b] : group_neg[b]) += weight[i];
        (positive ? all_pos : all_neg) += weight[i];
      }
      for (int b : touched) {
        // negatives so far in this bin lie strictly below this tie group
        favourable[b] += group_pos[b] * (negatives[b]) + 0.5 * group_pos[b] * group_neg[b];
        positives[b] += group_pos[b];
        negatives[b] += group_neg[b];
        group_pos[b] = group_neg[b] = 0;
      }
      plain.favourable += all_pos * plain_negatives_below + 0.5 * all_pos * all_neg;
      plain_negatives_below += all_neg;
      plain.n_positive += static_cast<int64_t>(all_pos);
      plain.n_negative += static_cast<int64_t>(all_neg);
    }
    plain.pairs = static_cast<double>(plain.n_positive) * static_cast<double>(plain.n_negative);
    std::vector<PairTally> tallies(num_bins);
    for (size_t b = 0; b < num_bins; ++b) {
      tallies[b] = {favourable[b], positives[b] * negatives[b], static_cast<int64_t>(positives[b]),
                    static_cast<int64_t>(negatives[b])};
      rows[b].n_positive = tallies[b].n_positive;
      rows[b].n_negative = tallies[b].n_negative;
      rows[b].pairs = tallies[b].pairs;
      if (tallies[b].pairs > 0) rows[b].auc_raw = tallies[b].favourable / tallies[b].pairs;
    }
    FillAucFromTallies(tallies, &matched.pooled);
    FillAucFromTallies({plain}, &matched.plain);
    matched.bins = std::move(rows);
    return matched;
  }

  const std::vector<Example>& population_;
  const LyapunovInfo& lyapunov_;
  const AnalysisParameters& params_;
  std::vector<size_t> by_d_, by_lambda_, by_h_;  // finite scores, ascending
};

// SPEC §5 matched AUCs with their CIs: a bootstrap over puzzles (the
// population's records drawn with replacement, std::mt19937_64(seed)) that
// redoes the whole matching in every replicate, so the matching (τ, the
// unsettled set, the bin edges, the givens values) is part of the estimate.
// Replicates where a statistic is undefined are left out of its interval and
// counted (ci_replicates).
std::vector<MatchedAuc> ComputeMatched(const std::vector<Example>& population, const LyapunovInfo& lyapunov,
                                       const AnalysisParameters& params) {
  const MatchedAucs engine(population, lyapunov, params);
  std::vector<double> weight(population.size(), 1.0);
  std::vector<MatchedAuc> matched = engine.Compute(weight);
  if (params.bootstrap < 1 || population.empty()) return matched;
  const size_t m = matched.size();
  std::vector<std::vector<double>> pooled(m), plain(m);
  std::mt19937_64 rng(params.seed);
  for (int r = 0; r < params.bootstrap; ++r) {
    std::fill(weight.begin(), weight.end(), 0.0);
    for (size_t k = 0; k < population.size(); ++k) weight[UniformIndex(rng, population.size())] += 1.0;
    const std::vector<MatchedAuc> replicate = engine.Compute(weight);
    for (size_t i = 0; i < m; ++i) {
      if (!std::isnan(replicate[i].pooled.auc_raw)) pooled[i].push_back(replicate[i].pooled.auc_raw);
      if (!std::isnan(replicate[i].plain.auc_raw)) plain[i].push_back(replicate[i].plain.auc_raw);
    }
  }
  auto fill = [](std::vector<double> values, AucStat* stat) {
    if (std::isnan(stat->auc_raw) || values.empty()) return;
    std::sort(values.begin(), values.end());
    stat->ci_low = SortedQuantile(values, 0.025);
    stat->ci_high = SortedQuantile(values, 0.975);
    stat->ci_replicates = static_cast<int64_t>(values.size());
    stat->ci_method = "bootstrap over puzzles, matching redone per replicate";
  };
  for (size_t i = 0; i < m; ++i) {
    fill(std::move(pooled[i]), &matched[i].pooled);
    fill(std::move(plain[i]), &matched[i].plain);
  }
  return matched;
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
  if (lyapunov.method == "propagator") {
    early.lambda_1_source = "propagator window exponent (1/w) log sigma_1(J_w...J_1) (lyapunov_window[0])";
  } else if (lyapunov.method == "qr") {
    early.lambda_1_source = "mean of the first w QR increments; a QR window still depends on Q_0 (SPEC 5)";
  }
  early.lambda_1 = OutcomeAuc(absl::StrCat("lambda_1", window), "success", at_risk, params,
                              [&](const Example& e) { return EarlyLambda(lyapunov, *e.record, w); });
  if (!lyapunov.absent_reason.empty()) {
    early.lambda_1.absent_reason = lyapunov.absent_reason;
  } else if (lyapunov.method == "propagator" && !at_risk.empty() && early.lambda_1.n_missing == early.n_at_risk) {
    std::set<int32_t> windows;
    for (const Example& e : at_risk) windows.insert(e.record->lyapunov_window_segments);
    early.lambda_1.absent_reason =
        absl::StrCat("the records' propagator window is ", absl::StrJoin(windows, ", "),
                     " segments, not w = ", w, ": analyse with early_window equal to the measured window");
  }
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

Halting ComputeHalting(const std::vector<Example>& population, const std::string& family, double tau,
                       const AnalysisParameters& params) {
  Halting halting;
  halting.auc = OutcomeAuc("h_T", PositiveClassOf("h_T"), population, params, HaltOf);
  int64_t failures = 0, confident = 0, with_d = 0, settled_confident = 0, ruled = 0, halted = 0;
  // SPEC §5: the model's own halting rule, by family.
  const bool trm = family == "trm", hrm = family == "hrm";
  if (trm) halting.rule = "q_halt > 0 (TRM)";
  if (hrm) halting.rule = "q_halt > q_continue (HRM)";
  if (!trm && !hrm) {
    halting.rule_absent_reason =
        family == "unknown" || family.empty()
            ? "model family unknown (records carry no model_family): no halting rule to apply"
            : absl::StrCat("no halting rule known for model family \"", family, "\"");
  }
  for (const Example& e : population) {
    if (e.success) continue;
    const measure::SegmentRecord& last = e.record->segments.back();
    if (!IsMissing(e.h_t)) {
      ++failures;
      confident += e.h_t > 0.5;
      if (!IsMissing(e.d_t) && !std::isnan(tau)) {
        ++with_d;
        settled_confident += e.h_t > 0.5 && e.d_t <= tau;
      }
    }
    const double q_halt = last.q_halt_logit, q_continue = last.q_continue_logit;
    if ((trm && !IsMissing(q_halt)) || (hrm && !IsMissing(q_halt) && !IsMissing(q_continue))) {
      ++ruled;
      halted += trm ? q_halt > 0 : q_halt > q_continue;
    }
  }
  halting.failures_confident = Wilson(confident, failures);
  halting.failures_settled_confident = Wilson(settled_confident, with_d);
  halting.failures_halted_by_rule = Wilson(halted, ruled);
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

PairedComparison Paired(const std::vector<bool>& strategy, const std::vector<bool>& first) {
  PairedComparison c;
  c.n = static_cast<int64_t>(first.size());
  for (size_t p = 0; p < first.size(); ++p) {
    c.only_strategy += strategy[p] && !first[p];
    c.only_first += first[p] && !strategy[p];
  }
  if (c.n == 0) return c;
  c.difference = static_cast<double>(c.only_strategy - c.only_first) / static_cast<double>(c.n);
  c.p_value = McNemarExactP(c.only_strategy, c.only_first);
  return c;
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

  // Per puzzle, whether each strategy's chosen run is correct; the shares and
  // the paired comparisons against the first run are computed from these.
  std::vector<bool> first(included.size());
  for (size_t p = 0; p < included.size(); ++p) first[p] = included[p][0]->correct;
  const int64_t n_puzzles = static_cast<int64_t>(included.size());
  auto share = [n_puzzles](const std::vector<bool>& correct) {
    return Wilson(std::count(correct.begin(), correct.end(), true), n_puzzles);
  };
  for (int runs_used = 1; runs_used <= max_runs; ++runs_used) {
    RestartRow row;
    row.runs = runs_used;
    row.segments = static_cast<double>(runs_used) * t;
    std::vector<bool> best(included.size()), majority(included.size()), oracle(included.size());
    for (size_t p = 0; p < included.size(); ++p) {
      const auto& runs = included[p];
      best[p] = runs[BestRun(runs, runs_used, FinalHalt)]->correct;
      if (all_predict) majority[p] = runs[MajorityRun(runs, runs_used)]->correct;
      for (int i = 0; i < runs_used; ++i) oracle[p] = oracle[p] || runs[i]->correct;
    }
    row.first_run = share(first);
    row.best_of_h = share(best);
    row.best_of_h_vs_first = Paired(best, first);
    if (all_predict) {
      row.majority = share(majority);
      row.majority_vs_first = Paired(majority, first);
    }
    row.oracle = share(oracle);
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
    // SPEC §5: C candidates run to w, the best continued: C·w + T − w segments.
    row.segments = static_cast<double>(candidates) * w + static_cast<double>(t - w);
    std::vector<bool> kept(included.size());
    for (size_t p = 0; p < included.size(); ++p) {
      const auto& runs = included[p];
      kept[p] = runs[BestRun(runs, candidates, [w](const ExampleRecord& r) {
                  return r.segments[w - 1].halt_confidence;
                })]->correct;
    }
    row.accuracy = share(kept);
    row.vs_first = Paired(kept, first);
    // Best-of-R at exactly the same segments: R = segments / T, interpolated
    // between ⌊R⌋ and ⌈R⌉ (analysis.h PruneRow). C ≤ R_max and w < T keep
    // R ≤ R_max, so no extrapolation is needed.
    row.full_runs_same_budget = row.segments / static_cast<double>(t);
    const int below = static_cast<int>(std::floor(row.full_runs_same_budget));
    const double fraction = row.full_runs_same_budget - below;
    const double low = out.rows[below - 1].best_of_h.share;
    row.best_of_h_same_budget =
        fraction == 0 ? low : (1 - fraction) * low + fraction * out.rows[below].best_of_h.share;
    out.pruning.push_back(row);
  }
  return out;
}

// Fills every statistic's absent reason when the population rule fails
// (SPEC §5: the statistic is absent with the reason).
void MarkAllAbsent(const std::string& reason, Report* r) {
  r->counts.accuracy = Proportion{};
  r->settling = Settling{};
  r->settling.absent_reason = r->settling.least_mobile_absent_reason = reason;
  for (ScoreSummary& s : r->summaries) s.absent_reason = reason;
  for (AucStat& a : r->aucs) a.absent_reason = reason;
  for (MatchedAuc& m : r->matched) m.pooled.absent_reason = m.plain.absent_reason = reason;
  for (AucStat* a : {&r->early.lambda_1, &r->early.d_w, &r->early.h_w}) a->absent_reason = reason;
  r->halting.auc.absent_reason = r->halting.rule_absent_reason = reason;
  r->restarts.absent_reason = reason;
}

}  // namespace

Proportion Wilson(int64_t k, int64_t n) {
  Proportion p;
  p.k = k;
  p.n = n;
  if (n <= 0) return p;
  const double nn = static_cast<double>(n), share = static_cast<double>(k) / nn, z2 = kZ95 * kZ95;
  const double denominator = 1 + z2 / nn;
  const double centre = (share + z2 / (2 * nn)) / denominator;
  const double half = kZ95 * std::sqrt(share * (1 - share) / nn + z2 / (4 * nn * nn)) / denominator;
  p.share = share;
  // At k = 0 (k = n) the lower (upper) end is exactly 0 (1); rounding must not
  // move it, or a paper value of 0% would read as outside the interval.
  p.ci_low = k == 0 ? 0.0 : std::max(0.0, centre - half);
  p.ci_high = k == n ? 1.0 : std::min(1.0, centre + half);
  return p;
}

double McNemarExactP(int64_t b, int64_t c) {
  const int64_t m = b + c;
  if (m == 0) return 1.0;
  const double log_total = std::lgamma(static_cast<double>(m) + 1) - static_cast<double>(m) * std::log(2.0);
  double tail = 0;
  for (int64_t i = 0; i <= std::min(b, c); ++i) {
    tail += std::exp(log_total - std::lgamma(static_cast<double>(i) + 1) - std::lgamma(static_cast<double>(m - i) + 1));
  }
  return std::min(1.0, 2 * tail);
}

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
    if (IsUnlabelled(r)) {  // not an outcome: counted apart, never a failure
      ++counts.unlabelled;
      continue;
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
  for (const ExampleRecord* r : population_records) (r->correct ? counts.successes : counts.failures) += 1;

  report.population = CheckPopulation(valid);
  const bool one_population = report.population.absent_reason.empty();
  // A mixed population still gets every section, computed on nothing and
  // then marked absent with the population's reason.
  if (!one_population) {
    valid.clear();
    population_records.clear();
  }

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
  }
  counts.accuracy = Wilson(counts.successes, counts.population);

  report.energy = AnalyzeEnergyMaps(population_records, params.bootstrap, params.seed);
  if (!one_population) report.energy.absent_reason = report.population.absent_reason;
  report.settling = ComputeSettling(population, params);
  if (population.empty()) report.settling.absent_reason = "no records in the population (restart 0, no error)";

  const std::string& lambda_absent = report.lyapunov.absent_reason;
  report.summaries.push_back(Summarize("lambda_1", population, LambdaOf));
  if (!lambda_absent.empty()) report.summaries.back().absent_reason = lambda_absent;
  // Per-update exponents beside per-segment ones: λ / (H_cycles·(L_cycles + 1)).
  const int updates = report.lyapunov.updates_per_segment;
  report.summaries.push_back(Summarize("lambda_1_per_update", population, [updates](const Example& e) {
    return updates > 0 ? e.lambda_1 / updates : kAbsent;
  }));
  if (!lambda_absent.empty()) {
    report.summaries.back().absent_reason = lambda_absent;
  } else if (updates == 0) {
    report.summaries.back().absent_reason = "updates_per_segment unknown (0) or not the same in every record";
  }
  report.summaries.push_back(Summarize("d_T", population, DisplacementOf));
  report.summaries.push_back(Summarize("h_T", population, HaltOf));

  // SPEC §5 pre-specified directions: higher λ_1, higher d_T -> failure; higher h_T -> success.
  report.aucs.push_back(OutcomeAuc("lambda_1", PositiveClassOf("lambda_1"), population, params, LambdaOf));
  if (!lambda_absent.empty()) report.aucs.back().absent_reason = lambda_absent;
  report.aucs.push_back(OutcomeAuc("d_T", PositiveClassOf("d_T"), population, params, DisplacementOf));
  report.aucs.push_back(OutcomeAuc("h_T", PositiveClassOf("h_T"), population, params, HaltOf));

  report.matched = ComputeMatched(population, report.lyapunov, params);
  report.early = ComputeEarlyWindow(population, report.lyapunov, params);
  report.halting = ComputeHalting(population, report.population.model_family, report.settling.tau, params);
  report.restarts = ComputeRestarts(valid, params);
  if (!one_population) MarkAllAbsent(report.population.absent_reason, &report);
  report.claims = Claims(report);
  return report;
}

}  // namespace rrm::analysis
