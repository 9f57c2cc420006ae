// FormatComparisonTable and PuzzleSetNote (issue 16) on two reports that
// Analyze() computed from synthetic records: one column per name, the claims
// rows with each family's paper value, and the puzzle-set line.
#include "core/analysis/comparison.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/analysis/analysis.h"
#include "tests/analysis/synthetic_records.h"

namespace rrm::analysis {
namespace {

using ::rrm::analysis::testing::MakeRecord;
using ::rrm::analysis::testing::Trajectory;
using ::testing::HasSubstr;
using ::testing::Not;

// `successes` of `n` Sudoku puzzles correct (two runs each), one model.
std::vector<measure::ExampleRecord> Records(int successes, int n, const std::string& model,
                                            const std::string& family) {
  std::vector<measure::ExampleRecord> records;
  for (int restart = 0; restart < 2; ++restart) {
    for (int i = 0; i < n; ++i) {
      const bool ok = (i + restart) % n < successes;
      Trajectory t;
      t.d = {1.0, 0.5, ok ? 0.01 : 0.8};
      t.h = {0.5, 0.5, ok ? 0.9 : 0.2 + 0.01 * i};
      t.increments = {0.1 * i, 0.0, ok ? -0.1 : 0.2};
      records.push_back(MakeRecord(i, ok, t, {ok ? -0.05 : 0.05 + 0.01 * i}, restart));
      records.back().givens = 25;
      records.back().puzzle_id = "p" + std::to_string(i);
    }
  }
  testing::SetModel(&records, model, family);
  return records;
}

Report AnalyzeOrDie(const std::vector<measure::ExampleRecord>& records) {
  AnalysisParameters p;
  p.bootstrap = 50;
  p.early_window = 2;
  absl::StatusOr<Report> report = Analyze(records, p);
  EXPECT_TRUE(report.ok()) << report.status();
  return *report;
}

std::string LineStartingWith(const std::string& text, const std::string& prefix) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, prefix)) return std::string(line);
  }
  ADD_FAILURE() << "no line starting with \"" << prefix << "\" in\n" << text;
  return "";
}

TEST(Comparison, OneColumnPerNameAndTheClaimsRows) {
  const Report trm = AnalyzeOrDie(Records(6, 8, "trm", "trm"));
  const Report hrm = AnalyzeOrDie(Records(2, 8, "hrm", "hrm"));
  const std::string table =
      FormatComparisonTable({{"trm", trm}, {"hrm", hrm}}, "puzzle sets: identical (8 puzzles)");
  EXPECT_THAT(table, HasSubstr("puzzle sets: identical (8 puzzles)\n"));
  const std::string header = LineStartingWith(table, "quantity");
  EXPECT_THAT(header, ::testing::MatchesRegex("quantity +\\| trm +\\| hrm"));

  // Every SPEC §6 claim has a row with one cell per column, then its paper row.
  for (const Claim& c : trm.claims) {
    const std::string row = LineStartingWith(table, "  " + c.id + " ");
    const std::vector<std::string> cells = absl::StrSplit(row, " | ");
    EXPECT_EQ(cells.size(), 3u) << row;
  }
  // accuracy: 6/8 = 75.0% and 2/8 = 25.0%; the paper's value by family.
  const std::string claims = table.substr(table.find("Reference paper's claims"));
  const std::string accuracy = LineStartingWith(claims, "  accuracy ");
  const std::vector<std::string> cells = absl::StrSplit(accuracy, " | ");
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_THAT(cells[1], HasSubstr("75.0%"));
  EXPECT_THAT(cells[1], HasSubstr(trm.claims[0].verdict));
  EXPECT_THAT(cells[2], HasSubstr("25.0%"));
  const std::string paper = claims.substr(claims.find(accuracy) + accuracy.size() + 1);
  EXPECT_THAT(LineStartingWith(paper, "    paper"), HasSubstr(trm.claims[0].paper));

  // The decomposition, the AUCs, matched, early window, halting and restarts.
  for (const char* row : {"  accuracy [Wilson 95%]", "  failure unsettled", "  settled share of failures",
                          "  lambda_1 ", "  d_T ", "  h_T ", "  lambda_1 in d_T quantile bins", "  d_w",
                          "  AUC of h_T (success)", "  failures with h_T > 0.5", "  R = 1 first run",
                          "  R = 2 best h_T"}) {
    const std::vector<std::string> row_cells = absl::StrSplit(LineStartingWith(table, row), " | ");
    EXPECT_EQ(row_cells.size(), 3u) << row;
  }
  EXPECT_THAT(LineStartingWith(table, "  accuracy [Wilson 95%]"), HasSubstr("75.0% ["));
  EXPECT_THAT(LineStartingWith(table, "  R = 2 first run"), HasSubstr("75.0%"));
  EXPECT_EQ(table.back(), '\n');
}

TEST(Comparison, AbsentNumbersAreNa) {
  const Report trm = AnalyzeOrDie(Records(6, 8, "trm", "trm"));
  const Report empty = AnalyzeOrDie({});
  const std::string table = FormatComparisonTable({{"trm", trm}, {"none", empty}}, "");
  EXPECT_THAT(table, Not(HasSubstr("puzzle sets")));
  EXPECT_THAT(table, Not(HasSubstr("nan")));
  const std::vector<std::string> cells = absl::StrSplit(LineStartingWith(table, "  lambda_1 "), " | ");
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[2], "n/a");
  const std::vector<std::string> restart = absl::StrSplit(LineStartingWith(table, "  R = 2 best h_T"), " | ");
  ASSERT_EQ(restart.size(), 3u);
  EXPECT_EQ(restart[2], "n/a");
}

TEST(Comparison, PuzzleSetNoteSaysIdenticalOrHowTheyDiffer) {
  const auto a = Records(6, 8, "trm", "trm");
  const auto b = Records(2, 8, "hrm", "hrm");
  EXPECT_EQ(PuzzleSetNote({{"trm", a}, {"hrm", b}}), "puzzle sets: identical (8 puzzles)");
  const auto c = Records(2, 5, "hrm", "hrm");
  const std::string differ = PuzzleSetNote({{"trm", a}, {"hrm", c}});
  EXPECT_THAT(differ, ::testing::StartsWith("puzzle sets differ: trm 8 puzzles, hrm 5 puzzles; 5 shared"));
}

}  // namespace
}  // namespace rrm::analysis
