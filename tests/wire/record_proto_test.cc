// SPEC §4: the JSON form of a record is the proto3 JSON mapping of
// rrm.v1.ExampleRecord. Core writes JSON without protobuf (RecordToJson);
// protobuf's own printer on RecordToProto(record) must give the same object.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "core/measure/record_json.h"
#include "wire/record_proto.h"

namespace rrm::wire {
namespace {

measure::ExampleRecord SampleRecord() {
  measure::ExampleRecord r;
  r.job_id = "j-1";
  r.example_index = 7;
  r.puzzle_id = "row \"7\"\n";
  r.restart = 2;
  r.restart_kind = "init_noise";
  r.seed = 18446744073709551615ull;
  r.givens = 25;
  r.updates_per_segment = 21;
  for (int t = 1; t <= 2; ++t) {
    measure::SegmentRecord s;
    s.index = t;
    s.correct = t == 2;
    s.token_accuracy = t == 1 ? std::numeric_limits<double>::quiet_NaN() : 0.1;
    s.halt_confidence = 0.25;
    s.q_halt_logit = -1.0986122886681098;
    s.q_continue_logit = std::numeric_limits<double>::infinity();
    s.flips = 3;
    s.displacement_h = 1e-300;
    s.displacement_l = 123456.789;
    s.displacement_joint = 0;
    s.lyapunov_increments = {0.5, -std::numeric_limits<double>::infinity()};
    r.segments.push_back(s);
  }
  r.lyapunov = {0.1, -0.2};
  r.lyapunov_sd = {0, 0};
  r.lyapunov_method = "propagator";
  r.lyapunov_window = {0.3, std::numeric_limits<double>::quiet_NaN()};
  r.lyapunov_window_segments = 4;
  r.lyapunov_iterations = 9;
  r.correct = true;
  r.first_correct_segment = 2;
  r.prediction = {1, 2, 10};
  r.device = "cpu#1";
  r.compute_seconds = 0.03125;
  r.error = "";
  return r;
}

TEST(RecordProto, ProtoJsonEqualsCoreJson) {
  const measure::ExampleRecord record = SampleRecord();
  std::string proto_json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(RecordToProto(record), &proto_json, options).ok());
  const std::string core_json = measure::RecordToJson(record);
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/proto.json") << proto_json;
  std::ofstream(dir + "/core.json") << core_json;
  // Compare as parsed JSON objects (key order and number spelling aside).
  const std::string check = "/usr/bin/python3 -c \"import json,sys; a=json.load(open('" + dir +
                            "/proto.json')); b=json.load(open('" + dir +
                            "/core.json')); sys.exit(0 if a==b else (print(a, '\\n', b) or 1))\"";
  EXPECT_EQ(std::system(check.c_str()), 0) << proto_json << "\n" << core_json;
}

}  // namespace
}  // namespace rrm::wire
