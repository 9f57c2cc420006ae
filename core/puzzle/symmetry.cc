#include "core/puzzle/symmetry.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace rrm::puzzle {
namespace {

std::vector<int64_t> Shuffled(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// A permutation of 9 lines that keeps bands (groups of 3) together.
std::vector<int64_t> BandPreservingPermutation(std::mt19937_64& rng) {
  std::vector<int64_t> lines;
  for (int64_t band : Shuffled(3, rng)) {
    for (int64_t line : Shuffled(3, rng)) lines.push_back(3 * band + line);
  }
  return lines;
}

Symmetry SudokuSymmetry(std::mt19937_64& rng) {
  Symmetry s;
  const std::vector<int64_t> rows = BandPreservingPermutation(rng);
  const std::vector<int64_t> cols = BandPreservingPermutation(rng);
  const bool transpose = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  s.source.resize(81);
  for (int64_t i = 0; i < 81; ++i) {
    int64_t r = rows[i / 9], c = cols[i % 9];
    if (transpose) std::swap(r, c);
    s.source[i] = 9 * r + c;
  }
  // Tokens: 0 pad, 1 blank, 2..10 digits 1..9; only digits are relabelled.
  const std::vector<int64_t> digits = Shuffled(9, rng);
  s.token_map = {0, 1};
  for (int64_t d : digits) s.token_map.push_back(2 + d);
  return s;
}

Symmetry MazeSymmetry(int64_t n, std::mt19937_64& rng) {
  Symmetry s;
  const int which = std::uniform_int_distribution<int>(0, 7)(rng);
  s.source.resize(n * n);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      // Rotation by 90°·(which % 4), then a mirror when which >= 4.
      int64_t sr = r, sc = which >= 4 ? n - 1 - c : c;
      for (int turn = 0; turn < which % 4; ++turn) {
        const int64_t tr = sc, tc = n - 1 - sr;
        sr = tr;
        sc = tc;
      }
      s.source[r * n + c] = sr * n + sc;
    }
  }
  return s;  // token_map empty: identity
}

torch::Tensor MapTokens(const torch::Tensor& tokens, const std::vector<int64_t>& token_map) {
  if (token_map.empty()) return tokens;
  const torch::Tensor map = torch::tensor(token_map, torch::kInt64).to(tokens.device());
  const int64_t size = static_cast<int64_t>(token_map.size());
  const torch::Tensor inside = tokens.ge(0).logical_and(tokens.lt(size));
  return torch::where(inside, map.index({tokens.clamp(0, size - 1)}), tokens);
}

}  // namespace

torch::Tensor Symmetry::Apply(const torch::Tensor& tokens) const {
  const torch::Tensor index = torch::tensor(source, torch::kInt64).to(tokens.device());
  return MapTokens(tokens.index_select(-1, index), token_map);
}

torch::Tensor Symmetry::Invert(const torch::Tensor& tokens) const {
  std::vector<int64_t> inverse_source(source.size());
  for (size_t i = 0; i < source.size(); ++i) inverse_source[source[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> inverse_tokens(token_map.size());
  for (size_t t = 0; t < token_map.size(); ++t) inverse_tokens[token_map[t]] = static_cast<int64_t>(t);
  const torch::Tensor index = torch::tensor(inverse_source, torch::kInt64).to(tokens.device());
  return MapTokens(tokens, inverse_tokens).index_select(-1, index);
}

absl::StatusOr<Symmetry> RandomSymmetry(PuzzleKind kind, int64_t seq_len, std::mt19937_64& rng) {
  if (kind == PuzzleKind::kSudoku && seq_len == 81) return SudokuSymmetry(rng);
  if (kind == PuzzleKind::kMaze) {
    const auto n = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(seq_len))));
    if (n * n == seq_len) return MazeSymmetry(n, rng);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "restart_kind 'symmetry': defined for Sudoku (81 cells) and square Maze puzzles; this puzzle set is ",
      kind == PuzzleKind::kTokens ? "plain tokens" : "not square", " with seq_len ", seq_len));
}

}  // namespace rrm::puzzle
