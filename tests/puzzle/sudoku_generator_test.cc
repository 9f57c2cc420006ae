// Tests for the seeded Sudoku generator and its exact solver.
#include "core/puzzle/sudoku_generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace rrm::puzzle {
namespace {

SudokuGrid FromString(const std::string& cells) {
  SudokuGrid grid{};
  for (int c = 0; c < 81; ++c) grid[c] = cells[c] >= '1' && cells[c] <= '9' ? cells[c] - '0' : 0;
  return grid;
}

bool IsValidSolution(const SudokuGrid& g) {
  for (int i = 0; i < 9; ++i) {
    std::set<int> row, col, box;
    for (int j = 0; j < 9; ++j) {
      row.insert(g[i * 9 + j]);
      col.insert(g[j * 9 + i]);
      box.insert(g[((i / 3) * 3 + j / 3) * 9 + (i % 3) * 3 + j % 3]);
    }
    for (const auto& unit : {row, col, box}) {
      if (unit != std::set<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}) return false;
    }
  }
  return true;
}

int Givens(const SudokuGrid& g) { return static_cast<int>(std::count_if(g.begin(), g.end(), [](uint8_t v) { return v != 0; })); }

constexpr char kPuzzle[] =
    "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
constexpr char kSolution[] =
    "534678912672195348198342567859761423426853791713924856961537284287419635345286179";

TEST(SudokuSolver, CountsNoneOneOrSeveralSolutions) {
  EXPECT_EQ(CountSudokuSolutions(FromString(kPuzzle), 2), 1);
  SudokuGrid solution{};
  ASSERT_TRUE(SolveSudoku(FromString(kPuzzle), &solution));
  EXPECT_EQ(solution, FromString(kSolution));
  // Dropping givens from a proper puzzle until it is ambiguous.
  SudokuGrid sparse = FromString(kPuzzle);
  for (int c = 0; c < 40; ++c) sparse[c] = 0;
  EXPECT_EQ(CountSudokuSolutions(sparse, 2), 2);
  EXPECT_FALSE(SolveSudoku(sparse, &solution));
  EXPECT_EQ(CountSudokuSolutions(SudokuGrid{}, 5), 5);
  SudokuGrid clash = FromString(kPuzzle);
  clash[2] = 5;  // a second 5 in row 0
  EXPECT_EQ(CountSudokuSolutions(clash, 2), 0);
}

TEST(SudokuGenerator, PuzzlesHaveAUniqueSolutionAndTheTargetGivens) {
  for (int target : {24, 28, 32, 40, 50, 60}) {
    for (uint64_t seed = 0; seed < 6; ++seed) {
      const SudokuPuzzle p = GenerateSudoku(target, seed * 1000 + target);
      SCOPED_TRACE(testing::Message() << "target " << target << " seed " << seed);
      EXPECT_EQ(p.givens, Givens(p.puzzle));
      EXPECT_EQ(CountSudokuSolutions(p.puzzle, 2), 1);
      EXPECT_TRUE(IsValidSolution(p.solution));
      for (int c = 0; c < 81; ++c) {
        if (p.puzzle[c] != 0) EXPECT_EQ(p.puzzle[c], p.solution[c]);
      }
      if (target >= 28) {
        EXPECT_EQ(p.givens, target);  // reachable by random removal
      } else {
        EXPECT_GE(p.givens, target);  // as close as uniqueness allows
        EXPECT_LE(p.givens, target + 4);
      }
    }
  }
}

TEST(SudokuGenerator, SameSeedSamePuzzleOtherSeedOtherPuzzle) {
  const SudokuPuzzle a = GenerateSudoku(35, 7), b = GenerateSudoku(35, 7), c = GenerateSudoku(35, 8);
  EXPECT_EQ(a.puzzle, b.puzzle);
  EXPECT_EQ(a.solution, b.solution);
  EXPECT_NE(a.puzzle, c.puzzle);
}

TEST(SudokuGenerator, ShuffleKeepsAValidUniquePuzzle) {
  const SudokuPuzzle p = GenerateSudoku(30, 3);
  SplitMix64 rng(42);
  std::set<SudokuGrid> seen;
  for (int i = 0; i < 20; ++i) {
    const SudokuPuzzle s = ShuffleSudoku(p, rng);
    EXPECT_EQ(Givens(s.puzzle), p.givens);
    EXPECT_TRUE(IsValidSolution(s.solution));
    SudokuGrid solved{};
    ASSERT_TRUE(SolveSudoku(s.puzzle, &solved));
    EXPECT_EQ(solved, s.solution);
    seen.insert(s.puzzle);
  }
  EXPECT_GT(seen.size(), 15u);
}

}  // namespace
}  // namespace rrm::puzzle
