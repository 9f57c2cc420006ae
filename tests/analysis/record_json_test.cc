// The JSONL reader the offline analysis uses: it reads back exactly what
// RecordToJson writes (SPEC §4 proto3 JSON mapping) and says where input is bad.
#include "core/measure/record_json.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rrm::measure {
namespace {

using ::testing::HasSubstr;

// Field-by-field equality where NaN equals NaN (the record holds NaNs legitimately).
bool SameDouble(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool SameDoubles(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameDouble(a[i], b[i])) return false;
  }
  return true;
}

void ExpectSameRecord(const ExampleRecord& a, const ExampleRecord& b) {
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.example_index, b.example_index);
  EXPECT_EQ(a.puzzle_id, b.puzzle_id);
  EXPECT_EQ(a.restart, b.restart);
  EXPECT_EQ(a.restart_kind, b.restart_kind);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.givens, b.givens);
  EXPECT_EQ(a.updates_per_segment, b.updates_per_segment);
  ASSERT_EQ(a.segments.size(), b.segments.size());
  for (size_t t = 0; t < a.segments.size(); ++t) {
    const SegmentRecord& x = a.segments[t];
    const SegmentRecord& y = b.segments[t];
    EXPECT_EQ(x.index, y.index);
    EXPECT_EQ(x.correct, y.correct);
    EXPECT_TRUE(SameDouble(x.token_accuracy, y.token_accuracy));
    EXPECT_TRUE(SameDouble(x.halt_confidence, y.halt_confidence));
    EXPECT_TRUE(SameDouble(x.q_halt_logit, y.q_halt_logit));
    EXPECT_TRUE(SameDouble(x.q_continue_logit, y.q_continue_logit));
    EXPECT_EQ(x.flips, y.flips);
    EXPECT_TRUE(SameDouble(x.displacement_h, y.displacement_h));
    EXPECT_TRUE(SameDouble(x.displacement_l, y.displacement_l));
    EXPECT_TRUE(SameDouble(x.displacement_joint, y.displacement_joint));
    EXPECT_TRUE(SameDoubles(x.lyapunov_increments, y.lyapunov_increments));
  }
  EXPECT_TRUE(SameDoubles(a.lyapunov, b.lyapunov));
  EXPECT_TRUE(SameDoubles(a.lyapunov_sd, b.lyapunov_sd));
  EXPECT_EQ(a.lyapunov_method, b.lyapunov_method);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.first_correct_segment, b.first_correct_segment);
  EXPECT_EQ(a.prediction, b.prediction);
  EXPECT_EQ(a.device, b.device);
  EXPECT_TRUE(SameDouble(a.compute_seconds, b.compute_seconds));
  EXPECT_EQ(a.error, b.error);
}

ExampleRecord SampleRecord() {
  ExampleRecord r;
  r.job_id = "job-\"7\"\n\\ é";
  r.example_index = 12;
  r.puzzle_id = "row 3";
  r.restart = 2;
  r.restart_kind = "symmetry";
  r.seed = std::numeric_limits<uint64_t>::max();  // beyond 2^53: must travel as a string
  r.givens = 25;
  r.updates_per_segment = 6;
  for (int t = 1; t <= 3; ++t) {
    SegmentRecord s;
    s.index = t;
    s.correct = t == 3;
    s.token_accuracy = t == 1 ? std::nan("") : 0.1 * t;
    s.halt_confidence = 1.0 / 3.0;
    s.q_halt_logit = -std::numeric_limits<double>::infinity();
    s.q_continue_logit = std::numeric_limits<double>::infinity();
    s.flips = 4 - t;
    s.displacement_h = 1e-300;
    s.displacement_l = 5e-324;  // the smallest subnormal
    s.displacement_joint = 123456.789;
    s.lyapunov_increments = {0.1, -2.5e-7};
    r.segments.push_back(s);
  }
  r.lyapunov = {0.103, -1.5};
  r.lyapunov_sd = {0.0, 0.2};
  r.lyapunov_method = "qr";
  r.correct = true;
  r.first_correct_segment = 3;
  r.prediction = {2, 10, -1, 2147483647, -2147483647 - 1};
  r.device = "cpu";
  r.compute_seconds = 0.25;
  r.error = "";
  return r;
}

TEST(RecordJson, RoundTripsEveryField) {
  const ExampleRecord r = SampleRecord();
  const absl::StatusOr<ExampleRecord> back = RecordFromJson(RecordToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(r, *back);
  // And a default record (givens −1, kind "none") too.
  const absl::StatusOr<ExampleRecord> empty = RecordFromJson(RecordToJson(ExampleRecord{}));
  ASSERT_TRUE(empty.ok()) << empty.status();
  ExpectSameRecord(ExampleRecord{}, *empty);
}

TEST(RecordJson, AcceptsTheOtherProto3Spellings) {
  // lowerCamelCase names, integers as strings, integral numbers with exponents,
  // doubles as numeric strings, null for defaults, whitespace.
  const absl::StatusOr<ExampleRecord> r = RecordFromJson(
      R"( { "exampleIndex": "7", "restart": 1e0, "seed": 18446744073709551615, "givens": null,
            "segments": [ {"index": 1, "displacementJoint": "2.5", "haltConfidence": "NaN",
                           "lyapunovIncrements": ["-Infinity", 1]} ],
            "lyapunovSd": [], "correct": true } )");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->example_index, 7);
  EXPECT_EQ(r->restart, 1);
  EXPECT_EQ(r->seed, std::numeric_limits<uint64_t>::max());
  ASSERT_EQ(r->segments.size(), 1u);
  EXPECT_EQ(r->segments[0].displacement_joint, 2.5);
  EXPECT_TRUE(std::isnan(r->segments[0].halt_confidence));
  EXPECT_EQ(r->segments[0].lyapunov_increments[0], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(r->correct);
  // Absent fields take proto3 defaults, as protobuf's parser would give.
  EXPECT_EQ(r->givens, 0);
  EXPECT_EQ(r->restart_kind, "");
}

TEST(RecordJson, RejectsBadInputNamingTheProblem) {
  auto message = [](const std::string& line) {
    const absl::StatusOr<ExampleRecord> r = RecordFromJson(line);
    EXPECT_FALSE(r.ok()) << line;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << line;
    return std::string(r.status().message());
  };
  EXPECT_THAT(message(R"({"correct": tru})"), HasSubstr("invalid JSON at byte 12: unexpected character 't'"));
  EXPECT_THAT(message(R"({"restart": 1} x)"), HasSubstr("unexpected text after"));
  EXPECT_THAT(message(R"({"restart": 01})"), HasSubstr("invalid JSON"));
  EXPECT_THAT(message(R"([1, 2])"), HasSubstr("expected an object"));
  EXPECT_THAT(message(""), HasSubstr("unexpected end"));
  EXPECT_THAT(message(R"({"segments": [{"correct": "yes"}]})"),
              HasSubstr("field \"segments[0].correct\": expected true or false, found a string \"yes\""));
  EXPECT_THAT(message(R"({"restart": 1.5})"), HasSubstr("field \"restart\""));
  EXPECT_THAT(message(R"({"restart": 2147483648})"), HasSubstr("int32 in ["));
  EXPECT_THAT(message(R"({"seed": -1})"), HasSubstr("field \"seed\""));
  EXPECT_THAT(message(R"({"lyapunov": [0.1, "fast"]})"), HasSubstr("field \"lyapunov[1]\""));
  EXPECT_THAT(message(R"({"lyapunov": 0.1})"), HasSubstr("expected an array"));
  EXPECT_THAT(message(R"({"lyapunov": [1e999]})"), HasSubstr("within range"));
  EXPECT_THAT(message(R"({"job": "x"})"), HasSubstr("unknown field \"job\""));
  EXPECT_THAT(message(R"({"segments": [{"speed": 1}]})"), HasSubstr("unknown field \"segments[0].speed\""));
  EXPECT_THAT(message(R"({"restart": 1, "restart": 2})"), HasSubstr("appears twice"));
  EXPECT_THAT(message(R"({"job_id": "a\qb"})"), HasSubstr("bad escape"));
}

TEST(RecordJson, ReadsJsonlFilesAndNamesTheBadLine) {
  const std::string dir = ::testing::TempDir() + "/record_json_test";
  std::filesystem::create_directories(dir);
  const std::string good = dir + "/good.jsonl";
  {
    std::ofstream out(good);
    ExampleRecord r = SampleRecord();
    out << RecordToJson(r) << "\n\n";  // a blank line is skipped
    r.example_index = 13;
    out << RecordToJson(r) << "\r\n";
  }
  const absl::StatusOr<std::vector<ExampleRecord>> records = ReadRecordsJsonl(good);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].example_index, 13);

  const std::string bad = dir + "/bad.jsonl";
  {
    std::ofstream out(bad);
    out << RecordToJson(SampleRecord()) << "\n" << R"({"correct": 1})" << "\n";
  }
  const absl::StatusOr<std::vector<ExampleRecord>> failed = ReadRecordsJsonl(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr(bad + ":2: field \"correct\""));

  EXPECT_EQ(ReadRecordsJsonl(dir + "/missing.jsonl").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rrm::measure
