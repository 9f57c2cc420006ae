// Shared helpers for tests that use the reference fixtures in tests/fixtures/
// (written by tests/reference/make_model_fixtures.py from an independent
// re-implementation of the official forward).
#ifndef RRM_TESTS_MODEL_FIXTURES_H_
#define RRM_TESTS_MODEL_FIXTURES_H_

#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/model/recurrent_model.h"
#include "core/puzzle/npy.h"
#include "core/puzzle/puzzle_set.h"

namespace rrm::testing {

inline std::string FixtureDir(const std::string& variant) {
  return std::string(RRM_SOURCE_DIR) + "/tests/fixtures/" + variant;
}

// The model of a fixture, loaded the way users load official checkpoints.
inline std::unique_ptr<model::RecurrentModel> LoadFixtureModel(const std::string& variant,
                                                               std::vector<std::string> overrides = {}) {
  auto loaded = model::LoadModel(FixtureDir(variant) + "/step_0", "", overrides, torch::kCPU);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? std::move(loaded->model) : nullptr;
}

inline puzzle::PuzzleSet LoadFixturePuzzles(const std::string& variant) {
  auto puzzles = puzzle::ReadDatasetFolder(FixtureDir(variant) + "/data");
  EXPECT_TRUE(puzzles.ok()) << puzzles.status();
  return puzzles.ok() ? *puzzles : puzzle::PuzzleSet();
}

// expected/<name>.npy of a fixture as `dtype`.
inline torch::Tensor LoadExpected(const std::string& variant, const std::string& name,
                                  torch::ScalarType dtype = torch::kFloat32) {
  auto tensor = puzzle::ReadNpyAs(FixtureDir(variant) + "/expected/" + name + ".npy", dtype);
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *tensor : torch::Tensor();
}

inline double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace rrm::testing

#endif  // RRM_TESTS_MODEL_FIXTURES_H_
