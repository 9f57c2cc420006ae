// Puzzles as the models consume them, and the readers for every input format.
//
// Conventions (SPEC §1, upstream dataset builders): token ids with pad 0;
// Sudoku cells are value+1 (blank = 1, digits 2..10), vocab 11, seq_len 81;
// Maze cells are 1 + index in "# SGo", vocab 6, seq_len n*n. Labels at
// positions equal to the dataset's `ignore_label_id` do not count; readers
// replace them by kIgnoreLabel so downstream code needs no metadata.
//
// Thread safety: readers are reentrant; a PuzzleSet is a plain value.
#ifndef RRM_CORE_PUZZLE_PUZZLE_SET_H_
#define RRM_CORE_PUZZLE_PUZZLE_SET_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rrm::puzzle {

// Label value for positions that are not scored (upstream IGNORE_LABEL_ID).
inline constexpr int64_t kIgnoreLabel = -100;

// Sudoku cells holding a given digit (tokens 2..10): a bool tensor shaped like
// `inputs`. The one definition behind `givens` and a record's given_cells.
inline torch::Tensor SudokuGivenCells(const torch::Tensor& inputs) { return inputs.ge(2).logical_and(inputs.le(10)); }

// kSudoku: seq_len 81, vocab 11. kMaze: vocab 6 and seq_len a square n*n.
// kTokens: any other token dataset (no puzzle-specific handling).
enum class PuzzleKind { kTokens, kSudoku, kMaze };

// The kind token puzzles declare (PuzzleInput.tokens.kind): "" or "tokens",
// "sudoku" or "maze", checked against their shape (seq_len and largest token)
// as the dataset reader recognises a kind. Errors name `field`, expected and found.
absl::StatusOr<PuzzleKind> DeclaredKind(const std::string& field, const std::string& name, int64_t seq_len,
                                        int64_t max_token);
// "tokens" | "sudoku" | "maze".
const char* KindName(PuzzleKind kind);

// What `dataset.json` says (upstream PuzzleDatasetMetadata), or what a text
// reader implies for its format.
struct DatasetMetadata {
  int64_t seq_len = 0;
  int64_t vocab_size = 0;
  int64_t pad_id = 0;
  std::optional<int64_t> ignore_label_id;
  int64_t num_puzzle_identifiers = 1;
};

struct PuzzleSet {
  PuzzleKind kind = PuzzleKind::kTokens;
  DatasetMetadata metadata;
  torch::Tensor inputs;  // int64 [N, seq_len]
  torch::Tensor labels;  // int64 [N, seq_len]; kIgnoreLabel where not scored; undefined if none
  torch::Tensor puzzle_identifiers;  // int64 [N]
  // Per example: dataset row, CSV source, "line N" of a text file, or the caller's id.
  std::vector<std::string> puzzle_ids;
  std::vector<int32_t> givens;  // per example: Sudoku givens, -1 where not defined

  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
  bool has_labels() const { return labels.defined(); }
  // Examples [begin, end), clamped to [0, size()). Tensors are copied, so the
  // result never aliases this set.
  PuzzleSet Slice(int64_t begin, int64_t end) const;
  // The first `n` examples (all if n <= 0 or n >= size()).
  PuzzleSet Head(int64_t n) const { return Slice(0, n <= 0 ? size() : n); }
};

// Upstream dataset folder: either a split folder holding `dataset.json` and
// `all__{inputs,labels,puzzle_identifiers,puzzle_indices,group_indices}.npy`
// (or the path of that `dataset.json`), or a dataset root whose `test/` split
// is used; any other split is read by passing its folder. puzzle_ids are the
// row index. The kind follows from seq_len and vocab_size; Sudoku gets givens
// counted. Arrays may hold any integer dtype (upstream: uint8 tokens, int32
// indices). Identifiers stored one per puzzle are expanded to one per example
// through `all__puzzle_indices.npy`; group_indices are not read.
// Errors name the file: NOT_FOUND for a missing folder (listing the paths
// looked for) or file; INVALID_ARGUMENT for a malformed or incomplete
// dataset.json (required: seq_len, vocab_size, pad_id, ignore_label_id,
// num_puzzle_identifiers; "sets", if present, must be ["all"]), an unreadable
// .npy, float data, shapes other than inputs/labels [N, seq_len] and
// identifiers [N], or a value out of range (inputs in [0, vocab_size); labels
// likewise unless ignore_label_id or kIgnoreLabel; identifiers in
// [0, num_puzzle_identifiers)), giving row, column, value and the range.
absl::StatusOr<PuzzleSet> ReadDatasetFolder(const std::string& path);

// Sudoku text: the upstream source CSV (recognised by a header line naming a
// `question` column, upstream `source,question,answer,rating`; '.' or '0'
// blanks; puzzle_id = source, or "line N" where empty) or plain lines of 81
// characters ('.' or '0' blank; puzzle_id "line N"), optionally followed by
// ',' and / or whitespace and an 81-character solution of digits 1-9 (then
// labels are set). Blank lines and lines starting with '#' are skipped. Either
// every puzzle has a solution or none does, and every given must equal its
// solution cell. Metadata: seq_len 81, vocab 11, pad 0, no ignore label, one
// puzzle identifier (all 0). INVALID_ARGUMENT errors name the file, the
// 1-based line and column and the offending character or count; a missing
// file is NOT_FOUND.
absl::StatusOr<PuzzleSet> ReadSudokuFile(const std::string& path);
absl::StatusOr<PuzzleSet> ParseSudokuText(const std::string& text, const std::string& name);

// Maze text: either the upstream source CSV (header naming a `question`
// column, upstream `source,question,answer,rating`, with flattened
// n*n-character strings) or n×n character grids over "# SGo" (wall, open,
// start, goal, path) separated by empty lines (a line of spaces is a grid
// row), where a grid containing 'o' is the solution (labels) of the question
// grid just before it. All mazes in a file share one n; solutions keep the
// question's walls; either all mazes have solutions or none. Tokens are
// 1 + index in "# SGo"; metadata seq_len n*n, vocab 6, pad 0, no ignore
// label. puzzle_id: CSV source, else "line N" (first line of the maze).
// Errors name the file, line, column and character.
absl::StatusOr<PuzzleSet> ReadMazeFile(const std::string& path);
absl::StatusOr<PuzzleSet> ParseMazeText(const std::string& text, const std::string& name);

// Number of given cells in a Sudoku token row (tokens 2..10), -1 if `row` is
// undefined or does not hold 81 elements.
int32_t CountSudokuGivens(const torch::Tensor& row);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_PUZZLE_SET_H_
