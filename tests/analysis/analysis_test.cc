// Analyze() on synthetic records built so that every number is known in
// advance (SPEC §5), and on the edge cases the header documents.
#include "core/analysis/analysis.h"
#include "core/analysis/report_format.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/analysis/synthetic_records.h"

namespace rrm::analysis {
namespace {

using ::rrm::analysis::testing::MakeRecord;
using ::rrm::analysis::testing::Trajectory;
using ::testing::HasSubstr;

const AucStat& FindAuc(const std::vector<AucStat>& aucs, const std::string& score) {
  for (const AucStat& a : aucs) {
    if (a.score == score) return a;
  }
  ADD_FAILURE() << "no AUC for " << score;
  static const AucStat kNone;
  return kNone;
}

const MatchedAuc& FindMatched(const Report& report, const std::string& binning_prefix, const std::string& score) {
  for (const MatchedAuc& m : report.matched) {
    if (m.binning.rfind(binning_prefix, 0) == 0 && m.pooled.score == score) return m;
  }
  ADD_FAILURE() << "no matched AUC for " << binning_prefix << " " << score;
  static const MatchedAuc kNone;
  return kNone;
}

// Dataset A (T = 4, early window w = 2): four successes S1..S4, three
// failures F1..F3; the expected numbers are derived in the comments.
//          d_1..d_4               h_2   h_T  correct@2  λ_1   ℓ_1,ℓ_2
//   S1     1.0 0.3 0.6 0.1        0.9   0.9  yes        0.01  0, 0
//   S2     0.1 0.1 0.1 0.2        0.5   0.8  no         0.02  0.2, 0.2
//   S3     1.0 0.2 0.2 0.3        0.4   0.7  no         0.02  0.0, 0.2
//   S4     1.0 1.0 1.0 0.9        0.3   0.6  no         0.05  -0.1, 0.1
//   F1     2.0 1.0 0.45 0.4       0.35  0.7  no         0.02  0.1, 0.1
//   F2     2.0 2.0 1.0 1.0        0.1   0.2  no         0.1   0.2, 0.4
//   F3     3.0 3.0 2.0 2.0        0.2   0.6  no         0.2   0.0, 0.0
std::vector<measure::ExampleRecord> DatasetA() {
  auto rec = [](int i, bool ok, std::vector<double> d, double h2, double ht, bool at2, double lambda,
                std::vector<double> l) {
    Trajectory t;
    t.d = d;
    t.h = {0.0, h2, 0.0, ht};
    t.correct_at = {false, at2, ok, ok};
    t.increments = {l[0], l[1], 0.0, 0.0};
    return MakeRecord(i, ok, t, {lambda, -1.0});
  };
  return {
      rec(0, true, {1.0, 0.3, 0.6, 0.1}, 0.9, 0.9, true, 0.01, {0, 0}),
      rec(1, true, {0.1, 0.1, 0.1, 0.2}, 0.5, 0.8, false, 0.02, {0.2, 0.2}),
      rec(2, true, {1.0, 0.2, 0.2, 0.3}, 0.4, 0.7, false, 0.02, {0.0, 0.2}),
      rec(3, true, {1.0, 1.0, 1.0, 0.9}, 0.3, 0.6, false, 0.05, {-0.1, 0.1}),
      rec(4, false, {2.0, 1.0, 0.45, 0.4}, 0.35, 0.7, false, 0.02, {0.1, 0.1}),
      rec(5, false, {2.0, 2.0, 1.0, 1.0}, 0.1, 0.2, false, 0.1, {0.2, 0.4}),
      rec(6, false, {3.0, 3.0, 2.0, 2.0}, 0.2, 0.6, false, 0.2, {0.0, 0.0}),
  };
}

AnalysisParameters ParamsA() {
  AnalysisParameters p;
  p.tau = 0.5;
  p.early_window = 2;
  p.bootstrap = 200;
  return p;
}

TEST(Analyze, DecompositionWithGivenTau) {
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  const Settling& s = report->settling;
  EXPECT_EQ(s.tau, 0.5);
  EXPECT_EQ(s.tau_source, "given");
  EXPECT_EQ(s.success_settled, 3);    // S1 0.1, S2 0.2, S3 0.3
  EXPECT_EQ(s.success_unsettled, 1);  // S4 0.9
  EXPECT_EQ(s.failure_settled, 1);    // F1 0.4
  EXPECT_EQ(s.failure_unsettled, 2);  // F2, F3
  EXPECT_DOUBLE_EQ(s.share_success_settled.share, 3.0 / 7);
  EXPECT_DOUBLE_EQ(s.share_success_unsettled.share, 1.0 / 7);
  EXPECT_DOUBLE_EQ(s.share_failure_settled.share, 1.0 / 7);
  EXPECT_DOUBLE_EQ(s.share_failure_unsettled.share, 2.0 / 7);
  EXPECT_DOUBLE_EQ(s.settled_share_of_successes.share, 0.75);
  EXPECT_DOUBLE_EQ(s.settled_share_of_failures.share, 1.0 / 3);
  // Least mobile failure F1 (0.4); successes below it: S1, S2, S3.
  EXPECT_EQ(s.least_mobile_failure_d_t, 0.4);
  EXPECT_EQ(s.successes_below_least_mobile_failure.k, 3);
  EXPECT_DOUBLE_EQ(s.successes_below_least_mobile_failure.share, 0.75);
  // Settling segments: S1 4 (d_3 = 0.6 > τ), S2 1, S3 2; F1 3.
  EXPECT_EQ(s.settling_segment_success.n, 3);
  EXPECT_DOUBLE_EQ(s.settling_segment_success.median, 2);
  EXPECT_DOUBLE_EQ(s.settling_segment_success.q1, 1.5);
  EXPECT_DOUBLE_EQ(s.settling_segment_success.q3, 3);
  EXPECT_EQ(s.settling_segment_failure.n, 1);
  EXPECT_DOUBLE_EQ(s.settling_segment_failure.median, 3);
  const Counts& c = report->counts;
  EXPECT_EQ(c.records, 7);
  EXPECT_EQ(c.population, 7);
  EXPECT_EQ(c.successes, 4);
  EXPECT_EQ(c.failures, 3);
  EXPECT_DOUBLE_EQ(c.accuracy.share, 4.0 / 7);
}

TEST(Analyze, DefaultTauIsThe95thPercentileOfSuccessDisplacement) {
  AnalysisParameters p = ParamsA();
  p.tau.reset();
  const absl::StatusOr<Report> report = Analyze(DatasetA(), p);
  ASSERT_TRUE(report.ok()) << report.status();
  // Successes' d_T {0.1, 0.2, 0.3, 0.9}: position 0.95·3 = 2.85 -> 0.3 + 0.85·0.6.
  EXPECT_NEAR(report->settling.tau, 0.3 + 0.85 * 0.6, 1e-12);
  EXPECT_EQ(report->settling.tau_source, "p95_d_T_successes");
  EXPECT_EQ(report->settling.success_settled, 3);
  EXPECT_EQ(report->settling.failure_settled, 1);
}

TEST(Analyze, SettlingSegmentIsFirstSegmentAfterWhichDisplacementStaysBelowTau) {
  Trajectory t;
  t.d = {0.1, 0.9, 0.1, 0.1};
  EXPECT_EQ(SettlingSegment(MakeRecord(0, true, t), 0.5), 3);
  t.d = {0.1, 0.1, 0.1, 0.1};
  EXPECT_EQ(SettlingSegment(MakeRecord(0, true, t), 0.5), 1);
  t.d = {0.1, 0.1, 0.1, 0.6};
  EXPECT_EQ(SettlingSegment(MakeRecord(0, true, t), 0.5), 0);
  t.d = {0.1, NAN, 0.1, 0.1};  // NaN is not ≤ τ
  EXPECT_EQ(SettlingSegment(MakeRecord(0, true, t), 0.5), 3);
  t.d = {0.1, 0.5, 0.5};  // d = τ counts as settled
  EXPECT_EQ(SettlingSegment(MakeRecord(0, true, t), 0.5), 1);
}

TEST(Analyze, AucsWithDirectionAgainstOutcome) {
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  // d_T: failures {0.4, 1, 2} vs successes {0.1, 0.2, 0.3, 0.9}: 3 + 4 + 4 of 12.
  const AucStat& d = FindAuc(report->aucs, "d_T");
  EXPECT_DOUBLE_EQ(d.auc_raw, 11.0 / 12);
  EXPECT_DOUBLE_EQ(d.auc_folded, 11.0 / 12);
  EXPECT_EQ(d.direction, "higher d_T -> failure");
  EXPECT_EQ(d.n_positive, 3);
  EXPECT_EQ(d.n_negative, 4);
  EXPECT_LE(d.ci_low, d.auc_raw);
  EXPECT_GE(d.ci_high, d.auc_raw);
  // λ_1: failures {0.02, 0.1, 0.2} vs successes {0.01, 0.02, 0.02, 0.05}: (1 + 2·½) + 4 + 4 = 10 of 12.
  const AucStat& l = FindAuc(report->aucs, "lambda_1");
  EXPECT_DOUBLE_EQ(l.auc_raw, 10.0 / 12);
  EXPECT_EQ(l.direction, "higher lambda_1 -> failure");
  // h_T, positive class success (SPEC §5): successes {0.9, 0.8, 0.7, 0.6} vs
  // failures {0.7, 0.2, 0.6}: 3 + 2.5 + 2 + 2.5 = 10 of 12.
  const AucStat& h = FindAuc(report->aucs, "h_T");
  EXPECT_EQ(h.positive_class, "success");
  EXPECT_DOUBLE_EQ(h.auc_raw, 10.0 / 12);
  EXPECT_EQ(h.direction, "higher h_T -> success");
  EXPECT_LE(h.ci_low, h.auc_raw);
  EXPECT_GE(h.ci_high, h.auc_raw);
}

TEST(Analyze, MediansAndQuartilesByOutcome) {
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->summaries.size(), 4u);  // lambda_1, lambda_1_per_update, d_T, h_T
  const ScoreSummary& d = report->summaries[2];
  EXPECT_EQ(d.score, "d_T");
  EXPECT_DOUBLE_EQ(d.success.median, 0.25);
  EXPECT_DOUBLE_EQ(d.success.q1, 0.175);
  EXPECT_DOUBLE_EQ(d.success.q3, 0.45);
  EXPECT_DOUBLE_EQ(d.failure.median, 1.0);
  const ScoreSummary& l = report->summaries[0];
  EXPECT_EQ(l.score, "lambda_1");
  EXPECT_DOUBLE_EQ(l.failure.median, 0.1);
  EXPECT_DOUBLE_EQ(l.success.median, 0.02);
}

TEST(Analyze, EarlyWindowAmongExamplesNotYetCorrect) {
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  const EarlyWindow& e = report->early;
  EXPECT_EQ(e.w, 2);
  EXPECT_EQ(e.n_correct_at_w, 1);  // S1
  EXPECT_EQ(e.n_at_risk, 6);
  EXPECT_EQ(e.n_eventual_success, 3);
  // h_2: successes {0.5, 0.4, 0.3} vs failures {0.35, 0.1, 0.2}: 3 + 3 + 2 of 9.
  EXPECT_EQ(e.h_w.score, "h_2");
  EXPECT_DOUBLE_EQ(e.h_w.auc_raw, 8.0 / 9);
  EXPECT_EQ(e.h_w.direction, "higher h_2 -> success");
  // d_2: successes {0.1, 0.2, 1.0} vs failures {1, 2, 3}: one tie -> ½/9, in
  // the stated direction (positive class eventual success), far below ½.
  EXPECT_DOUBLE_EQ(e.d_w.auc_raw, 0.5 / 9);
  EXPECT_DOUBLE_EQ(e.d_w.auc_folded, 1 - 0.5 / 9);
  EXPECT_EQ(e.d_w.direction, "higher d_2 -> success");
  // λ_1[1..2]: successes {0.2, 0.1, 0.0} vs failures {0.1, 0.3, 0.0}: 2 + 1.5 + 0.5 = 4 of 9.
  EXPECT_EQ(e.lambda_1.score, "lambda_1[1..2]");
  EXPECT_DOUBLE_EQ(e.lambda_1.auc_raw, 4.0 / 9);
  EXPECT_EQ(e.lambda_1.direction, "higher lambda_1[1..2] -> success");
}

TEST(Analyze, HaltingAucAndConfidentFailures) {
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  const Halting& h = report->halting;
  EXPECT_EQ(h.auc.positive_class, "success");
  EXPECT_DOUBLE_EQ(h.auc.auc_raw, 10.0 / 12);
  EXPECT_EQ(h.auc.direction, "higher h_T -> success");
  EXPECT_EQ(h.failures_confident.n, 3);
  EXPECT_EQ(h.failures_confident.k, 2);  // 0.7 and 0.6
  EXPECT_DOUBLE_EQ(h.failures_confident.share, 2.0 / 3);
}

// Unsettled population in two d_T bins (edges 1, 4.5, 8); the settled
// records (d_T = 0.1) carry extreme λ and must not enter.
//   bin 1: successes λ {0.1, 0.2}, failures λ {0.3, 0.2} -> 3.5 of 4
//   bin 2: successes λ {0.9, 0.5}, failures λ {0.6, 0.4} -> 1 of 4
TEST(Analyze, PairsWithinDisplacementBinsAmongUnsettled) {
  std::vector<measure::ExampleRecord> records;
  int index = 0;
  auto add = [&](bool ok, double d_t, double lambda) {
    Trajectory t;
    t.d = {1.0, d_t};
    t.h = {0.5, 0.5};
    records.push_back(MakeRecord(index++, ok, t, {lambda}));
  };
  add(true, 1, 0.1);
  add(true, 2, 0.2);
  add(false, 3, 0.3);
  add(false, 4, 0.2);
  add(true, 5, 0.9);
  add(true, 6, 0.5);
  add(false, 7, 0.6);
  add(false, 8, 0.4);
  add(true, 0.1, -5.0);
  add(false, 0.1, 5.0);
  AnalysisParameters p;
  p.tau = 0.5;
  p.displacement_bins = 2;
  p.bootstrap = 100;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  const MatchedAuc& m = FindMatched(*report, "d_T", "lambda_1");
  EXPECT_DOUBLE_EQ(m.pooled.auc_raw, 4.5 / 8);
  EXPECT_EQ(m.pooled.direction, "higher lambda_1 -> failure");
  EXPECT_EQ(m.pooled.n_missing, 0);
  ASSERT_EQ(m.bins.size(), 2u);
  EXPECT_DOUBLE_EQ(m.bins[0].low, 1);
  EXPECT_DOUBLE_EQ(m.bins[0].high, 4.5);
  EXPECT_DOUBLE_EQ(m.bins[1].high, 8);
  EXPECT_DOUBLE_EQ(m.bins[0].pairs, 4);
  EXPECT_DOUBLE_EQ(m.bins[0].auc_raw, 0.875);
  EXPECT_DOUBLE_EQ(m.bins[1].auc_raw, 0.25);
  EXPECT_EQ(m.bins[1].n_positive, 2);
  EXPECT_EQ(m.bins[1].n_negative, 2);
  EXPECT_LE(m.pooled.ci_low, m.pooled.auc_raw);
  EXPECT_GE(m.pooled.ci_high, m.pooled.auc_raw);
}

TEST(Analyze, PairsWithinGivensBins) {
  std::vector<measure::ExampleRecord> records;
  int index = 0;
  auto add = [&](bool ok, int givens, double lambda) {
    Trajectory t;
    t.d = {1.0};
    t.h = {0.5};
    records.push_back(MakeRecord(index++, ok, t, {lambda}));
    records.back().givens = givens;
  };
  // givens 20: failure λ 0.5 above both successes {0.1, 0.2}: 2 of 2.
  add(false, 20, 0.5);
  add(true, 20, 0.1);
  add(true, 20, 0.2);
  // givens 30: failure λ 0.6 ties one success, below the other {0.6, 0.9}: ½ of 2.
  add(false, 30, 0.6);
  add(true, 30, 0.6);
  add(true, 30, 0.9);
  // givens 25: successes only (no pairs); givens −1: left out.
  add(true, 25, 0.0);
  add(false, -1, 9.0);
  AnalysisParameters p;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  const MatchedAuc& m = FindMatched(*report, "givens", "lambda_1");
  EXPECT_DOUBLE_EQ(m.pooled.auc_raw, 2.5 / 4);
  EXPECT_EQ(m.pooled.n_missing, 1);
  ASSERT_EQ(m.bins.size(), 3u);
  EXPECT_EQ(m.bins[0].label, "givens 20");
  EXPECT_DOUBLE_EQ(m.bins[0].auc_raw, 1.0);
  EXPECT_EQ(m.bins[1].label, "givens 25");
  EXPECT_TRUE(std::isnan(m.bins[1].auc_raw));
  EXPECT_DOUBLE_EQ(m.bins[2].auc_raw, 0.25);
  EXPECT_TRUE(std::isnan(m.pooled.ci_low));  // bootstrap = 0
}

// Three puzzles × three runs (T = 4, w = 2); predictions name the answer.
//   puzzle 0: run 0 wrong "A" h_T .3 h_2 .5; run 1 right "B" h_T .9 h_2 .6; run 2 wrong "A" h_T .4 h_2 .1
//   puzzle 1: run 0 right "C" h_T .6 h_2 .2; run 1 wrong "D" h_T .7 h_2 .1; run 2 wrong "D" h_T .2 h_2 .3
//   puzzle 2: runs wrong "E" "F" "G", h_T .5 each, h_2 .5 each
std::vector<measure::ExampleRecord> RestartRecords() {
  std::vector<measure::ExampleRecord> records;
  auto add = [&](int puzzle, int restart, bool ok, int answer, double h_t, double h_2) {
    Trajectory t;
    t.d = {1, 1, 1, 1};
    t.h = {0, h_2, 0, h_t};
    records.push_back(MakeRecord(puzzle, ok, t, {}, restart));
    records.back().prediction = {answer, answer + 1};
    records.back().restart_kind = restart == 0 ? "none" : "symmetry";
  };
  add(0, 0, false, 'A', 0.3, 0.5);
  add(0, 1, true, 'B', 0.9, 0.6);
  add(0, 2, false, 'A', 0.4, 0.1);
  add(1, 0, true, 'C', 0.6, 0.2);
  add(1, 1, false, 'D', 0.7, 0.1);
  add(1, 2, false, 'D', 0.2, 0.3);
  add(2, 0, false, 'E', 0.5, 0.5);
  add(2, 1, false, 'F', 0.5, 0.5);
  add(2, 2, false, 'G', 0.5, 0.5);
  return records;
}

TEST(Analyze, RestartStrategiesVersusRunsAndSegments) {
  std::vector<measure::ExampleRecord> records = RestartRecords();
  // An errored record and a puzzle missing run 1: counted, left out of restarts.
  records.push_back(records[0]);
  records.back().example_index = 3;
  records.back().error = "device lost";
  records.push_back(records[0]);
  records.back().example_index = 4;
  records.push_back(records[2]);
  records.back().example_index = 4;
  AnalysisParameters p;
  p.early_window = 2;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->counts.errors, 1);
  EXPECT_EQ(report->counts.population, 4);       // restart 0 of puzzles 0, 1, 2, 4
  EXPECT_EQ(report->counts.restart_records, 7);  // 6 + puzzle 4's run 2
  const Restarts& r = report->restarts;
  ASSERT_TRUE(r.absent_reason.empty()) << r.absent_reason;
  EXPECT_EQ(r.max_runs, 3);
  EXPECT_EQ(r.puzzles, 3);
  EXPECT_EQ(r.puzzles_left_out, 1);
  EXPECT_EQ(r.segments_per_run, 4);
  EXPECT_EQ(r.restart_kinds, std::vector<std::string>{"symmetry"});
  ASSERT_EQ(r.rows.size(), 3u);
  const double third = 1.0 / 3;
  // R = 1: everything is run 0 (puzzle 1 right).
  EXPECT_DOUBLE_EQ(r.rows[0].segments, 4);
  EXPECT_DOUBLE_EQ(r.rows[0].first_run.share, third);
  EXPECT_DOUBLE_EQ(r.rows[0].best_of_h.share, third);
  EXPECT_DOUBLE_EQ(r.rows[0].majority.share, third);
  EXPECT_DOUBLE_EQ(r.rows[0].oracle.share, third);
  // R = 2: best h_T picks run 1 in puzzles 0 (right) and 1 (wrong); majority ties
  // 1–1 and goes by h_T, the same choice; the oracle has puzzles 0 and 1.
  EXPECT_DOUBLE_EQ(r.rows[1].segments, 8);
  EXPECT_DOUBLE_EQ(r.rows[1].first_run.share, third);
  EXPECT_DOUBLE_EQ(r.rows[1].best_of_h.share, third);
  EXPECT_DOUBLE_EQ(r.rows[1].majority.share, third);
  EXPECT_DOUBLE_EQ(r.rows[1].oracle.share, 2 * third);
  // R = 3: majority "A" (puzzle 0) and "D" (puzzle 1) are both wrong.
  EXPECT_DOUBLE_EQ(r.rows[2].segments, 12);
  EXPECT_DOUBLE_EQ(r.rows[2].best_of_h.share, third);
  EXPECT_DOUBLE_EQ(r.rows[2].majority.share, 0.0);
  EXPECT_DOUBLE_EQ(r.rows[2].oracle.share, 2 * third);
  // Pruning at w = 2: C candidates cost 2C + 2 segments.
  ASSERT_EQ(r.pruning.size(), 3u);
  EXPECT_DOUBLE_EQ(r.pruning[0].segments, 4);
  EXPECT_DOUBLE_EQ(r.pruning[0].accuracy.share, third);
  EXPECT_DOUBLE_EQ(r.pruning[0].full_runs_same_budget, 1);
  // C = 2: puzzle 0 keeps run 1 (right), puzzle 1 run 0 (right), puzzle 2 ties -> run 0.
  EXPECT_DOUBLE_EQ(r.pruning[1].segments, 6);
  EXPECT_DOUBLE_EQ(r.pruning[1].accuracy.share, 2 * third);
  EXPECT_DOUBLE_EQ(r.pruning[1].full_runs_same_budget, 1.5);
  EXPECT_DOUBLE_EQ(r.pruning[1].best_of_h_same_budget, third);
  // C = 3: puzzle 1 now keeps run 2 (wrong).
  EXPECT_DOUBLE_EQ(r.pruning[2].segments, 8);
  EXPECT_DOUBLE_EQ(r.pruning[2].accuracy.share, third);
  EXPECT_DOUBLE_EQ(r.pruning[2].full_runs_same_budget, 2);
}

TEST(Analyze, RestartCountCanBeCapped) {
  AnalysisParameters p;
  p.restarts = 2;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze(RestartRecords(), p);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->restarts.max_runs, 2);
  EXPECT_EQ(report->restarts.rows.size(), 2u);
  EXPECT_EQ(report->restarts.runs_ignored, 3);
  // w = 4 = T: nothing to prune.
  EXPECT_THAT(report->restarts.pruning_absent_reason, HasSubstr("pruning saves nothing"));
}

TEST(Analyze, MajorityAbsentWithoutPredictions) {
  std::vector<measure::ExampleRecord> records = RestartRecords();
  records[4].prediction.clear();
  AnalysisParameters p;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->restarts.majority_absent_reason.empty());
  EXPECT_TRUE(std::isnan(report->restarts.rows[1].majority.share));
  EXPECT_FALSE(std::isnan(report->restarts.rows[1].oracle.share));
}

TEST(Analyze, ZeroRecordsGiveAbsentNumbersWithReasons) {
  const absl::StatusOr<Report> report = Analyze({}, AnalysisParameters{});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->counts.records, 0);
  EXPECT_TRUE(std::isnan(report->counts.accuracy.share));
  EXPECT_TRUE(std::isnan(report->settling.tau));
  EXPECT_FALSE(report->settling.absent_reason.empty());
  for (const AucStat& a : report->aucs) {
    EXPECT_TRUE(std::isnan(a.auc_raw)) << a.score;
    EXPECT_FALSE(a.absent_reason.empty()) << a.score;
  }
  for (const MatchedAuc& m : report->matched) EXPECT_FALSE(m.pooled.absent_reason.empty()) << m.binning;
  EXPECT_FALSE(report->early.h_w.absent_reason.empty());
  EXPECT_TRUE(std::isnan(report->halting.failures_confident.share));
  EXPECT_FALSE(report->restarts.absent_reason.empty());
  EXPECT_FALSE(report->lyapunov.absent_reason.empty());
}

TEST(Analyze, SingleClassGivesAbsentAucsButDefaultTau) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records.resize(4);  // successes only
  const absl::StatusOr<Report> report = Analyze(records, AnalysisParameters{});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(std::isnan(report->settling.tau));
  EXPECT_EQ(report->settling.failure_settled + report->settling.failure_unsettled, 0);
  EXPECT_TRUE(std::isnan(report->settling.settled_share_of_failures.share));
  EXPECT_THAT(report->settling.least_mobile_absent_reason, HasSubstr("no failures"));
  const AucStat& d = FindAuc(report->aucs, "d_T");
  EXPECT_TRUE(std::isnan(d.auc_raw));
  EXPECT_THAT(d.absent_reason, HasSubstr("one class only"));
  EXPECT_TRUE(std::isnan(report->halting.failures_confident.share));

  records = DatasetA();
  records.erase(records.begin(), records.begin() + 4);  // failures only: no default τ
  const absl::StatusOr<Report> failures = Analyze(records, AnalysisParameters{});
  ASSERT_TRUE(failures.ok());
  EXPECT_TRUE(std::isnan(failures->settling.tau));
  EXPECT_THAT(failures->settling.absent_reason, HasSubstr("give tau"));
}

TEST(Analyze, NaNValuesAreExcludedAndCounted) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records[0].segments.back().displacement_joint = NAN;  // S1 d_T
  records[6].lyapunov[0] = NAN;                          // F3 λ_1
  records[5].segments.back().halt_confidence = NAN;      // F2 h_T
  const absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->settling.n_missing, 1);
  EXPECT_EQ(report->settling.success_settled, 2);
  const AucStat& d = FindAuc(report->aucs, "d_T");
  EXPECT_EQ(d.n_missing, 1);
  // Failures {0.4, 1, 2} vs successes {0.2, 0.3, 0.9}: 2 + 3 + 3 of 9.
  EXPECT_DOUBLE_EQ(d.auc_raw, 8.0 / 9);
  EXPECT_EQ(FindAuc(report->aucs, "lambda_1").n_missing, 1);
  EXPECT_EQ(report->halting.failures_confident.n, 2);
  EXPECT_EQ(report->halting.auc.n_missing, 1);
}

TEST(Analyze, NoLyapunovDataLeavesLambdaStatisticsAbsentNotZero) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  for (auto& r : records) {
    r.lyapunov.clear();
    r.lyapunov_sd.clear();
    r.lyapunov_method.clear();
    for (auto& s : r.segments) s.lyapunov_increments.clear();
  }
  const absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->lyapunov.absent_reason, HasSubstr("k = 0"));
  EXPECT_EQ(report->lyapunov.k, 0);
  const AucStat& l = FindAuc(report->aucs, "lambda_1");
  EXPECT_TRUE(std::isnan(l.auc_raw));
  EXPECT_THAT(l.absent_reason, HasSubstr("k = 0"));
  EXPECT_TRUE(std::isnan(report->summaries[0].success.median));
  EXPECT_FALSE(report->summaries[0].absent_reason.empty());
  EXPECT_TRUE(std::isnan(report->early.lambda_1.auc_raw));
  EXPECT_TRUE(std::isnan(report->lyapunov.lambda_1_seed_sd_mean));
  // The other statistics are unaffected.
  EXPECT_DOUBLE_EQ(FindAuc(report->aucs, "d_T").auc_raw, 11.0 / 12);
}

TEST(Analyze, NoGivensLeavesDifficultyControlAbsent) {
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(FindMatched(*report, "givens", "lambda_1").pooled.absent_reason, HasSubstr("no givens"));
}

TEST(Analyze, ReportsLyapunovMethodAndSeedSpread) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].lyapunov_method = "propagator";
    records[i].lyapunov_sd = {0.01 * static_cast<double>(i), 0.5};
  }
  absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->lyapunov.method, "propagator");
  EXPECT_EQ(report->lyapunov.k, 2);
  EXPECT_EQ(report->lyapunov.records_with_lyapunov, 7);
  EXPECT_NEAR(report->lyapunov.lambda_1_seed_sd_mean, 0.03, 1e-15);  // mean of 0, .01, …, .06

  // One draw per start (sd all zero): no spread to report.
  report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->lyapunov.method, "qr");
  EXPECT_TRUE(std::isnan(report->lyapunov.lambda_1_seed_sd_mean));
  EXPECT_THAT(report->lyapunov.seed_sd_absent_reason, HasSubstr("one draw"));
}

TEST(Analyze, MixedLyapunovMethodsNeedAChoice) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records[6].lyapunov_method = "propagator";
  AnalysisParameters p = ParamsA();
  absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->lyapunov.method, "mixed");
  EXPECT_THAT(FindAuc(report->aucs, "lambda_1").absent_reason, HasSubstr("mix"));
  p.lyapunov_method = "qr";
  report = Analyze(records, p);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->lyapunov.method, "qr");
  const AucStat& l = FindAuc(report->aucs, "lambda_1");
  EXPECT_EQ(l.n_missing, 1);  // F3 is a propagator record
  EXPECT_EQ(l.n_positive, 2);
}

TEST(Analyze, RejectsBadParametersNamingThem) {
  AnalysisParameters p;
  p.early_window = 0;
  EXPECT_THAT(Analyze({}, p).status().message(), HasSubstr("early_window"));
  p = AnalysisParameters{};
  p.tau = -1;
  EXPECT_EQ(Analyze({}, p).status().code(), absl::StatusCode::kInvalidArgument);
  p = AnalysisParameters{};
  p.tau = NAN;
  EXPECT_THAT(Analyze({}, p).status().message(), HasSubstr("tau"));
  p = AnalysisParameters{};
  p.bootstrap = -1;
  EXPECT_THAT(Analyze({}, p).status().message(), HasSubstr("bootstrap"));
  p = AnalysisParameters{};
  p.displacement_bins = 0;
  EXPECT_THAT(Analyze({}, p).status().message(), HasSubstr("displacement_bins"));
  p = AnalysisParameters{};
  p.lyapunov_method = "svd";
  EXPECT_THAT(Analyze({}, p).status().message(), HasSubstr("lyapunov_method"));
  p = AnalysisParameters{};
  p.restarts = 0;
  EXPECT_THAT(Analyze({}, p).status().message(), HasSubstr("restarts"));
}

TEST(Analyze, RejectsDuplicateRecordsButNotErroredRetries) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records.push_back(records[2]);
  const absl::StatusOr<Report> duplicate = Analyze(records, ParamsA());
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(duplicate.status().message(), HasSubstr("example_index 2 restart 0"));
  records.back().error = "out of memory";  // a failed attempt next to its retry is fine
  EXPECT_TRUE(Analyze(records, ParamsA()).ok());
}

TEST(Analyze, RecordsWithoutSegmentsAreExcludedAndCounted) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records.push_back(measure::ExampleRecord{});
  records.back().example_index = 99;
  const absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->counts.without_segments, 1);
  EXPECT_EQ(report->counts.population, 7);
}

TEST(Analyze, BootstrapIsReproducibleWithTheSeed) {
  AnalysisParameters p = ParamsA();
  p.seed = 9;
  const absl::StatusOr<Report> a = Analyze(DatasetA(), p);
  const absl::StatusOr<Report> b = Analyze(DatasetA(), p);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->aucs[0].ci_low, b->aucs[0].ci_low);
  EXPECT_EQ(a->aucs[0].ci_high, b->aucs[0].ci_high);
}

TEST(Analyze, RecordOrderDoesNotChangeTheReport) {
  // Two workers store records in whichever order they finish, and a sharded
  // study merges several streams: the report (bootstrap CIs included) must
  // depend on the records only.
  AnalysisParameters p = ParamsA();
  p.seed = 9;
  std::vector<measure::ExampleRecord> shuffled = DatasetA();
  std::reverse(shuffled.begin(), shuffled.end());
  std::rotate(shuffled.begin(), shuffled.begin() + 3, shuffled.end());
  const absl::StatusOr<Report> a = Analyze(DatasetA(), p);
  const absl::StatusOr<Report> b = Analyze(shuffled, p);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ReportToJson(*a), ReportToJson(*b));
}


// ---- SPEC §5 directions, intervals, populations (issue #13)

TEST(Analyze, AucIsReportedInItsStatedDirectionEvenBelowHalf) {
  // λ_1 negated: now failures mostly have the lower λ. Concordant pairs 1,
  // ties 2 (of 12): auc_raw = (1 + 1) / 12 for "higher lambda_1 -> failure".
  std::vector<measure::ExampleRecord> records = DatasetA();
  for (measure::ExampleRecord& r : records) r.lyapunov[0] = -r.lyapunov[0];
  const absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  const AucStat& l = FindAuc(report->aucs, "lambda_1");
  EXPECT_EQ(l.positive_class, "failure");
  EXPECT_EQ(l.direction, "higher lambda_1 -> failure");
  EXPECT_DOUBLE_EQ(l.auc_raw, 2.0 / 12);
  EXPECT_DOUBLE_EQ(l.auc_folded, 10.0 / 12);
  // The CI is of auc_raw: it brackets 1/6, not 5/6.
  EXPECT_LE(l.ci_low, l.auc_raw);
  EXPECT_GE(l.ci_high, l.auc_raw);
  EXPECT_LT(l.ci_low, 0.5);
  // The table shows auc_raw first, the folded value only beside it.
  EXPECT_THAT(FormatReportTable(*report), HasSubstr("auc_raw 0.1667"));
}

TEST(Analyze, SharesCarryWilsonIntervals) {
  // Wilson 95%, z = 1.959964, hand-computed: 4 of 7 -> [0.250458, 0.841780];
  // 1 of 3 -> [0.061492, 0.792340]; 2 of 3 -> [0.207660, 0.938508];
  // 3 of 4 -> [0.300642, 0.954413]; 0 of 10 -> [0, 0.277533].
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  const Proportion& accuracy = report->counts.accuracy;
  EXPECT_EQ(accuracy.k, 4);
  EXPECT_EQ(accuracy.n, 7);
  EXPECT_NEAR(accuracy.ci_low, 0.2504583645, 1e-9);
  EXPECT_NEAR(accuracy.ci_high, 0.8417801447, 1e-9);
  const Proportion& settled = report->settling.settled_share_of_failures;
  EXPECT_NEAR(settled.ci_low, 0.0614919447, 1e-9);
  EXPECT_NEAR(settled.ci_high, 0.7923403992, 1e-9);
  const Proportion& confident = report->halting.failures_confident;
  EXPECT_NEAR(confident.ci_low, 0.2076596008, 1e-9);
  EXPECT_NEAR(confident.ci_high, 0.9385080553, 1e-9);
  const Proportion& least = report->settling.successes_below_least_mobile_failure;
  EXPECT_NEAR(least.ci_low, 0.3006418426, 1e-9);
  EXPECT_NEAR(least.ci_high, 0.9544127392, 1e-9);
  const Proportion none = Wilson(0, 10);
  EXPECT_EQ(none.ci_low, 0.0);
  EXPECT_NEAR(none.ci_high, 0.2775327999, 1e-9);
  // The ends at k = 0 and k = n are exact, so a paper value of 0% is inside.
  EXPECT_EQ(Wilson(0, 14).ci_low, 0.0);
  EXPECT_EQ(Wilson(14, 14).ci_high, 1.0);
  EXPECT_TRUE(std::isnan(Wilson(0, 0).ci_low));
}

// Unsettled records in two d_T bins (edges 1, 4.5, 8), failures above
// successes within each bin, but bin 2's successes above bin 1's failures.
std::vector<measure::ExampleRecord> TwoBinRecords() {
  std::vector<measure::ExampleRecord> records;
  int index = 0;
  auto add = [&](bool ok, double d_t, double lambda) {
    Trajectory t;
    t.d = {1.0, d_t};
    t.h = {0.5, 0.5};
    records.push_back(MakeRecord(index++, ok, t, {lambda}));
  };
  add(true, 1, 0.1);
  add(true, 2, 0.2);
  add(false, 3, 0.3);
  add(false, 4, 0.4);
  add(true, 5, 0.5);
  add(true, 6, 0.6);
  add(false, 7, 0.7);
  add(false, 8, 0.8);
  return records;
}

TEST(Analyze, MatchedAucBootstrapReestimatesTheBins) {
  AnalysisParameters p;
  p.tau = 0.5;
  p.displacement_bins = 2;
  p.bootstrap = 200;
  const absl::StatusOr<Report> report = Analyze(TwoBinRecords(), p);
  ASSERT_TRUE(report.ok()) << report.status();
  const MatchedAuc& m = FindMatched(*report, "d_T", "lambda_1");
  // Point estimate: every within-bin pair concordant.
  EXPECT_DOUBLE_EQ(m.pooled.auc_raw, 1.0);
  ASSERT_EQ(m.bins.size(), 2u);
  EXPECT_EQ(m.bins[0].n_positive, 2);
  EXPECT_EQ(m.bins[0].n_negative, 2);
  // Resampling within fixed bins would give [1, 1]; resampling puzzles and
  // re-cutting the bins in each replicate moves the edges, so bin-2
  // successes meet bin-1 failures in some replicates.
  EXPECT_LT(m.pooled.ci_low, 1.0);
  EXPECT_DOUBLE_EQ(m.pooled.ci_high, 1.0);
  EXPECT_GT(m.pooled.ci_replicates, 0);
  EXPECT_LE(m.pooled.ci_replicates, 200);
  EXPECT_THAT(m.pooled.ci_method, HasSubstr("over puzzles"));
  // Matched h_T keeps h_T's stated direction (higher h_T -> success).
  EXPECT_EQ(FindMatched(*report, "d_T", "h_T").pooled.direction, "higher h_T -> success");
  // The plain AUC of the same sample: failures {.3, .4, .7, .8} vs successes
  // {.1, .2, .5, .6}: 2 + 2 + 4 + 4 = 12 of 16.
  EXPECT_DOUBLE_EQ(m.plain.auc_raw, 0.75);
  EXPECT_LE(m.plain.ci_low, 0.75);
  EXPECT_GE(m.plain.ci_high, 0.75);
}

TEST(Analyze, GivensMatchedAucStandsBesideThePlainAucOfTheSameSample) {
  std::vector<measure::ExampleRecord> records = TwoBinRecords();
  for (size_t i = 0; i < records.size(); ++i) records[i].givens = i < 4 ? 20 : 30;
  records.push_back(records[0]);  // no givens: outside the matched sample
  records.back().example_index = 99;
  records.back().givens = -1;
  records.back().lyapunov[0] = 9.0;
  AnalysisParameters p;
  p.tau = 0.5;
  p.bootstrap = 50;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  const MatchedAuc& m = FindMatched(*report, "givens", "lambda_1");
  EXPECT_DOUBLE_EQ(m.pooled.auc_raw, 1.0);
  EXPECT_DOUBLE_EQ(m.plain.auc_raw, 0.75);
  EXPECT_EQ(m.plain.n_missing, 1);
  EXPECT_EQ(m.plain.n_positive + m.plain.n_negative, 8);
}

TEST(Analyze, MixedModelsLeaveStatisticsAbsent) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  testing::SetModel(&records, "trm-a", "trm");
  records[6].model = "trm-b";
  absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->counts.population, 7);  // the counts remain
  EXPECT_EQ(report->population.models, (std::vector<std::string>{"trm-a", "trm-b"}));
  EXPECT_THAT(report->population.absent_reason, HasSubstr("mix models"));
  EXPECT_TRUE(std::isnan(report->counts.accuracy.share));
  EXPECT_TRUE(std::isnan(report->settling.tau));
  EXPECT_THAT(report->settling.absent_reason, HasSubstr("mix models"));
  for (const AucStat& a : report->aucs) {
    EXPECT_TRUE(std::isnan(a.auc_raw)) << a.score;
    EXPECT_THAT(a.absent_reason, HasSubstr("mix models")) << a.score;
  }
  for (const MatchedAuc& m : report->matched) EXPECT_THAT(m.pooled.absent_reason, HasSubstr("mix models"));
  EXPECT_THAT(report->early.d_w.absent_reason, HasSubstr("mix models"));
  EXPECT_THAT(report->halting.auc.absent_reason, HasSubstr("mix models"));
  for (const Claim& c : report->claims) EXPECT_EQ(c.verdict, "not measurable") << c.id;

  // One T per analysis as well.
  records = DatasetA();
  records[0].segments.push_back(records[0].segments.back());
  report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(FindAuc(report->aucs, "d_T").absent_reason, HasSubstr("mix T"));

  // Empty model names (older stores) are one model, "unknown".
  report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->population.models, std::vector<std::string>{"unknown"});
  EXPECT_TRUE(report->population.absent_reason.empty());
  EXPECT_DOUBLE_EQ(FindAuc(report->aucs, "d_T").auc_raw, 11.0 / 12);
}

TEST(Analyze, MixedNumberOfExponentsLeavesLambdaAbsent) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records[6].lyapunov = {0.2};
  const absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(FindAuc(report->aucs, "lambda_1").absent_reason, HasSubstr("mix the number of exponents"));
  EXPECT_DOUBLE_EQ(FindAuc(report->aucs, "d_T").auc_raw, 11.0 / 12);
}

TEST(Analyze, UnlabelledRecordsAreCountedApartNotAsFailures) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  records.push_back(testing::Unlabelled(records[0]));
  records.back().example_index = 10;
  records.push_back(testing::Unlabelled(records[5]));
  records.back().example_index = 11;
  records.push_back(testing::Unlabelled(records[5]));
  records.back().example_index = 11;
  records.back().restart = 1;
  const absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->counts.unlabelled, 3);
  EXPECT_EQ(report->counts.population, 7);
  EXPECT_EQ(report->counts.failures, 3);
  EXPECT_EQ(report->counts.restart_records, 0);
  EXPECT_DOUBLE_EQ(report->counts.accuracy.share, 4.0 / 7);
  EXPECT_EQ(FindAuc(report->aucs, "d_T").n_positive, 3);
}

TEST(Analyze, HaltingRuleIsTheFamilysOwn) {
  // Final logits (q_halt, q_continue) of the failures F1..F3:
  //   F1 (0.5, 1.0): TRM halts (q_halt > 0), HRM does not
  //   F2 (-1, -2):   TRM does not, HRM halts (q_halt > q_continue)
  //   F3 (0.5, 2.0): TRM halts, HRM does not
  std::vector<measure::ExampleRecord> records = DatasetA();
  testing::SetFinalLogits(&records[4], 0.5, 1.0);
  testing::SetFinalLogits(&records[5], -1.0, -2.0);
  testing::SetFinalLogits(&records[6], 0.5, 2.0);
  testing::SetModel(&records, "m", "trm");
  absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->halting.rule, "q_halt > 0 (TRM)");
  EXPECT_EQ(report->halting.failures_halted_by_rule.k, 2);
  EXPECT_EQ(report->halting.failures_halted_by_rule.n, 3);
  EXPECT_FALSE(std::isnan(report->halting.failures_halted_by_rule.ci_low));

  testing::SetModel(&records, "m", "hrm");
  report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->halting.rule, "q_halt > q_continue (HRM)");
  EXPECT_EQ(report->halting.failures_halted_by_rule.k, 1);

  testing::SetModel(&records, "", "");
  report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(report->halting.rule_absent_reason, HasSubstr("family unknown"));
  EXPECT_EQ(report->halting.failures_halted_by_rule.n, 0);
  EXPECT_THAT(FormatReportTable(*report), HasSubstr("model's own halting rule: n/a (model family unknown"));
}

TEST(Analyze, FailuresThatSettleConfidently) {
  // τ = 0.5: F1 (d_T 0.4, h_T 0.7) is the only settled failure, and confident.
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->halting.failures_settled_confident.k, 1);
  EXPECT_EQ(report->halting.failures_settled_confident.n, 3);
}

// RestartRecords with puzzle 2's run 1 correct and confident (h_T 0.9), so
// best-of-2 by h_T beats best-of-1: 2/3 against 1/3.
std::vector<measure::ExampleRecord> RestartRecordsWithBetterSecondRun() {
  std::vector<measure::ExampleRecord> records = RestartRecords();
  records[7].correct = true;
  records[7].segments.back().correct = true;
  records[7].segments.back().halt_confidence = 0.9;
  return records;
}

TEST(Analyze, PruningComparedAtExactlyEqualCompute) {
  AnalysisParameters p;
  p.early_window = 2;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze(RestartRecordsWithBetterSecondRun(), p);
  ASSERT_TRUE(report.ok()) << report.status();
  const Restarts& r = report->restarts;
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_DOUBLE_EQ(r.rows[0].best_of_h.share, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.rows[1].best_of_h.share, 2.0 / 3);
  ASSERT_EQ(r.pruning.size(), 3u);
  // C = 2 candidates to w = 2, the best continued to T = 4: 2·2 + 4 − 2 = 6
  // segments = 1.5 full runs; best-of-R there is halfway between R = 1 and 2.
  EXPECT_DOUBLE_EQ(r.pruning[1].segments, 6);
  EXPECT_DOUBLE_EQ(r.pruning[1].full_runs_same_budget, 1.5);
  EXPECT_DOUBLE_EQ(r.pruning[1].best_of_h_same_budget, 0.5);
  // C = 3: 8 segments = exactly 2 runs.
  EXPECT_DOUBLE_EQ(r.pruning[2].full_runs_same_budget, 2);
  EXPECT_DOUBLE_EQ(r.pruning[2].best_of_h_same_budget, 2.0 / 3);
  // Paired against the first run: C = 2 keeps puzzle 0's run 1 (right, the
  // first run is wrong) and puzzle 1's run 0: one discordant puzzle.
  EXPECT_EQ(r.pruning[1].vs_first.only_strategy, 1);
  EXPECT_EQ(r.pruning[1].vs_first.only_first, 0);
  EXPECT_DOUBLE_EQ(r.pruning[1].vs_first.difference, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.pruning[1].vs_first.p_value, 1.0);
}

TEST(Analyze, SelectionIsComparedWithTheFirstRunByExactMcNemar) {
  // Hand-computed: b = 5, c = 0 -> 2·(1/32); b = 7, c = 1 -> 2·9/256.
  EXPECT_DOUBLE_EQ(McNemarExactP(5, 0), 0.0625);
  EXPECT_DOUBLE_EQ(McNemarExactP(0, 5), 0.0625);
  EXPECT_NEAR(McNemarExactP(7, 1), 18.0 / 256, 1e-12);
  EXPECT_DOUBLE_EQ(McNemarExactP(1, 1), 1.0);
  EXPECT_DOUBLE_EQ(McNemarExactP(0, 0), 1.0);
  AnalysisParameters p;
  p.early_window = 2;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze(RestartRecordsWithBetterSecondRun(), p);
  ASSERT_TRUE(report.ok());
  // R = 2, best h_T: puzzles 0 and 2 right where the first run is wrong,
  // puzzle 1 wrong where it is right: b = 2, c = 1 -> 2·(1 + 3)/8 = 1.
  const PairedComparison& best = report->restarts.rows[1].best_of_h_vs_first;
  EXPECT_EQ(best.n, 3);
  EXPECT_EQ(best.only_strategy, 2);
  EXPECT_EQ(best.only_first, 1);
  EXPECT_DOUBLE_EQ(best.difference, 1.0 / 3);
  EXPECT_DOUBLE_EQ(best.p_value, 1.0);
  EXPECT_EQ(report->restarts.rows[2].majority_vs_first.n, 3);
  EXPECT_FALSE(std::isnan(report->restarts.rows[1].best_of_h.ci_low));
}

TEST(Analyze, EarlyWindowUsesThePropagatorsOwnWindowExponent) {
  // Window exponents for S2, S3, S4 (at risk, eventual successes) above
  // those of F1..F3: AUC 1 for positive class success. The increments alone
  // would give 4/9 (EarlyWindowAmongExamplesNotYetCorrect).
  std::vector<measure::ExampleRecord> records = DatasetA();
  const double window[] = {0.9, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2};
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].lyapunov_method = "propagator";
    records[i].lyapunov_window = {window[i], -1.0};
    records[i].lyapunov_window_segments = 2;
  }
  absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_DOUBLE_EQ(report->early.lambda_1.auc_raw, 1.0);
  EXPECT_THAT(report->early.lambda_1_source, HasSubstr("propagator window exponent"));

  // A window other than w is not this statistic.
  for (measure::ExampleRecord& r : records) r.lyapunov_window_segments = 3;
  report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(std::isnan(report->early.lambda_1.auc_raw));
  EXPECT_THAT(report->early.lambda_1.absent_reason, HasSubstr("window is 3 segments"));

  // QR: the mean of the increments, and the report says it depends on Q_0.
  report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(report->early.lambda_1_source, HasSubstr("depends on Q_0"));
  EXPECT_THAT(FormatReportTable(*report), HasSubstr("depends on Q_0"));
}

TEST(Analyze, PerUpdateExponentsStandBesidePerSegmentOnes) {
  std::vector<measure::ExampleRecord> records = DatasetA();
  for (measure::ExampleRecord& r : records) r.updates_per_segment = 4;  // e.g. H 2 × (L 1 + 1)
  absl::StatusOr<Report> report = Analyze(records, ParamsA());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->lyapunov.updates_per_segment, 4);
  ASSERT_EQ(report->summaries[1].score, "lambda_1_per_update");
  EXPECT_DOUBLE_EQ(report->summaries[1].failure.median, 0.1 / 4);
  EXPECT_DOUBLE_EQ(report->summaries[0].failure.median, 0.1);
  report = Analyze(DatasetA(), ParamsA());  // updates_per_segment 0: unknown
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(report->summaries[1].absent_reason, HasSubstr("updates_per_segment"));
}

TEST(Analyze, MediansCarryADistributionFreeInterval) {
  // n = 4 successes' d_T {0.1, 0.2, 0.3, 0.9}: l = floor((4 − 3.92)/2) = 0 -> 1,
  // u = ceil(1 + 7.92/2) = 5 -> 4: [x_(1), x_(4)].
  const absl::StatusOr<Report> report = Analyze(DatasetA(), ParamsA());
  ASSERT_TRUE(report.ok());
  const ScoreSummary& d = report->summaries[2];
  ASSERT_EQ(d.score, "d_T");
  EXPECT_DOUBLE_EQ(d.success.median_ci_low, 0.1);
  EXPECT_DOUBLE_EQ(d.success.median_ci_high, 0.9);
}

}  // namespace
}  // namespace rrm::analysis
