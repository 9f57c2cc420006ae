// SPEC §5 restarts: symmetries inverted exactly on the prediction, every
// draw from the SplitMix64 stream of (seed, example, restart) that
// docs/draws.md writes down (checked against tests/reference/restart_draws.py),
// restart 0 always the puzzle as given. The symmetries themselves are tested
// in tests/puzzle/symmetry_test.cc.
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/common/splitmix64.h"
#include "core/measure/segment_map.h"
#include "core/measure/trajectory.h"
#include "core/puzzle/symmetry.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

using ::testing::HasSubstr;

const model::RecurrentModel& Model() {
  static auto model = testing::LoadFixtureModel("trm_mlpt");
  return *model;
}

std::vector<measure::ExampleRecord> Measure(const puzzle::PuzzleSet& puzzles, measure::MeasureOptions options,
                                            absl::Status* status = nullptr, measure::TrajectoryDump* dump = nullptr) {
  std::vector<measure::ExampleRecord> records;
  absl::Status result = measure::MeasurePuzzles(Model(), puzzles, options, [&](measure::ExampleRecord r) {
    records.push_back(std::move(r));
    return absl::OkStatus();
  }, dump);
  if (status != nullptr) {
    *status = result;
  } else {
    EXPECT_TRUE(result.ok()) << result;
  }
  return records;
}

// Runs tests/reference/restart_draws.py with `arguments` and returns its
// lines as name -> the words after the name.
std::map<std::string, std::vector<std::string>> PythonReference(const std::string& arguments) {
  const std::string command = "/usr/bin/python3 " + std::string(RRM_SOURCE_DIR) +
                              "/tests/reference/restart_draws.py " + arguments;
  std::map<std::string, std::vector<std::string>> lines;
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return lines;
  std::string text;
  char buffer[1 << 16];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) text.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string name, word;
    words >> name;
    while (words >> word) lines[name].push_back(word);
  }
  return lines;
}

std::vector<int64_t> Integers(const std::vector<std::string>& words) {
  std::vector<int64_t> out;
  for (const std::string& w : words) out.push_back(std::stoll(w));
  return out;
}

std::vector<double> Doubles(const std::vector<std::string>& words) {
  std::vector<double> out;
  for (const std::string& w : words) out.push_back(std::strtod(w.c_str(), nullptr));
  return out;
}

std::string Triple(uint64_t seed, int64_t example, int32_t restart) {
  return std::to_string(seed) + " " + std::to_string(example) + " " + std::to_string(restart);
}

TEST(RestartDraws, MatchThePythonReference) {
  struct Case { uint64_t seed; int64_t example; int32_t restart; };
  const Case cases[] = {{42, 0, 1}, {0, 0, 1}, {12345, 17, 2}, {18446744073709551615ull, 1000000, 7}};
  for (const Case& c : cases) {
    const std::string triple = Triple(c.seed, c.example, c.restart);
    for (const auto& [kind, name, seq_len] :
         {std::tuple{puzzle::PuzzleKind::kSudoku, "sudoku", int64_t{81}},
          std::tuple{puzzle::PuzzleKind::kMaze, "maze", int64_t{900}},
          std::tuple{puzzle::PuzzleKind::kMaze, "maze", int64_t{49}}}) {
      auto expected = PythonReference(triple + " symmetry " + name + " " + std::to_string(seq_len));
      ASSERT_EQ(expected["index"].size(), 1u) << triple;
      SplitMix64 stream = SplitMix64::ForRestart(c.seed, c.example, c.restart);
      auto drawn = puzzle::RestartSymmetry(kind, seq_len, stream);
      ASSERT_TRUE(drawn.ok()) << drawn.status();
      EXPECT_EQ(drawn->source, Integers(expected["source"])) << triple << " " << name;
      EXPECT_EQ(drawn->token_map, Integers(expected["token_map"])) << triple << " " << name;
      // The number decodes to the same map on its own (docs/draws.md numbering).
      auto numbered = puzzle::SymmetryAt(kind, seq_len, std::stoull(expected["index"][0]));
      ASSERT_TRUE(numbered.ok()) << numbered.status();
      EXPECT_EQ(numbered->source, drawn->source) << triple << " " << name;
      EXPECT_EQ(numbered->token_map, drawn->token_map) << triple << " " << name;
    }
    const std::vector<double> normals = Doubles(PythonReference(triple + " noise 11")["normals"]);
    ASSERT_EQ(normals.size(), 11u) << triple;
    std::vector<double> ours(11);
    SplitMix64::ForRestart(c.seed, c.example, c.restart).FillNormals(ours.data(), ours.size());
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], normals[i], 1e-12) << triple << " #" << i;
  }
}

measure::MeasureOptions Restart(const std::string& kind, int32_t restart, double sigma = 0) {
  measure::MeasureOptions options;
  options.segments = 4;
  options.restart_kind = *measure::ParseRestartKind("restart_kind", kind);
  options.restart = restart;
  options.restart_sigma = sigma;
  options.lyapunov_seed = 42;
  return options;
}

TEST(Restarts, SymmetryRestartMapsPredictionBackToThePuzzleAsGiven) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  const torch::Tensor inputs_before = puzzles.inputs.clone();
  const auto given = Measure(puzzles, Restart("symmetry", 0));
  const auto moved = Measure(puzzles, Restart("symmetry", 1));
  EXPECT_TRUE(torch::equal(puzzles.inputs, inputs_before)) << "the caller's puzzles must not change";
  ASSERT_EQ(moved.size(), 2u);
  for (size_t b = 0; b < moved.size(); ++b) {
    EXPECT_EQ(given[b].restart, 0);
    EXPECT_EQ(given[b].restart_kind, "none");
    EXPECT_EQ(moved[b].restart, 1);
    EXPECT_EQ(moved[b].restart_kind, "symmetry");
    // The mapped-back prediction scores against the original labels exactly
    // as the restart's own per-segment correctness says.
    const torch::Tensor prediction = torch::tensor(std::vector<int64_t>(moved[b].prediction.begin(),
                                                                        moved[b].prediction.end()));
    EXPECT_EQ(moved[b].correct, torch::equal(prediction, puzzles.labels[b]));
    const double accuracy = prediction.eq(puzzles.labels[b]).to(torch::kFloat64).mean().item<double>();
    EXPECT_NEAR(moved[b].segments.back().token_accuracy, accuracy, 1e-12);
    // Givens (blank cells) in the given frame are where the inputs are given.
    EXPECT_EQ(moved[b].givens, given[b].givens);
  }
}

TEST(Restarts, NoiseRestartsAreSeededPerExampleAndRestart) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  for (const std::string kind : {"init_noise", "step_noise"}) {
    const auto plain = Measure(puzzles, Restart(kind, 0, 0.5));
    const auto first = Measure(puzzles, Restart(kind, 1, 0.5));
    const auto again = Measure(puzzles, Restart(kind, 1, 0.5));
    const auto second = Measure(puzzles, Restart(kind, 2, 0.5));
    ASSERT_EQ(first.size(), 2u);
    const int64_t last = kind == "init_noise" ? 0 : 1;  // step noise first acts on segment 2
    EXPECT_NE(first[0].segments[last].displacement_joint, plain[0].segments[last].displacement_joint) << kind;
    EXPECT_EQ(first[0].segments[3].displacement_joint, again[0].segments[3].displacement_joint) << kind;
    EXPECT_NE(first[0].segments[3].displacement_joint, second[0].segments[3].displacement_joint) << kind;
    EXPECT_NE(first[0].segments[3].displacement_joint, first[1].segments[3].displacement_joint) << kind;
  }
}

// The dumped joint states [T, B, N] (z_H then z_L, as the flat layout).
torch::Tensor JointStates(const measure::TrajectoryDump& dump) {
  return torch::cat({dump.z_H.flatten(2), dump.z_L.flatten(2)}, 2);
}

TEST(RestartDraws, NoiseRestartsAddSigmaTimesThePythonReferenceNormals) {
  // docs/draws.md: init_noise adds σ·ε to x_0; step_noise adds σ·ε_1 to x_1,
  // then σ·ε_2 to x_2, ε_1 and ε_2 being the stream's first 2N normals.
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  torch::NoGradGuard no_grad;
  const measure::SegmentMap map(Model(), Model().InputEmbeddings(puzzles.inputs, puzzles.puzzle_identifiers));
  const torch::Tensor x0 = map.InitialPrimal();  // [B, N]
  const int64_t B = x0.size(0), N = x0.size(1), first = 5;
  const double sigma = 0.25;
  // Φ on a copy: Segment updates the state it is given in place.
  auto step = [&](const torch::Tensor& x) { return map.Step(x.unsqueeze(0).clone(), measure::AfterUpdate())[0]; };
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<double> normals =
        Doubles(PythonReference(Triple(42, first + b, 3) + " noise " + std::to_string(2 * N))["normals"]);
    ASSERT_EQ(static_cast<int64_t>(normals.size()), 2 * N);
    rows.push_back(torch::tensor(normals, torch::kFloat64));
  }
  const torch::Tensor noise = (sigma * torch::stack(rows)).to(x0.scalar_type());  // [B, 2N]
  const torch::Tensor noise_1 = noise.narrow(1, 0, N), noise_2 = noise.narrow(1, N, N);
  for (const std::string kind : {"init_noise", "step_noise"}) {
    measure::MeasureOptions options = Restart(kind, 3, sigma);
    options.segments = 3;
    options.first_example_index = first;
    measure::TrajectoryDump dump;
    const auto records = Measure(puzzles, options, nullptr, &dump);
    ASSERT_EQ(records.size(), static_cast<size_t>(B));
    // x_t before segment t + 1 runs (noise included) and after it.
    const bool init = kind == "init_noise";
    std::vector<torch::Tensor> before{init ? x0 + noise_1 : x0}, after;
    for (int64_t t = 0; t < 3; ++t) {
      after.push_back(step(before[t]));
      const torch::Tensor added = init || t == 2 ? torch::zeros_like(noise_1) : t == 0 ? noise_1 : noise_2;
      before.push_back(after[t] + added);
    }
    // The last segment's state is the whole chain of draws. (The dump of an
    // earlier segment is not checked: on the CPU it aliases the carry that the
    // next ε is added to in place.)
    EXPECT_LE(testing::MaxAbsDiff(JointStates(dump)[2], after[2]), 1e-5) << kind;
    if (init) EXPECT_LE(testing::MaxAbsDiff(JointStates(dump)[0], after[0]), 1e-5) << kind;
    // d_t = ‖x_t − x_{t−1}‖ / sqrt(N) from the noisy x_{t−1}, every segment.
    for (int64_t t = 0; t < 3; ++t) {
      const torch::Tensor d = (after[t].to(torch::kFloat64) - before[t].to(torch::kFloat64)).norm(2, 1) /
                              std::sqrt(static_cast<double>(N));
      for (int64_t b = 0; b < B; ++b) {
        EXPECT_NEAR(records[b].segments[t].displacement_joint, d[b].item<double>(), 1e-6)
            << kind << " example " << b << " segment " << t + 1;
      }
    }
  }
}

// Row `row` moved by a symmetry: position i takes token_map[row[source[i]]]
// (tokens outside the map unchanged), written out here independently of
// puzzle::Symmetry.
std::vector<int64_t> MoveRow(const std::vector<int64_t>& source, const std::vector<int64_t>& token_map,
                             const std::vector<int64_t>& row) {
  std::vector<int64_t> out;
  for (int64_t s : source) {
    const int64_t token = row[s];
    out.push_back(token >= 0 && token < static_cast<int64_t>(token_map.size()) ? token_map[token] : token);
  }
  return out;
}

std::vector<int64_t> Row(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(RestartDraws, SymmetryRestartRunsThePythonReferenceMap) {
  // Restart 2 of examples 5, 6 runs exactly the puzzles the reference's map
  // makes, and its prediction is that run's prediction mapped back.
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  const int64_t B = puzzles.size(), first = 5;
  puzzle::PuzzleSet moved = puzzles;
  moved.inputs = puzzles.inputs.clone();
  moved.labels = puzzles.labels.clone();
  std::vector<std::vector<int64_t>> sources, token_maps;
  for (int64_t b = 0; b < B; ++b) {
    auto reference = PythonReference(Triple(42, first + b, 2) + " symmetry sudoku 81");
    sources.push_back(Integers(reference["source"]));
    token_maps.push_back(Integers(reference["token_map"]));
    ASSERT_EQ(sources[b].size(), 81u);
    moved.inputs[b] = torch::tensor(MoveRow(sources[b], token_maps[b], Row(puzzles.inputs[b])));
    moved.labels[b] = torch::tensor(MoveRow(sources[b], token_maps[b], Row(puzzles.labels[b])));
  }
  measure::MeasureOptions options = Restart("symmetry", 2);
  options.first_example_index = first;
  measure::TrajectoryDump restart_dump, moved_dump;
  const auto restart = Measure(puzzles, options, nullptr, &restart_dump);
  options.restart = 0;
  const auto given_moved = Measure(moved, options, nullptr, &moved_dump);
  EXPECT_EQ(testing::MaxAbsDiff(JointStates(restart_dump), JointStates(moved_dump)), 0.0);
  ASSERT_EQ(restart.size(), static_cast<size_t>(B));
  ASSERT_EQ(given_moved.size(), static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int64_t> back(restart[b].prediction.begin(), restart[b].prediction.end());
    const std::vector<int64_t> in_moved_frame(given_moved[b].prediction.begin(), given_moved[b].prediction.end());
    EXPECT_EQ(MoveRow(sources[b], token_maps[b], back), in_moved_frame) << "example " << first + b;
  }
}

TEST(Restarts, BadRestartOptionsNameTheField) {
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_mlpt");
  absl::Status status;
  EXPECT_THAT(std::string(measure::ParseRestartKind("restart_kind", "rotate").status().message()),
              HasSubstr("restart_kind: expected none, symmetry, init_noise or step_noise, found 'rotate'"));
  EXPECT_THAT(std::string(measure::ParseLyapunovMethod("lyapunov_method", "svd").status().message()),
              HasSubstr("lyapunov_method: expected qr or propagator, found 'svd'"));
  Measure(puzzles, Restart("init_noise", 1, 0), &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("restart_sigma: expected > 0"));
  Measure(puzzles, Restart("none", 2), &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("needs a restart_kind other than none"));
}

}  // namespace
}  // namespace rrm
