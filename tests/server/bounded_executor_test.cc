// The analysis executor: a fixed set of threads, a bounded queue, and a
// refusal (not a new thread) beyond it.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "server/bounded_executor.h"

namespace rrm::server {
namespace {

TEST(BoundedExecutor, RunsOnItsThreadsAndRefusesBeyondTheQueue) {
  absl::Notification release;
  std::atomic<int> started{0}, finished{0};
  auto blocking = [&] {
    ++started;
    release.WaitForNotification();
    ++finished;
  };
  {
    BoundedExecutor executor(/*threads=*/2, /*max_queued=*/3);
    // Two run, three wait: the queue is full once both threads hold a task.
    ASSERT_TRUE(executor.TrySubmit(blocking));
    ASSERT_TRUE(executor.TrySubmit(blocking));
    while (started.load() < 2) std::this_thread::yield();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(executor.TrySubmit(blocking)) << i;
    EXPECT_FALSE(executor.TrySubmit(blocking)) << "a sixth task must be refused, not queued";
    EXPECT_EQ(started.load(), 2) << "only the two threads run tasks";
    release.Notify();
  }  // the destructor runs what is queued, then joins
  EXPECT_EQ(finished.load(), 5);
}

}  // namespace
}  // namespace rrm::server
