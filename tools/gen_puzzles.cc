// gen-puzzles: seeded Sudoku or Maze puzzles written as an upstream dataset
// split folder, readable by rrm-measure --data, rrmctl and upstream training.
//
//   gen-puzzles --kind sudoku --count 300 --givens 28..50 --seed 7 --out data/demo-sudoku/test
//   gen-puzzles --kind sudoku --count 20000 --givens 30..50 --augment 1 --seed 1 --out data/x/train
//   gen-puzzles --kind maze --count 100 --maze_size 15 --seed 3 --out data/maze-15/test
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/puzzle/dataset_writer.h"
#include "core/puzzle/maze_generator.h"
#include "core/puzzle/sudoku_generator.h"

ABSL_FLAG(std::string, kind, "sudoku", "Puzzle kind: sudoku | maze.");
ABSL_FLAG(int64_t, count, 100, "Number of puzzles (before augmentation).");
ABSL_FLAG(std::string, givens, "30..45",
          "Sudoku: target givens, N or LO..HI; puzzle i gets LO + i mod (HI-LO+1), so every value "
          "is equally represented.");
ABSL_FLAG(int64_t, augment, 0,
          "Sudoku: augmented copies per puzzle (upstream --num-aug: digit relabelling, transpose, "
          "band/row/stack/column permutations); each puzzle and its copies form one group.");
ABSL_FLAG(uint64_t, seed, 0, "Random seed; the same seed and flags give the same files.");
ABSL_FLAG(int, maze_size, 30, "Maze: grid side n.");
ABSL_FLAG(double, maze_loops, 0.0, "Maze: fraction of inner walls knocked out after carving (0 = a tree).");
ABSL_FLAG(int, maze_min_path, 0, "Maze: minimum number of path cells between S and G.");
ABSL_FLAG(std::string, out, "", "Split folder to write, e.g. DIR/test (identifiers.json goes to DIR).");

namespace {

using rrm::puzzle::SplitMix64;

// Per-puzzle seeds, so puzzle i does not depend on how many came before.
uint64_t PuzzleSeed(uint64_t seed, int64_t index) {
  return SplitMix64(seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(index + 1))).Next();
}

bool ParseRange(const std::string& text, int* lo, int* hi) {
  std::vector<std::string> parts = absl::StrSplit(text, "..");
  if (parts.size() == 1) parts.push_back(parts[0]);
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], lo) && absl::SimpleAtoi(parts[1], hi) &&
         *lo <= *hi;
}

int RunSudoku(const std::string& out, int64_t count) {
  int lo = 0, hi = 0;
  if (!ParseRange(absl::GetFlag(FLAGS_givens), &lo, &hi) || lo < 17 || hi > 81) {
    std::cerr << "gen-puzzles: --givens must be N or LO..HI within 17..81, found '"
              << absl::GetFlag(FLAGS_givens) << "'\n";
    return 1;
  }
  const int64_t augment = absl::GetFlag(FLAGS_augment);
  const int64_t per_group = 1 + augment;
  torch::Tensor inputs = torch::empty({count * per_group, 81}, torch::kUInt8);
  torch::Tensor labels = torch::empty({count * per_group, 81}, torch::kUInt8);
  std::map<int, int> histogram;
  int64_t missed = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int target = lo + static_cast<int>(i % (hi - lo + 1));
    const uint64_t seed = PuzzleSeed(absl::GetFlag(FLAGS_seed), i);
    const rrm::puzzle::SudokuPuzzle puzzle = rrm::puzzle::GenerateSudoku(target, seed);
    ++histogram[puzzle.givens];
    missed += puzzle.givens != target;
    SplitMix64 rng(seed ^ 0xA5A5A5A5A5A5A5A5ull);
    for (int64_t a = 0; a < per_group; ++a) {
      // The first example of a group is the puzzle itself, as upstream.
      const rrm::puzzle::SudokuPuzzle example = a == 0 ? puzzle : rrm::puzzle::ShuffleSudoku(puzzle, rng);
      const int64_t row = i * per_group + a;
      for (int c = 0; c < 81; ++c) {
        inputs[row][c] = example.puzzle[c] + 1;  // upstream: value + 1, blank = 1
        labels[row][c] = example.solution[c] + 1;
      }
    }
  }
  rrm::puzzle::DatasetWriteOptions options;
  options.vocab_size = 11;
  options.examples_per_group = per_group;
  if (absl::Status status = rrm::puzzle::WriteDatasetFolder(out, inputs, labels, options); !status.ok()) {
    std::cerr << "gen-puzzles: " << status.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << count * per_group << " Sudoku examples (" << count << " puzzles) to " << out
            << "\ngivens histogram (achieved: count):";
  for (const auto& [givens, n] : histogram) std::cout << " " << givens << ":" << n;
  std::cout << "\n";
  if (missed > 0) {
    std::cout << missed << " puzzles kept more givens than their target (uniqueness allowed no fewer)\n";
  }
  return 0;
}

int RunMaze(const std::string& out, int64_t count) {
  rrm::puzzle::MazeOptions options;
  options.size = absl::GetFlag(FLAGS_maze_size);
  options.loop_fraction = absl::GetFlag(FLAGS_maze_loops);
  options.min_path_length = absl::GetFlag(FLAGS_maze_min_path);
  if (options.size < 5 || options.size > 64) {
    std::cerr << "gen-puzzles: --maze_size must be in [5, 64]\n";
    return 1;
  }
  const int64_t cells = static_cast<int64_t>(options.size) * options.size;
  torch::Tensor inputs = torch::empty({count, cells}, torch::kUInt8);
  torch::Tensor labels = torch::empty({count, cells}, torch::kUInt8);
  const std::string charset = rrm::puzzle::kMazeCharset;
  double total_path = 0;
  for (int64_t i = 0; i < count; ++i) {
    const rrm::puzzle::Maze maze = rrm::puzzle::GenerateMaze(options, PuzzleSeed(absl::GetFlag(FLAGS_seed), i));
    total_path += maze.path_length;
    for (int64_t c = 0; c < cells; ++c) {
      inputs[i][c] = static_cast<int64_t>(charset.find(maze.question[c])) + 1;
      labels[i][c] = static_cast<int64_t>(charset.find(maze.solution[c])) + 1;
    }
  }
  rrm::puzzle::DatasetWriteOptions write;
  write.vocab_size = static_cast<int64_t>(charset.size()) + 1;
  if (absl::Status status = rrm::puzzle::WriteDatasetFolder(out, inputs, labels, write); !status.ok()) {
    std::cerr << "gen-puzzles: " << status.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << count << " " << options.size << "x" << options.size << " mazes to " << out
            << " (mean path length " << (count > 0 ? total_path / count : 0) << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes seeded Sudoku (unique solution, chosen givens) or Maze (shortest-path labels) "
      "puzzles as an upstream dataset split folder.\n  gen-puzzles --kind sudoku --count 300 "
      "--givens 28..50 --seed 7 --out data/demo-sudoku/test");
  absl::ParseCommandLine(argc, argv);
  const std::string out = absl::GetFlag(FLAGS_out), kind = absl::GetFlag(FLAGS_kind);
  const int64_t count = absl::GetFlag(FLAGS_count);
  if (out.empty() || count < 1) {
    std::cerr << "gen-puzzles: --out and a positive --count are required\n";
    return 1;
  }
  if (kind == "sudoku") return RunSudoku(out, count);
  if (kind == "maze") return RunMaze(out, count);
  std::cerr << "gen-puzzles: --kind must be sudoku or maze, found '" << kind << "'\n";
  return 1;
}
