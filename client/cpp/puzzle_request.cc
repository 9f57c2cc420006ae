#include "client/cpp/puzzle_request.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace rrm {
namespace {

constexpr char kMazeChars[] = "# SGo";  // token = 1 + index (core/puzzle/puzzle_set.h)

std::vector<int64_t> Row(const torch::Tensor& t, int64_t i) {
  torch::Tensor row = t[i].to(torch::kInt64).contiguous();
  return std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
}

// Sudoku row as 81 characters; `solution` rows must hold digits only.
std::optional<std::string> SudokuText(const std::vector<int64_t>& row, bool solution) {
  std::string text;
  for (int64_t t : row) {
    if (t == 1 && !solution) {
      text.push_back('.');
    } else if (t >= 2 && t <= 10) {
      text.push_back(static_cast<char>('0' + t - 1));
    } else {
      return std::nullopt;
    }
  }
  return text;
}

std::optional<std::string> MazeText(const std::vector<int64_t>& row) {
  const auto n = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(row.size()))));
  if (n * n != static_cast<int64_t>(row.size())) return std::nullopt;
  std::string text;
  for (int64_t i = 0; i < n * n; ++i) {
    if (i > 0 && i % n == 0) text.push_back('\n');
    if (row[i] < 1 || row[i] > 5) return std::nullopt;
    text.push_back(kMazeChars[row[i] - 1]);
  }
  return text;
}

std::optional<v1::TextPuzzles> AsText(const puzzle::PuzzleSet& set) {
  // Text carries no puzzle identifier: the server's text readers set 0.
  if (set.puzzle_identifiers.defined() && set.puzzle_identifiers.numel() > 0 &&
      set.puzzle_identifiers.ne(0).any().item<bool>()) {
    return std::nullopt;
  }
  v1::TextPuzzles text;
  for (int64_t i = 0; i < set.size(); ++i) {
    const bool sudoku = set.kind == puzzle::PuzzleKind::kSudoku;
    std::optional<std::string> puzzle = sudoku ? SudokuText(Row(set.inputs, i), false) : MazeText(Row(set.inputs, i));
    if (!puzzle) return std::nullopt;
    text.add_puzzles(*puzzle);
    if (set.has_labels()) {
      std::optional<std::string> solution =
          sudoku ? SudokuText(Row(set.labels, i), true) : MazeText(Row(set.labels, i));
      // A maze solution is recognised by its path ('o'); without one the
      // server would read it as a question.
      if (!solution || (!sudoku && solution->find('o') == std::string::npos)) return std::nullopt;
      text.add_solutions(*solution);
    }
    text.add_ids(i < static_cast<int64_t>(set.puzzle_ids.size()) ? set.puzzle_ids[i] : std::to_string(i));
  }
  return text;
}

}  // namespace

v1::PuzzleInput PuzzleSetToInput(const puzzle::PuzzleSet& set) {
  v1::PuzzleInput input;
  if (set.kind == puzzle::PuzzleKind::kSudoku || set.kind == puzzle::PuzzleKind::kMaze) {
    if (std::optional<v1::TextPuzzles> text = AsText(set)) {
      *(set.kind == puzzle::PuzzleKind::kSudoku ? input.mutable_sudoku() : input.mutable_maze()) = *std::move(text);
      return input;
    }
  }
  // Not expressible as text (e.g. puzzle identifiers): tokens that still say
  // what they are, so the server keeps the givens and symmetry restarts.
  v1::TokenPuzzles* tokens = input.mutable_tokens();
  tokens->set_kind(puzzle::KindName(set.kind));
  for (int64_t i = 0; i < set.size(); ++i) {
    v1::TokenPuzzle* p = tokens->add_puzzles();
    for (int64_t t : Row(set.inputs, i)) p->add_inputs(static_cast<int32_t>(t));
    if (set.has_labels()) {
      for (int64_t t : Row(set.labels, i)) p->add_labels(static_cast<int32_t>(t));
    }
    p->set_puzzle_identifier(static_cast<int32_t>(set.puzzle_identifiers[i].item<int64_t>()));
    p->set_id(i < static_cast<int64_t>(set.puzzle_ids.size()) ? set.puzzle_ids[i] : std::to_string(i));
  }
  return input;
}

}  // namespace rrm
