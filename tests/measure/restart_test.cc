// SPEC §5 restarts: symmetries inverted exactly, noise seeded per (seed,
// example, restart), restart 0 always the puzzle as given.
#include <random>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/measure/trajectory.h"
#include "core/puzzle/symmetry.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

using ::testing::HasSubstr;

bool IsValidSudokuSolution(const torch::Tensor& tokens) {
  const torch::Tensor grid = (tokens - 1).view({9, 9});  // digits 1..9
  const torch::Tensor sorted = torch::arange(1, 10, torch::kInt64);
  for (int64_t i = 0; i < 9; ++i) {
    if (!torch::equal(std::get<0>(grid[i].sort()), sorted)) return false;
    if (!torch::equal(std::get<0>(grid.select(1, i).sort()), sorted)) return false;
    const torch::Tensor box = grid.slice(0, 3 * (i / 3), 3 * (i / 3) + 3).slice(1, 3 * (i % 3), 3 * (i % 3) + 3);
    if (!torch::equal(std::get<0>(box.flatten().sort()), sorted)) return false;
  }
  return true;
}

TEST(Symmetry, SudokuSymmetriesKeepSolutionsValidAndInvertExactly) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("hrm");
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    auto symmetry = puzzle::RandomSymmetry(puzzle::PuzzleKind::kSudoku, 81, rng);
    ASSERT_TRUE(symmetry.ok()) << symmetry.status();
    const torch::Tensor solution = puzzles.labels[0];
    const torch::Tensor moved = symmetry->Apply(solution);
    EXPECT_TRUE(IsValidSudokuSolution(moved));
    EXPECT_TRUE(torch::equal(symmetry->Invert(moved), solution));
    // Blanks stay blanks: the givens count is invariant.
    EXPECT_EQ(puzzle::CountSudokuGivens(symmetry->Apply(puzzles.inputs[0])), puzzles.givens[0]);
  }
}

TEST(Symmetry, MazeDihedralMapsInvertExactly) {
  std::mt19937_64 rng(3);
  const torch::Tensor grid = torch::randint(1, 6, {49}, torch::kInt64);
  std::set<std::vector<int64_t>> distinct;
  for (int trial = 0; trial < 64; ++trial) {
    auto symmetry = puzzle::RandomSymmetry(puzzle::PuzzleKind::kMaze, 49, rng);
    ASSERT_TRUE(symmetry.ok());
    const torch::Tensor moved = symmetry->Apply(grid);
    EXPECT_TRUE(torch::equal(symmetry->Invert(moved), grid));
    distinct.insert(std::vector<int64_t>(moved.data_ptr<int64_t>(), moved.data_ptr<int64_t>() + 49));
  }
  EXPECT_EQ(distinct.size(), 8u);  // all 8 dihedral maps occur
}

TEST(Symmetry, TokenPuzzlesHaveNone) {
  std::mt19937_64 rng(0);
  auto symmetry = puzzle::RandomSymmetry(puzzle::PuzzleKind::kTokens, 10, rng);
  EXPECT_EQ(symmetry.status().code(), absl::StatusCode::kInvalidArgument);
}

std::vector<measure::ExampleRecord> Measure(const puzzle::PuzzleSet& puzzles, measure::MeasureOptions options,
                                            absl::Status* status = nullptr) {
  static auto model = testing::LoadFixtureModel("trm_mlpt");
  std::vector<measure::ExampleRecord> records;
  absl::Status result = measure::MeasurePuzzles(*model, puzzles, options, [&](measure::ExampleRecord r) {
    records.push_back(std::move(r));
    return absl::OkStatus();
  });
  if (status != nullptr) {
    *status = result;
  } else {
    EXPECT_TRUE(result.ok()) << result;
  }
  return records;
}

measure::MeasureOptions Restart(const std::string& kind, int32_t restart, double sigma = 0) {
  measure::MeasureOptions options;
  options.segments = 4;
  options.restart_kind = kind;
  options.restart = restart;
  options.restart_sigma = sigma;
  options.lyapunov_seed = 42;
  return options;
}

TEST(Restarts, SymmetryRestartMapsPredictionBackToThePuzzleAsGiven) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  const torch::Tensor inputs_before = puzzles.inputs.clone();
  const auto given = Measure(puzzles, Restart("symmetry", 0));
  const auto moved = Measure(puzzles, Restart("symmetry", 1));
  EXPECT_TRUE(torch::equal(puzzles.inputs, inputs_before)) << "the caller's puzzles must not change";
  ASSERT_EQ(moved.size(), 2u);
  for (size_t b = 0; b < moved.size(); ++b) {
    EXPECT_EQ(given[b].restart, 0);
    EXPECT_EQ(given[b].restart_kind, "none");
    EXPECT_EQ(moved[b].restart, 1);
    EXPECT_EQ(moved[b].restart_kind, "symmetry");
    // The mapped-back prediction scores against the original labels exactly
    // as the restart's own per-segment correctness says.
    const torch::Tensor prediction = torch::tensor(std::vector<int64_t>(moved[b].prediction.begin(),
                                                                        moved[b].prediction.end()));
    EXPECT_EQ(moved[b].correct, torch::equal(prediction, puzzles.labels[b]));
    const double accuracy = prediction.eq(puzzles.labels[b]).to(torch::kFloat64).mean().item<double>();
    EXPECT_NEAR(moved[b].segments.back().token_accuracy, accuracy, 1e-12);
    // Givens (blank cells) in the given frame are where the inputs are given.
    EXPECT_EQ(moved[b].givens, given[b].givens);
  }
}

TEST(Restarts, NoiseRestartsAreSeededPerExampleAndRestart) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  for (const std::string kind : {"init_noise", "step_noise"}) {
    const auto plain = Measure(puzzles, Restart(kind, 0, 0.5));
    const auto first = Measure(puzzles, Restart(kind, 1, 0.5));
    const auto again = Measure(puzzles, Restart(kind, 1, 0.5));
    const auto second = Measure(puzzles, Restart(kind, 2, 0.5));
    ASSERT_EQ(first.size(), 2u);
    const int64_t last = kind == "init_noise" ? 0 : 1;  // step noise first acts on segment 2
    EXPECT_NE(first[0].segments[last].displacement_joint, plain[0].segments[last].displacement_joint) << kind;
    EXPECT_EQ(first[0].segments[3].displacement_joint, again[0].segments[3].displacement_joint) << kind;
    EXPECT_NE(first[0].segments[3].displacement_joint, second[0].segments[3].displacement_joint) << kind;
    EXPECT_NE(first[0].segments[3].displacement_joint, first[1].segments[3].displacement_joint) << kind;
  }
}

TEST(Restarts, BadRestartOptionsNameTheField) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  absl::Status status;
  Measure(puzzles, Restart("rotate", 1), &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("restart_kind: expected none, symmetry"));
  Measure(puzzles, Restart("init_noise", 1, 0), &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("restart_sigma: expected > 0"));
  Measure(puzzles, Restart("none", 2), &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("needs a restart_kind other than none"));
}

}  // namespace
}  // namespace rrm
