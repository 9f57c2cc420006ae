// Symmetries of a puzzle that map it to an equivalent puzzle (SPEC §5
// restarts of kind `symmetry`): Sudoku digit relabelling, band/stack and
// row/column-within-band permutations and transpose; Maze dihedral maps.
// Each is inverted exactly on a prediction, so a restart's answer can be
// compared with the puzzle as given.
#ifndef RRM_CORE_PUZZLE_SYMMETRY_H_
#define RRM_CORE_PUZZLE_SYMMETRY_H_

#include <cstdint>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "core/puzzle/puzzle_set.h"

namespace rrm::puzzle {

struct Symmetry {
  // Position i of the transformed puzzle holds position source[i] of the original.
  std::vector<int64_t> source;
  // Token t of the original becomes token_map[t] (identity for Maze); values
  // outside the map (pad, kIgnoreLabel) are left unchanged.
  std::vector<int64_t> token_map;

  // Transforms token rows [..., L] (inputs or labels).
  torch::Tensor Apply(const torch::Tensor& tokens) const;
  // The inverse: maps rows of the transformed puzzle back to the original.
  torch::Tensor Invert(const torch::Tensor& tokens) const;
};

// A uniformly random symmetry of the puzzle kind drawn from `rng`:
// Sudoku (81 cells, tokens 2..10 are digits 1..9) or an n×n Maze (one of the
// 8 dihedral maps). INVALID_ARGUMENT for token puzzles, which have none.
absl::StatusOr<Symmetry> RandomSymmetry(PuzzleKind kind, int64_t seq_len, std::mt19937_64& rng);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_SYMMETRY_H_
