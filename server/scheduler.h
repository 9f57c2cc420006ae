// Scheduler: the queue of work items waiting for a device worker, fair across
// jobs. A job is split into work items (a micro-batch of consecutive examples
// for one restart). Policy:
//   - strict priority: an item of a higher-priority job is always taken first;
//   - within one priority, jobs take turns (round robin, one item per turn),
//     so a small job submitted after a huge one waits for at most one item
//     per worker, not for the huge job;
//   - within a job, items run in order (restart-major, then example order);
//   - a worker only takes items it can run (the model has a replica on it,
//     the item did not already fail there); others stay queued for the
//     workers that can.
//
// Thread safety: every method may be called concurrently. Next() blocks.
#ifndef RRM_SERVER_SCHEDULER_H_
#define RRM_SERVER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rrm::server {

struct WorkItem {
  std::string job_id;
  std::string model;
  int32_t restart = 0;
  int64_t begin = 0;  // examples [begin, end) of the job
  int64_t end = 0;
  int attempts = 0;   // failed runs so far (not counting out-of-memory splits)
  absl::flat_hash_set<std::string> failed_on;  // workers it failed on
  int64_t size() const { return end - begin; }
};

class Scheduler {
 public:
  Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job's items behind its earlier ones. `priority` is fixed by the
  // first call for a job.
  void Add(const std::string& job_id, int32_t priority, std::vector<WorkItem> items);
  // Puts items back at the front of their job's queue (retries, halves of a
  // split), keeping their order.
  void Requeue(std::vector<WorkItem> items);
  // Drops every waiting item of the job (cancellation); returns how many.
  int64_t Drop(const std::string& job_id);

  // The next item `worker` may run, waiting up to `timeout`; nullopt on
  // timeout or after Shutdown(). `can_run(item)` is called under the lock and
  // must not call back into the scheduler.
  std::optional<WorkItem> Next(const std::string& worker, const std::function<bool(const WorkItem&)>& can_run,
                               absl::Duration timeout);
  // Wakes waiting workers so they re-check their can_run (a model was loaded).
  void Poke();
  void Shutdown();

  int64_t depth() const;

 private:
  struct JobQueue {
    int32_t priority = 0;
    std::deque<WorkItem> items;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, JobQueue> jobs_ ABSL_GUARDED_BY(mu_);
  // Per priority (highest first), the jobs in turn order; the front job's
  // turn is next.
  std::map<int32_t, std::list<std::string>, std::greater<int32_t>> turns_ ABSL_GUARDED_BY(mu_);
  int64_t depth_ ABSL_GUARDED_BY(mu_) = 0;
  absl::CondVar changed_;  // signalled on Add, Requeue, Poke, Shutdown
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rrm::server

#endif  // RRM_SERVER_SCHEDULER_H_
