// JobManager: the life of a job inside rrmd, from a parsed and validated
// JobSpec (server/job_spec.h: the frontend parses the request) to its last
// stored record. It persists the job (JobStore) before acknowledging it,
// splits it into work items (Scheduler), hands them to device workers (as
// their WorkSource) and stores what comes back. It knows nothing of gRPC:
// every method returns absl::Status, which the frontend maps once, and it
// knows no wire type: it answers with domain types (JobStatus, ModelInfo;
// the frontend converts them once, server/status_proto.h).
//
// Failure policy for a work item:
//   - RESOURCE_EXHAUSTED (out of memory) with more than one example: split in
//     half, both halves re-queued at the front of the job;
//   - INTERNAL / UNKNOWN / UNAVAILABLE / out of memory on one example: the
//     item is retried once on another worker in rotation; if it fails again
//     (or no other worker is left) each example gets a record with `error`;
//   - any other code (e.g. UNIMPLEMENTED for a restart kind the core does not
//     support yet, INVALID_ARGUMENT): each example gets a record with `error`.
//   A job never fails because of an example; it SUCCEEDS once every
//   (example, restart) has its record. Device faults count against the
//   worker in DeviceHealth (server/device_health.h: rotation, rest,
//   probation); a worker out of rotation takes no work and its item is
//   re-queued.
//
// A full disk (the store's RESOURCE_EXHAUSTED) pauses a job instead of
// failing it: the worker keeps the records it computed and retries the append
// every kDiskFullRetry until space returns, the job is finished (cancel,
// deadline, delete) or the server stops; `Job.paused` says why meanwhile.
// Any other storage error (EIO) fails the job, naming the file; what was
// stored before stays.
//
// Store I/O (fsync, rename) never runs under `mu_`: a job's end is written by
// FlushEnds() after the lock is released, before the method that finished the
// job returns (so CancelJob answers only once the end is durable).
//
// Restart: Recover() re-queues, for each unfinished stored job, exactly the
// (example, restart) pairs that have no stored record.
//
// Thread safety: every method may be called concurrently; Next() blocks.
#ifndef RRM_SERVER_JOB_MANAGER_H_
#define RRM_SERVER_JOB_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/puzzle/puzzle_set.h"
#include "server/auth.h"
#include "server/device_health.h"
#include "server/device_worker.h"
#include "server/job_spec.h"
#include "server/job_status.h"
#include "server/job_store.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/path_policy.h"
#include "server/scheduler.h"

namespace rrm::server {

struct JobLimits {
  int64_t max_active_jobs_per_owner = 16;          // queued + running
  absl::Duration device_rest = absl::Minutes(5);  // first rest of a worker out of rotation
};

// What SubmitJob answers.
struct SubmitResult {
  std::string job_id;
  bool existing = false;  // the idempotency key matched an earlier job of the owner
  int64_t total_records = 0;
};

// How often a paused job retries storing its records on a full disk.
inline constexpr absl::Duration kDiskFullRetry = absl::Seconds(2);

class JobManager : public WorkSource {
 public:
  JobManager(JobStore* store, ModelRegistry* registry, Scheduler* scheduler, Metrics* metrics,
             PathPolicy model_paths, JobLimits limits);
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Registers the device workers (before Recover and before workers start).
  void SetWorkers(const std::vector<DeviceSlot>& workers);

  // Takes over the jobs the store found on disk: finished ones are listed,
  // unfinished ones resume with their missing records. Call once at start.
  absl::Status Recover();

  // --- models (paths checked against --model_root) ---
  absl::StatusOr<ModelInfo> LoadModel(const ModelLoad& request);
  // A --model flag of the operator: trusted, not bound to --model_root.
  absl::StatusOr<ModelInfo> PreloadModel(const std::string& name, const std::string& checkpoint_path);
  // FAILED_PRECONDITION naming the unfinished jobs that use the model.
  absl::Status UnloadModel(const std::string& name);
  std::vector<ModelInfo> ListModels() const;

  // --- jobs ---
  // Every job method acts for an authenticated Caller (server/auth.h): a
  // job is owned by the caller that submitted it, and a job the caller may
  // not access (Caller::MayAccess) is NOT_FOUND with the message of an
  // unknown id, so its existence is not leaked (issue #18 "Tenants").
  //
  // Accepts a parsed spec (JobSpecParser::Parse, which checked it and set
  // its owner): durable before it returns. RESOURCE_EXHAUSTED when the owner
  // has --max_jobs_per_token unfinished jobs (or the disk is full),
  // ALREADY_EXISTS for an idempotency key of the owner used with another
  // model; the same key with the same model answers the earlier job.
  absl::StatusOr<SubmitResult> Submit(JobSpec spec);
  absl::StatusOr<JobStatus> Get(const std::string& job_id, const Caller& caller) const;
  // The caller's own jobs (an admin's: everyone's) in `state` (nullopt: all),
  // by job id.
  std::vector<JobStatus> List(std::optional<JobState> state, const Caller& caller) const;
  // FAILED_PRECONDITION for a job already finished (its state is unchanged).
  absl::StatusOr<JobStatus> Cancel(const std::string& job_id, const Caller& caller);
  // Removes the job and its files (the owner's or an admin's); an unfinished
  // job is cancelled first (its running items stop at a segment boundary).
  absl::Status Delete(const std::string& job_id, const Caller& caller);
  // Deletes every job that finished before `cutoff` (--retain_finished_days);
  // returns how many.
  int64_t DeleteFinishedBefore(absl::Time cutoff);

  JobStore* store() const { return store_; }

  // Stops handing out work and ends every wait for a full disk (before the
  // workers are stopped).
  void Shutdown();

  // --- WorkSource ---
  std::optional<Assignment> Next(const DeviceSlot& worker, absl::Duration timeout) override;
  void Complete(const DeviceSlot& worker, Assignment assignment,
                absl::StatusOr<std::vector<measure::ExampleRecord>> result) override;

 private:
  struct JobEntry {
    // What GetJob answers (Snapshot). Its spec holds the puzzles until the
    // job finishes, and options whose `stop` (checked by running items at
    // every segment boundary) answers non-OK once the job has finished or
    // passed its deadline.
    JobStatus status;
    std::shared_ptr<std::atomic<bool>> finished = std::make_shared<std::atomic<bool>>(false);
    absl::Time deadline = absl::InfiniteFuture();
    int64_t in_flight = 0;  // items on workers
  };

  // OK if job `job_id` exists and `caller` may access it, else NOT_FOUND:
  // the one check behind Get and Cancel.
  absl::Status CheckAccess(const std::string& job_id, const Caller& caller) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The one way a job enters `jobs_` (Submit and Recover): its status
  // (queued), its options with their stop check, and its idempotency key.
  JobEntry& AddJob(const std::string& job_id, JobSpec spec, double submitted_unix) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status to hand out: a copy without the puzzles and the stop check.
  static JobStatus Snapshot(const JobEntry& job);
  void Enqueue(const std::string& job_id, JobEntry& job,
               const absl::flat_hash_set<std::pair<int32_t, int32_t>>& done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<measure::ExampleRecord> ErrorRecords(const Assignment& a, const DeviceSlot& worker,
                                                   const absl::Status& status) const;
  // Stamps the records with the job's id and model and stores them.
  void StoreRecords(const std::string& job_id, std::vector<measure::ExampleRecord> records);
  // Finishes the job if every record is stored and nothing is in flight.
  void MaybeFinish(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes the job in memory; its end.pb is written by the next FlushEnds().
  void FinishJob(const std::string& job_id, JobEntry& job, JobState state, const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes every end FinishJob queued, outside `mu_`; returns once the ends
  // queued before the call are durable (or reported on stderr).
  void FlushEnds() ABSL_LOCKS_EXCLUDED(mu_, flush_mu_);
  void PublishJobCounts() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishStoreBytes() ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the job's files, then forgets it; the one path of DeleteJob and
  // retention (a finished job: FlushEnds first).
  absl::Status Remove(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);
  // The job's deadline from its spec, and the stop check its items run.
  static void SetUpStop(JobEntry& job);
  // Ends every unfinished job past its deadline as FAILED (workers call it
  // through Next, at least every poll interval).
  void ExpireDeadlines() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewJobId() const;

  JobStore* const store_;
  ModelRegistry* const registry_;
  Scheduler* const scheduler_;
  Metrics* const metrics_;
  const PathPolicy model_paths_;
  const JobLimits limits_;

  mutable absl::Mutex mu_;
  std::map<std::string, JobEntry> jobs_ ABSL_GUARDED_BY(mu_);  // by id = submission order
  std::map<std::pair<std::string, std::string>, std::string> idempotency_ ABSL_GUARDED_BY(mu_);  // (owner, key) -> id
  DeviceHealth health_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, JobEnd>> ends_to_write_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Held while ends are written, so a FlushEnds() cannot return while
  // another thread still writes an end queued before it.
  absl::Mutex flush_mu_;
  // Held across a submission's validation and persistence so that two
  // submissions with the same idempotency key cannot both start a job.
  absl::Mutex submit_mu_;
};

}  // namespace rrm::server

#endif  // RRM_SERVER_JOB_MANAGER_H_
