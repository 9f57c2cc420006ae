// Writing puzzles in the upstream dataset-folder layout, so that upstream
// training, rrm-measure and rrmctl read them unchanged.
//
// A split folder (e.g. `DIR/test`) gets what upstream's
// dataset/build_{sudoku,maze}_dataset.py write: `dataset.json` (the
// PuzzleDatasetMetadata fields, in that order), `all__inputs.npy` and
// `all__labels.npy` (uint8 [N, seq_len]), `all__puzzle_identifiers.npy`
// (int32 [N], all 0), `all__puzzle_indices.npy` (int32 [N+1], one example per
// puzzle) and `all__group_indices.npy` (int32 [G+1]); the folder above gets
// `identifiers.json` (["<blank>"]).
//
// Thread safety: reentrant; two writers must not target the same folder.
#ifndef RRM_CORE_PUZZLE_DATASET_WRITER_H_
#define RRM_CORE_PUZZLE_DATASET_WRITER_H_

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "absl/status/status.h"

namespace rrm::puzzle {

struct DatasetWriteOptions {
  int64_t vocab_size = 0;  // Sudoku 11, Maze 6
  // Consecutive examples that form one group (upstream: an original puzzle
  // followed by its augmentations); N must be a multiple of it.
  int64_t examples_per_group = 1;
};

// Writes the split folder `split_dir` (created with its parents if missing;
// existing files are replaced, each atomically). `inputs` and `labels` are
// integer tensors [N, seq_len] with values in [0, vocab_size) — already in
// token ids (Sudoku value+1, Maze 1 + index in "# SGo"). INVALID_ARGUMENT for
// shapes or values out of range; other errors name the file.
absl::Status WriteDatasetFolder(const std::string& split_dir, const torch::Tensor& inputs,
                                const torch::Tensor& labels, const DatasetWriteOptions& options);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_DATASET_WRITER_H_
