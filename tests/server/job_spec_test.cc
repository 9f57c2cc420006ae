// JobSpec (issue #18): a SubmitJobRequest parsed once into resolved, typed
// options and puzzles, and stored as resolved, so that a job resumed after an
// upgrade is measured with the values it was accepted with. The fixture TRM is
// loaded for real (a ModelRegistry with one CPU worker).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/job_spec.h"
#include "tests/server/rrmd_process.h"

namespace rrm::server {
namespace {

using ::testing::HasSubstr;

class JobSpecTest : public ::testing::Test {
 protected:
  JobSpecTest()
      : registry_(*ParseDevices("cpu"), nullptr), parser_(&registry_, PathPolicy("--data_root", ""), SubmitLimits{}) {
    model_ = registry_.Load("trm", rrm::testing::kFixtures + "/trm_mlpt/step_0", "", {}, {});
    EXPECT_TRUE(model_.ok()) << model_.status();
  }

  absl::StatusOr<JobSpec> Parse(const v1::SubmitJobRequest& request) const { return parser_.Parse(request, caller_); }

  ModelRegistry registry_;
  JobSpecParser parser_;
  absl::StatusOr<ModelInfo> model_;
  Caller caller_ = *Authenticator().Check(std::nullopt);
};

TEST_F(JobSpecTest, ResolvesEveryDefaultAtSubmit) {
  v1::SubmitJobRequest request = rrm::testing::SudokuJob("trm", 3, 0, 0);  // segments 0, batch 0
  request.mutable_options()->set_lyapunov_k(2);
  request.set_idempotency_key("k-1");
  absl::StatusOr<JobSpec> spec = Parse(request);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->options.segments, model_->halt_max_steps);  // the checkpoint's, fixed now
  EXPECT_GT(spec->options.segments, 0);
  EXPECT_EQ(spec->options.lyapunov_draws, 1);
  EXPECT_EQ(spec->options.lyapunov_method, measure::LyapunovMethod::kQr);
  EXPECT_EQ(spec->options.restart_kind, measure::RestartKind::kNone);
  EXPECT_EQ(spec->batch_size, SubmitLimits{}.default_batch_size);
  EXPECT_EQ(spec->restarts, 1);
  EXPECT_EQ(spec->examples, 3);
  EXPECT_EQ(spec->owner, caller_.name());
  EXPECT_EQ(spec->idempotency_key, "k-1");
  // GetJob shows the options as resolved.
  const v1::JobOptions shown = JobOptionsOf(*spec);
  EXPECT_EQ(shown.segments(), model_->halt_max_steps);
  EXPECT_EQ(shown.batch_size(), SubmitLimits{}.default_batch_size);
  EXPECT_EQ(shown.restarts().kind(), "none");
}

TEST_F(JobSpecTest, StoredSpecReadsBackAsAccepted) {
  v1::SubmitJobRequest request = rrm::testing::SudokuJob("trm", 4, 3, 2);
  request.mutable_options()->set_lyapunov_k(3);
  request.mutable_options()->set_seed(11);
  request.mutable_options()->set_tangent_dtype("float64");
  request.mutable_options()->mutable_restarts()->set_kind("symmetry");
  request.mutable_options()->mutable_restarts()->set_count(2);
  request.mutable_options()->set_deadline_seconds(600);
  (*request.mutable_options()->mutable_labels())["study"] = "s1";
  request.mutable_puzzles()->set_first_example_index(10);
  absl::StatusOr<JobSpec> spec = Parse(request);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->provenance.has_value()) << "JobManager fills it in at submit";
  spec->provenance = ProvenanceOf(*model_);

  StoredJob stored = SpecToStored(*spec);
  EXPECT_FALSE(stored.has_request()) << "the resolved spec is stored, not the request";
  absl::StatusOr<JobSpec> back = SpecFromStored(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(JobOptionsOf(*back).SerializeAsString(), JobOptionsOf(*spec).SerializeAsString());
  EXPECT_EQ(back->options.first_example_index, 10);
  EXPECT_EQ(back->options.tangent_dtype, torch::kFloat64);
  EXPECT_EQ(back->options.propagator_tolerance, spec->options.propagator_tolerance);
  EXPECT_EQ(back->options.propagator_max_iterations, spec->options.propagator_max_iterations);
  EXPECT_EQ(back->options.reorthonormalize, spec->options.reorthonormalize);
  EXPECT_EQ(back->restarts, 2);
  EXPECT_EQ(back->deadline_seconds, 600);
  EXPECT_EQ(back->labels.at("study"), "s1");
  ASSERT_TRUE(back->provenance.has_value());
  EXPECT_EQ(back->provenance->checkpoint_sha256, model_->checkpoint_sha256);
  EXPECT_EQ(back->provenance->arch, model_->arch);
  EXPECT_EQ(back->provenance->rrm_version, kRrmVersion);
  EXPECT_TRUE(torch::equal(back->puzzles->inputs, spec->puzzles->inputs));
}

TEST_F(JobSpecTest, AResumedJobKeepsItsStoredValuesNotTodaysDefaults) {
  absl::StatusOr<JobSpec> spec = Parse(rrm::testing::SudokuJob("trm", 2, 2, 2));
  ASSERT_TRUE(spec.ok()) << spec.status();
  StoredJob stored = SpecToStored(*spec);
  // As an older rrmd with other defaults would have resolved them.
  stored.mutable_resolved()->set_propagator_tolerance(1e-4);
  stored.mutable_resolved()->set_early_window(6);
  absl::StatusOr<JobSpec> back = SpecFromStored(stored);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->options.propagator_tolerance, 1e-4);
  EXPECT_EQ(back->options.early_window, 6);
}

// Before propagator_block a propagator job ran blocks of k + p, p = -1
// meaning k (the only value a client could get); resumed after the upgrade
// it keeps that block of 2k rather than today's default of k.
TEST_F(JobSpecTest, AJobStoredBeforeThePropagatorBlockKeepsItsBlock) {
  v1::SubmitJobRequest request = rrm::testing::SudokuJob("trm", 2, 2, 2);
  request.mutable_options()->set_lyapunov_k(4);
  request.mutable_options()->set_lyapunov_method("propagator");
  absl::StatusOr<JobSpec> spec = Parse(request);
  ASSERT_TRUE(spec.ok()) << spec.status();
  StoredJob stored = SpecToStored(*spec);
  EXPECT_EQ(stored.resolved().propagator_block(), 4) << "resolved at submit: k";
  stored.mutable_resolved()->clear_propagator_block();
  stored.mutable_resolved()->set_propagator_oversampling_before_block(-1);
  absl::StatusOr<JobSpec> back = SpecFromStored(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->options.propagator_block, 8);
  EXPECT_TRUE(measure::ValidateOptions(back->options).ok());
}

TEST_F(JobSpecTest, ReadsAStoreWrittenBeforeTheResolvedSpec) {
  StoredJob legacy;
  legacy.set_job_id("j-old");
  legacy.set_owner("alice");
  legacy.set_restarts(1);
  legacy.set_batch_size(4);
  v1::SubmitJobRequest& request = *legacy.mutable_request();
  request.set_model("trm");
  request.set_idempotency_key("old-key");
  request.mutable_options()->set_segments(3);
  request.mutable_options()->set_seed(5);
  request.mutable_puzzles()->set_first_example_index(7);
  absl::StatusOr<JobSpec> spec = Parse(rrm::testing::SudokuJob("trm", 2, 3, 4));
  ASSERT_TRUE(spec.ok());
  *legacy.mutable_puzzles() = SpecToStored(*spec).puzzles();

  absl::StatusOr<JobSpec> back = SpecFromStored(legacy);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->model, "trm");
  EXPECT_EQ(back->owner, "alice");
  EXPECT_EQ(back->idempotency_key, "old-key");
  EXPECT_EQ(back->options.segments, 3);
  EXPECT_EQ(back->options.lyapunov_seed, 5u);
  EXPECT_EQ(back->options.first_example_index, 7);
  EXPECT_EQ(back->examples, 2);
  EXPECT_EQ(back->batch_size, 4);
}

TEST_F(JobSpecTest, RefusesWhatTheCoreWouldRefuseNamingTheField) {
  v1::SubmitJobRequest request = rrm::testing::SudokuJob("trm", 2, 2, 2);
  request.mutable_options()->set_lyapunov_k(2);
  request.mutable_options()->set_lyapunov_method("propagator");
  request.mutable_options()->set_lyapunov_draws(2);
  absl::StatusOr<JobSpec> spec = Parse(request);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("options.lyapunov_draws"));

  request = rrm::testing::SudokuJob("nope", 2, 2, 2);
  spec = Parse(request);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(spec.status().message(), HasSubstr("model: expected a loaded model (trm), found 'nope'"));
}

}  // namespace
}  // namespace rrm::server
