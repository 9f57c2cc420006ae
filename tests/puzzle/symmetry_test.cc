// SPEC §5 symmetry restarts: every symmetry keeps the puzzle valid and is
// inverted exactly; the numbering of docs/draws.md (0 = identity, distinct
// numbers distinct maps); a restart's symmetry is never the identity.
#include "core/puzzle/symmetry.h"

#include <iterator>
#include <set>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/common/splitmix64.h"
#include "core/puzzle/sudoku_generator.h"

namespace rrm::puzzle {
namespace {

// The restart stream (core/common), not the generators' puzzle::SplitMix64.
using Stream = ::rrm::SplitMix64;

// Tokens of a grid (0 blank -> token 1, digit d -> token d + 1).
torch::Tensor Tokens(const SudokuGrid& grid) {
  std::vector<int64_t> tokens(grid.begin(), grid.end());
  for (int64_t& t : tokens) t += 1;
  return torch::tensor(tokens, torch::kInt64);
}

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

std::vector<int64_t> Values(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(Symmetry, SudokuSymmetriesKeepSolutionsValidAndInvertExactly) {
  const SudokuPuzzle sudoku = GenerateSudoku(30, 11);
  const torch::Tensor solution = Tokens(sudoku.solution), givens = Tokens(sudoku.puzzle);
  Stream rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    auto symmetry = RestartSymmetry(PuzzleKind::kSudoku, 81, rng);
    ASSERT_TRUE(symmetry.ok()) << symmetry.status();
    const torch::Tensor moved = symmetry->Apply(solution);
    EXPECT_TRUE(IsValidSudokuSolution(moved));
    EXPECT_TRUE(torch::equal(symmetry->Invert(moved), solution));
    // Blanks stay blanks: the givens count is invariant.
    EXPECT_EQ(CountSudokuGivens(symmetry->Apply(givens)), sudoku.givens);
  }
}

TEST(Symmetry, MazeDihedralMapsInvertExactly) {
  const torch::Tensor grid = torch::arange(49, torch::kInt64) % 5 + 1;
  std::set<std::vector<int64_t>> distinct;
  for (uint64_t which = 0; which < 8; ++which) {
    auto symmetry = SymmetryAt(PuzzleKind::kMaze, 49, which);
    ASSERT_TRUE(symmetry.ok()) << symmetry.status();
    const torch::Tensor moved = symmetry->Apply(grid);
    EXPECT_TRUE(torch::equal(symmetry->Invert(moved), grid));
    distinct.insert(symmetry->source);
  }
  EXPECT_EQ(distinct.size(), 8u);  // all 8 dihedral maps, each once
}

TEST(Symmetry, NumberZeroIsTheIdentityAndNumbersAreDistinctMaps) {
  ASSERT_EQ(*SymmetryCount(PuzzleKind::kSudoku, 81), 1218998108160ull);
  ASSERT_EQ(*SymmetryCount(PuzzleKind::kMaze, 900), 8u);
  EXPECT_TRUE(SymmetryAt(PuzzleKind::kSudoku, 81, 0)->IsIdentity());
  EXPECT_TRUE(SymmetryAt(PuzzleKind::kMaze, 900, 0)->IsIdentity());
  // Each mixed-radix digit of docs/draws.md on its own changes the map.
  std::set<std::pair<std::vector<int64_t>, std::vector<int64_t>>> distinct;
  const uint64_t numbers[] = {0, 1, 5, 6, 1295, 1296, 1296ull * 1296, 1296ull * 1296 * 2,
                              1218998108160ull - 1};
  for (uint64_t k : numbers) {
    auto s = SymmetryAt(PuzzleKind::kSudoku, 81, k);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->IsIdentity(), k == 0) << k;
    distinct.insert({s->source, s->token_map});
  }
  EXPECT_EQ(distinct.size(), std::size(numbers));
  EXPECT_EQ(SymmetryAt(PuzzleKind::kSudoku, 81, 1218998108160ull).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Symmetry, RestartIsNeverTheIdentity) {
  // SPEC §5: restart r ≥ 1 never runs the puzzle as given. Over many restart
  // streams, every Maze map but the identity turns up and the identity never.
  for (const auto& [kind, seq_len] : {std::pair{PuzzleKind::kMaze, int64_t{900}},
                                      std::pair{PuzzleKind::kMaze, int64_t{49}},
                                      std::pair{PuzzleKind::kSudoku, int64_t{81}}}) {
    std::set<std::vector<int64_t>> seen;
    for (int64_t example = 0; example < 400; ++example) {
      for (int32_t restart = 1; restart <= 3; ++restart) {
        Stream stream = Stream::ForRestart(7, example, restart);
        auto symmetry = RestartSymmetry(kind, seq_len, stream);
        ASSERT_TRUE(symmetry.ok()) << symmetry.status();
        EXPECT_FALSE(symmetry->IsIdentity()) << "seq_len " << seq_len << " example " << example
                                             << " restart " << restart;
        seen.insert(symmetry->source);
      }
    }
    if (kind == PuzzleKind::kMaze) EXPECT_EQ(seen.size(), 7u) << "seq_len " << seq_len;
  }
}

TEST(Symmetry, TokenPuzzlesAndOddShapesHaveNone) {
  Stream rng(0);
  EXPECT_EQ(RestartSymmetry(PuzzleKind::kTokens, 10, rng).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RestartSymmetry(PuzzleKind::kMaze, 50, rng).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RestartSymmetry(PuzzleKind::kMaze, 1, rng).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(RestartSymmetry(PuzzleKind::kTokens, 10, rng).status().message()),
              ::testing::HasSubstr("restart_kind 'symmetry': defined for Sudoku (81 cells) and square Maze"));
}

TEST(SplitMix64, BelowIsUnbiasedByRejection) {
  // n = 2^63 + 1: 2^64 mod n = 2^63 − 1, so draws below it are rejected
  // (plain z mod n would return them, and values below 2^63 − 1 twice as often).
  const uint64_t n = (1ull << 63) + 1, threshold = (1ull << 63) - 1;
  Stream stream(3), raw(3);
  for (int i = 0; i < 64; ++i) {
    const uint64_t value = stream.Below(n);
    uint64_t z = raw.Next();
    while (z < threshold) z = raw.Next();
    EXPECT_EQ(value, z % n);
  }
  Stream one(9);
  EXPECT_EQ(one.Below(1), 0u);
}

}  // namespace
}  // namespace rrm::puzzle
