// Issue 17 energy maps: the dominant directions' energy per sequence position,
// checked on systems where the answer is known — a linear map against its
// SVD, a model whose Jacobian is block-diagonal by position (the map must sit
// on the most-expanding block), and the vectors against the model's own JVP
// and VJP — plus the cooperative stop and the option validator.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/checkpoint/state_dict.h"
#include "core/checkpoint/state_dict_writer.h"
#include "core/measure/lyapunov.h"
#include "core/measure/segment_map.h"
#include "core/measure/trajectory.h"
#include "tests/measure/matrix_map.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

using ::testing::HasSubstr;
using measure::AfterUpdate;

using testing::MatrixMap;
using testing::StoredStates;

double AbsCosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.dot(b).abs() / (a.norm() * b.norm())).item<double>();
}

std::vector<measure::ExampleRecord> Measure(const model::RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                                            const measure::MeasureOptions& options) {
  std::vector<measure::ExampleRecord> records;
  const absl::Status status = measure::MeasurePuzzles(model, puzzles, options, [&](measure::ExampleRecord r) {
    records.push_back(std::move(r));
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return records;
}

const measure::EnergyMap* FindMap(const measure::ExampleRecord& r, const std::string& method) {
  for (const measure::EnergyMap& m : r.energy_maps) {
    if (m.method == method) return &m;
  }
  ADD_FAILURE() << "no energy map '" << method << "' in the record";
  return nullptr;
}

TEST(EnergyMap, PropagatorVectorsAreTheSingularVectorsOfALinearMap) {
  torch::manual_seed(21);
  const int64_t n = 10, T = 3, k = 2;
  const torch::Tensor a = torch::randn({n, n}, torch::kFloat64) / std::sqrt(static_cast<double>(n));
  const MatrixMap map(a);
  const torch::Tensor states = StoredStates(map, torch::ones({1, n}, torch::kFloat64), T);
  measure::PropagatorOptions options;
  options.k = k;
  options.tolerance = 1e-8;
  options.vectors = true;
  const auto result =
      measure::PropagatorSingularValues(map, states, measure::PortableStartDirections(0, 0, n, k + 2).unsqueeze(0),
                                        options);
  ASSERT_TRUE(result.converged[0].item<bool>());
  auto [u, sigma, vh] = torch::linalg_svd(torch::linalg_matrix_power(a, T), false);
  for (int64_t i = 0; i < k; ++i) {
    const torch::Tensor right = result.right[0].select(1, i), left = result.left[0].select(1, i);
    EXPECT_NEAR(right.norm().item<double>(), 1.0, 1e-12);
    EXPECT_NEAR(left.norm().item<double>(), 1.0, 1e-12);
    EXPECT_GT(AbsCosine(right, vh[i]), 1 - 1e-6) << "right singular vector " << i;
    EXPECT_GT(AbsCosine(left, u.select(1, i)), 1 - 1e-6) << "left singular vector " << i;
  }
}

// The QR method's frame after T steps of a symmetric map with well-separated
// eigenvalues: its first column is the top eigenvector (up to sign).
TEST(EnergyMap, QrFrameFirstColumnIsTheTopDirectionOfALinearMap) {
  torch::manual_seed(22);
  const int64_t n = 8, T = 30;
  const torch::Tensor q = std::get<0>(torch::linalg_qr(torch::randn({n, n}, torch::kFloat64)));
  const torch::Tensor s = torch::tensor({2.0, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4}, torch::kFloat64);
  const MatrixMap map(q.matmul(torch::diag(s)).matmul(q.t()));
  measure::TangentOptions options;
  options.k = 2;
  options.tangent_dtype = torch::kFloat64;
  torch::Tensor frame;
  measure::RunTangentTrajectory(map, torch::ones({1, n}, torch::kFloat64),
                                measure::PortableStartDirections(3, 0, n, 2).unsqueeze(0), T, options, nullptr,
                                [&](const measure::StepResult& step) { frame = step.frame.clone(); });
  ASSERT_TRUE(frame.defined());
  ASSERT_EQ(frame.sizes(), (std::vector<int64_t>{2, 1, n}));
  EXPECT_NEAR(frame[0][0].dot(frame[1][0]).item<double>(), 0.0, 1e-12);  // orthonormal
  EXPECT_GT(AbsCosine(frame[0][0], q.select(1, 0)), 1 - 1e-9);
}

// trm_learned (learned position embeddings, so every position's block is its
// own) with every attention output projection zeroed: nothing mixes
// positions, so the segment's Jacobian is block-diagonal with one 2D×2D block
// per position (its z_H and z_L slots), and so is J_T ⋯ J_1. Its top singular
// vectors then lie in the block with the largest σ₁. Written as a real
// torch.save checkpoint and loaded the way users load theirs.
std::string BlockDiagonalCheckpoint() {
  const std::string dir = ::testing::TempDir() + "/energy_map_block_diagonal";
  std::filesystem::create_directories(dir);
  const std::string fixture = testing::FixtureDir("trm_learned");
  std::filesystem::copy_file(fixture + "/all_config.yaml", dir + "/all_config.yaml",
                             std::filesystem::copy_options::overwrite_existing);
  auto state_dict = checkpoint::ReadStateDict(fixture + "/step_0");
  EXPECT_TRUE(state_dict.ok()) << state_dict.status();
  checkpoint::NamedTensors tensors;
  int zeroed = 0;
  for (const auto& [name, tensor] : *state_dict) {
    torch::Tensor copy = tensor.clone();
    if (name.find("self_attn.o_proj") != std::string::npos) {
      copy.zero_();
      ++zeroed;
    }
    tensors.emplace_back(name, copy);
  }
  EXPECT_EQ(zeroed, 2);  // L_layers 2
  EXPECT_TRUE(checkpoint::WriteTorchZip(dir + "/step_0", tensors).ok());
  return dir + "/step_0";
}

TEST(EnergyMap, BlockDiagonalModelMapsSitOnTheMostExpandingPositions) {
  torch::NoGradGuard no_grad;
  auto loaded = model::LoadModel(BlockDiagonalCheckpoint(), "", {}, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const model::RecurrentModel& model = *loaded->model;
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_learned").Head(1);
  const int64_t T = 3, D = model.config().hidden_size;
  const int64_t S = model.config().puzzle_positions() + puzzles.inputs.size(1), N = 2 * S * D;

  measure::MeasureOptions options;
  options.segments = T;
  options.lyapunov_k = 1;
  options.lyapunov_method = measure::LyapunovMethod::kPropagator;
  options.early_window = 1;
  options.energy_map_directions = 1;
  const auto records = Measure(model, puzzles, options);
  ASSERT_EQ(records.size(), 1u);
  const measure::ExampleRecord& r = records[0];
  ASSERT_NE(FindMap(r, "window_right"), nullptr);
  ASSERT_NE(FindMap(r, "window_left"), nullptr);
  const measure::EnergyMap* right = FindMap(r, "propagator_right");
  ASSERT_NE(right, nullptr);
  EXPECT_EQ(right->directions, 1);
  EXPECT_EQ(right->puzzle_positions, model.config().puzzle_positions());
  ASSERT_EQ(static_cast<int64_t>(right->positions.size()), S);

  // Each position's own σ₁: the propagator started inside one block stays
  // there (block-diagonal). Computed for the positions the map names (one
  // copy of the puzzle each) and for a few it leaves out.
  std::vector<int64_t> named, others;
  for (int64_t s = 0; s < S; ++s) (right->positions[s] >= 0.01 ? named : others).push_back(s);
  ASSERT_FALSE(named.empty());
  std::vector<int64_t> positions = named;
  for (size_t i = 0; i < others.size(); i += others.size() / 4 + 1) positions.push_back(others[i]);
  const int64_t m = static_cast<int64_t>(positions.size());
  const measure::SegmentMap single(model, model.InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor states = StoredStates(single, single.InitialPrimal(), T).expand({T, m, N}).contiguous();
  const measure::SegmentMap copies(
      model, model.InputEmbeddings(puzzles.inputs.expand({m, -1}), puzzles.puzzle_identifiers.expand({m})));
  torch::Tensor v0 = torch::zeros({m, N, 1}, torch::kFloat64);
  for (int64_t i = 0; i < m; ++i) {
    const torch::Tensor start = measure::PortableStartDirections(5, positions[i], 2 * D, 1);
    v0[i].narrow(0, positions[i] * D, D).copy_(start.narrow(0, 0, D));
    v0[i].narrow(0, S * D + positions[i] * D, D).copy_(start.narrow(0, D, D));
  }
  measure::PropagatorOptions block_options;
  block_options.k = 1;
  const torch::Tensor block =
      measure::PropagatorSingularValues(copies, states, v0, block_options).log_sigma.select(1, 0) / T;
  // The map sits on the blocks that attain the whole map's σ₁ (one, or a few
  // with equal σ₁ that the top singular vector may mix), and nowhere else.
  double on_named = 0, sum = 0;
  for (double share : right->positions) sum += share;
  for (int64_t i = 0; i < m; ++i) {
    const double lambda = block[i].item<double>(), share = right->positions[positions[i]];
    std::cout << "position " << positions[i] << ": share " << share << ", block log σ₁/T " << lambda
              << " (whole map " << r.lyapunov[0] << ")\n";
    if (i < static_cast<int64_t>(named.size())) {
      EXPECT_NEAR(lambda, r.lyapunov[0], 2e-3) << "position " << positions[i] << " holds energy but expands less";
      on_named += share;
    } else {
      EXPECT_LT(lambda, r.lyapunov[0] - 2e-3) << "position " << positions[i] << " expands as much but holds no energy";
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_GT(on_named, 0.97);
}

// JVP/VJP consistency of the vectors through a real model (float64): the JVP
// of the right vector over the T segments is σ₁ times the left vector, and the
// VJP of the left vector back over them is σ₁ times the right vector.
TEST(EnergyMap, VectorsSatisfyTheModelsJvpAndVjp) {
  torch::NoGradGuard no_grad;
  auto model = testing::LoadFixtureModel("trm_learned", {"forward_dtype=float64"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_learned").Head(2);
  const measure::SegmentMap map(*model, model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const int64_t T = 3, k = 2, B = puzzles.size();
  const torch::Tensor states = StoredStates(map, map.InitialPrimal(), T);
  const int64_t N = states.size(2);
  measure::PropagatorOptions options;
  options.k = k;
  options.tolerance = 1e-9;
  options.tangent_dtype = torch::kFloat64;
  options.vectors = true;
  torch::Tensor v0 = torch::stack({measure::PortableStartDirections(0, 0, N, k + 2),
                                   measure::PortableStartDirections(0, 1, N, k + 2)});
  const auto result = measure::PropagatorSingularValues(map, states, v0, options);
  ASSERT_TRUE(result.converged.all().item<bool>());
  for (int64_t i = 0; i < k; ++i) {
    const torch::Tensor sigma = result.log_sigma.select(1, i).exp();  // [B]
    // Forward: v ↦ J_T ⋯ J_1 v.
    torch::Tensor v = result.right.select(2, i);  // [B, N]
    for (int64_t t = 0; t < T; ++t) v = map.Step(torch::stack({states[t], v}), AfterUpdate())[1];
    // Backward: u ↦ J_1ᵀ ⋯ J_Tᵀ u.
    torch::Tensor u = result.left.select(2, i).unsqueeze(0);  // [1, B, N]
    for (int64_t t = T - 1; t >= 0; --t) u = map.Vjp(states[t], u);
    for (int64_t b = 0; b < B; ++b) {
      const torch::Tensor expected_image = sigma[b] * result.left[b].select(1, i);
      const torch::Tensor expected_back = sigma[b] * result.right[b].select(1, i);
      EXPECT_LE(((v[b] - expected_image).norm() / expected_image.norm()).item<double>(), 1e-6) << "JVP " << i;
      EXPECT_LE(((u[0][b] - expected_back).norm() / expected_back.norm()).item<double>(), 1e-6) << "VJP " << i;
    }
  }
}

TEST(EnergyMap, RecordsCarryMapsGivenAndWrongCellsOnlyWhenAsked) {
  auto model = testing::LoadFixtureModel("trm_attn");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_attn");
  measure::MeasureOptions options;
  options.segments = 3;
  options.lyapunov_k = 2;
  const auto off = Measure(*model, puzzles, options);
  options.energy_map_directions = 2;
  const auto on = Measure(*model, puzzles, options);
  ASSERT_EQ(off.size(), on.size());
  const int64_t P = model->config().puzzle_positions();
  for (size_t b = 0; b < on.size(); ++b) {
    EXPECT_TRUE(off[b].energy_maps.empty());
    EXPECT_TRUE(off[b].given_cells.empty());
    EXPECT_EQ(on[b].lyapunov, off[b].lyapunov);  // maps change no number
    ASSERT_EQ(on[b].energy_maps.size(), 1u);
    const measure::EnergyMap& map = on[b].energy_maps[0];
    EXPECT_EQ(map.method, "qr_frame");
    EXPECT_EQ(map.directions, 2);
    ASSERT_EQ(static_cast<int64_t>(map.positions.size()), P + puzzles.inputs.size(1));
    double sum = 0;
    for (double share : map.positions) {
      EXPECT_GE(share, 0);
      sum += share;
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
    // given_cells: the Sudoku digits of the puzzle; wrong_cells: scored cells
    // whose prediction at T differs from the label.
    const torch::Tensor inputs = puzzles.inputs[b], labels = puzzles.labels[b];
    std::vector<int32_t> given, wrong;
    for (int64_t c = 0; c < inputs.size(0); ++c) {
      const int64_t token = inputs[c].item<int64_t>(), label = labels[c].item<int64_t>();
      if (token >= 2 && token <= 10) given.push_back(static_cast<int32_t>(c));
      if (label != puzzle::kIgnoreLabel && on[b].prediction[c] != label) wrong.push_back(static_cast<int32_t>(c));
    }
    EXPECT_EQ(on[b].given_cells, given);
    EXPECT_EQ(on[b].wrong_cells, wrong);
    EXPECT_EQ(on[b].correct, wrong.empty());
  }
}

// A symmetry restart runs a transformed puzzle; its record's cells are in the
// puzzle as given, so the givens are the same cells as restart 0's.
TEST(EnergyMap, SymmetryRestartsReportCellsInThePuzzleAsGiven) {
  auto model = testing::LoadFixtureModel("trm_attn");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_attn");
  ASSERT_EQ(puzzles.kind, puzzle::PuzzleKind::kSudoku);
  measure::MeasureOptions options;
  options.segments = 2;
  options.lyapunov_k = 1;
  options.energy_map_directions = 1;
  const auto given = Measure(*model, puzzles, options);
  options.restart_kind = measure::RestartKind::kSymmetry;
  options.restart = 1;
  const auto restarted = Measure(*model, puzzles, options);
  ASSERT_EQ(given.size(), restarted.size());
  for (size_t b = 0; b < given.size(); ++b) {
    EXPECT_EQ(restarted[b].given_cells, given[b].given_cells);
    ASSERT_EQ(restarted[b].energy_maps.size(), 1u);
    double sum = 0;
    for (double share : restarted[b].energy_maps[0].positions) sum += share;
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}

TEST(CooperativeStop, StopsAtASegmentBoundaryAndReturnsTheStatus) {
  auto model = testing::LoadFixtureModel("trm_attn");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_attn");
  ASSERT_GE(puzzles.size(), 2);
  for (const std::string method : {"qr", "propagator"}) {
    measure::MeasureOptions options;
    options.segments = 3;
    options.lyapunov_k = 1;
    options.lyapunov_method = *measure::ParseLyapunovMethod("method", method);
    options.batch_size = 1;
    // Let the first batch finish, stop during the second.
    int boundaries = 0, first_batch = 0;
    {
      measure::MeasureOptions count = options;
      count.stop = [&] { ++first_batch; return absl::OkStatus(); };
      Measure(*model, puzzles.Head(1), count);
    }
    // QR: one boundary per segment; the propagator adds its passes.
    if (method == "qr") EXPECT_EQ(first_batch, 3);
    ASSERT_GE(first_batch, 3);
    options.stop = [&] {
      return ++boundaries > first_batch + 1 ? absl::CancelledError("job cancelled") : absl::OkStatus();
    };
    std::vector<measure::ExampleRecord> records;
    const absl::Status status = measure::MeasurePuzzles(*model, puzzles, options, [&](measure::ExampleRecord r) {
      records.push_back(std::move(r));
      return absl::OkStatus();
    });
    EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << method << ": " << status;
    EXPECT_EQ(records.size(), 1u) << method << ": the finished batch's record, nothing after the stop";
    EXPECT_EQ(boundaries, first_batch + 2) << method << ": no boundary checked after the stop";
  }
}

TEST(ValidateOptions, NamesTheOptionExpectedAndFound) {
  measure::MeasureOptions options;
  EXPECT_TRUE(measure::ValidateOptions(options).ok());
  auto message = [](measure::MeasureOptions o) { return std::string(measure::ValidateOptions(o).message()); };
  measure::MeasureOptions o = options;
  o.segments = -3;
  EXPECT_THAT(message(o), HasSubstr("segments: expected 0"));
  EXPECT_THAT(message(o), HasSubstr("found -3"));
  o = options;
  o.lyapunov_k = 100000;
  EXPECT_THAT(message(o), HasSubstr("lyapunov_k: expected 0 (off) to 256, found 100000"));
  o = options;
  o.lyapunov_k = 2;
  o.energy_map_directions = 3;
  EXPECT_THAT(message(o), HasSubstr("energy_map_directions: expected 0 (off) or 1..lyapunov_k (2), found 3"));
  o = options;
  o.lyapunov_method = measure::LyapunovMethod::kPropagator;
  o.lyapunov_draws = 2;
  EXPECT_THAT(message(o), HasSubstr("lyapunov_draws"));
  o = options;
  o.lyapunov_k = 2;
  o.propagator_block = 9;
  EXPECT_THAT(message(o), HasSubstr("propagator_block: expected 0 (= lyapunov_k) to 4·lyapunov_k = 8, found 9"));
  o.lyapunov_method = measure::LyapunovMethod::kPropagator;
  o.propagator_block = 1;
  o.propagator_max_iterations = 1;
  EXPECT_THAT(message(o), HasSubstr("propagator_max_iterations: expected >= 2"));
  o.propagator_max_iterations = 2;
  EXPECT_TRUE(measure::ValidateOptions(o).ok());
}

}  // namespace
}  // namespace rrm
