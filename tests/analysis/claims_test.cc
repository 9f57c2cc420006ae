// The SPEC §6 claims table: one row per claim in SPEC order, the paper value
// by family, and the verdict rule (docs/analysis.md).
#include "core/analysis/claims.h"

#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/analysis/analysis.h"
#include "tests/analysis/synthetic_records.h"

namespace rrm::analysis {
namespace {

using ::rrm::analysis::testing::MakeRecord;
using ::rrm::analysis::testing::Trajectory;
using ::testing::HasSubstr;

const Claim& Find(const std::vector<Claim>& claims, const std::string& id) {
  for (const Claim& c : claims) {
    if (c.id == id) return c;
  }
  ADD_FAILURE() << "no claim " << id;
  static const Claim kNone;
  return kNone;
}

// `successes` of `n` Sudoku puzzles correct, one model of `family`.
Report AccuracyReport(int successes, int n, const std::string& family) {
  std::vector<measure::ExampleRecord> records;
  for (int i = 0; i < n; ++i) {
    Trajectory t;
    t.d = {1.0, i < successes ? 0.01 : 1.0};
    t.h = {0.5, i < successes ? 0.9 : 0.1};
    records.push_back(MakeRecord(i, i < successes, t));
    records.back().givens = 25;
  }
  testing::SetModel(&records, "m", family);
  AnalysisParameters p;
  p.bootstrap = 0;
  absl::StatusOr<Report> report = Analyze(records, p);
  EXPECT_TRUE(report.ok()) << report.status();
  return *report;
}

TEST(Claims, OneRowPerSpecClaimInSpecOrder) {
  const Report report = AccuracyReport(3, 4, "trm");
  std::vector<std::string> ids;
  for (const Claim& c : report.claims) ids.push_back(c.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"accuracy", "failures_settled", "least_mobile_failure",
                                           "median_lambda_1", "auc_lambda_1", "matched_auc_deciles",
                                           "auc_within_givens", "early_window", "halting"}));
  for (const Claim& c : report.claims) {
    EXPECT_THAT(c.verdict, ::testing::AnyOf("consistent", "not consistent", "not measurable")) << c.id;
    EXPECT_FALSE(c.reason.empty()) << c.id;
    EXPECT_FALSE(c.paper.empty()) << c.id;
  }
}

TEST(Claims, PaperValueFollowsTheRecordsFamily) {
  const Report trm = AccuracyReport(3, 4, "trm");
  const Report hrm = AccuracyReport(3, 4, "hrm");
  EXPECT_DOUBLE_EQ(Find(trm.claims, "accuracy").paper_value, 0.876);
  EXPECT_DOUBLE_EQ(Find(hrm.claims, "accuracy").paper_value, 0.526);
  EXPECT_DOUBLE_EQ(Find(hrm.claims, "failures_settled").paper_value, 0.0055);
  // TRM's 0 of 254: no failure settles here either (0 of 1, Wilson [0, 0.79]).
  EXPECT_EQ(Find(trm.claims, "failures_settled").verdict, "consistent");
  // The least mobile failure is a TRM claim only.
  const Claim& least = Find(hrm.claims, "least_mobile_failure");
  EXPECT_EQ(least.verdict, "not measurable");
  EXPECT_THAT(least.reason, HasSubstr("TRM only"));
}

TEST(Claims, UnknownFamilyIsNotMeasurableWithTheReason) {
  const Report report = AccuracyReport(3, 4, "");
  const Claim& accuracy = Find(report.claims, "accuracy");
  EXPECT_EQ(accuracy.verdict, "not measurable");
  EXPECT_THAT(accuracy.reason, HasSubstr("family unknown"));
  EXPECT_TRUE(std::isnan(accuracy.paper_value));
  EXPECT_DOUBLE_EQ(accuracy.measured, 0.75);  // measured all the same
}

TEST(Claims, VerdictComparesThePaperValueWithTheInterval) {
  // 876 of 1000: Wilson [0.854, 0.895] holds 0.876.
  const Report consistent = AccuracyReport(876, 1000, "trm");
  const Claim& same = Find(consistent.claims, "accuracy");
  EXPECT_DOUBLE_EQ(same.measured, 0.876);
  EXPECT_LT(same.ci_low, 0.876);
  EXPECT_GT(same.ci_high, 0.876);
  EXPECT_EQ(same.verdict, "consistent");
  EXPECT_EQ(same.measured_text, "87.6% [85.4%, 89.5%] (876 of 1000)");
  // 650 of 1000: [0.620, 0.679] does not.
  const Report inconsistent = AccuracyReport(650, 1000, "trm");
  EXPECT_EQ(Find(inconsistent.claims, "accuracy").verdict, "not consistent");
  // No λ in these records: the AUC claim is not measurable, with the statistic's reason.
  const Claim& auc = Find(inconsistent.claims, "auc_lambda_1");
  EXPECT_EQ(auc.verdict, "not measurable");
  EXPECT_THAT(auc.reason, HasSubstr("k = 0"));
}

TEST(Claims, NotSudokuIsNotMeasurable) {
  std::vector<measure::ExampleRecord> records;
  for (int i = 0; i < 4; ++i) {
    Trajectory t;
    t.d = {1.0, 0.5};
    records.push_back(MakeRecord(i, i % 2 == 0, t));  // givens −1: e.g. Maze
  }
  testing::SetModel(&records, "m", "trm");
  const absl::StatusOr<Report> report = Analyze(records, AnalysisParameters{});
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(Find(report->claims, "accuracy").reason, HasSubstr("not Sudoku"));
}

}  // namespace
}  // namespace rrm::analysis
