// The QR (Benettin) spectrum of SPEC §3: known systems, exact JVPs through the
// models, and the invariances the definition promises.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "core/measure/lyapunov.h"
#include "core/measure/segment_map.h"
#include "core/measure/trajectory.h"
#include "tests/measure/matrix_map.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

using measure::AfterUpdate;
using measure::StepResult;
using measure::TangentOptions;

// Runs the spectrum code on `map` and returns λ = mean increments [B, k],
// discarding the first `transient` steps.
torch::Tensor Spectrum(const measure::TangentMap& map, const torch::Tensor& x0, int64_t k, int64_t T,
                       int64_t transient = 0) {
  const int64_t B = x0.size(0), N = x0.size(1);
  torch::Tensor q0 = torch::eye(N, k, torch::kFloat64).expand({B, N, k});
  torch::Tensor sum = torch::zeros({B, k}, torch::kFloat64);
  TangentOptions options;
  options.k = k;
  options.tangent_dtype = torch::kFloat64;
  measure::RunTangentTrajectory(map, x0, q0, T, options, nullptr, [&](const StepResult& step) {
    if (step.t > transient) sum += step.increments.select(1, 0);
  });
  return sum / static_cast<double>(T - transient);
}

// Hénon: (x, y) -> (1 − a x² + y, b x).
class HenonMap : public measure::TangentMap {
 public:
  torch::Tensor Step(const torch::Tensor& s, const AfterUpdate&) const override {
    const torch::Tensor x = s.select(2, 0), y = s.select(2, 1);
    const torch::Tensor x0 = x[0];
    torch::Tensor nx = -2 * a * x0 * x + y;  // tangent rows: J = [[−2a·x0, 1], [b, 0]]
    torch::Tensor ny = b * x;
    nx[0] = 1 - a * x0 * x0 + y[0];
    return torch::stack({nx, ny}, 2);
  }
  static constexpr double a = 1.4, b = 0.3;
};

// Logistic map r = 4: x -> r x (1 − x).
class LogisticMap : public measure::TangentMap {
 public:
  torch::Tensor Step(const torch::Tensor& s, const AfterUpdate&) const override {
    const torch::Tensor x0 = s[0];
    torch::Tensor out = 4 * (1 - 2 * x0) * s;
    out[0] = 4 * x0 * (1 - x0);
    return out;
  }
};

// A linear map x -> A x with A = diag(1.1, 0.8) (the primal is irrelevant).
class LinearMap : public measure::TangentMap {
 public:
  torch::Tensor Step(const torch::Tensor& s, const AfterUpdate&) const override {
    return s * torch::tensor({1.1, 0.8}, torch::kFloat64);
  }
};

TEST(Lyapunov, HenonMapGivesKnownExponents) {
  const torch::Tensor x0 = torch::tensor({{0.1, 0.1}, {0.3, -0.1}}, torch::kFloat64);
  const torch::Tensor lambda = Spectrum(HenonMap(), x0, 2, 20000, 100);
  for (int64_t b = 0; b < 2; ++b) {
    EXPECT_NEAR(lambda[b][0].item<double>(), 0.419, 0.005);
    EXPECT_NEAR(lambda[b][1].item<double>(), -1.623, 0.005);
    // λ₁ + λ₂ = ln|det J| = ln b exactly, at every step.
    EXPECT_NEAR(lambda[b].sum().item<double>(), std::log(0.3), 1e-12);
  }
}

TEST(Lyapunov, LogisticMapGivesLn2) {
  const torch::Tensor x0 = torch::tensor({{0.3}, {0.123}}, torch::kFloat64);
  const torch::Tensor lambda = Spectrum(LogisticMap(), x0, 1, 20000, 100);
  EXPECT_NEAR(lambda[0][0].item<double>(), std::log(2.0), 0.01);
  EXPECT_NEAR(lambda[1][0].item<double>(), std::log(2.0), 0.01);
}

TEST(Lyapunov, LinearMapGivesLogEigenvalues) {
  const torch::Tensor x0 = torch::tensor({{1.0, 2.0}}, torch::kFloat64);
  const torch::Tensor lambda = Spectrum(LinearMap(), x0, 2, 50);
  EXPECT_NEAR(lambda[0][0].item<double>(), std::log(1.1), 1e-12);
  EXPECT_NEAR(lambda[0][1].item<double>(), std::log(0.8), 1e-12);
}

TEST(StartDirections, AreOrthonormalAndDependOnlyOnSeedAndExample) {
  const torch::Tensor q = measure::PortableStartDirections(7, 3, 500, 8);
  ASSERT_EQ(q.sizes(), (std::vector<int64_t>{500, 8}));
  EXPECT_LE((q.t().matmul(q) - torch::eye(8, torch::kFloat64)).abs().max().item<double>(), 1e-12);
  EXPECT_TRUE(torch::equal(q, measure::PortableStartDirections(7, 3, 500, 8)));
  EXPECT_FALSE(torch::equal(q, measure::PortableStartDirections(7, 4, 500, 8)));
  EXPECT_FALSE(torch::equal(q, measure::PortableStartDirections(8, 3, 500, 8)));
}

TEST(StartDirections, MatchThePythonReferenceFunction) {
  const std::string dir = ::testing::TempDir() + "/start_directions";
  const std::string script = std::string(RRM_SOURCE_DIR) + "/tests/reference/start_directions.py";
  struct Case { uint64_t seed; int64_t example, dim, k; };
  const Case cases[] = {{0, 0, 10, 3}, {12345, 17, 301, 8}, {18446744073709551615ull, 1000000, 64, 1}, {5, 2, 7, 7}};
  for (const Case& c : cases) {
    const std::string out = dir + "_" + std::to_string(c.example) + ".npy";
    const std::string command = "/usr/bin/python3 " + script + " " + std::to_string(c.seed) + " " +
                                std::to_string(c.example) + " " + std::to_string(c.dim) + " " +
                                std::to_string(c.k) + " " + out;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    auto expected = puzzle::ReadNpyAs(out, torch::kFloat64);
    ASSERT_TRUE(expected.ok()) << expected.status();
    const torch::Tensor ours = measure::PortableStartDirections(c.seed, c.example, c.dim, c.k);
    EXPECT_LE(testing::MaxAbsDiff(ours, *expected), 1e-12) << "seed " << c.seed << " example " << c.example;
  }
}

// The JVP of one segment through a fixture model, along direction v at state x.
torch::Tensor SegmentJvp(const measure::SegmentMap& map, const torch::Tensor& x, const torch::Tensor& v) {
  return map.Step(torch::stack({x, v}), AfterUpdate())[1];
}

class ModelTangents : public ::testing::TestWithParam<std::string> {
 protected:
  // A state from the middle of the reference trajectory, flat [B, N].
  torch::Tensor MidTrajectoryState(const measure::SegmentMap& map, torch::ScalarType dtype) {
    model::JointState state{testing::LoadExpected(GetParam(), "z_H")[3].unsqueeze(0),
                            testing::LoadExpected(GetParam(), "z_L")[3].unsqueeze(0)};
    return map.Flatten(state)[0].to(dtype);
  }
};

TEST_P(ModelTangents, JvpMatchesFloat64CentralDifferences) {
  torch::NoGradGuard no_grad;
  auto model = testing::LoadFixtureModel(GetParam(), {"forward_dtype=float64"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  const measure::SegmentMap map(*model, model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x = MidTrajectoryState(map, torch::kFloat64);
  torch::manual_seed(1);
  const torch::Tensor v = torch::randn(x.sizes(), torch::kFloat64);
  const torch::Tensor jvp = SegmentJvp(map, x, v);
  const double h = 1e-5;
  const torch::Tensor plus = map.Step((x + h * v).unsqueeze(0), AfterUpdate())[0];
  const torch::Tensor minus = map.Step((x - h * v).unsqueeze(0), AfterUpdate())[0];
  const torch::Tensor fd = (plus - minus) / (2 * h);
  const double relative = ((jvp - fd).norm() / jvp.norm()).item<double>();
  EXPECT_LE(relative, 1e-6) << "relative error of the JVP against central differences";
}

TEST_P(ModelTangents, JvpMatchesLibTorchForwardModeAdFloat32) {
  auto model = testing::LoadFixtureModel(GetParam(), {"forward_dtype=float32"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  torch::Tensor e;
  {
    torch::NoGradGuard no_grad;
    e = model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers);
  }
  const measure::SegmentMap map(*model, e);
  const torch::Tensor x = MidTrajectoryState(map, torch::kFloat32);
  torch::manual_seed(2);
  const torch::Tensor v = torch::randn(x.sizes());
  torch::Tensor ours;
  {
    torch::NoGradGuard no_grad;
    ours = SegmentJvp(map, x, v);
  }
  // LibTorch's own forward-mode AD through the plain (k = 0) forward.
  const uint64_t level = torch::autograd::forward_ad::enter_dual_level();
  const torch::Tensor dual = at::_make_dual(x, v, static_cast<int64_t>(level));
  const torch::Tensor image = map.Step(dual.unsqueeze(0), AfterUpdate())[0];
  const torch::Tensor theirs = std::get<1>(at::_unpack_dual(image, static_cast<int64_t>(level))).detach().clone();
  torch::autograd::forward_ad::exit_dual_level(level);
  ASSERT_TRUE(theirs.defined());
  const double relative = ((ours - theirs).norm() / theirs.norm()).item<double>();
  EXPECT_LE(relative, 1e-4) << "relative difference to at::_make_dual forward AD";
}

TEST_P(ModelTangents, ReorthonormalizingPerUpdateGivesTheSameIncrements) {
  torch::NoGradGuard no_grad;
  auto model = testing::LoadFixtureModel(GetParam(), {"forward_dtype=float64"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  const measure::SegmentMap map(*model, model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x0 = map.InitialPrimal();
  const int64_t B = x0.size(0), N = x0.size(1), k = 4;
  const torch::Tensor q0 = measure::PortableStartDirections(0, 0, N, k).unsqueeze(0).expand({B, N, k});
  auto increments = [&](measure::Reorthonormalize every) {
    TangentOptions options;
    options.k = k;
    options.tangent_dtype = torch::kFloat64;
    options.every = every;
    std::vector<torch::Tensor> steps;
    measure::RunTangentTrajectory(map, x0, q0, 4, options, nullptr,
                                  [&](const StepResult& step) { steps.push_back(step.increments.select(1, 0)); });
    return torch::stack(steps);
  };
  const torch::Tensor per_segment = increments(measure::Reorthonormalize::kSegment);
  const torch::Tensor per_update = increments(measure::Reorthonormalize::kUpdate);
  EXPECT_LE(testing::MaxAbsDiff(per_segment, per_update), 1e-8);
}

// Σ_i ℓ_{t,i} is the log growth of the k-volume spanned by the tangents:
// ½·log det(Wᵀ W) for W = J·Q, computed here from the Gram determinant.
TEST_P(ModelTangents, IncrementsSumToLogVolumeGrowth) {
  torch::NoGradGuard no_grad;
  auto model = testing::LoadFixtureModel(GetParam(), {"forward_dtype=float64"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  const measure::SegmentMap map(*model, model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x = MidTrajectoryState(map, torch::kFloat64);
  const int64_t B = x.size(0), N = x.size(1), k = 3;
  const torch::Tensor q = measure::PortableStartDirections(9, 1, N, k);  // [N, k]
  torch::Tensor stack = torch::cat({x.unsqueeze(0), q.t().unsqueeze(1).expand({k, B, N})}, 0);
  torch::Tensor image = map.Step(stack, AfterUpdate());
  const torch::Tensor w = image.narrow(0, 1, k).permute({1, 2, 0});  // [B, N, k]
  const torch::Tensor log_volume = 0.5 * std::get<1>(torch::linalg_slogdet(w.transpose(1, 2).matmul(w)));
  const torch::Tensor increments = measure::OrthonormalizeTangents(image);
  EXPECT_LE(testing::MaxAbsDiff(increments.sum(1), log_volume), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelTangents, ::testing::Values("hrm", "trm_attn", "trm_mlpt", "trm_learned"),
                         [](const auto& info) { return info.param; });

std::vector<measure::ExampleRecord> MeasureWith(const model::RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                                                measure::MeasureOptions options) {
  std::vector<measure::ExampleRecord> records;
  absl::Status status = measure::MeasurePuzzles(model, puzzles, options, [&](measure::ExampleRecord r) {
    records.push_back(std::move(r));
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return records;
}

TEST(LyapunovRecords, SpectrumAndIncrementsInRecordsBatchedOrNot) {
  auto model = testing::LoadFixtureModel("trm_attn");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_attn");
  measure::MeasureOptions options;
  options.lyapunov_k = 4;
  options.lyapunov_seed = 11;
  options.segments = 6;
  options.batch_size = 2;
  const auto batched = MeasureWith(*model, puzzles, options);
  options.batch_size = 1;
  const auto single = MeasureWith(*model, puzzles, options);
  ASSERT_EQ(batched.size(), 2u);
  for (size_t b = 0; b < batched.size(); ++b) {
    const measure::ExampleRecord& r = batched[b];
    ASSERT_EQ(r.lyapunov.size(), 4u);
    EXPECT_EQ(r.lyapunov_method, "qr");
    EXPECT_EQ(r.seed, 11u);
    EXPECT_EQ(r.lyapunov_sd, std::vector<double>(4, 0.0));
    for (int i = 0; i < 4; ++i) {
      double mean = 0;
      for (const auto& s : r.segments) mean += s.lyapunov_increments.at(i) / r.segments.size();
      EXPECT_NEAR(r.lyapunov[i], mean, 1e-12);
      EXPECT_NEAR(r.lyapunov[i], single[b].lyapunov[i], 1e-4) << "batched vs one at a time";
    }
  }
  // The spectrum depends on the start directions only through (seed, example):
  // the first example of a batch and the same example alone agree.
  EXPECT_NE(batched[0].lyapunov, batched[1].lyapunov);
}


TEST(LyapunovRecords, DrawsAreIndependentStartsWithMeanAndSpread) {
  auto model = testing::LoadFixtureModel("hrm");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("hrm");
  measure::MeasureOptions options;
  options.lyapunov_k = 2;
  options.segments = 5;
  std::vector<std::vector<measure::ExampleRecord>> single;
  for (uint64_t seed : {5u, 6u, 7u}) {
    options.lyapunov_seed = seed;
    single.push_back(MeasureWith(*model, puzzles, options));
  }
  options.lyapunov_seed = 5;
  options.lyapunov_draws = 3;
  const auto drawn = MeasureWith(*model, puzzles, options);
  ASSERT_EQ(drawn.size(), puzzles.size());
  for (size_t b = 0; b < drawn.size(); ++b) {
    for (int i = 0; i < 2; ++i) {
      const double a = single[0][b].lyapunov[i], c = single[1][b].lyapunov[i], d = single[2][b].lyapunov[i];
      const double mean = (a + c + d) / 3;
      const double sd = std::sqrt(((a - mean) * (a - mean) + (c - mean) * (c - mean) + (d - mean) * (d - mean)) / 2);
      EXPECT_NEAR(drawn[b].lyapunov[i], mean, 1e-4);
      EXPECT_NEAR(drawn[b].lyapunov_sd[i], sd, 1e-4);
      EXPECT_GT(drawn[b].lyapunov_sd[i], 0);
    }
    // Per-segment increments in the record are the mean over draws.
    double mean_increment = 0;
    for (int s = 0; s < 3; ++s) mean_increment += single[s][b].segments[2].lyapunov_increments[0] / 3;
    EXPECT_NEAR(drawn[b].segments[2].lyapunov_increments[0], mean_increment, 1e-4);
  }
}


using testing::MatrixMap;
using testing::StoredStates;

TEST(Propagator, LinearMapGivesSingularValuesOfItsPower) {
  const torch::Tensor a = torch::tensor({{1.2, 2.0, 0.0}, {0.0, 0.5, 1.0}, {0.3, 0.0, 0.9}}, torch::kFloat64);
  const MatrixMap map(a);
  const int64_t T = 4;
  const torch::Tensor states = StoredStates(map, torch::ones({1, 3}, torch::kFloat64), T);
  measure::PropagatorOptions options;
  options.k = 2;
  options.tolerance = 1e-10;
  const auto result = measure::PropagatorSingularValues(map, states, torch::eye(3, 2, torch::kFloat64).unsqueeze(0), options);
  const torch::Tensor expected = torch::linalg_svdvals(torch::linalg_matrix_power(a, T)).log();
  EXPECT_NEAR(result.log_sigma[0][0].item<double>(), expected[0].item<double>(), 1e-8);
  EXPECT_NEAR(result.log_sigma[0][1].item<double>(), expected[1].item<double>(), 1e-8);
  EXPECT_GT(result.iterations[0].item<int64_t>(), 1);
  EXPECT_TRUE(result.converged[0].item<bool>());
}

// SPEC §3: the stop is a residual test, ‖MᵀM v_i − σ_i² v_i‖ ≤ tol·σ_i², and
// the result says whether it was met: checked against the explicit matrix.
TEST(Propagator, StopsOnTheResidualTestAndSaysWhetherItConverged) {
  torch::manual_seed(11);
  const int64_t n = 12, T = 3, k = 2;
  const torch::Tensor a = torch::randn({n, n}, torch::kFloat64) / std::sqrt(static_cast<double>(n));
  const MatrixMap map(a);
  const torch::Tensor states = StoredStates(map, torch::ones({1, n}, torch::kFloat64), T);
  const torch::Tensor m = torch::linalg_matrix_power(a, T);
  const torch::Tensor mtm = m.t().matmul(m);
  const torch::Tensor v0 = measure::PortableStartDirections(0, 0, n, k + 2).unsqueeze(0);
  measure::PropagatorOptions options;
  options.k = k;
  options.tolerance = 1e-6;
  const auto result = measure::PropagatorSingularValues(map, states, v0, options);
  ASSERT_TRUE(result.converged[0].item<bool>());
  // The explicit residual of each top singular pair at the returned σ.
  auto [u, sigma, vh] = torch::linalg_svd(m, false);
  for (int64_t i = 0; i < k; ++i) {
    EXPECT_NEAR(result.log_sigma[0][i].item<double>(), sigma[i].log().item<double>(), 1e-9);
    EXPECT_LE(result.residual[0][i].item<double>(), options.tolerance);
    const torch::Tensor v = vh[i];
    const double explicit_residual =
        (mtm.matmul(v) - sigma[i].square() * v).norm().item<double>() / sigma[i].square().item<double>();
    EXPECT_LE(explicit_residual, 1e-9);
  }
  // One iteration cannot meet the tolerance from this start: not converged, said so.
  options.max_iterations = 1;
  const auto cut = measure::PropagatorSingularValues(map, states, v0, options);
  EXPECT_FALSE(cut.converged[0].item<bool>());
  EXPECT_EQ(cut.iterations[0].item<int64_t>(), 1);
  EXPECT_GT(cut.residual[0].max().item<double>(), options.tolerance);
}

// A = Q·diag(s)·Qᵀ (seeded random orthogonal Q) with s = 3, 2.5, 2, 1.6,
// 1.5, 1.4, then 0.9 … 0.1: a top 3 whose convergence depends on the block.
struct SlowTailCase {
  static constexpr int64_t n = 40, T = 2, k = 3;
  torch::Tensor s = torch::cat({torch::tensor({3.0, 2.5, 2.0, 1.6, 1.5, 1.4}, torch::kFloat64),
                                torch::linspace(0.9, 0.1, n - 6, torch::kFloat64)});
  MatrixMap map{[this] {
    torch::manual_seed(12);
    const torch::Tensor q = std::get<0>(torch::linalg_qr(torch::randn({n, n}, torch::kFloat64)));
    return q.matmul(torch::diag(s)).matmul(q.t());
  }()};
  torch::Tensor states = StoredStates(map, torch::ones({1, n}, torch::kFloat64), T);
  torch::Tensor expected = (T * s.narrow(0, 0, k).log()).unsqueeze(0);  // log σ_1..σ_k of A^T

  measure::PropagatorOptions Options() const {
    measure::PropagatorOptions options;
    options.k = k;
    options.tolerance = 1e-6;
    return options;
  }
  measure::PropagatorResult Run(int64_t block, const measure::PropagatorOptions& options) const {
    return measure::PropagatorSingularValues(map, states, measure::PortableStartDirections(0, 0, n, block).unsqueeze(0),
                                             options);
  }
};

// Oversampling (a block larger than k) converges the top k in fewer
// iterations: a block of 6 beats a block of 3.
TEST(Propagator, OversamplingNeedsFewerIterations) {
  const SlowTailCase c;
  const auto plain = c.Run(c.k, c.Options());
  const auto oversampled = c.Run(2 * c.k, c.Options());
  ASSERT_TRUE(plain.converged[0].item<bool>());
  ASSERT_TRUE(oversampled.converged[0].item<bool>());
  EXPECT_LT(oversampled.iterations[0].item<int64_t>(), plain.iterations[0].item<int64_t>());
  EXPECT_LE(testing::MaxAbsDiff(oversampled.log_sigma, c.expected), 1e-9);
  EXPECT_LE(testing::MaxAbsDiff(plain.log_sigma, c.expected), 1e-9);
  std::cout << "iterations: block 3 " << plain.iterations[0].item<int64_t>() << ", block 6 "
            << oversampled.iterations[0].item<int64_t>() << "\n";
}

// Block Lanczos: the block of k = 3 converges to 1e-6 in fewer iterations
// than the power iteration's rate (s_4/s_3)^{2T} = 0.41 per iteration allows
// (ln 1e-6 / ln 0.41 ≈ 15.5; the power iteration this replaced took 16).
TEST(Propagator, ConvergesFasterThanThePowerIteration) {
  const SlowTailCase c;
  const auto result = c.Run(c.k, c.Options());
  ASSERT_TRUE(result.converged[0].item<bool>());
  EXPECT_LT(result.iterations[0].item<int64_t>(), 10);
  EXPECT_LE(result.residual[0].max().item<double>(), 1e-6);
  EXPECT_LE(testing::MaxAbsDiff(result.log_sigma, c.expected), 1e-9);
}

// Past the cap of kPropagatorColumnsPerExponent·k columns the bases restart
// from their top kPropagatorKeptPerExponent·k Ritz triplets, whose images
// they already hold: no pass is repeated (one forward and one reverse per
// iteration, at most), and the Krylov relations carry on. k = 1 with a
// block of 2 reaches the cap of 8 columns after 4 iterations; it still
// converges before the block power iteration's rate (s_3/s_1)^{2T} = 0.20
// allows (ln 1e-6 / ln 0.20 ≈ 8.6 iterations).
TEST(Propagator, RestartsFromItsTopRitzTripletsWithoutRepeatingAPass) {
  const SlowTailCase c;
  measure::PropagatorOptions options = c.Options();
  options.k = 1;
  const int64_t block = 2;
  int64_t steps = 0;
  options.before_step = [&] { ++steps; };
  const auto result = c.Run(block, options);
  ASSERT_TRUE(result.converged[0].item<bool>());
  const int64_t iterations = result.iterations[0].item<int64_t>();
  EXPECT_GT(iterations * block, measure::kPropagatorColumnsPerExponent * options.k) << "the case must run past the cap";
  EXPECT_LT(iterations, 8);
  EXPECT_GE(steps, c.T * (2 * iterations - 1));
  EXPECT_LE(steps, c.T * 2 * iterations);
  EXPECT_LE(result.residual[0].max().item<double>(), options.tolerance);
  EXPECT_LE(testing::MaxAbsDiff(result.log_sigma, c.expected.narrow(1, 0, 1)), 1e-9);
}

// A block smaller than k grows the basis for ceil(k / block) iterations
// before its first test, then finds the same top k: a single direction
// per pass is Golub–Kahan–Lanczos itself.
TEST(Propagator, ABlockSmallerThanKFindsTheSameSingularValues) {
  const SlowTailCase c;
  for (const int64_t block : {1, 2}) {
    const measure::PropagatorOptions options = c.Options();
    const auto result = c.Run(block, options);
    ASSERT_TRUE(result.converged[0].item<bool>()) << "block " << block;
    EXPECT_GE(result.iterations[0].item<int64_t>(), (c.k + block - 1) / block) << "block " << block;
    EXPECT_LE(result.residual[0].max().item<double>(), options.tolerance) << "block " << block;
    EXPECT_LE(testing::MaxAbsDiff(result.log_sigma, c.expected), 1e-9) << "block " << block;
  }
}

// The left pairs u_i of span(M·V) are tested after the next forward pass
// (‖MMᵀ·u_i − σ_i²·u_i‖ ≤ tol·σ_i²); when they pass first the example stops
// without that iteration's reverse pass. Counted at the step hook: T steps
// per pass, so 2·iterations − 1 passes.
TEST(Propagator, LeftPairsStopOneReversePassEarlierWithTheExactSingularValues) {
  const SlowTailCase c;
  measure::PropagatorOptions options = c.Options();
  int64_t steps = 0;
  options.before_step = [&] { ++steps; };
  const auto result = c.Run(2 * c.k, options);
  ASSERT_TRUE(result.converged[0].item<bool>());
  EXPECT_EQ(steps, c.T * (2 * result.iterations[0].item<int64_t>() - 1)) << "stopped after a forward pass";
  EXPECT_LE(result.residual[0].max().item<double>(), options.tolerance);
  EXPECT_LE(testing::MaxAbsDiff(result.log_sigma, c.expected), 1e-9);
}

TEST(Propagator, HenonMatchesSvdOfTheExplicitJacobianProduct) {
  const HenonMap map;
  const int64_t T = 12;
  const torch::Tensor states = StoredStates(map, torch::tensor({{0.1, 0.2}}, torch::kFloat64), T);
  torch::Tensor product = torch::eye(2, torch::kFloat64);
  for (int64_t t = 0; t < T; ++t) {
    const double x = states[t][0][0].item<double>();
    const torch::Tensor jacobian = torch::tensor({{-2 * HenonMap::a * x, 1.0}, {HenonMap::b, 0.0}}, torch::kFloat64);
    product = jacobian.matmul(product);
  }
  const torch::Tensor expected = torch::linalg_svdvals(product).log();
  measure::PropagatorOptions options;
  options.k = 2;
  options.tolerance = 1e-12;
  const auto result = measure::PropagatorSingularValues(map, states, torch::eye(2, torch::kFloat64).unsqueeze(0), options);
  EXPECT_NEAR(result.log_sigma[0][0].item<double>(), expected[0].item<double>(), 1e-8);
  // σ₂ ≈ 1e-9·σ₁ is below the explicit product's float64 rounding; the exact
  // check is the determinant: σ₁·σ₂ = |det M| = b^T.
  EXPECT_NEAR(result.log_sigma[0].sum().item<double>(), T * std::log(HenonMap::b), 1e-8);
  EXPECT_NEAR(result.log_sigma[0][1].item<double>(), expected[1].item<double>(), 1e-4);
}

TEST_P(ModelTangents, VjpIsTheTransposeOfTheJvp) {
  torch::NoGradGuard no_grad;
  auto model = testing::LoadFixtureModel(GetParam(), {"forward_dtype=float64"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  const measure::SegmentMap map(*model, model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x = MidTrajectoryState(map, torch::kFloat64);
  torch::manual_seed(3);
  const torch::Tensor v = torch::randn(x.sizes(), torch::kFloat64);
  const torch::Tensor jv = SegmentJvp(map, x, v);
  // Five cotangents at once: more than one backward takes through one
  // recorded linearisation, the last one padded.
  const torch::Tensor u = torch::randn({5, x.size(0), x.size(1)}, torch::kFloat64);
  const torch::Tensor jtu = map.Vjp(x, u);
  ASSERT_EQ(jtu.sizes(), u.sizes());
  for (int64_t j = 0; j < u.size(0); ++j) {
    for (int64_t b = 0; b < x.size(0); ++b) {
      const double left = (u[j][b] * jv[b]).sum().item<double>(), right = (jtu[j][b] * v[b]).sum().item<double>();
      EXPECT_NEAR(left, right, 1e-6 * std::abs(left)) << "<u, J v> vs <J^T u, v>, cotangent " << j << ", example " << b;
    }
  }
}

// σ₁(M) is the maximum growth of any direction, so no QR first column from
// any start grows faster over the same T segments.
TEST(Propagator, TopSingularValueBoundsEveryQrFirstColumn) {
  torch::NoGradGuard no_grad;
  auto model = testing::LoadFixtureModel("hrm", {"forward_dtype=float32"});
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("hrm");
  const measure::SegmentMap map(*model, model->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const int64_t T = 6, k = 2;
  const torch::Tensor x0 = map.InitialPrimal();
  const torch::Tensor states = StoredStates(map, x0, T);
  const int64_t N = x0.size(1);
  const torch::Tensor v0 = measure::PortableStartDirections(0, 0, N, k).unsqueeze(0).expand({x0.size(0), N, k});
  measure::PropagatorOptions propagator_options;
  propagator_options.k = k;
  const auto propagator = measure::PropagatorSingularValues(map, states, v0, propagator_options);
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const torch::Tensor q0 = measure::PortableStartDirections(seed, 0, N, k).unsqueeze(0).expand({x0.size(0), N, k});
    torch::Tensor growth = torch::zeros({x0.size(0)}, torch::kFloat64);
    TangentOptions options;
    options.k = k;
    measure::RunTangentTrajectory(map, x0, q0, T, options, nullptr,
                                  [&](const StepResult& step) { growth += step.increments.select(1, 0).select(1, 0); });
    for (int64_t b = 0; b < x0.size(0); ++b) {
      EXPECT_LE(growth[b].item<double>(), propagator.log_sigma[b][0].item<double>() + 2e-3)
          << "seed " << seed << " example " << b;
    }
  }
}


TEST(LyapunovRecords, PropagatorMethodFillsExponentsWindowAndIterations) {
  auto model = testing::LoadFixtureModel("trm_learned");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_learned");
  measure::MeasureOptions options;
  options.lyapunov_k = 2;
  options.segments = 5;
  options.early_window = 2;
  options.lyapunov_method = measure::LyapunovMethod::kPropagator;
  const auto propagator = MeasureWith(*model, puzzles, options);
  options.lyapunov_method = measure::LyapunovMethod::kQr;
  const auto qr = MeasureWith(*model, puzzles, options);
  ASSERT_EQ(propagator.size(), puzzles.size());
  for (size_t b = 0; b < propagator.size(); ++b) {
    const measure::ExampleRecord& r = propagator[b];
    EXPECT_EQ(r.lyapunov_method, "propagator");
    ASSERT_EQ(r.lyapunov.size(), 2u);
    ASSERT_EQ(r.lyapunov_window.size(), 2u);
    EXPECT_EQ(r.lyapunov_window_segments, 2);
    EXPECT_GE(r.lyapunov_iterations, 1);
    // SPEC §3: the record says how it stopped, and a start-independent
    // estimate has no spread over starts (empty, not zeros).
    EXPECT_EQ(r.lyapunov_tolerance, options.propagator_tolerance);
    EXPECT_TRUE(r.lyapunov_converged);
    EXPECT_TRUE(r.lyapunov_sd.empty());
    EXPECT_EQ(r.model_family, "trm");
    EXPECT_GE(r.lyapunov[0], r.lyapunov[1]);                 // singular values come sorted
    EXPECT_GE(r.lyapunov[0], qr[b].lyapunov[0] - 2e-3);      // σ₁ bounds the QR first column
    EXPECT_TRUE(r.segments[0].lyapunov_increments.empty());  // increments are the QR method's
    EXPECT_EQ(r.prediction, qr[b].prediction);               // same trajectory
  }
}


// SPEC §3 one trajectory: a bfloat16 checkpoint with float32 tangents runs its
// primal on the native bfloat16 kernels, exactly as without tangents, while
// the tangents are carried in float32.
TEST_P(ModelTangents, Bfloat16PrimalWithTangentsIsTheNativeBfloat16Step) {
  torch::NoGradGuard no_grad;
  auto bf16 = testing::LoadFixtureModel(GetParam(), {"forward_dtype=bfloat16"});
  ASSERT_NE(bf16, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  const measure::SegmentMap map(*bf16, bf16->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x = MidTrajectoryState(map, torch::kFloat32).to(torch::kBFloat16).to(torch::kFloat32);
  const torch::Tensor native = map.Step(x.to(torch::kBFloat16).unsqueeze(0), AfterUpdate())[0].to(torch::kFloat32);
  torch::manual_seed(4);
  const torch::Tensor image = map.Step(torch::stack({x, torch::randn(x.sizes()), torch::randn(x.sizes())}), AfterUpdate());
  ASSERT_EQ(image.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(image[0], native)) << "max |with tangents - native| = " << testing::MaxAbsDiff(image[0], native);
  // The tangents are not bfloat16 numbers: they keep float32 precision.
  EXPECT_FALSE(torch::equal(image[1], image[1].to(torch::kBFloat16).to(torch::kFloat32)));
  EXPECT_TRUE(torch::isfinite(image.narrow(0, 1, 2)).all().item<bool>());
}

// SPEC §3 cotangents: with a bfloat16 checkpoint and float32 tangents the VJP
// is the transpose of the JVP to float32 accuracy — its cotangents are never
// rounded to bfloat16 (which would cost ~1e-2 relative here).
TEST_P(ModelTangents, VjpIsTheTransposeOfTheJvpForABfloat16Checkpoint) {
  torch::NoGradGuard no_grad;
  auto bf16 = testing::LoadFixtureModel(GetParam(), {"forward_dtype=bfloat16"});
  ASSERT_NE(bf16, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(GetParam());
  const measure::SegmentMap map(*bf16, bf16->InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x = MidTrajectoryState(map, torch::kFloat32).to(torch::kBFloat16).to(torch::kFloat32);
  torch::manual_seed(5);
  const torch::Tensor v = torch::randn(x.sizes()), u = torch::randn(x.sizes());
  const torch::Tensor jv = SegmentJvp(map, x, v).to(torch::kFloat64);
  const torch::Tensor jtu = map.Vjp(x, u.unsqueeze(0))[0];
  ASSERT_EQ(jtu.scalar_type(), torch::kFloat32);
  for (int64_t b = 0; b < x.size(0); ++b) {
    const double left = (u[b].to(torch::kFloat64) * jv[b]).sum().item<double>();
    const double right = (jtu[b].to(torch::kFloat64) * v[b].to(torch::kFloat64)).sum().item<double>();
    const double scale = (u[b].to(torch::kFloat64).abs() * jv[b].abs()).sum().item<double>();
    EXPECT_LE(std::abs(left - right), 1e-5 * scale) << "<u, J v> = " << left << " vs <J^T u, v> = " << right
                                                    << ", example " << b;
  }
}

}  // namespace

}  // namespace rrm
