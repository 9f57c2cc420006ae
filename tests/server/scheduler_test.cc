// Scheduler policy: priorities first, round robin between jobs, per-worker eligibility.
#include <gtest/gtest.h>

#include "server/scheduler.h"

namespace rrm::server {
namespace {

std::vector<WorkItem> Items(const std::string& job, int count) {
  std::vector<WorkItem> items;
  for (int i = 0; i < count; ++i) {
    WorkItem item;
    item.job_id = job;
    item.model = "m";
    item.begin = i;
    item.end = i + 1;
    items.push_back(item);
  }
  return items;
}

std::string Take(Scheduler& s, const std::string& worker = "w") {
  auto item = s.Next(worker, [](const WorkItem&) { return true; }, absl::Milliseconds(10));
  return item.has_value() ? item->job_id + ":" + std::to_string(item->begin) : "none";
}

TEST(Scheduler, JobsTakeTurnsSoASmallJobIsNotStarved) {
  Scheduler s;
  s.Add("big", 0, Items("big", 100));
  s.Add("small", 0, Items("small", 2));
  EXPECT_EQ(Take(s), "big:0");
  EXPECT_EQ(Take(s), "small:0");
  EXPECT_EQ(Take(s), "big:1");
  EXPECT_EQ(Take(s), "small:1");
  EXPECT_EQ(Take(s), "big:2");
  EXPECT_EQ(s.depth(), 97);
}

TEST(Scheduler, HigherPriorityRunsFirst) {
  Scheduler s;
  s.Add("low", 0, Items("low", 2));
  s.Add("high", 5, Items("high", 2));
  EXPECT_EQ(Take(s), "high:0");
  EXPECT_EQ(Take(s), "high:1");
  EXPECT_EQ(Take(s), "low:0");
}

TEST(Scheduler, RetriesSkipTheWorkerTheyFailedOnAndDropRemovesAJob) {
  Scheduler s;
  std::vector<WorkItem> items = Items("a", 1);
  items[0].failed_on.insert("w0");
  s.Requeue(items);  // unknown job: ignored
  EXPECT_EQ(s.depth(), 0);
  s.Add("a", 0, items);
  EXPECT_EQ(Take(s, "w0"), "none");
  EXPECT_EQ(Take(s, "w1"), "a:0");
  s.Add("b", 0, Items("b", 3));
  EXPECT_EQ(s.Drop("b"), 3);
  EXPECT_EQ(Take(s), "none");
}

TEST(Scheduler, ShutdownWakesWaitingWorkers) {
  Scheduler s;
  s.Shutdown();
  EXPECT_FALSE(s.Next("w", [](const WorkItem&) { return true; }, absl::Seconds(30)).has_value());
}

}  // namespace
}  // namespace rrm::server
