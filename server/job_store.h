// JobStore: the durable part of rrmd. Every accepted job and every record it
// produced lives under --data_dir, so neither a dropped client nor a killed
// server loses work.
//
// Layout (one folder per job):
//
//   <data_dir>/jobs/<job_id>/spec.pb      rrm.server.StoredJob (written once)
//   <data_dir>/jobs/<job_id>/records.log  append-only record log (below)
//   <data_dir>/jobs/<job_id>/end.pb       rrm.server.StoredJobEnd (final state)
//   <data_dir>/trash/<job_id>/            a job being deleted (DeleteJob)
//
// Deleting renames the job's folder into trash/ (one atomic rename, the
// parent folders fsync'ed) and then removes it; Open() empties trash/ first,
// so a delete cut short by a crash completes at the next start and a job is
// always either whole or gone.
//
// spec.pb and end.pb are written to a temporary name, fsync'ed and renamed, so
// they exist whole or not at all. records.log is a sequence of frames
//
//   u32 magic "RRL1" (0x314C5252) | u32 payload length | u32 CRC-32 (zlib) of
//   the payload | payload = serialized rrm.v1.ExampleRecord (wire/record_proto.h)
//
// (integers little-endian). A frame is appended and fdatasync'ed before the
// record is published to readers. Open() scans every log: a frame that is cut
// short, has a wrong magic or a wrong checksum ends the log there (a torn tail
// of a crash) and the file is truncated back to the last whole frame.
//
// A record's stream index is its position in its job's log (0-based, append
// order); it never changes once published. Each (example_index, restart) is
// stored at most once: Append() skips records whose key is already stored.
//
// Thread safety: all methods may be called concurrently. Subscribe() callbacks
// run on the thread that appended or finished, after the store's locks are
// released; they must be quick and must not block.
#ifndef RRM_SERVER_JOB_STORE_H_
#define RRM_SERVER_JOB_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/measure/record.h"
#include "rrm/v1/dynamics.pb.h"
#include "server/job_state.h"
#include "server/job_store.pb.h"
#include "server/store_env.h"

namespace rrm::server {

class JobStore {
 public:
  // A job as found on disk at Open().
  struct RecoveredJob {
    StoredJob spec;
    std::optional<JobEnd> end;        // absent: the job was unfinished
    int64_t records = 0;              // whole frames in its log
    int64_t failed_records = 0;       // of which `error` is set
    double compute_seconds = 0;       // sum over its records
  };

  // Opens (creating if needed) the store under `data_dir`, scanning and
  // repairing every job's log. Errors: INTERNAL naming the path that could not
  // be created, read or truncated; a job folder whose spec.pb is unreadable is
  // skipped with a warning on stderr rather than failing the server.
  // Every file operation goes through `env` (tests inject disk faults).
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& data_dir,
                                                        StoreEnv* env = StoreEnv::Default());

  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;
  ~JobStore();

  // The jobs found by Open(), by job id.
  const std::vector<RecoveredJob>& recovered() const { return recovered_; }

  // Persists a new job's spec (durably) and opens its empty log.
  // ALREADY_EXISTS if the id is taken; RESOURCE_EXHAUSTED for a full disk,
  // INTERNAL for other I/O errors (nothing of the job is left behind then).
  absl::Status Create(const StoredJob& spec);

  // Appends the records whose (example_index, restart) is not stored yet,
  // as they are (the caller sets job_id and model), fdatasync's, then wakes
  // subscribers. Returns which were appended.
  // NOT_FOUND for an unknown job, FAILED_PRECONDITION once the job is
  // finished; RESOURCE_EXHAUSTED for a full disk (ENOSPC, EDQUOT), INTERNAL
  // for other I/O errors (EIO): then nothing is published, the log is as
  // before the call, and the same records may be appended again later.
  struct AppendResult {
    std::vector<size_t> appended;  // indices into `records` that were stored
    int64_t bytes = 0;
  };
  absl::StatusOr<AppendResult> Append(const std::string& job_id,
                                      const std::vector<measure::ExampleRecord>& records);

  // Writes end.pb (durably) and seals the log: no more appends; subscribers
  // are woken. FAILED_PRECONDITION if already finished.
  absl::Status Finish(const std::string& job_id, const JobEnd& end);

  // Removes the job's files (see the layout above); its readers then get
  // NOT_FOUND. NOT_FOUND for an unknown job, INTERNAL on I/O errors.
  absl::Status Delete(const std::string& job_id);

  // Bytes of every job's spec, log and end file, as of now: counted as the
  // store writes, truncates and deletes them (Open counts what it found), so
  // reading it costs nothing. Folders Open skipped are not jobs and not counted.
  int64_t TotalBytes() const { return total_bytes_.load(); }

  // Keys (example_index, restart) already stored for the job.
  absl::StatusOr<absl::flat_hash_set<std::pair<int32_t, int32_t>>> StoredKeys(const std::string& job_id) const;

  // Number of records stored (= next stream index) and whether the job is
  // finished, read together. NOT_FOUND for an unknown job.
  struct LogState {
    int64_t records = 0;
    bool finished = false;
  };
  absl::StatusOr<LogState> State(const std::string& job_id) const;

  // Up to `max` records from stream index `from` (fewer, or none, when the
  // log is shorter). NOT_FOUND for an unknown job; INTERNAL if a stored frame
  // cannot be read back.
  absl::StatusOr<std::vector<v1::ExampleRecord>> Read(const std::string& job_id, int64_t from,
                                                      int64_t max) const;

  // Calls `wake` once, after the next Append or Finish for the job; at once
  // if the job is finished or unknown or already holds more than `seen`
  // records (so a reader that saw `seen` records cannot miss a wake-up).
  void Subscribe(const std::string& job_id, int64_t seen, std::function<void()> wake);

 private:
  struct Log;
  JobStore(std::string data_dir, StoreEnv* env);
  absl::Status Scan();
  std::shared_ptr<Log> FindLog(const std::string& job_id) const;
  std::string JobDir(const std::string& job_id) const;

  const std::string data_dir_;
  StoreEnv* const env_;
  std::vector<RecoveredJob> recovered_;  // filled once by Open()

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Log>> logs_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> total_bytes_{0};
};

}  // namespace rrm::server

#endif  // RRM_SERVER_JOB_STORE_H_
