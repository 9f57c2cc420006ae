// JobStore on a real folder: what a crash leaves behind is repaired on Open().
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "server/job_store.h"

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

v1::ExampleRecord Record(int example, int restart = 0) {
  v1::ExampleRecord r;
  r.set_job_id("j-1");
  r.set_example_index(example);
  r.set_restart(restart);
  r.set_puzzle_id("p" + std::to_string(example));
  r.add_prediction(example);
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
    StoredJobEnd end;
    end.set_state(v1::JOB_STATE_CANCELLED);
    ASSERT_TRUE((*store)->Finish("j-1", end).ok());
    EXPECT_TRUE(woken);
    EXPECT_EQ((*store)->Append("j-1", {Record(0)}).status().code(), absl::StatusCode::kFailedPrecondition);
  }
  auto store = JobStore::Open(dir);
  ASSERT_TRUE((*store)->recovered()[0].end.has_value());
  EXPECT_EQ((*store)->recovered()[0].end->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE((*store)->State("j-1")->finished);
}

TEST(JobStore, IgnoresAJobWhoseSpecNeverLanded) {
  const std::string dir = Folder("no_spec");
  std::filesystem::create_directories(dir + "/jobs/j-9");
  std::ofstream(dir + "/jobs/j-9/spec.pb.tmp") << "partial";
  auto store = JobStore::Open(dir);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->recovered().empty());
}

}  // namespace
}  // namespace rrm::server
