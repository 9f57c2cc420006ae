// Seeded Sudoku generation: a full grid, then cells removed while the puzzle
// keeps exactly one solution, down to a chosen number of givens.
//
// Grids are 81 cells in row-major order holding 0 (blank) or a digit 1..9.
// Generation is deterministic for a seed on every platform (the random stream
// is SplitMix64 and the shuffles are written out here, not std::shuffle).
//
// Thread safety: all functions are reentrant; they share no state.
#ifndef RRM_CORE_PUZZLE_SUDOKU_GENERATOR_H_
#define RRM_CORE_PUZZLE_SUDOKU_GENERATOR_H_

#include <array>
#include <cstdint>

namespace rrm::puzzle {

using SudokuGrid = std::array<uint8_t, 81>;

// A small portable random stream (SplitMix64), shared by the generators.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n) for n > 0 (modulo bias below 2^-50 for the n used here).
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// Counts the solutions of `grid`, stopping at `limit` (so limit 2 answers
// "none, unique or several" cheaply). A grid whose givens already clash has 0.
// Exact depth-first search on row/column/box bitmasks, branching on the cell
// with the fewest candidates.
int CountSudokuSolutions(const SudokuGrid& grid, int limit);

// The solution of a grid with exactly one solution; false otherwise
// (`solution` is then unspecified).
bool SolveSudoku(const SudokuGrid& grid, SudokuGrid* solution);

struct SudokuPuzzle {
  SudokuGrid puzzle{};    // the givens, 0 = blank
  SudokuGrid solution{};  // the unique solution
  int givens = 0;         // non-blank cells of `puzzle` (may exceed the target, see below)
};

// A puzzle with a unique solution and `target_givens` givens where reachable.
// Cells are removed from a random full grid in random order, each removal kept
// only if the solution stays unique; when a grid gets stuck above the target
// (below about 25 givens this is common), up to `attempts` fresh grids are
// tried and the one with the fewest givens is returned, so `givens` says what
// was achieved. target_givens is clamped to [17, 81].
SudokuPuzzle GenerateSudoku(int target_givens, uint64_t seed, int attempts = 8);

// Upstream's Sudoku augmentation (a validity-preserving symmetry): a digit
// relabelling, an optional transpose, and permutations of bands, rows within
// bands, stacks and columns within stacks, applied alike to puzzle and solution.
SudokuPuzzle ShuffleSudoku(const SudokuPuzzle& puzzle, SplitMix64& rng);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_SUDOKU_GENERATOR_H_
