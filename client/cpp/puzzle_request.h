// Puzzles read on the client with the core's readers (core/puzzle), turned
// into the inline PuzzleInput of a SubmitJob request. Reading locally means a
// malformed file is refused before anything is sent, with the reader's
// message (file, line, column).
//
// Sudoku and Maze sets travel as text (TextPuzzles), so the server derives the
// same metadata and Sudoku givens as for its own readers; anything else (and a
// Sudoku/Maze dataset whose labels are not complete solutions or whose puzzle
// identifiers are not all 0) travels as token arrays, ids preserved.
#ifndef RRM_CLIENT_CPP_PUZZLE_REQUEST_H_
#define RRM_CLIENT_CPP_PUZZLE_REQUEST_H_

#include "absl/status/statusor.h"
#include "core/puzzle/puzzle_set.h"
#include "rrm/v1/dynamics.pb.h"

namespace rrm {

v1::PuzzleInput PuzzleSetToInput(const puzzle::PuzzleSet& set);

}  // namespace rrm

#endif  // RRM_CLIENT_CPP_PUZZLE_REQUEST_H_
