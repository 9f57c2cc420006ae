// JobStore on a real folder: what a crash leaves behind is repaired on Open().
#include <cerrno>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/job_store.h"
#include "tests/server/fault_env.h"

namespace rrm::server {
namespace {

std::string Folder(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/job_store_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

StoredJob Spec(const std::string& id) {
  StoredJob spec;
  spec.set_job_id(id);
  spec.set_restarts(1);
  return spec;
}

measure::ExampleRecord Record(int example, int restart = 0) {
  measure::ExampleRecord r;
  r.job_id = "j-1";
  r.example_index = example;
  r.restart = restart;
  r.puzzle_id = "p" + std::to_string(example);
  r.prediction = {example};
  return r;
}

TEST(JobStore, AppendsAndReadsBackInOrder) {
  const std::string dir = Folder("append");
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
  ASSERT_TRUE((*store)->Append("j-1", {Record(0), Record(1)}).ok());
  ASSERT_TRUE((*store)->Append("j-1", {Record(2)}).ok());
  auto records = (*store)->Read("j-1", 1, 10);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].example_index(), 1);
  EXPECT_EQ((*records)[1].puzzle_id(), "p2");
  EXPECT_EQ((*store)->State("j-1")->records, 3);
  EXPECT_EQ((*store)->Create(Spec("j-1")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*store)->Append("j-2", {Record(0)}).status().code(), absl::StatusCode::kNotFound);
}

TEST(JobStore, StoresEachExampleAndRestartOnce) {
  const std::string dir = Folder("dedup");
  auto store = JobStore::Open(dir);
  ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
  auto first = (*store)->Append("j-1", {Record(0), Record(0, 1), Record(0)});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->appended, (std::vector<size_t>{0, 1}));
  auto again = (*store)->Append("j-1", {Record(0, 1), Record(3)});
  EXPECT_EQ(again->appended, (std::vector<size_t>{1}));
  EXPECT_EQ((*store)->State("j-1")->records, 3);
}

TEST(JobStore, ResumesAfterCrashDroppingATornTail) {
  const std::string dir = Folder("torn");
  {
    auto store = JobStore::Open(dir);
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
    ASSERT_TRUE((*store)->Append("j-1", {Record(0), Record(1), Record(2)}).ok());
  }
  // A crash in the middle of the next append: half a frame at the end.
  const std::string log = dir + "/jobs/j-1/records.log";
  const auto whole = std::filesystem::file_size(log);
  {
    std::ofstream out(log, std::ios::app | std::ios::binary);
    out << std::string("RRL1\x40\x00\x00\x00", 8) << "torn";
  }
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok());
  ASSERT_EQ((*store)->recovered().size(), 1u);
  EXPECT_EQ((*store)->recovered()[0].records, 3);
  EXPECT_FALSE((*store)->recovered()[0].end.has_value());
  EXPECT_EQ(std::filesystem::file_size(log), whole) << "the torn tail is truncated away";
  auto keys = (*store)->StoredKeys("j-1");
  EXPECT_EQ(keys->size(), 3u);
  // Appending after recovery continues the log.
  ASSERT_TRUE((*store)->Append("j-1", {Record(3)}).ok());
  auto reopened = JobStore::Open(dir);
  EXPECT_EQ((*reopened)->recovered()[0].records, 4);
  EXPECT_EQ((*(*reopened)->Read("j-1", 3, 1))[0].example_index(), 3);
}

TEST(JobStore, DetectsACorruptChecksum) {
  const std::string dir = Folder("checksum");
  {
    auto store = JobStore::Open(dir);
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
    ASSERT_TRUE((*store)->Append("j-1", {Record(0)}).ok());
    ASSERT_TRUE((*store)->Append("j-1", {Record(1)}).ok());
  }
  const std::string log = dir + "/jobs/j-1/records.log";
  {
    std::fstream file(log, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-1, std::ios::end);  // flip the last payload byte
    char c;
    file.seekg(-1, std::ios::end);
    file.get(c);
    file.seekp(-1, std::ios::end);
    file.put(static_cast<char>(c ^ 0x5A));
  }
  auto store = JobStore::Open(dir);
  EXPECT_EQ((*store)->recovered()[0].records, 1);
}

TEST(JobStore, KeepsTheFinalStateAndSealsTheLog) {
  const std::string dir = Folder("finish");
  {
    auto store = JobStore::Open(dir);
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
    bool woken = false;
    (*store)->Subscribe("j-1", 0, [&] { woken = true; });
    ASSERT_TRUE((*store)->Finish("j-1", JobEnd{JobState::kCancelled, "cancelled by CancelJob", 1.0}).ok());
    EXPECT_TRUE(woken);
    EXPECT_EQ((*store)->Append("j-1", {Record(0)}).status().code(), absl::StatusCode::kFailedPrecondition);
  }
  auto store = JobStore::Open(dir);
  ASSERT_TRUE((*store)->recovered()[0].end.has_value());
  EXPECT_EQ((*store)->recovered()[0].end->state, JobState::kCancelled);
  EXPECT_EQ((*store)->recovered()[0].end->error, "cancelled by CancelJob");
  EXPECT_EQ((*store)->recovered()[0].end->finished_unix, 1.0);
  EXPECT_TRUE((*store)->State("j-1")->finished);
}

TEST(JobStore, AnEndWithAStateThisBuildDoesNotKnowReadsBackAsFailedNamingIt) {
  const std::string dir = Folder("unknown_end");
  {
    auto store = JobStore::Open(dir);
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
  }
  StoredJobEnd end;
  end.set_state(static_cast<v1::JobState>(42));
  end.set_error("paused forever");
  std::ofstream(dir + "/jobs/j-1/end.pb", std::ios::binary) << end.SerializeAsString();
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->recovered().at(0).end.has_value());
  EXPECT_EQ((*store)->recovered()[0].end->state, JobState::kFailed);
  EXPECT_EQ((*store)->recovered()[0].end->error, "end.pb: state 42 is not a final state this build knows; paused forever");
  EXPECT_TRUE((*store)->State("j-1")->finished) << "a job with an end is finished whatever its state";
}

// Bytes of the regular files under `dir` (what `du` would add up).
int64_t BytesOnDisk(const std::string& dir) {
  int64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += static_cast<int64_t>(entry.file_size());
  }
  return bytes;
}

TEST(JobStore, TotalBytesFollowsTheFilesThroughCreateAppendFinishTornTailAndDelete) {
  const std::string dir = Folder("bytes");
  {
    auto store = JobStore::Open(dir);
    EXPECT_EQ((*store)->TotalBytes(), 0);
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
    ASSERT_TRUE((*store)->Create(Spec("j-2")).ok());
    EXPECT_EQ((*store)->TotalBytes(), BytesOnDisk(dir + "/jobs"));
    ASSERT_TRUE((*store)->Append("j-1", {Record(0), Record(1)}).ok());
    ASSERT_TRUE((*store)->Append("j-2", {Record(0)}).ok());
    EXPECT_EQ((*store)->TotalBytes(), BytesOnDisk(dir + "/jobs"));
    ASSERT_TRUE((*store)->Finish("j-1", JobEnd{JobState::kSucceeded, "", 1.0}).ok());
    EXPECT_EQ((*store)->TotalBytes(), BytesOnDisk(dir + "/jobs"));
  }
  std::ofstream(dir + "/jobs/j-2/records.log", std::ios::app | std::ios::binary) << "torn";
  auto store = JobStore::Open(dir);  // counts what it found, after cutting the torn tail
  EXPECT_EQ((*store)->TotalBytes(), BytesOnDisk(dir + "/jobs"));
  const int64_t both = (*store)->TotalBytes();
  ASSERT_TRUE((*store)->Delete("j-1").ok());
  EXPECT_EQ((*store)->TotalBytes(), BytesOnDisk(dir + "/jobs"));
  EXPECT_LT((*store)->TotalBytes(), both);
}

TEST(JobStore, IgnoresAJobWhoseSpecNeverLanded) {
  const std::string dir = Folder("no_spec");
  std::filesystem::create_directories(dir + "/jobs/j-9");
  std::ofstream(dir + "/jobs/j-9/spec.pb.tmp") << "partial";
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->recovered().empty());
}

// The store's I/O seam (StoreEnv): a disk that fills up or fails mid-append.

std::vector<int> StoredExamples(JobStore& store, const std::string& job_id) {
  std::vector<int> examples;
  for (const v1::ExampleRecord& r : *store.Read(job_id, 0, 1000)) examples.push_back(r.example_index());
  return examples;
}

TEST(JobStore, FullDiskFailsTheAppendCleanlyAndTheSameRecordsLandOnceSpaceReturns) {
  const std::string dir = Folder("enospc");
  FaultEnv env;
  {
    auto store = JobStore::Open(dir, &env);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
    ASSERT_TRUE((*store)->Append("j-1", {Record(0), Record(1)}).ok());

    env.Fail(ENOSPC);  // half of the next frames land, then the disk is full
    auto full = (*store)->Append("j-1", {Record(2), Record(3)});
    EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(full.status().message(), ::testing::HasSubstr("records.log: No space left on device"));
    EXPECT_EQ((*store)->State("j-1")->records, 2);  // nothing published
    EXPECT_EQ(StoredExamples(**store, "j-1"), (std::vector<int>{0, 1}));

    env.Fail(0);  // space again: the same records are appended, after a clean end
    auto appended = (*store)->Append("j-1", {Record(2), Record(3)});
    ASSERT_TRUE(appended.ok()) << appended.status();
    EXPECT_EQ(appended->appended.size(), 2u);
    EXPECT_EQ(StoredExamples(**store, "j-1"), (std::vector<int>{0, 1, 2, 3}));
  }
  // Reopened as after a restart: every frame whole, each record once.
  auto reopened = JobStore::Open(dir);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->recovered().at(0).records, 4);
  EXPECT_EQ(StoredExamples(**reopened, "j-1"), (std::vector<int>{0, 1, 2, 3}));
}

TEST(JobStore, CrashAfterAFailedAppendLosesNothingStored) {
  const std::string dir = Folder("enospc_crash");
  FaultEnv env;
  {
    auto store = JobStore::Open(dir, &env);
    ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
    ASSERT_TRUE((*store)->Append("j-1", {Record(0)}).ok());
    env.Fail(EIO);
    auto failed = (*store)->Append("j-1", {Record(1), Record(2)});
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(failed.status().message(), ::testing::HasSubstr("Input/output error"));
  }  // the server dies here, with the disk still failing
  auto reopened = JobStore::Open(dir);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(StoredExamples(**reopened, "j-1"), (std::vector<int>{0}));
  EXPECT_TRUE((*reopened)->Append("j-1", {Record(1)}).ok());
  EXPECT_EQ(StoredExamples(**reopened, "j-1"), (std::vector<int>{0, 1}));
}

TEST(JobStore, FullDiskAtCreateLeavesNoJobBehind) {
  const std::string dir = Folder("enospc_create");
  FaultEnv env;
  auto store = JobStore::Open(dir, &env);
  ASSERT_TRUE(store.ok());
  env.Fail(ENOSPC);
  const absl::Status status = (*store)->Create(Spec("j-1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), ::testing::HasSubstr("No space left on device"));
  EXPECT_EQ((*store)->State("j-1").status().code(), absl::StatusCode::kNotFound);
  env.Fail(0);
  EXPECT_TRUE((*store)->Create(Spec("j-1")).ok());  // the id was not left half-taken
  auto reopened = JobStore::Open(dir);
  EXPECT_EQ((*reopened)->recovered().size(), 1u);
}

TEST(JobStore, FinishOnAFullDiskLeavesTheJobOpenForALaterFinish) {
  const std::string dir = Folder("enospc_finish");
  FaultEnv env;
  auto store = JobStore::Open(dir, &env);
  ASSERT_TRUE((*store)->Create(Spec("j-1")).ok());
  ASSERT_TRUE((*store)->Append("j-1", {Record(0)}).ok());
  const JobEnd end{JobState::kSucceeded, "", 1.0};
  env.Fail(ENOSPC);
  EXPECT_EQ((*store)->Finish("j-1", end).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE((*store)->State("j-1")->finished);
  env.Fail(0);
  EXPECT_TRUE((*store)->Finish("j-1", end).ok());
  auto reopened = JobStore::Open(dir);
  ASSERT_TRUE((*reopened)->recovered().at(0).end.has_value());
  EXPECT_EQ((*reopened)->recovered().at(0).records, 1);
}

}  // namespace
}  // namespace rrm::server
