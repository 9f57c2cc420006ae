// rrmd end to end: the real server process with two CPU workers on loopback,
// real gRPC stubs as the client, a fixture checkpoint (tests/fixtures).
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;

const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";

std::string Submit(v1::Dynamics::Stub& stub, const v1::SubmitJobRequest& request) {
  v1::SubmitJobResponse response;
  auto context = Context();
  const grpc::Status status = stub.SubmitJob(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.job_id();
}

TEST(Rrmd, RunsTwoConcurrentJobsOnBothDevicesAndStreamsEveryRecord) {
  RrmdProcess rrmd(TempFolder("e2e"), {kModelFlag});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  auto stub = rrmd.Stub();

  v1::ListModelsResponse models;
  auto context = Context();
  ASSERT_TRUE(stub->ListModels(context.get(), {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "trm");
  EXPECT_EQ(models.models(0).seq_len(), 81);
  EXPECT_EQ(models.models(0).devices_size(), 2);

  v1::SubmitJobRequest first = SudokuJob("trm", 24, 4, 2);
  v1::SubmitJobRequest second = SudokuJob("trm", 16, 3, 2);
  second.mutable_options()->set_lyapunov_k(2);
  second.mutable_options()->set_seed(7);
  const std::string a = Submit(*stub, first);
  const std::string b = Submit(*stub, second);
  ASSERT_NE(a, b);

  std::vector<v1::ExampleRecord> records_a, records_b;
  grpc::Status status_a, status_b;
  std::thread stream_a([&] { status_a = StreamAll(*stub, a, 0, &records_a); });
  std::thread stream_b([&] { status_b = StreamAll(*stub, b, 0, &records_b); });
  stream_a.join();
  stream_b.join();
  ASSERT_TRUE(status_a.ok()) << status_a.error_message();
  ASSERT_TRUE(status_b.ok()) << status_b.error_message();
  ASSERT_EQ(records_a.size(), 24u);
  ASSERT_EQ(records_b.size(), 16u);

  std::set<std::string> devices;
  std::set<int> indices;
  for (const v1::ExampleRecord& r : records_a) {
    EXPECT_EQ(r.job_id(), a);
    EXPECT_EQ(r.segments_size(), 4);
    EXPECT_EQ(r.prediction_size(), 81);
    EXPECT_EQ(r.error(), "");
    EXPECT_EQ(r.restart_kind(), "none");
    EXPECT_EQ(r.givens(), 30);
    EXPECT_GT(r.updates_per_segment(), 0);
    EXPECT_GT(r.compute_seconds(), 0);
    EXPECT_EQ(r.puzzle_id(), std::to_string(r.example_index()));
    indices.insert(r.example_index());
    devices.insert(r.device());
  }
  EXPECT_EQ(indices.size(), 24u);
  for (const v1::ExampleRecord& r : records_b) {
    EXPECT_EQ(r.segments_size(), 3);
    EXPECT_EQ(r.lyapunov_size(), 2);
    EXPECT_EQ(r.segments(0).lyapunov_increments_size(), 2);
    EXPECT_EQ(r.seed(), 7u);
    devices.insert(r.device());
  }
  EXPECT_EQ(devices, (std::set<std::string>{"cpu#0", "cpu#1"}));

  v1::Job job = WaitForJob(*stub, a);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.records_stored(), 24);
  EXPECT_EQ(job.total_records(), 24);
  EXPECT_EQ(job.records_failed(), 0);
  EXPECT_GT(job.finished_unix(), 0);

  // Replaying from an index gives exactly the tail of the log.
  std::vector<v1::ExampleRecord> tail;
  ASSERT_TRUE(StreamAll(*stub, a, 20, &tail).ok());
  ASSERT_EQ(tail.size(), 4u);
  EXPECT_EQ(tail[0].example_index(), records_a[20].example_index());
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
}

TEST(Rrmd, ResumesAfterKillWithoutDuplicates) {
  const std::string data = TempFolder("crash");
  RrmdProcess rrmd(data, {kModelFlag});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  auto stub = rrmd.Stub();
  const int kExamples = 48;
  const std::string job_id = Submit(*stub, SudokuJob("trm", kExamples, 8, 2));

  // Read part of the stream, then kill -9 the server mid-job.
  std::vector<v1::ExampleRecord> before;
  StreamAll(*stub, job_id, 0, &before, 8);
  ASSERT_EQ(before.size(), 8u);
  v1::Job mid_job;
  {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    auto context = Context();
    ASSERT_TRUE(stub->GetJob(context.get(), request, &mid_job).ok());
  }
  ASSERT_LT(mid_job.records_stored(), kExamples) << "the job finished before the kill; make it longer";
  rrmd.Kill();

  ASSERT_TRUE(rrmd.Start(&failure, /*keep_ports=*/true)) << failure;
  stub = rrmd.Stub();
  std::vector<v1::ExampleRecord> after;
  const grpc::Status resumed = StreamAll(*stub, job_id, static_cast<int64_t>(before.size()), &after);
  ASSERT_TRUE(resumed.ok()) << resumed.error_message();
  v1::Job job = WaitForJob(*stub, job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.records_stored(), kExamples);

  // Exactly one record per example, none lost, none twice.
  std::vector<v1::ExampleRecord> all = before;
  all.insert(all.end(), after.begin(), after.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kExamples));
  std::set<std::pair<int, int>> keys;
  for (const auto& r : all) keys.insert({r.example_index(), r.restart()});
  EXPECT_EQ(keys.size(), static_cast<size_t>(kExamples));

  // The resumed stream continues the stored log seamlessly.
  std::vector<v1::ExampleRecord> full;
  ASSERT_TRUE(StreamAll(*stub, job_id, 0, &full).ok());
  ASSERT_EQ(full.size(), all.size());
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(full[i].example_index(), all[i].example_index()) << i;
    EXPECT_EQ(full[i].SerializeAsString(), all[i].SerializeAsString()) << i;
  }
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
}

TEST(Rrmd, ShutsDownGracefullyOnSigterm) {
  RrmdProcess rrmd(TempFolder("sigterm"), {kModelFlag});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  auto stub = rrmd.Stub();
  const std::string job_id = Submit(*stub, SudokuJob("trm", 20, 8, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
  EXPECT_THAT(rrmd.log(), HasSubstr("rrmd: stopped"));
}

}  // namespace
}  // namespace rrm::testing
