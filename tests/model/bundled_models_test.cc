// The bundled demo models (models/demo-*-sudoku, issue 16) load through the
// same path as the official-format fixtures and official checkpoints, with
// upstream's key names.
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "core/checkpoint/state_dict.h"
#include "core/model/recurrent_model.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

// Key names with layer indices folded ("layers.3." -> "layers.N."): models
// with different depths share them.
std::set<std::string> KeyPatterns(const std::string& checkpoint) {
  auto state_dict = checkpoint::ReadStateDict(checkpoint);
  EXPECT_TRUE(state_dict.ok()) << state_dict.status();
  std::set<std::string> patterns;
  if (!state_dict.ok()) return patterns;
  const std::regex index(R"(\.layers\.[0-9]+\.)");
  for (const auto& [name, tensor] : *state_dict) patterns.insert(std::regex_replace(name, index, ".layers.N."));
  return patterns;
}

struct Bundled {
  const char* checkpoint;  // under models/
  const char* fixture;     // the official-format fixture of the same family
  model::Family family;
};

class BundledModels : public ::testing::TestWithParam<Bundled> {};

TEST_P(BundledModels, LoadLikeAnOfficialCheckpointWithUpstreamKeyNames) {
  const Bundled& b = GetParam();
  const std::string path = std::string(RRM_SOURCE_DIR) + "/models/" + b.checkpoint;
  auto loaded = model::LoadModel(path, "", {}, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->config().family, b.family);
  EXPECT_EQ(KeyPatterns(path), KeyPatterns(testing::FixtureDir(b.fixture) + "/step_0"));
  // It runs the bundled puzzles as any checkpoint does.
  auto puzzles = puzzle::ReadDatasetFolder(std::string(RRM_SOURCE_DIR) + "/data/demo-sudoku");
  ASSERT_TRUE(puzzles.ok()) << puzzles.status();
  EXPECT_TRUE(loaded->model->ValidateInputs(puzzles->inputs, puzzles->puzzle_identifiers).ok());
}

INSTANTIATE_TEST_SUITE_P(Demo, BundledModels,
                         ::testing::Values(Bundled{"demo-trm-sudoku/step_1250", "trm_mlpt", model::Family::kTrm},
                                           Bundled{"demo-hrm-sudoku/step_1500", "hrm", model::Family::kHrm}),
                         [](const auto& info) { return std::string(info.param.family == model::Family::kHrm ? "hrm" : "trm"); });

}  // namespace
}  // namespace rrm
