// Tests for the upstream dataset-folder writer: read back by our reader and
// by NumPy, with upstream's dtypes and dataset.json.
#include "core/puzzle/dataset_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/puzzle/maze_generator.h"
#include "core/puzzle/puzzle_set.h"
#include "core/puzzle/sudoku_generator.h"
#include "tests/puzzle/test_support.h"

namespace rrm::puzzle {
namespace {

using ::rrm::puzzle::testing::ReadFile;
using ::rrm::puzzle::testing::RunPythonCode;
using ::rrm::puzzle::testing::ScratchDir;
using ::testing::HasSubstr;

TEST(DatasetWriter, SudokuSplitReadsBackWithUpstreamEncoding) {
  ScratchDir scratch;
  const int n = 12;
  torch::Tensor inputs = torch::empty({n, 81}, torch::kInt64), labels = torch::empty({n, 81}, torch::kInt64);
  std::vector<int> givens;
  for (int i = 0; i < n; ++i) {
    const SudokuPuzzle p = GenerateSudoku(30 + i, i);
    givens.push_back(p.givens);
    for (int c = 0; c < 81; ++c) {
      inputs[i][c] = p.puzzle[c] + 1;
      labels[i][c] = p.solution[c] + 1;
    }
  }
  DatasetWriteOptions options;
  options.vocab_size = 11;
  options.examples_per_group = 3;
  ASSERT_TRUE(WriteDatasetFolder(scratch / "data/test", inputs, labels, options).ok());

  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(scratch / "data");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, PuzzleKind::kSudoku);
  EXPECT_TRUE(torch::equal(set->inputs, inputs));
  EXPECT_TRUE(torch::equal(set->labels, labels));
  for (int i = 0; i < n; ++i) EXPECT_EQ(set->givens[i], givens[i]);
  EXPECT_EQ(ReadFile(scratch / "data/identifiers.json"), "[\"<blank>\"]");
  EXPECT_THAT(ReadFile(scratch / "data/test/dataset.json"),
              HasSubstr("\"total_groups\": 4, \"mean_puzzle_examples\": 1.0, \"total_puzzles\": 12"));

  const auto run = RunPythonCode(scratch.path(), R"(
import json
d = 'data/test/'
meta = json.load(open(d + 'dataset.json'))
assert meta == dict(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=11, seq_len=81,
                    num_puzzle_identifiers=1, total_groups=4, mean_puzzle_examples=1.0,
                    total_puzzles=12, sets=['all']), meta
x = np.load(d + 'all__inputs.npy'); y = np.load(d + 'all__labels.npy')
assert x.dtype == np.uint8 and y.dtype == np.uint8 and x.shape == (12, 81), (x.dtype, x.shape)
assert ((x == 1) | (x == y)).all() and y.min() >= 2 and y.max() <= 10
for name, expected in [('puzzle_identifiers', [0] * 12), ('puzzle_indices', list(range(13))),
                       ('group_indices', [0, 3, 6, 9, 12])]:
    a = np.load(d + 'all__' + name + '.npy')
    assert a.dtype == np.int32 and a.tolist() == expected, (name, a.dtype, a)
)");
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST(DatasetWriter, MazeSplitReadsBackAsMaze) {
  ScratchDir scratch;
  MazeOptions options;
  options.size = 9;
  const std::string charset = kMazeCharset;
  torch::Tensor inputs = torch::empty({4, 81}, torch::kInt64), labels = torch::empty({4, 81}, torch::kInt64);
  for (int i = 0; i < 4; ++i) {
    const Maze maze = GenerateMaze(options, i);
    for (int c = 0; c < 81; ++c) {
      inputs[i][c] = static_cast<int64_t>(charset.find(maze.question[c])) + 1;
      labels[i][c] = static_cast<int64_t>(charset.find(maze.solution[c])) + 1;
    }
  }
  DatasetWriteOptions write;
  write.vocab_size = 6;
  ASSERT_TRUE(WriteDatasetFolder(scratch / "maze/test/", inputs, labels, write).ok());
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(scratch / "maze/test");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, PuzzleKind::kMaze);
  EXPECT_TRUE(torch::equal(set->labels, labels));
  EXPECT_EQ(ReadFile(scratch / "maze/identifiers.json"), "[\"<blank>\"]");
}

TEST(DatasetWriter, RejectsBadShapesAndValues) {
  ScratchDir scratch;
  DatasetWriteOptions options;
  options.vocab_size = 11;
  EXPECT_FALSE(WriteDatasetFolder(scratch / "a", torch::zeros({2, 81}, torch::kInt64),
                                  torch::zeros({2, 80}, torch::kInt64), options).ok());
  const absl::Status status = WriteDatasetFolder(scratch / "b", torch::full({2, 81}, 11, torch::kInt64),
                                                 torch::zeros({2, 81}, torch::kInt64), options);
  EXPECT_THAT(std::string(status.message()), HasSubstr("inputs value 11 outside [0, 11)"));
  options.examples_per_group = 3;
  EXPECT_FALSE(WriteDatasetFolder(scratch / "c", torch::zeros({2, 81}, torch::kInt64),
                                  torch::zeros({2, 81}, torch::kInt64), options).ok());
}

}  // namespace
}  // namespace rrm::puzzle
