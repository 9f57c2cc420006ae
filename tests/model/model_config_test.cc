// Loading official-format checkpoints: config from all_config.yaml, shapes,
// overrides, and a clear error for every kind of mismatch.
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/checkpoint/state_dict.h"
#include "core/model/model_config.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

using ::testing::HasSubstr;
using testing::FixtureDir;

checkpoint::StateDict FixtureStateDict(const std::string& variant) {
  auto raw = checkpoint::ReadStateDict(FixtureDir(variant) + "/step_0");
  EXPECT_TRUE(raw.ok()) << raw.status();
  auto stripped = checkpoint::StripWrapperPrefixes(*std::move(raw));
  EXPECT_TRUE(stripped.ok()) << stripped.status();
  return *std::move(stripped);
}

model::ModelConfig FixtureConfig(const std::string& variant, const checkpoint::StateDict& state_dict) {
  auto config = model::ReadModelConfigYaml(FixtureDir(variant) + "/all_config.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(model::CompleteFromStateDict(state_dict, &*config).ok());
  return *config;
}

TEST(ModelConfig, ReadsUpstreamArchBlockAndInfersShapes) {
  const auto state_dict = FixtureStateDict("trm_mlpt");
  const model::ModelConfig c = FixtureConfig("trm_mlpt", state_dict);
  EXPECT_EQ(c.family, model::Family::kTrm);
  EXPECT_TRUE(c.mlp_t);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.vocab_size, 11);
  EXPECT_EQ(c.seq_len, 81);  // from the mlp_t weight's width minus the puzzle positions
  EXPECT_EQ(c.puzzle_positions(), 16);
  EXPECT_EQ(c.num_puzzle_identifiers, 3);
  EXPECT_EQ(c.updates_per_segment(), c.H_cycles * (c.L_cycles + 1));

  const auto hrm = FixtureConfig("hrm", FixtureStateDict("hrm"));
  EXPECT_EQ(hrm.family, model::Family::kHrm);
  EXPECT_EQ(hrm.puzzle_positions(), 1);  // ceil(puzzle_emb_ndim / hidden)
  // SPEC §1: every update counts, the H_cycles z_H updates too.
  EXPECT_EQ(hrm.updates_per_segment(), hrm.H_cycles * (hrm.L_cycles + 1));
}

// The fixture's all_config.yaml with the `puzzle_emb_len:` line removed,
// written to a scratch file whose path is returned.
std::string YamlWithoutPuzzleEmbLen(const std::string& variant) {
  std::ifstream in(FixtureDir(variant) + "/all_config.yaml");
  std::string line, text;
  while (std::getline(in, line)) {
    if (line.find("puzzle_emb_len:") == std::string::npos) text += line + "\n";
  }
  const std::string path = ::testing::TempDir() + "/" + variant + "_without_puzzle_emb_len.yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(ModelConfig, TrmPuzzleEmbLenDefaultsTo16) {
  // Upstream trm.py: `puzzle_emb_len: int = 16`, so a TRM yaml without the key
  // means 16 puzzle positions (not ceil(puzzle_emb_ndim / hidden) = 1 here).
  auto loaded = model::LoadModel(FixtureDir("trm_mlpt") + "/step_0", YamlWithoutPuzzleEmbLen("trm_mlpt"), {},
                                 torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const model::ModelConfig& trm = loaded->model->config();
  EXPECT_EQ(trm.puzzle_emb_len, 16);
  EXPECT_EQ(trm.puzzle_positions(), 16);
  EXPECT_EQ(trm.seq_len, 81);  // mlp_t weight width 97 minus the 16 positions
  // An explicit 0 still means the ceiling, as upstream.
  auto zero = model::ReadModelConfigYaml(FixtureDir("trm_learned") + "/all_config.yaml");
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->puzzle_emb_len, 0);
  // HRM has no such key: its positions stay ceil(puzzle_emb_ndim / hidden).
  auto hrm = model::ReadModelConfigYaml(YamlWithoutPuzzleEmbLen("hrm"));
  ASSERT_TRUE(hrm.ok()) << hrm.status();
  EXPECT_EQ(hrm->puzzle_emb_len, 0);
  EXPECT_EQ(hrm->puzzle_positions(), 1);
}

TEST(ModelConfig, MissingYamlIsNotFoundNamingTheFile) {
  auto config = model::ReadModelConfigYaml("/nonexistent/all_config.yaml");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/all_config.yaml"));
}

TEST(ModelConfig, OverridesUseUpstreamNamesAndRejectUnknownKeys) {
  model::ModelConfig c;
  ASSERT_TRUE(model::ApplyOverrides({"H_cycles=5", "forward_dtype=float32", "mlp_t=true"}, &c).ok());
  EXPECT_EQ(c.H_cycles, 5);
  EXPECT_EQ(c.forward_dtype, "float32");
  EXPECT_TRUE(c.mlp_t);

  absl::Status unknown = model::ApplyOverrides({"H_cycle=5"}, &c);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("unknown key 'H_cycle'"));

  absl::Status bad_value = model::ApplyOverrides({"L_cycles=two"}, &c);
  EXPECT_THAT(std::string(bad_value.message()), HasSubstr("expected an integer, found 'two'"));
}

TEST(ModelConfig, ConfigDisagreeingWithCheckpointNamesBothValues) {
  auto loaded = model::LoadModel(FixtureDir("trm_attn") + "/step_0", "", {"hidden_size=32"}, torch::kCPU);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("hidden_size is 32 in the config but 64"));
}

TEST(ModelConfig, WrongArchitectureForCheckpointIsAnError) {
  // An HRM checkpoint read with a TRM config: HRM's H_level weights are unexpected.
  auto loaded = model::LoadModel(FixtureDir("hrm") + "/step_0", FixtureDir("trm_attn") + "/all_config.yaml",
                                 {}, torch::kCPU);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("unexpected keys"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("inner.H_level.layers.0"));
}

TEST(RecurrentModel, MissingKeyIsNamed) {
  auto state_dict = FixtureStateDict("hrm");
  const model::ModelConfig config = FixtureConfig("hrm", state_dict);
  state_dict.erase("inner.lm_head.weight");
  auto model = model::RecurrentModel::Create(config, state_dict, torch::kCPU);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("missing key inner.lm_head.weight"));
}

TEST(RecurrentModel, ShapeMismatchNamesExpectedAndFound) {
  auto state_dict = FixtureStateDict("hrm");
  const model::ModelConfig config = FixtureConfig("hrm", state_dict);
  state_dict["inner.H_level.layers.1.mlp.down_proj.weight"] = torch::zeros({64, 100});
  auto model = model::RecurrentModel::Create(config, state_dict, torch::kCPU);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              HasSubstr("shape mismatch for inner.H_level.layers.1.mlp.down_proj.weight: expected [64, 256], "
                        "found [64, 100]"));
}

TEST(RecurrentModel, UnexpectedKeyIsNamed) {
  auto state_dict = FixtureStateDict("trm_attn");
  const model::ModelConfig config = FixtureConfig("trm_attn", state_dict);
  state_dict["inner.extra_head.weight"] = torch::zeros({2, 2});
  auto model = model::RecurrentModel::Create(config, state_dict, torch::kCPU);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("unexpected keys"));
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("inner.extra_head.weight"));
}

TEST(RecurrentModel, ValidatesInputsAgainstTheModel) {
  auto model = testing::LoadFixtureModel("trm_mlpt");
  ASSERT_NE(model, nullptr);
  const torch::Tensor ids = torch::zeros({2}, torch::kInt64);
  absl::Status length = model->ValidateInputs(torch::ones({2, 80}, torch::kInt64), ids);
  EXPECT_THAT(std::string(length.message()), HasSubstr("the model expects 81 tokens, found 80"));
  absl::Status vocab = model->ValidateInputs(torch::full({2, 81}, 11, torch::kInt64), ids);
  EXPECT_THAT(std::string(vocab.message()), HasSubstr("token 11 outside the model's vocabulary [0, 11)"));
  absl::Status ident = model->ValidateInputs(torch::ones({2, 81}, torch::kInt64), torch::full({2}, 3, torch::kInt64));
  EXPECT_THAT(std::string(ident.message()), HasSubstr("identifier 3 outside the model's range [0, 3)"));
  EXPECT_TRUE(model->ValidateInputs(torch::ones({2, 81}, torch::kInt64), ids).ok());
}

// The activation estimate bench-forward prints and rrmd sizes work items by:
// official TRM Sudoku sizes (S = 16 + 81, D = 512, SwiGLU inner 1536, 8 heads).
TEST(ModelConfig, ActivationBytesPerRowCountsTheLargestActivationsOfOneBlock) {
  model::ModelConfig c;
  c.family = model::Family::kTrm;
  c.hidden_size = 512;
  c.num_heads = 8;
  c.expansion = 4;
  c.seq_len = 81;
  c.puzzle_emb_ndim = 512;
  c.puzzle_emb_len = 16;
  c.forward_dtype = "bfloat16";
  const double S = 97, D = 512, I = 1536;
  EXPECT_EQ(model::ActivationBytesPerRow(c), 4.0 * (S * 2 * I + 8 * S * S + 4 * S * D));
  c.forward_dtype = "float32";
  EXPECT_EQ(model::ActivationBytesPerRow(c), 4.0 * (S * 2 * I + 8 * S * S + 4 * S * D));
  c.forward_dtype = "float64";
  EXPECT_EQ(model::ActivationBytesPerRow(c), 8.0 * (S * 2 * I + 8 * S * S + 4 * S * D));
  c.forward_dtype = "float32";
  c.mlp_t = true;  // the token MLP instead of the scores: SwiGLU inner of 97 positions: round(258.7) up to 512
  EXPECT_EQ(model::ActivationBytesPerRow(c), 4.0 * (S * 2 * I + 2 * D * 512 + 4 * S * D));
}

}  // namespace
}  // namespace rrm
