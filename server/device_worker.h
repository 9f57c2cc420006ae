// DeviceWorker: one thread per device slot that pulls work items and runs
// them through the one measurement entry point, core/measure's
// MeasurePuzzles(). It knows nothing of jobs, storage or gRPC: a WorkSource
// hands it prepared assignments and takes the results back.
//
// Device memory (issue #18): the worker publishes its device's memory after
// every item and on idle polls, and with a --device_memory_budget runs an item
// that does not fit in consecutive chunks of as many examples as fit
// (ExamplesThatFit), still one MeasurePuzzles call and one result.
//
// Thread safety: Start()/Stop() from one owning thread; the worker's own
// thread does the rest.
#ifndef RRM_SERVER_DEVICE_WORKER_H_
#define RRM_SERVER_DEVICE_WORKER_H_

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/measure/record.h"
#include "core/measure/trajectory.h"
#include "core/model/recurrent_model.h"
#include "core/puzzle/puzzle_set.h"
#include "server/device_memory.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/scheduler.h"

namespace rrm::server {

// Everything a worker needs for one work item.
struct Assignment {
  WorkItem item;
  std::shared_ptr<const puzzle::PuzzleSet> puzzles;  // the whole job's puzzles (CPU)
  // The job's; first_example_index is the study index of the job's first
  // puzzle; the worker sets the item's slice and restart.
  measure::MeasureOptions options;
  std::shared_ptr<const model::RecurrentModel> model;  // the replica on this worker
};

class WorkSource {
 public:
  virtual ~WorkSource() = default;
  // The next assignment for `worker`, waiting up to `timeout`; nullopt when
  // there is none (or the worker should stop: see stopping()).
  virtual std::optional<Assignment> Next(const DeviceSlot& worker, absl::Duration timeout) = 0;
  // The outcome of an assignment: one record per example of the item, in
  // example order, or the error that stopped the measurement.
  virtual void Complete(const DeviceSlot& worker, Assignment assignment,
                        absl::StatusOr<std::vector<measure::ExampleRecord>> result) = 0;
};

class DeviceWorker {
 public:
  // `fail_injected`: every measurement on this worker fails with INTERNAL
  // (tests of taking a failing device out of rotation; --fail_device).
  // `budget`: --device_memory_budget (none: every item runs whole).
  DeviceWorker(DeviceSlot slot, WorkSource* source, Metrics* metrics, bool fail_injected = false,
               MemoryBudget budget = {});
  DeviceWorker(const DeviceWorker&) = delete;
  DeviceWorker& operator=(const DeviceWorker&) = delete;
  ~DeviceWorker();

  void Start();
  // Asks the thread to stop after its current item and joins it.
  void Stop();

  const DeviceSlot& slot() const { return slot_; }

  // Runs one assignment on the calling thread (what the worker thread does),
  // in consecutive batches of at most `max_examples` (0: the whole item at
  // once); the records come in example order either way.
  static absl::StatusOr<std::vector<measure::ExampleRecord>> Run(const Assignment& assignment,
                                                                 const std::string& device_name,
                                                                 int64_t max_examples = 0);

  // The device memory one example of `assignment` needs beyond what is
  // already used: the model's activations for the primal and each tangent
  // direction it carries, and the propagator's bases.
  static double BytesPerExample(const Assignment& assignment);

 private:
  void Loop();
  void AccountBusy(absl::Time start, absl::Time end);
  // How many examples of the assignment to run at once under the budget.
  int64_t ExamplesAtOnce(const Assignment& assignment);
  void PublishMemory();

  const DeviceSlot slot_;
  WorkSource* const source_;
  Metrics* const metrics_;
  const bool fail_injected_;
  const MemoryBudget budget_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::deque<std::pair<absl::Time, absl::Time>> busy_;  // worker thread only
};

}  // namespace rrm::server

#endif  // RRM_SERVER_DEVICE_WORKER_H_
