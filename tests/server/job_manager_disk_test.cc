// rrmd's job life cycle on a disk that fills up or fails (issue #18): the real
// JobManager, JobStore (on a real folder), Scheduler, ModelRegistry with the
// fixture TRM and two CPU DeviceWorkers, in this process; only the disk's
// failures are injected, through the store's I/O seam (tests/server/fault_env.h).
#include <cerrno>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/job_manager.h"
#include "tests/server/fault_env.h"
#include "tests/server/rrmd_process.h"

namespace rrm::server {
namespace {

using ::testing::HasSubstr;

// One rrmd without its gRPC frontend.
class Server {
 public:
  explicit Server(const std::string& data_dir)
      : data_dir_(data_dir),
        store_(*JobStore::Open(data_dir, &env_)),
        registry_(slots(), nullptr),
        parser_(&registry_, PathPolicy("--data_root", ""), SubmitLimits{}),
        jobs_(store_.get(), &registry_, &scheduler_, nullptr, PathPolicy("--model_root", ""), JobLimits{}) {
    jobs_.SetWorkers(slots());
    EXPECT_TRUE(jobs_.PreloadModel("trm", rrm::testing::kFixtures + "/trm_mlpt/step_0").ok());
    EXPECT_TRUE(jobs_.Recover().ok());
    for (const DeviceSlot& slot : slots()) {
      workers_.push_back(std::make_unique<DeviceWorker>(slot, &jobs_, nullptr));
      workers_.back()->Start();
    }
  }
  ~Server() {
    jobs_.Shutdown();
    for (auto& worker : workers_) worker->Stop();
  }

  FaultEnv& env() { return env_; }
  JobManager& jobs() { return jobs_; }
  const Caller& caller() const { return caller_; }

  std::string Submit(const v1::SubmitJobRequest& request) {
    absl::StatusOr<JobSpec> spec = parser_.Parse(request, caller_);
    EXPECT_TRUE(spec.ok()) << spec.status();
    if (!spec.ok()) return "";
    absl::StatusOr<SubmitResult> submitted = jobs_.Submit(*std::move(spec));
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->job_id : "";
  }

  // Polls GetJob until `done` holds (every 20 ms, at most 5 minutes: a bound
  // for a hung server, not a timing assertion).
  JobStatus WaitFor(const std::string& job_id, const std::function<bool(const JobStatus&)>& done) {
    JobStatus job;
    for (int i = 0; i < 15000; ++i) {
      job = *jobs_.Get(job_id, caller_);
      if (done(job)) return job;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "job " << job_id << " never reached the awaited state: "
                  << JobStateName(job.state) << " " << job.error;
    return job;
  }

 private:
  static std::vector<DeviceSlot> slots() { return *ParseDevices("cpu,cpu"); }

  const std::string data_dir_;
  FaultEnv env_;
  std::unique_ptr<JobStore> store_;
  ModelRegistry registry_;
  Scheduler scheduler_;
  JobSpecParser parser_;
  JobManager jobs_;
  Caller caller_ = *Authenticator().Check(std::nullopt);  // no tokens: the admin ""
  std::vector<std::unique_ptr<DeviceWorker>> workers_;
};

bool Finished(const JobStatus& job) { return IsFinished(job.state); }

// What a restarted server finds on disk for the job: its end state (nullopt
// when unfinished) and its records' (example, restart) keys, checked to be
// stored once each.
struct OnDisk {
  std::optional<JobState> state;
  std::set<std::pair<int, int>> keys;
};
OnDisk Reopen(const std::string& data_dir, const std::string& job_id) {
  OnDisk result;
  auto store = JobStore::Open(data_dir);
  EXPECT_TRUE(store.ok()) << store.status();
  for (const JobStore::RecoveredJob& job : (*store)->recovered()) {
    if (job.spec.job_id() != job_id) continue;
    if (job.end.has_value()) result.state = job.end->state;
  }
  for (const v1::ExampleRecord& r : *(*store)->Read(job_id, 0, 100000)) {
    EXPECT_TRUE(result.keys.insert({r.example_index(), r.restart()}).second) << "stored twice: " << r.example_index();
  }
  return result;
}

TEST(JobManagerDisk, FullDiskPausesTheJobAndItResumesWhenSpaceReturnsWithEveryRecordOnce) {
  const std::string dir = rrm::testing::TempFolder("disk_full");
  std::string id;
  {
    Server server(dir);
    server.env().FailAppendsAfter(1, ENOSPC);  // the first item's records land, then the disk is full
    id = server.Submit(rrm::testing::SudokuJob("trm", 8, 2, 2));
    const JobStatus paused = server.WaitFor(id, [](const JobStatus& j) { return !j.paused.empty(); });
    EXPECT_EQ(paused.state, JobState::kRunning);
    EXPECT_THAT(paused.paused, HasSubstr("disk full: cannot write"));
    EXPECT_THAT(paused.paused, HasSubstr("No space left on device"));
    EXPECT_EQ(paused.records_stored, 2);

    server.env().FailAppendsAfter(0, 0);  // space returns
    const JobStatus done = server.WaitFor(id, Finished);
    EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
    EXPECT_EQ(done.records_stored, 8);
    EXPECT_EQ(done.records_failed, 0);
    EXPECT_EQ(done.paused, "");
  }
  const OnDisk on_disk = Reopen(dir, id);  // as a restarted server finds it
  EXPECT_EQ(on_disk.state, JobState::kSucceeded);
  EXPECT_EQ(on_disk.keys.size(), 8u);
}

TEST(JobManagerDisk, FailingDiskFailsTheJobNamingTheFileAndKeepsWhatWasStored) {
  const std::string dir = rrm::testing::TempFolder("disk_eio");
  std::string id;
  {
    Server server(dir);
    server.env().FailAppendsAfter(1, EIO);
    id = server.Submit(rrm::testing::SudokuJob("trm", 8, 2, 2));
    const JobStatus done = server.WaitFor(id, Finished);
    EXPECT_EQ(done.state, JobState::kFailed);
    EXPECT_THAT(done.error, HasSubstr("storing records: cannot write"));
    EXPECT_THAT(done.error, HasSubstr("records.log: Input/output error"));
    EXPECT_EQ(done.records_stored, 2);
  }
  const OnDisk on_disk = Reopen(dir, id);
  EXPECT_EQ(on_disk.state, JobState::kFailed);
  EXPECT_EQ(on_disk.keys.size(), 2u);
}

TEST(JobManagerDisk, CancelWhilePausedEndsTheJobKeepsItsStoredRecordsAndFreesTheWorkers) {
  const std::string dir = rrm::testing::TempFolder("disk_full_cancel");
  std::string id;
  {
    Server server(dir);
    server.env().FailAppendsAfter(1, ENOSPC);
    id = server.Submit(rrm::testing::SudokuJob("trm", 8, 2, 2));
    server.WaitFor(id, [](const JobStatus& j) { return !j.paused.empty(); });
    absl::StatusOr<JobStatus> cancelled = server.jobs().Cancel(id, server.caller());
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    EXPECT_EQ(cancelled->state, JobState::kCancelled);
    EXPECT_EQ(cancelled->paused, "");
    EXPECT_EQ(cancelled->records_stored, 2);

    server.env().FailAppendsAfter(0, 0);
    // The workers left their waits: a new job runs to the end.
    const std::string next = server.Submit(rrm::testing::SudokuJob("trm", 4, 2, 2));
    EXPECT_EQ(server.WaitFor(next, Finished).state, JobState::kSucceeded);
    EXPECT_EQ(server.jobs().Get(id, server.caller())->records_stored, 2);
  }
  const OnDisk on_disk = Reopen(dir, id);
  EXPECT_EQ(on_disk.state, JobState::kCancelled);
  EXPECT_EQ(on_disk.keys.size(), 2u);
}

}  // namespace
}  // namespace rrm::server
