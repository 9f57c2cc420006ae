#include "core/puzzle/dataset_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/common/status.h"
#include "core/puzzle/npy.h"

namespace rrm::puzzle {
namespace {

absl::Status WriteText(const std::string& path, const std::string& text) {
  // Same temporary-then-rename discipline as WriteNpy, so readers never see half a file.
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot rename the temporary file into place"));
  }
  return absl::OkStatus();
}

torch::Tensor Int32Range(int64_t count, int64_t step) {
  return torch::arange(0, count + 1, torch::kInt64).mul(step).to(torch::kInt32);
}

}  // namespace

absl::Status WriteDatasetFolder(const std::string& split_dir, const torch::Tensor& inputs,
                                const torch::Tensor& labels, const DatasetWriteOptions& options) {
  if (!inputs.defined() || !labels.defined() || inputs.dim() != 2 || labels.sizes() != inputs.sizes()) {
    return absl::InvalidArgumentError(
        "dataset writer: inputs and labels must be [N, seq_len] tensors of the same shape");
  }
  if (inputs.is_floating_point() || labels.is_floating_point()) {
    return absl::InvalidArgumentError("dataset writer: inputs and labels must hold integer token ids");
  }
  if (options.vocab_size < 1 || options.vocab_size > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset writer: vocab_size must be in [1, 256] (tokens are stored as uint8), found ",
        options.vocab_size));
  }
  const int64_t n = inputs.size(0), seq_len = inputs.size(1);
  const int64_t per_group = options.examples_per_group;
  if (per_group < 1 || n % per_group != 0) {
    return absl::InvalidArgumentError(absl::StrCat("dataset writer: ", n,
                                                   " examples are not a whole number of groups of ",
                                                   per_group));
  }
  for (const auto& [name, tensor] : {std::pair<const char*, const torch::Tensor&>{"inputs", inputs},
                                     {"labels", labels}}) {
    if (tensor.numel() == 0) continue;
    const int64_t lo = tensor.min().item<int64_t>(), hi = tensor.max().item<int64_t>();
    if (lo < 0 || hi >= options.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("dataset writer: ", name, " value ",
                                                     lo < 0 ? lo : hi, " outside [0, ",
                                                     options.vocab_size, ")"));
    }
  }

  std::error_code error;
  std::filesystem::create_directories(split_dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat(split_dir, ": cannot create folder: ", error.message()));
  }
  const std::string dir = std::filesystem::path(split_dir).string();
  const int64_t groups = n / per_group;

  // Field order and number formats as upstream's json.dump of
  // PuzzleDatasetMetadata.model_dump() (mean_puzzle_examples is a float there).
  // Every example is its own puzzle (upstream Sudoku and Maze builders).
  const std::string metadata = absl::StrCat(
      "{\"pad_id\": 0, \"ignore_label_id\": 0, \"blank_identifier_id\": 0, \"vocab_size\": ",
      options.vocab_size, ", \"seq_len\": ", seq_len,
      ", \"num_puzzle_identifiers\": 1, \"total_groups\": ", groups,
      ", \"mean_puzzle_examples\": 1.0, \"total_puzzles\": ", n, ", \"sets\": [\"all\"]}");
  RRM_RETURN_IF_ERROR(WriteText(dir + "/dataset.json", metadata));
  RRM_RETURN_IF_ERROR(WriteNpy(dir + "/all__inputs.npy", inputs.to(torch::kUInt8).contiguous()));
  RRM_RETURN_IF_ERROR(WriteNpy(dir + "/all__labels.npy", labels.to(torch::kUInt8).contiguous()));
  RRM_RETURN_IF_ERROR(WriteNpy(dir + "/all__puzzle_identifiers.npy", torch::zeros({n}, torch::kInt32)));
  RRM_RETURN_IF_ERROR(WriteNpy(dir + "/all__puzzle_indices.npy", Int32Range(n, 1)));
  RRM_RETURN_IF_ERROR(WriteNpy(dir + "/all__group_indices.npy", Int32Range(groups, per_group)));

  std::filesystem::path split = std::filesystem::path(split_dir).lexically_normal();
  if (!split.has_filename()) split = split.parent_path();  // "DIR/test/"
  const std::filesystem::path parent = split.parent_path();
  if (!parent.empty()) {
    RRM_RETURN_IF_ERROR(WriteText((parent / "identifiers.json").string(), "[\"<blank>\"]"));
  }
  return absl::OkStatus();
}

}  // namespace rrm::puzzle
