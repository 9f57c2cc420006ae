// rrm::Client against a real rrmd on loopback: the library calls, and
// StreamRecords resuming across a kill -9 and restart of the server.
#include <atomic>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/cpp/client.h"
#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";

TEST(Client, StreamRecordsResumesAfterTheServerIsKilledAndRestarted) {
  RrmdProcess rrmd(TempFolder("client_resume"), {kModelFlag});
  std::string failure;
  ASSERT_TRUE(rrmd.Start(&failure)) << failure;
  ClientOptions options;
  options.target = rrmd.address();
  options.retry_for = absl::Seconds(90);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();

  const int kExamples = 32;
  absl::StatusOr<v1::SubmitJobResponse> submitted = (*client)->Submit(SudokuJob("trm", kExamples, 6, 2));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->total_records(), kExamples);

  std::vector<v1::ExampleRecord> records;
  std::atomic<bool> kill_now{false};
  absl::Status streamed;
  int64_t received = 0;
  std::thread reader([&] {
    streamed = (*client)->StreamRecords(
        submitted->job_id(), 0,
        [&](const v1::ExampleRecord& r) {
          records.push_back(r);
          if (records.size() == 4) kill_now = true;
          return absl::OkStatus();
        },
        &received);
  });
  while (!kill_now) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  absl::StatusOr<v1::Job> mid = (*client)->GetJob(submitted->job_id());
  ASSERT_TRUE(mid.ok()) << mid.status();
  rrmd.Kill();  // kill -9 mid-stream
  ASSERT_LT(mid->records_stored(), kExamples) << "the job finished before the kill; make it longer";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the client is now retrying
  ASSERT_TRUE(rrmd.Start(&failure, /*keep_ports=*/true)) << failure;
  reader.join();

  ASSERT_TRUE(streamed.ok()) << streamed;
  EXPECT_EQ(received, kExamples);
  ASSERT_EQ(records.size(), static_cast<size_t>(kExamples));
  std::set<std::pair<int, int>> keys;
  for (const v1::ExampleRecord& r : records) keys.insert({r.example_index(), r.restart()});
  EXPECT_EQ(keys.size(), static_cast<size_t>(kExamples)) << "one record per example, none twice";

  absl::StatusOr<v1::Job> job = (*client)->WaitForJob(submitted->job_id());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);

  // Analyze over the library: the key numbers and the renderings agree.
  v1::AnalyzeRequest request;
  request.set_job_id(submitted->job_id());
  request.mutable_parameters()->set_bootstrap(50);
  // The fixture's random weights solve nothing, so the default tau (p95 of
  // d_T among successes) is absent: give one.
  request.mutable_parameters()->set_tau(0.05);
  absl::StatusOr<v1::AnalyzeResponse> report = (*client)->Analyze(request);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->complete());
  EXPECT_EQ(report->records(), kExamples);
  EXPECT_EQ(report->population(), kExamples);
  EXPECT_EQ(report->success_settled() + report->success_unsettled() + report->failure_settled() +
                report->failure_unsettled(),
            report->population())
      << report->table();
  EXPECT_EQ(report->aucs_size(), 3);
  EXPECT_THAT(report->table(), ::testing::HasSubstr("Settling and decomposition"));
  EXPECT_THAT(report->report_json(), ::testing::HasSubstr("\"settling\""));

  request.set_job_id("j-absent");
  EXPECT_TRUE(absl::IsNotFound((*client)->Analyze(request).status()));
  EXPECT_EQ(rrmd.Terminate(), 0) << rrmd.log();
}

}  // namespace
}  // namespace rrm::testing
