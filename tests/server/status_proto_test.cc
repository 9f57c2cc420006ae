// The status codec: every field of the wire's Job, ModelInfo and Provenance
// is filled from the domain types, so a field added to the proto and
// forgotten here fails (the checks walk the descriptors).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/job_status.h"
#include "server/status_proto.h"

namespace rrm::server {
namespace {

// Names of the fields of `message` left at their default (unset / empty).
std::vector<std::string> UnsetFields(const google::protobuf::Message& message) {
  std::vector<std::string> unset;
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    const bool set = field->is_repeated() ? reflection->FieldSize(message, field) > 0
                                          : reflection->HasField(message, field);
    if (!set) unset.push_back(field->name());
  }
  return unset;
}

Provenance SomeProvenance() {
  return Provenance{"trm", "TinyRecursiveReasoningModel_ACTV1", "/models/step_1", "ab12", "/models/all_config.yaml",
                    "cd34", {"forward_dtype=float32"}, "float32", kRrmVersion};
}

TEST(StatusProto, JobToProtoFillsEveryFieldOfJob) {
  JobStatus status;
  status.job_id = "j-1";
  status.spec.model = "trm";
  status.spec.owner = "alice";
  status.spec.idempotency_key = "retry-1";
  status.spec.examples = 4;
  status.spec.restarts = 2;
  status.spec.batch_size = 3;
  status.spec.options.segments = 16;
  status.spec.provenance = SomeProvenance();
  status.state = JobState::kFailed;
  status.records_stored = 5;
  status.records_failed = 1;
  status.errors = {"INTERNAL: boom"};
  status.error = "deadline: ...";
  status.paused = "disk full: ...";
  status.submitted_unix = 1;
  status.started_unix = 2;
  status.finished_unix = 3;
  status.compute_seconds = 4.5;

  const v1::Job job = JobToProto(status);
  EXPECT_THAT(UnsetFields(job), ::testing::IsEmpty());
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.total_records(), 8);
  EXPECT_EQ(job.owner(), "alice");
  EXPECT_EQ(job.options().segments(), 16);
  EXPECT_EQ(job.provenance().checkpoint_sha256(), "ab12");
}

TEST(StatusProto, ProvenanceRoundTripsEveryField) {
  const v1::Provenance proto = ProvenanceToProto(SomeProvenance());
  EXPECT_THAT(UnsetFields(proto), ::testing::IsEmpty());
  EXPECT_EQ(ProvenanceToProto(ProvenanceFromProto(proto)).SerializeAsString(), proto.SerializeAsString());
}

TEST(StatusProto, ModelInfoToProtoFillsEveryField) {
  const ModelInfo info{"trm", "/m/step_1", "/m/all_config.yaml", {"a=b"}, {"cpu#0"}, "TRM", 81, 11, 1, 16, 16, 6,
                       "bfloat16", 1024, "ab12", "cd34"};
  EXPECT_THAT(UnsetFields(ModelInfoToProto(info)), ::testing::IsEmpty());
}

TEST(StatusProto, EveryStateRoundTripsAndUnspecifiedIsNone) {
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                         JobState::kCancelled}) {
    EXPECT_EQ(JobStateFromProto(JobStateToProto(state)), state) << JobStateName(state);
  }
  EXPECT_FALSE(JobStateFromProto(v1::JOB_STATE_UNSPECIFIED).has_value());
  EXPECT_FALSE(JobStateFromProto(static_cast<v1::JobState>(42)).has_value());
}

}  // namespace
}  // namespace rrm::server
