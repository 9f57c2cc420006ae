// The trajectory runner: records derived from the segment map as SPEC §2 says.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/measure/record_json.h"
#include "core/measure/trajectory.h"
#include "tests/model/fixtures.h"

namespace rrm {
namespace {

using ::testing::HasSubstr;
using measure::ExampleRecord;
using testing::LoadExpected;

std::vector<ExampleRecord> Measure(const model::RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                                   measure::MeasureOptions options, measure::TrajectoryDump* dump = nullptr,
                                   const measure::TeacherStates* teacher = nullptr) {
  std::vector<ExampleRecord> records;
  absl::Status status = measure::MeasurePuzzles(
      model, puzzles, options,
      [&](ExampleRecord r) {
        records.push_back(std::move(r));
        return absl::OkStatus();
      },
      dump, teacher);
  EXPECT_TRUE(status.ok()) << status;
  return records;
}

TEST(Trajectory, TeacherForcedRecordsMatchReferenceSegments) {
  const std::string variant = "trm_attn";
  auto model = testing::LoadFixtureModel(variant);
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(variant);
  const measure::TeacherStates teacher{LoadExpected(variant, "z_H"), LoadExpected(variant, "z_L")};
  const torch::Tensor preds = LoadExpected(variant, "preds", torch::kInt64);
  const torch::Tensor q_halt = LoadExpected(variant, "q_halt_logits", torch::kFloat64);
  measure::TrajectoryDump dump;
  const auto records = Measure(*model, puzzles, {}, &dump, &teacher);
  const int64_t T = teacher.z_H.size(0), S = teacher.z_H.size(2), D = teacher.z_H.size(3);
  ASSERT_EQ(records.size(), static_cast<size_t>(puzzles.size()));
  EXPECT_EQ(T, model->config().halt_max_steps);

  for (size_t b = 0; b < records.size(); ++b) {
    const ExampleRecord& r = records[b];
    EXPECT_EQ(r.example_index, static_cast<int32_t>(b));
    ASSERT_EQ(r.segments.size(), static_cast<size_t>(T));
    EXPECT_EQ(r.updates_per_segment, model->config().updates_per_segment());
    EXPECT_EQ(r.givens, puzzles.givens[b]);
    int32_t first_correct = 0;
    for (int64_t t = 1; t <= T; ++t) {
      const measure::SegmentRecord& s = r.segments[t - 1];
      EXPECT_EQ(s.index, t);
      const torch::Tensor pred_t = preds[t - 1][b];
      const torch::Tensor labels = puzzles.labels[b];
      const bool correct = pred_t.eq(labels).all().item<bool>();
      EXPECT_EQ(s.correct, correct) << "example " << b << " segment " << t;
      EXPECT_NEAR(s.token_accuracy, pred_t.eq(labels).to(torch::kFloat64).mean().item<double>(), 1e-12);
      EXPECT_NEAR(s.q_halt_logit, q_halt[t - 1][b].item<double>(), 1e-5);
      EXPECT_NEAR(s.halt_confidence, 1 / (1 + std::exp(-s.q_halt_logit)), 1e-12);
      if (t > 1) {
        // d_t = ‖x_t − x_{t−1}‖ / sqrt(dim), here against the reference's own states.
        const torch::Tensor dh = (teacher.z_H[t - 1][b] - teacher.z_H[t - 2][b]).to(torch::kFloat64);
        const torch::Tensor dl = (teacher.z_L[t - 1][b] - teacher.z_L[t - 2][b]).to(torch::kFloat64);
        const double nh = dh.square().sum().item<double>(), nl = dl.square().sum().item<double>();
        EXPECT_NEAR(s.displacement_h, std::sqrt(nh / (S * D)), 1e-5);
        EXPECT_NEAR(s.displacement_l, std::sqrt(nl / (S * D)), 1e-5);
        EXPECT_NEAR(s.displacement_joint, std::sqrt((nh + nl) / (2 * S * D)), 1e-5);
        EXPECT_EQ(s.flips, preds[t - 1][b].ne(preds[t - 2][b]).sum().item<int64_t>());
      }
      if (correct && first_correct == 0) first_correct = static_cast<int32_t>(t);
    }
    EXPECT_EQ(r.first_correct_segment, first_correct);
    EXPECT_EQ(r.correct, r.segments.back().correct);
    ASSERT_EQ(r.prediction.size(), 81u);
    for (int64_t i = 0; i < 81; ++i) EXPECT_EQ(r.prediction[i], preds[T - 1][b][i].item<int64_t>());
  }
  // The dump holds the one-step outputs, segment t at index t − 1.
  EXPECT_EQ(dump.z_H.sizes(), teacher.z_H.sizes());
  EXPECT_LE(testing::MaxAbsDiff(dump.z_H, teacher.z_H), 1e-5);
  EXPECT_EQ(dump.preds.sizes(), preds.sizes());
  EXPECT_EQ(dump.logits.size(3), 11);
  EXPECT_EQ(dump.correct.scalar_type(), torch::kBool);
}

TEST(Trajectory, BatchedAndOneAtATimeGiveTheSameRecords) {
  auto model = testing::LoadFixtureModel("hrm");
  ASSERT_NE(model, nullptr);
  const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("hrm");
  measure::MeasureOptions batched, single;
  batched.batch_size = 8;
  single.batch_size = 1;
  const auto a = Measure(*model, puzzles, batched), b = Measure(*model, puzzles, single);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prediction, b[i].prediction);
    EXPECT_EQ(a[i].first_correct_segment, b[i].first_correct_segment);
    for (size_t t = 0; t < a[i].segments.size(); ++t) {
      EXPECT_NEAR(a[i].segments[t].displacement_joint, b[i].segments[t].displacement_joint, 1e-6);
      EXPECT_NEAR(a[i].segments[t].q_halt_logit, b[i].segments[t].q_halt_logit, 1e-5);
      EXPECT_EQ(a[i].segments[t].flips, b[i].segments[t].flips);
    }
  }
}

// SPEC §3 one trajectory: with a bfloat16 checkpoint the primal — so
// correct_t, d_t, h_t, flips and the prediction — is the same bit for bit
// whatever is measured along it: k = 0, QR k = 4, draws = 2, the propagator.
TEST(Trajectory, Bfloat16TrajectoryIsTheSameWhateverIsMeasured) {
  for (const std::string fixture : {"trm_attn", "hrm", "trm_mlpt"}) {
    auto model = testing::LoadFixtureModel(fixture, {"forward_dtype=bfloat16"});
    ASSERT_NE(model, nullptr);
    ASSERT_EQ(model->dtype(), torch::kBFloat16);
    const puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles(fixture);
    measure::MeasureOptions plain;
    plain.segments = 5;
    plain.early_window = 2;
    measure::MeasureOptions qr = plain, draws = plain, propagator = plain;
    qr.lyapunov_k = 4;
    draws.lyapunov_k = 2;
    draws.lyapunov_draws = 2;
    propagator.lyapunov_k = 2;
    propagator.lyapunov_method = measure::LyapunovMethod::kPropagator;
    propagator.propagator_max_iterations = 2;  // only the trajectory is compared here
    const auto reference = Measure(*model, puzzles, plain);
    ASSERT_EQ(reference.size(), static_cast<size_t>(puzzles.size()));
    for (const auto& [name, options] : {std::pair<const char*, measure::MeasureOptions>{"qr k=4", qr},
                                        {"draws=2", draws}, {"propagator", propagator}}) {
      const auto measured = Measure(*model, puzzles, options);
      ASSERT_EQ(measured.size(), reference.size());
      for (size_t i = 0; i < reference.size(); ++i) {
        const ExampleRecord &a = reference[i], &b = measured[i];
        SCOPED_TRACE(fixture + " " + name + " example " + std::to_string(i));
        EXPECT_EQ(a.prediction, b.prediction);
        EXPECT_EQ(a.correct, b.correct);
        ASSERT_EQ(a.segments.size(), b.segments.size());
        for (size_t t = 0; t < a.segments.size(); ++t) {
          EXPECT_EQ(a.segments[t].displacement_h, b.segments[t].displacement_h) << "t = " << t + 1;
          EXPECT_EQ(a.segments[t].displacement_l, b.segments[t].displacement_l) << "t = " << t + 1;
          EXPECT_EQ(a.segments[t].displacement_joint, b.segments[t].displacement_joint) << "t = " << t + 1;
          EXPECT_EQ(a.segments[t].halt_confidence, b.segments[t].halt_confidence) << "t = " << t + 1;
          EXPECT_EQ(a.segments[t].correct, b.segments[t].correct) << "t = " << t + 1;
          EXPECT_EQ(a.segments[t].flips, b.segments[t].flips) << "t = " << t + 1;
        }
      }
    }
  }
}

TEST(Trajectory, SegmentsOptionOverridesHaltMaxSteps) {
  auto model = testing::LoadFixtureModel("trm_learned");
  ASSERT_NE(model, nullptr);
  measure::MeasureOptions options;
  options.segments = 3;
  const auto records = Measure(*model, testing::LoadFixturePuzzles("trm_learned"), options);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].segments.size(), 3u);
}

TEST(Trajectory, RejectsBadInputBeforeAnyWork) {
  auto model = testing::LoadFixtureModel("trm_attn");
  ASSERT_NE(model, nullptr);
  auto sink = [](ExampleRecord) { return absl::OkStatus(); };
  puzzle::PuzzleSet empty;
  EXPECT_THAT(std::string(measure::MeasurePuzzles(*model, empty, {}, sink).message()), HasSubstr("empty"));

  puzzle::PuzzleSet puzzles = testing::LoadFixturePuzzles("trm_attn");
  measure::MeasureOptions zero_batch;
  zero_batch.batch_size = 0;
  EXPECT_THAT(std::string(measure::MeasurePuzzles(*model, puzzles, zero_batch, sink).message()),
              HasSubstr("batch_size"));

  measure::TeacherStates wrong{torch::zeros({16, 1, 5, 64}), torch::zeros({16, 1, 5, 64})};
  EXPECT_THAT(std::string(measure::MeasurePuzzles(*model, puzzles, {}, sink, nullptr, &wrong).message()),
              HasSubstr("teacher states z_H: expected shape"));

  puzzles.labels = puzzles.labels.slice(1, 0, 80);
  EXPECT_THAT(std::string(measure::MeasurePuzzles(*model, puzzles, {}, sink).message()),
              HasSubstr("labels: expected the shape of inputs [2, 81], found [2, 80]"));

  // mlp_t fixes the sequence length in its weights (rope models accept any length).
  auto mlp_t = testing::LoadFixtureModel("trm_mlpt");
  ASSERT_NE(mlp_t, nullptr);
  puzzles.inputs = puzzles.inputs.slice(1, 0, 80);
  EXPECT_THAT(std::string(measure::MeasurePuzzles(*mlp_t, puzzles, {}, sink).message()),
              HasSubstr("expects 81 tokens, found 80"));
}

TEST(RecordJson, UsesProtoFieldNamesAndProto3Mapping) {
  ExampleRecord r;
  r.puzzle_id = "row \"7\"";
  r.seed = 18446744073709551615ull;
  measure::SegmentRecord s;
  s.index = 1;
  s.token_accuracy = std::nan("");
  s.displacement_joint = 0.1;
  r.segments.push_back(s);
  r.prediction = {1, 2};
  const std::string json = measure::RecordToJson(r);
  EXPECT_THAT(json, HasSubstr("\"seed\":\"18446744073709551615\""));  // 64-bit ints are strings
  EXPECT_THAT(json, HasSubstr("\"token_accuracy\":\"NaN\""));
  EXPECT_THAT(json, HasSubstr("\"displacement_joint\":0.1,"));
  EXPECT_THAT(json, HasSubstr("\"puzzle_id\":\"row \\\"7\\\"\""));
  EXPECT_THAT(json, HasSubstr("\"prediction\":[1,2]"));
  EXPECT_THAT(json, HasSubstr("\"first_correct_segment\":0"));
}

}  // namespace
}  // namespace rrm
