#include "core/puzzle/sudoku_generator.h"

#include <algorithm>
#include <utility>

namespace rrm::puzzle {
namespace {

constexpr uint16_t kAllDigits = 0x3FE;  // bits 1..9

int BoxOf(int cell) { return (cell / 27) * 3 + (cell % 9) / 3; }

int PopCount(uint16_t x) { return __builtin_popcount(x); }

template <typename T>
void Shuffle(T* items, size_t count, SplitMix64& rng) {
  // Fisher–Yates, written out so that a seed gives the same order everywhere.
  for (size_t i = count; i > 1; --i) {
    const size_t j = rng.Below(i);
    const T kept = items[i - 1];
    items[i - 1] = items[j];
    items[j] = kept;
  }
}

// Depth-first search over the blank cells, with the row/column/box digit sets
// as bitmasks. Also fills a grid (first solution found, optionally with the
// candidates tried in a random order).
class Search {
 public:
  // False if the givens clash.
  bool Load(const SudokuGrid& grid) {
    cells_ = grid;
    rows_.fill(0);
    cols_.fill(0);
    boxes_.fill(0);
    for (int c = 0; c < 81; ++c) {
      if (cells_[c] == 0) continue;
      const uint16_t bit = 1u << cells_[c];
      if ((rows_[c / 9] | cols_[c % 9] | boxes_[BoxOf(c)]) & bit) return false;
      Place(c, cells_[c]);
    }
    return true;
  }

  // Counts solutions up to `limit`; the first one found is kept in first_.
  int Count(int limit, SplitMix64* rng) {
    limit_ = limit;
    found_ = 0;
    rng_ = rng;
    Recurse();
    return found_;
  }

  const SudokuGrid& first() const { return first_; }

 private:
  void Place(int c, int d) {
    const uint16_t bit = 1u << d;
    cells_[c] = static_cast<uint8_t>(d);
    rows_[c / 9] |= bit;
    cols_[c % 9] |= bit;
    boxes_[BoxOf(c)] |= bit;
  }
  void Unplace(int c, int d) {
    const uint16_t bit = ~(1u << d);
    cells_[c] = 0;
    rows_[c / 9] &= bit;
    cols_[c % 9] &= bit;
    boxes_[BoxOf(c)] &= bit;
  }
  uint16_t Candidates(int c) const {
    return kAllDigits & ~(rows_[c / 9] | cols_[c % 9] | boxes_[BoxOf(c)]);
  }

  void Recurse() {
    // Minimum-remaining-values: the blank cell with the fewest candidates.
    int best = -1, best_count = 10;
    uint16_t best_mask = 0;
    for (int c = 0; c < 81; ++c) {
      if (cells_[c] != 0) continue;
      const uint16_t mask = Candidates(c);
      const int count = PopCount(mask);
      if (count < best_count) {
        best = c;
        best_count = count;
        best_mask = mask;
        if (count <= 1) break;
      }
    }
    if (best < 0) {  // no blank cell: a solution
      if (found_++ == 0) first_ = cells_;
      return;
    }
    std::array<int, 9> digits{};
    size_t n = 0;
    for (int d = 1; d <= 9; ++d) {
      if (best_mask & (1u << d)) digits[n++] = d;
    }
    if (rng_ != nullptr) Shuffle(digits.data(), n, *rng_);
    for (size_t i = 0; i < n && found_ < limit_; ++i) {
      Place(best, digits[i]);
      Recurse();
      Unplace(best, digits[i]);
    }
  }

  SudokuGrid cells_{};
  SudokuGrid first_{};
  std::array<uint16_t, 9> rows_{}, cols_{}, boxes_{};
  int limit_ = 0;
  int found_ = 0;
  SplitMix64* rng_ = nullptr;
};

}  // namespace

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int CountSudokuSolutions(const SudokuGrid& grid, int limit) {
  Search search;
  if (!search.Load(grid)) return 0;
  return search.Count(limit, nullptr);
}

bool SolveSudoku(const SudokuGrid& grid, SudokuGrid* solution) {
  Search search;
  if (!search.Load(grid) || search.Count(2, nullptr) != 1) return false;
  *solution = search.first();
  return true;
}

SudokuPuzzle GenerateSudoku(int target_givens, uint64_t seed, int attempts) {
  target_givens = std::clamp(target_givens, 17, 81);
  SplitMix64 rng(seed);
  SudokuPuzzle best;
  best.givens = 82;
  for (int attempt = 0; attempt < std::max(attempts, 1) && best.givens > target_givens; ++attempt) {
    // A random full grid: the search with shuffled candidates from an empty grid.
    Search filler;
    filler.Load(SudokuGrid{});
    filler.Count(1, &rng);
    SudokuPuzzle candidate;
    candidate.solution = filler.first();
    candidate.puzzle = candidate.solution;
    candidate.givens = 81;

    std::array<int, 81> order{};
    for (int c = 0; c < 81; ++c) order[c] = c;
    Shuffle(order.data(), order.size(), rng);
    for (int c : order) {
      if (candidate.givens <= target_givens) break;
      const uint8_t kept = candidate.puzzle[c];
      candidate.puzzle[c] = 0;
      if (CountSudokuSolutions(candidate.puzzle, 2) == 1) {
        --candidate.givens;
      } else {
        candidate.puzzle[c] = kept;
      }
    }
    if (candidate.givens < best.givens) best = candidate;
  }
  return best;
}

SudokuPuzzle ShuffleSudoku(const SudokuPuzzle& in, SplitMix64& rng) {
  std::array<uint8_t, 10> digit_map{};
  std::array<uint8_t, 9> digits{1, 2, 3, 4, 5, 6, 7, 8, 9};
  Shuffle(digits.data(), digits.size(), rng);
  for (int d = 1; d <= 9; ++d) digit_map[d] = digits[d - 1];  // 0 (blank) stays 0
  const bool transpose = rng.Uniform() < 0.5;
  auto line_permutation = [&rng]() {
    std::array<int, 3> groups{0, 1, 2};
    Shuffle(groups.data(), 3, rng);
    std::array<int, 9> lines{};
    for (int g = 0; g < 3; ++g) {
      std::array<int, 3> within{0, 1, 2};
      Shuffle(within.data(), 3, rng);
      for (int i = 0; i < 3; ++i) lines[g * 3 + i] = groups[g] * 3 + within[i];
    }
    return lines;
  };
  const std::array<int, 9> rows = line_permutation();
  const std::array<int, 9> cols = line_permutation();
  auto apply = [&](const SudokuGrid& grid) {
    SudokuGrid out{};
    for (int r = 0; r < 9; ++r) {
      for (int c = 0; c < 9; ++c) {
        // New cell (r, c) takes old cell (rows[r], cols[c]) of the (transposed) grid.
        const int sr = rows[r], sc = cols[c];
        const int source = transpose ? sc * 9 + sr : sr * 9 + sc;
        out[r * 9 + c] = digit_map[grid[source]];
      }
    }
    return out;
  };
  SudokuPuzzle out;
  out.puzzle = apply(in.puzzle);
  out.solution = apply(in.solution);
  out.givens = in.givens;
  return out;
}

}  // namespace rrm::puzzle
