#include "core/puzzle/symmetry.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/common/status.h"

namespace rrm::puzzle {
namespace {

constexpr uint64_t kDigitRelabellings = 362880;  // 9!
constexpr uint64_t kLineOrders = 1296;           // 3! band orders · (3!)³ orders within bands
constexpr uint64_t kSudokuSymmetries = kLineOrders * kLineOrders * 2 * kDigitRelabellings;
constexpr uint64_t kDihedralMaps = 8;

// Permutation number `code` of {0..m−1} in the factorial number system
// (Lehmer code): position i takes the (code / (m−1−i)!)-th item still unused.
// Code 0 is the identity. docs/draws.md.
std::vector<int64_t> PermutationAt(uint64_t code, int64_t m) {
  std::vector<int64_t> unused(m), permutation;
  for (int64_t i = 0; i < m; ++i) unused[i] = i;
  uint64_t factorial = 1;
  for (int64_t i = 2; i < m; ++i) factorial *= i;  // (m−1)!
  for (int64_t i = 0; i < m; ++i) {
    const uint64_t j = code / factorial;
    code %= factorial;
    permutation.push_back(unused[j]);
    unused.erase(unused.begin() + static_cast<int64_t>(j));
    if (m - 1 - i > 0) factorial /= static_cast<uint64_t>(m - 1 - i);
  }
  return permutation;
}

// Order number `code` (< 1296) of 9 lines that keeps bands (groups of 3)
// together: the band order from code mod 6, then the order within the band
// in slot j = 0, 1, 2 from the next base-6 digits.
std::vector<int64_t> LineOrderAt(uint64_t code) {
  const std::vector<int64_t> bands = PermutationAt(code % 6, 3);
  code /= 6;
  std::vector<int64_t> lines;
  for (int64_t slot = 0; slot < 3; ++slot) {
    for (int64_t line : PermutationAt(code % 6, 3)) lines.push_back(3 * bands[slot] + line);
    code /= 6;
  }
  return lines;
}

// Mixed radix, least significant first: row order, column order, transpose,
// digit relabelling. Index 0 is the identity.
Symmetry SudokuSymmetryAt(uint64_t index) {
  const std::vector<int64_t> rows = LineOrderAt(index % kLineOrders);
  index /= kLineOrders;
  const std::vector<int64_t> cols = LineOrderAt(index % kLineOrders);
  index /= kLineOrders;
  const bool transpose = index % 2 == 1;
  index /= 2;
  const std::vector<int64_t> digits = PermutationAt(index, 9);
  Symmetry s;
  s.source.resize(81);
  for (int64_t i = 0; i < 81; ++i) {
    int64_t r = rows[i / 9], c = cols[i % 9];
    if (transpose) std::swap(r, c);
    s.source[i] = 9 * r + c;
  }
  // Tokens: 0 pad, 1 blank, 2..10 digits 1..9; only digits are relabelled.
  s.token_map = {0, 1};
  for (int64_t d : digits) s.token_map.push_back(2 + d);
  return s;
}

// Dihedral map number `which`: rotation by 90°·(which mod 4), after a mirror
// (c -> n−1−c) when which >= 4. Index 0 is the identity.
Symmetry MazeSymmetryAt(int64_t n, uint64_t which) {
  Symmetry s;
  s.source.resize(n * n);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      int64_t sr = r, sc = which >= 4 ? n - 1 - c : c;
      for (uint64_t turn = 0; turn < which % 4; ++turn) {
        const int64_t tr = sc, tc = n - 1 - sr;
        sr = tr;
        sc = tc;
      }
      s.source[r * n + c] = sr * n + sc;
    }
  }
  return s;  // token_map empty: identity
}

int64_t MazeSide(int64_t seq_len) {
  const auto n = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(seq_len))));
  return n * n == seq_len && n >= 2 ? n : 0;
}

torch::Tensor MapTokens(const torch::Tensor& tokens, const std::vector<int64_t>& token_map) {
  if (token_map.empty()) return tokens;
  const torch::Tensor map = torch::tensor(token_map, torch::kInt64).to(tokens.device());
  const int64_t size = static_cast<int64_t>(token_map.size());
  const torch::Tensor inside = tokens.ge(0).logical_and(tokens.lt(size));
  return torch::where(inside, map.index({tokens.clamp(0, size - 1)}), tokens);
}

}  // namespace

bool Symmetry::IsIdentity() const {
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] != static_cast<int64_t>(i)) return false;
  }
  for (size_t t = 0; t < token_map.size(); ++t) {
    if (token_map[t] != static_cast<int64_t>(t)) return false;
  }
  return true;
}

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

absl::StatusOr<uint64_t> SymmetryCount(PuzzleKind kind, int64_t seq_len) {
  if (kind == PuzzleKind::kSudoku && seq_len == 81) return kSudokuSymmetries;
  if (kind == PuzzleKind::kMaze && MazeSide(seq_len) > 0) return kDihedralMaps;
  return absl::InvalidArgumentError(absl::StrCat(
      "restart_kind 'symmetry': defined for Sudoku (81 cells) and square Maze puzzles of at least 2×2; "
      "this puzzle set is ",
      kind == PuzzleKind::kTokens ? "plain tokens" : kind == PuzzleKind::kSudoku ? "Sudoku" : "Maze",
      " with seq_len ", seq_len));
}

absl::StatusOr<Symmetry> SymmetryAt(PuzzleKind kind, int64_t seq_len, uint64_t index) {
  RRM_ASSIGN_OR_RETURN(const uint64_t count, SymmetryCount(kind, seq_len));
  if (index >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("symmetry index: expected below ", count, ", found ", index));
  }
  return kind == PuzzleKind::kSudoku ? SudokuSymmetryAt(index) : MazeSymmetryAt(MazeSide(seq_len), index);
}

absl::StatusOr<Symmetry> RestartSymmetry(PuzzleKind kind, int64_t seq_len, ::rrm::SplitMix64& rng) {
  RRM_ASSIGN_OR_RETURN(const uint64_t count, SymmetryCount(kind, seq_len));
  // Drawn from the count − 1 non-identity symmetries only, so the restart is
  // never the puzzle as given (SPEC §5), with one draw (bar rejections).
  return SymmetryAt(kind, seq_len, 1 + rng.Below(count - 1));
}

}  // namespace rrm::puzzle
