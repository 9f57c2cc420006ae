// BoundedExecutor: a fixed number of threads and a bounded queue for the
// server's CPU-heavy RPC work (Analyze, AnalyzeRecords), so many analysis
// requests at once neither start unbounded threads nor queue without limit:
// a task beyond the queue is refused at once and the caller answers
// RESOURCE_EXHAUSTED.
//
// Thread safety: TrySubmit may be called from any thread. The destructor runs
// the tasks still queued, then joins the threads.
#ifndef RRM_SERVER_BOUNDED_EXECUTOR_H_
#define RRM_SERVER_BOUNDED_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rrm::server {

class BoundedExecutor {
 public:
  // `threads` ≥ 1 run tasks; at most `max_queued` wait beyond those running.
  BoundedExecutor(int threads, size_t max_queued);
  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;
  ~BoundedExecutor();

  // Queues `task`; false (and `task` not run) when max_queued tasks already wait.
  bool TrySubmit(std::function<void()> task);

  int threads() const { return static_cast<int>(threads_.size()); }
  size_t max_queued() const { return max_queued_; }

 private:
  void Loop();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // a task waits, or stopping

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace rrm::server

#endif  // RRM_SERVER_BOUNDED_EXECUTOR_H_
