// Issue 17 cell statistics of the energy maps: the pairs-within-puzzle cell
// AUC against a brute-force count over every pair, and the report section on
// records whose answer is known.
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/analysis/analysis.h"
#include "core/analysis/energy.h"
#include "core/analysis/report_format.h"

namespace rrm::analysis {
namespace {

using measure::EnergyMap;
using measure::ExampleRecord;

// Every (positive, negative) pair counted one by one.
CellTally BruteForce(const std::vector<double>& cells, const std::vector<int32_t>& positive,
                     const std::vector<int32_t>& negative) {
  CellTally t;
  for (int32_t p : positive) {
    for (int32_t n : negative) {
      t.favourable += cells[p] > cells[n] ? 1.0 : cells[p] == cells[n] ? 0.5 : 0.0;
      t.pairs += 1;
    }
  }
  return t;
}

TEST(CellAuc, TallyMatchesBruteForceWithTies) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int L = 81;
    std::vector<double> cells(L);
    // Few distinct values, so ties are common.
    for (double& c : cells) c = static_cast<double>(rng() % 6) / 10.0;
    std::vector<int32_t> positive, negative;
    for (int32_t c = 0; c < L; ++c) {
      const uint64_t draw = rng() % 3;
      if (draw == 0) positive.push_back(c);
      if (draw == 1) negative.push_back(c);
    }
    const CellTally fast = TallyCells(cells, positive, negative), slow = BruteForce(cells, positive, negative);
    EXPECT_DOUBLE_EQ(fast.favourable, slow.favourable) << "trial " << trial;
    EXPECT_DOUBLE_EQ(fast.pairs, slow.pairs) << "trial " << trial;
  }
}

// A Sudoku-shaped record: P puzzle positions, 81 cells.
ExampleRecord Record(int index, bool correct, std::vector<double> cells, std::vector<int32_t> given,
                     std::vector<int32_t> wrong, const std::string& method = "propagator_right") {
  ExampleRecord r;
  r.model = "m";
  r.model_family = "trm";
  r.example_index = index;
  r.puzzle_id = std::to_string(index);
  r.givens = static_cast<int32_t>(given.size());
  r.correct = correct;
  measure::SegmentRecord s;
  s.index = 1;
  s.correct = correct;
  s.token_accuracy = correct ? 1.0 : 0.5;
  s.displacement_joint = 0.1;
  s.halt_confidence = 0.5;
  r.segments = {s, s};
  r.segments[1].index = 2;
  EnergyMap map;
  map.method = method;
  map.directions = 1;
  map.puzzle_positions = 1;
  map.positions.push_back(0.2);  // the puzzle-embedding position
  double total = 0;
  for (double c : cells) total += c;
  for (double c : cells) map.positions.push_back(0.8 * c / total);
  r.energy_maps.push_back(map);
  r.given_cells = std::move(given);
  r.wrong_cells = std::move(wrong);
  return r;
}

TEST(EnergyReport, KnownAnswersAndTheBruteForcePooledAuc) {
  std::mt19937_64 rng(3);
  std::vector<ExampleRecord> records;
  double favourable = 0, pairs = 0;
  for (int i = 0; i < 40; ++i) {
    const bool correct = i % 2 == 0;
    std::vector<int32_t> given, wrong, right_blank;
    std::vector<double> cells(81);
    for (int32_t c = 0; c < 81; ++c) {
      if (c % 3 == 0) given.push_back(c);
      else if (!correct && c % 7 == 1) wrong.push_back(c);
      else right_blank.push_back(c);
    }
    // Givens carry no energy; wrong cells mostly more than right blank ones.
    for (int32_t c = 0; c < 81; ++c) {
      const double u = static_cast<double>(rng() % 1000) / 1000.0;
      cells[c] = c % 3 == 0 ? 0.0 : (!correct && c % 7 == 1) ? 0.5 + u : u;
    }
    records.push_back(Record(i, correct, cells, given, wrong));
    if (!correct) {
      double total = 0;
      for (double c : cells) total += c;
      std::vector<double> normalised(cells);
      for (double& c : normalised) c /= total;
      const CellTally t = BruteForce(normalised, wrong, right_blank);
      favourable += t.favourable;
      pairs += t.pairs;
    }
  }
  AnalysisParameters p;
  p.bootstrap = 200;
  p.early_window = 1;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  const EnergyAnalysis& e = report->energy;
  ASSERT_TRUE(e.absent_reason.empty()) << e.absent_reason;
  ASSERT_EQ(e.maps.size(), 1u);
  const EnergyMapStats& m = e.maps[0];
  EXPECT_EQ(m.method, "propagator_right");
  EXPECT_EQ(m.records, 40);
  EXPECT_EQ(m.cells, 81);
  EXPECT_EQ(m.wrong_vs_right.puzzles, 20);
  EXPECT_DOUBLE_EQ(m.wrong_vs_right.auc_raw, favourable / pairs);
  EXPECT_GT(m.wrong_vs_right.auc_raw, 0.6);
  EXPECT_LE(m.wrong_vs_right.ci_low, m.wrong_vs_right.auc_raw);
  EXPECT_GE(m.wrong_vs_right.ci_high, m.wrong_vs_right.auc_raw);
  EXPECT_EQ(m.wrong_vs_right.ci_replicates, 200);
  // Blank cells all carry energy (u > 0 but for rng draws of 0), givens none.
  EXPECT_GT(m.blank_vs_given.auc_raw, 0.99);
  EXPECT_NEAR(m.puzzle_position_share.mean, 0.2, 1e-12);
  ASSERT_EQ(m.mean_cells_failure.size(), 81u);
  EXPECT_EQ(m.mean_cells_failure[0], 0.0);  // a given cell
  double sum = 0;
  for (double c : m.mean_cells_success) sum += c;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  ASSERT_EQ(m.concentration.size(), 2u);
  EXPECT_EQ(m.concentration[0].score, "entropy");
  EXPECT_GT(m.concentration[0].success.mean, 0.0);
  EXPECT_LT(m.concentration[0].success.mean, 1.0);
  EXPECT_NEAR(m.concentration[0].difference.mean,
              m.concentration[0].failure.mean - m.concentration[0].success.mean, 1e-15);
  // Both renderings carry the section.
  EXPECT_THAT(ReportToJson(*report), ::testing::HasSubstr("\"wrong_vs_right\":{\"comparison\":\"wrong_vs_right_blank\""));
  EXPECT_THAT(FormatReportTable(*report), ::testing::HasSubstr("Energy maps"));
}

TEST(EnergyReport, AbsentWithTheReasonWhenNoRecordCarriesAMap) {
  ExampleRecord r = Record(0, false, std::vector<double>(81, 1.0), {}, {1});
  r.energy_maps.clear();
  AnalysisParameters p;
  p.bootstrap = 0;
  const absl::StatusOr<Report> report = Analyze({r}, p);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->energy.maps.empty());
  EXPECT_THAT(report->energy.absent_reason, ::testing::HasSubstr("energy_map_directions"));
  EXPECT_EQ(report->energy.records_without_maps, 1);
}

TEST(EnergyReport, EachMethodSeparatelyAndAnUndefinedAucSaysWhy) {
  // Only successes: no failure has a wrong cell.
  std::vector<ExampleRecord> records;
  for (int i = 0; i < 4; ++i) {
    ExampleRecord r = Record(i, true, std::vector<double>(81, 1.0), {0, 1}, {});
    ExampleRecord window = Record(i, true, std::vector<double>(81, 1.0), {0, 1}, {}, "window_right");
    r.energy_maps.push_back(window.energy_maps[0]);
    records.push_back(r);
  }
  AnalysisParameters p;
  p.bootstrap = 10;
  p.early_window = 1;
  const absl::StatusOr<Report> report = Analyze(records, p);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->energy.maps.size(), 2u);
  EXPECT_EQ(report->energy.maps[0].method, "propagator_right");
  EXPECT_EQ(report->energy.maps[1].method, "window_right");
  for (const EnergyMapStats& m : report->energy.maps) {
    EXPECT_TRUE(std::isnan(m.wrong_vs_right.auc_raw));
    EXPECT_FALSE(m.wrong_vs_right.absent_reason.empty());
    EXPECT_DOUBLE_EQ(m.blank_vs_given.auc_raw, 0.5);  // a flat map: every pair a tie
    EXPECT_NEAR(m.concentration[0].success.mean, 1.0, 1e-12);  // uniform: entropy 1
    EXPECT_TRUE(std::isnan(m.concentration[0].failure.mean));
  }
}

}  // namespace
}  // namespace rrm::analysis
