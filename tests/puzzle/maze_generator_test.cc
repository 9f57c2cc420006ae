// Tests for the seeded Maze generator and its shortest-path labels.
#include "core/puzzle/maze_generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <vector>

namespace rrm::puzzle {
namespace {

// Breadth-first distance S -> G over non-wall cells.
int Distance(const std::string& grid, int n) {
  std::vector<int> d(grid.size(), -1);
  const int s = static_cast<int>(grid.find('S')), g = static_cast<int>(grid.find('G'));
  std::deque<int> queue{s};
  d[s] = 0;
  while (!queue.empty()) {
    const int cell = queue.front();
    queue.pop_front();
    const int r = cell / n, c = cell % n;
    const int next[4][2] = {{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}};
    for (const auto& rc : next) {
      if (rc[0] < 0 || rc[1] < 0 || rc[0] >= n || rc[1] >= n) continue;
      const int x = rc[0] * n + rc[1];
      if (grid[x] != '#' && d[x] < 0) {
        d[x] = d[cell] + 1;
        queue.push_back(x);
      }
    }
  }
  return d[g];
}

void ExpectWellFormed(const Maze& maze, int n) {
  ASSERT_EQ(maze.question.size(), static_cast<size_t>(n * n));
  ASSERT_EQ(maze.solution.size(), maze.question.size());
  EXPECT_EQ(std::count(maze.question.begin(), maze.question.end(), 'S'), 1);
  EXPECT_EQ(std::count(maze.question.begin(), maze.question.end(), 'G'), 1);
  EXPECT_EQ(maze.question.find('o'), std::string::npos);
  EXPECT_EQ(maze.question.find_first_not_of("# SG"), std::string::npos);
  // The label keeps walls, S and G and marks open cells only.
  int marked = 0;
  for (size_t i = 0; i < maze.question.size(); ++i) {
    if (maze.solution[i] == 'o') {
      EXPECT_EQ(maze.question[i], ' ');
      ++marked;
    } else {
      EXPECT_EQ(maze.solution[i], maze.question[i]);
    }
  }
  EXPECT_EQ(marked, maze.path_length);
  // The marked cells form a shortest path: S, the o cells and G alone are
  // still connected, with the same distance as in the full maze.
  const int shortest = Distance(maze.question, n);
  EXPECT_EQ(marked, shortest - 1);
  std::string path_only = maze.solution;
  for (char& ch : path_only) {
    if (ch == ' ') ch = '#';
  }
  EXPECT_EQ(Distance(path_only, n), shortest);
  EXPECT_EQ(ShortestMazePaths(maze.question, n, nullptr), 1);
}

TEST(MazeGenerator, LabelsAreTheUniqueShortestPath) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    MazeOptions options;
    options.size = 15;
    ExpectWellFormed(GenerateMaze(options, seed), 15);
  }
}

TEST(MazeGenerator, LoopsAndMinimumPathLength) {
  MazeOptions options;
  options.size = 20;
  options.loop_fraction = 0.2;
  options.min_path_length = 30;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const Maze maze = GenerateMaze(options, seed);
    ExpectWellFormed(maze, 20);
    EXPECT_GE(maze.path_length, 30);
  }
}

TEST(MazeGenerator, DeterministicForASeed) {
  MazeOptions options;
  options.size = 12;
  EXPECT_EQ(GenerateMaze(options, 5).question, GenerateMaze(options, 5).question);
  EXPECT_NE(GenerateMaze(options, 5).question, GenerateMaze(options, 6).question);
}

TEST(MazeGenerator, CountsSeveralShortestPaths) {
  // An open room: S at (1,1), G at (2,3) have three shortest paths (counted as 2).
  const std::string grid =
      "#####"
      "#S  #"
      "#  G#"
      "#####"
      "#####";
  std::string labelled;
  EXPECT_EQ(ShortestMazePaths(grid, 5, &labelled), 2);
  EXPECT_EQ(std::count(labelled.begin(), labelled.end(), 'o'), 2);  // one of the three paths
  EXPECT_EQ(ShortestMazePaths("#####" "#S#G#" "#####" "#####" "#####", 5, nullptr), 0);
}

}  // namespace
}  // namespace rrm::puzzle
