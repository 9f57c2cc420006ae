// Symmetries of a puzzle that map it to an equivalent puzzle (SPEC §5
// restarts of kind `symmetry`): Sudoku digit relabelling, band/stack and
// row/column-within-band permutations and transpose; Maze dihedral maps.
// Each is inverted exactly on a prediction, so a restart's answer can be
// compared with the puzzle as given.
//
// The symmetries of a puzzle kind are numbered 0..count−1, number 0 being the
// identity; docs/draws.md writes down the numbering, and
// tests/reference/restart_draws.py reproduces it.
#ifndef RRM_CORE_PUZZLE_SYMMETRY_H_
#define RRM_CORE_PUZZLE_SYMMETRY_H_

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "core/common/splitmix64.h"
#include "core/puzzle/puzzle_set.h"

namespace rrm::puzzle {

struct Symmetry {
  // Position i of the transformed puzzle holds position source[i] of the original.
  std::vector<int64_t> source;
  // Token t of the original becomes token_map[t] (empty = identity, as for
  // Maze); values outside the map (pad, kIgnoreLabel) are left unchanged.
  std::vector<int64_t> token_map;

  // True when Apply changes no puzzle: source and token_map are identities.
  bool IsIdentity() const;
  // Transforms token rows [..., L] (inputs or labels).
  torch::Tensor Apply(const torch::Tensor& tokens) const;
  // The inverse: maps rows of the transformed puzzle back to the original.
  torch::Tensor Invert(const torch::Tensor& tokens) const;
};

// How many symmetries the puzzle kind has: Sudoku (81 cells, tokens 2..10 are
// digits 1..9) 9!·1296²·2 = 1,218,998,108,160; an n×n Maze (n ≥ 2) the 8
// dihedral maps. INVALID_ARGUMENT for token puzzles, which have none, and for
// shapes that are neither.
absl::StatusOr<uint64_t> SymmetryCount(PuzzleKind kind, int64_t seq_len);

// Symmetry number `index` (0 = the identity; distinct numbers are distinct
// maps), decoded as docs/draws.md says. INVALID_ARGUMENT when index >= count.
absl::StatusOr<Symmetry> SymmetryAt(PuzzleKind kind, int64_t seq_len, uint64_t index);

// SPEC §5: the symmetry of a restart r ≥ 1, never the identity: number
// 1 + rng.Below(count − 1), uniform over the non-identity symmetries. The
// stream is rrm::SplitMix64 (docs/draws.md), spelled out because
// sudoku_generator.h has a puzzle::SplitMix64 whose Below is not unbiased.
absl::StatusOr<Symmetry> RestartSymmetry(PuzzleKind kind, int64_t seq_len, ::rrm::SplitMix64& rng);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_SYMMETRY_H_
