#include "server/scheduler.h"

namespace rrm::server {

void Scheduler::Add(const std::string& job_id, int32_t priority, std::vector<WorkItem> items) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = jobs_.try_emplace(job_id);
  if (inserted) {
    it->second.priority = priority;
    turns_[priority].push_back(job_id);
  }
  depth_ += static_cast<int64_t>(items.size());
  for (WorkItem& item : items) it->second.items.push_back(std::move(item));
  changed_.SignalAll();
}

void Scheduler::Requeue(std::vector<WorkItem> items) {
  absl::MutexLock lock(&mu_);
  for (auto item = items.rbegin(); item != items.rend(); ++item) {
    auto it = jobs_.find(item->job_id);
    if (it == jobs_.end()) continue;  // dropped meanwhile
    it->second.items.push_front(std::move(*item));
    ++depth_;
  }
  changed_.SignalAll();
}

int64_t Scheduler::Drop(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return 0;
  const int64_t dropped = static_cast<int64_t>(it->second.items.size());
  depth_ -= dropped;
  auto& turn = turns_[it->second.priority];
  turn.remove(job_id);
  if (turn.empty()) turns_.erase(it->second.priority);
  jobs_.erase(it);
  return dropped;
}

std::optional<WorkItem> Scheduler::Next(const std::string& worker,
                                        const std::function<bool(const WorkItem&)>& can_run,
                                        absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!shutdown_) {
    for (auto& [priority, turn] : turns_) {
      for (auto job = turn.begin(); job != turn.end(); ++job) {
        JobQueue& queue = jobs_[*job];
        // The first item of the job this worker may run (retries skip the
        // workers they failed on; the rest of the job keeps its order).
        for (auto item = queue.items.begin(); item != queue.items.end(); ++item) {
          if (item->failed_on.contains(worker) || !can_run(*item)) continue;
          WorkItem taken = std::move(*item);
          queue.items.erase(item);
          --depth_;
          // This job's turn is used: it moves to the back of its priority.
          turn.splice(turn.end(), turn, job);
          return taken;
        }
      }
    }
    if (absl::Now() >= deadline) return std::nullopt;
    changed_.WaitWithDeadline(&mu_, deadline);
  }
  return std::nullopt;
}

void Scheduler::Poke() {
  absl::MutexLock lock(&mu_);
  changed_.SignalAll();
}

void Scheduler::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  changed_.SignalAll();
}

int64_t Scheduler::depth() const {
  absl::MutexLock lock(&mu_);
  return depth_;
}

}  // namespace rrm::server
