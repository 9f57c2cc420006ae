#include "core/puzzle/maze_generator.h"

#include <algorithm>
#include <array>
#include <deque>
#include <utility>
#include <vector>

#include "core/puzzle/sudoku_generator.h"  // SplitMix64

namespace rrm::puzzle {
namespace {

constexpr std::array<std::pair<int, int>, 4> kSteps{{{-1, 0}, {1, 0}, {0, -1}, {0, 1}}};

// A perfect maze: corridors on the odd coordinates, carved by a randomised
// depth-first search (iterative, so large n cannot overflow the stack).
std::string CarvePerfectMaze(int n, SplitMix64& rng) {
  std::string grid(n * n, '#');
  const int cells = (n - 1) / 2;  // corridor cells per axis at 1, 3, ..., 2·cells−1
  auto at = [n](int r, int c) { return r * n + c; };
  std::vector<std::pair<int, int>> stack{{1, 1}};
  grid[at(1, 1)] = ' ';
  while (!stack.empty()) {
    const auto [r, c] = stack.back();
    std::array<std::pair<int, int>, 4> next{};
    int count = 0;
    for (const auto& [dr, dc] : kSteps) {
      const int nr = r + 2 * dr, nc = c + 2 * dc;
      if (nr >= 1 && nc >= 1 && nr <= 2 * cells - 1 && nc <= 2 * cells - 1 && grid[at(nr, nc)] == '#') {
        next[count++] = {dr, dc};
      }
    }
    if (count == 0) {
      stack.pop_back();
      continue;
    }
    const auto [dr, dc] = next[rng.Below(count)];
    grid[at(r + dr, c + dc)] = ' ';
    grid[at(r + 2 * dr, c + 2 * dc)] = ' ';
    stack.push_back({r + 2 * dr, c + 2 * dc});
  }
  return grid;
}

// BFS distances from `source` over non-wall cells (−1 = unreachable).
std::vector<int> Distances(const std::string& grid, int n, int source) {
  std::vector<int> distance(grid.size(), -1);
  std::deque<int> queue{source};
  distance[source] = 0;
  while (!queue.empty()) {
    const int cell = queue.front();
    queue.pop_front();
    const int r = cell / n, c = cell % n;
    for (const auto& [dr, dc] : kSteps) {
      const int nr = r + dr, nc = c + dc;
      if (nr < 0 || nc < 0 || nr >= n || nc >= n) continue;
      const int next = nr * n + nc;
      if (grid[next] == '#' || distance[next] >= 0) continue;
      distance[next] = distance[cell] + 1;
      queue.push_back(next);
    }
  }
  return distance;
}

}  // namespace

int ShortestMazePaths(const std::string& grid, int n, std::string* labelled) {
  const size_t s = grid.find('S'), g = grid.find('G');
  if (s == std::string::npos || g == std::string::npos || grid.size() != static_cast<size_t>(n) * n) {
    return 0;
  }
  const std::vector<int> distance = Distances(grid, n, static_cast<int>(s));
  if (distance[g] < 0) return 0;
  // Number of shortest paths to each cell (saturating at 2), in BFS order.
  std::vector<int> order;
  for (size_t i = 0; i < grid.size(); ++i) {
    if (distance[i] >= 0) order.push_back(static_cast<int>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return distance[a] < distance[b]; });
  std::vector<int> ways(grid.size(), 0);
  ways[s] = 1;
  for (int cell : order) {
    const int r = cell / n, c = cell % n;
    for (const auto& [dr, dc] : kSteps) {
      const int nr = r + dr, nc = c + dc;
      if (nr < 0 || nc < 0 || nr >= n || nc >= n) continue;
      const int next = nr * n + nc;
      if (distance[next] == distance[cell] + 1) ways[next] = std::min(2, ways[next] + ways[cell]);
    }
  }
  if (labelled != nullptr) {
    *labelled = grid;
    // Walk back from G along decreasing distance.
    int cell = static_cast<int>(g);
    while (distance[cell] > 1) {
      const int r = cell / n, c = cell % n;
      for (const auto& [dr, dc] : kSteps) {
        const int nr = r + dr, nc = c + dc;
        if (nr < 0 || nc < 0 || nr >= n || nc >= n) continue;
        const int prev = nr * n + nc;
        if (distance[prev] == distance[cell] - 1) {
          cell = prev;
          break;
        }
      }
      (*labelled)[cell] = 'o';
    }
  }
  return ways[g];
}

Maze GenerateMaze(const MazeOptions& options, uint64_t seed) {
  const int n = std::max(options.size, 5);
  SplitMix64 rng(seed);
  for (;;) {
    std::string grid = CarvePerfectMaze(n, rng);
    if (options.loop_fraction > 0) {
      // Inner walls separating two corridor cells (odd row, even column or
      // the reverse), each knocked out with probability loop_fraction.
      for (int r = 1; r < n - 1; ++r) {
        for (int c = 1; c < n - 1; ++c) {
          if (grid[r * n + c] != '#' || (r % 2) == (c % 2)) continue;
          const bool horizontal = r % 2 == 1;
          const int a = horizontal ? r * n + c - 1 : (r - 1) * n + c;
          const int b = horizontal ? r * n + c + 1 : (r + 1) * n + c;
          if (grid[a] == ' ' && grid[b] == ' ' && rng.Uniform() < options.loop_fraction) grid[r * n + c] = ' ';
        }
      }
    }
    std::vector<int> open;
    for (int i = 0; i < n * n; ++i) {
      if (grid[i] == ' ') open.push_back(i);
    }
    // Path cells between S and G = distance − 1. A few starts are tried so
    // that a long path is found where the maze has one.
    const int wanted = options.min_path_length + 1;
    int start = -1, farthest = -1;
    std::vector<int> distance;
    for (int attempt = 0; attempt < 16 && farthest < wanted; ++attempt) {
      const int candidate = open[rng.Below(open.size())];
      std::vector<int> d = Distances(grid, n, candidate);
      const int far = *std::max_element(d.begin(), d.end());
      if (far > farthest) {
        start = candidate;
        farthest = far;
        distance = std::move(d);
      }
    }
    const int target = std::min(wanted, farthest);
    std::vector<int> goals;
    for (int cell : open) {
      if (cell != start && distance[cell] >= target) goals.push_back(cell);
    }
    if (goals.empty()) continue;
    const int goal = goals[rng.Below(goals.size())];
    grid[start] = 'S';
    grid[goal] = 'G';
    Maze maze;
    maze.size = n;
    maze.question = grid;
    if (ShortestMazePaths(grid, n, &maze.solution) != 1) continue;  // keep labels unambiguous
    maze.path_length = distance[goal] - 1;
    return maze;
  }
}

}  // namespace rrm::puzzle
