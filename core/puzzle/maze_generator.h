// Seeded Maze generation with shortest-path labels in the upstream encoding.
//
// A maze is an n×n grid over "# SGo" (wall, open, start, goal, path): the
// question holds walls, open cells, S and G; the label is the same grid with
// every cell of the shortest S→G path strictly between S and G marked 'o'
// (S and G keep their letters), which is how the upstream Maze-Hard data
// marks its solutions. Tokens are 1 + index in "# SGo" (vocab 6, pad 0).
//
// Thread safety: all functions are reentrant; they share no state.
#ifndef RRM_CORE_PUZZLE_MAZE_GENERATOR_H_
#define RRM_CORE_PUZZLE_MAZE_GENERATOR_H_

#include <cstdint>
#include <string>

namespace rrm::puzzle {

inline constexpr char kMazeCharset[] = "# SGo";

struct MazeOptions {
  int size = 30;  // n (the grid is n×n), at least 5
  // Extra walls knocked out after carving a perfect maze, as a fraction of
  // the remaining inner walls between two corridors: 0 keeps a tree (exactly
  // one path between any two cells); more gives loops and shorter paths.
  double loop_fraction = 0.0;
  // S and G are drawn until their shortest path has at least this many
  // cells between them (clamped to what the maze allows).
  int min_path_length = 0;
};

struct Maze {
  int size = 0;
  std::string question;  // n*n characters over "# SG", row-major
  std::string solution;  // the question with the shortest path marked 'o'
  int path_length = 0;   // cells marked 'o'
};

// A maze whose S→G shortest path is unique (mazes with several shortest paths
// are redrawn, so the label is well defined). Deterministic for a seed.
Maze GenerateMaze(const MazeOptions& options, uint64_t seed);

// Breadth-first shortest path from S to G over non-wall cells of `grid`
// (n*n characters): the number of shortest paths, saturated at 2, and when
// there is at least one, `labelled` = grid with the path cells (between S and
// G) set to 'o' (one path, the first found, when there are several). 0 if S
// or G is missing or unreachable.
int ShortestMazePaths(const std::string& grid, int size, std::string* labelled);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_MAZE_GENERATOR_H_
