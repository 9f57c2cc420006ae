// ShardedJob: one study spread over several rrmd servers (replicas of a
// Kubernetes StatefulSet, or any list of boxes).
//
// Submit cuts the request's puzzles into contiguous blocks, one per server,
// each sent with its `first_example_index`, so every record keeps the index
// (hence Q_0 and restart draws) it would have had on one server: the merged
// records equal a single server's, apart from job_id, device and timing.
// A dataset on the servers (`dataset_path`) is cut by index range, which
// needs its size: `limit` must be set.
//
// The sharded job's id lists its parts, "TARGET/JOB_ID,TARGET/JOB_ID,...", so
// any client can reopen it from the id alone (rrmctl status/records/report
// take it like a plain job id).
#ifndef RRM_CLIENT_CPP_SHARDED_JOB_H_
#define RRM_CLIENT_CPP_SHARDED_JOB_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/cpp/client.h"
#include "rrm/v1/dynamics.pb.h"

namespace rrm {

// The servers named by a --target value: comma-separated HOST:PORT entries;
// an entry "all:HOST:PORT" stands for every address HOST resolves to (a
// Kubernetes headless Service), resolved now. INVALID_ARGUMENT for an empty
// entry or one without a port, NOT_FOUND for a name that does not resolve.
struct Target {
  std::string address;      // what the channel connects to
  std::string tls_name;     // for "all:" entries: HOST, the name its certificate carries
};
absl::StatusOr<std::vector<Target>> ExpandTargets(absl::string_view spec);

// `options` for one target (address and TLS name replaced).
ClientOptions WithTarget(const ClientOptions& options, const Target& target);

// Whether `id` names a sharded job ("TARGET/JOB_ID,...") rather than a job
// of one server.
bool IsShardedJobId(absl::string_view id);

// `input` cut into at most `parts` contiguous non-empty blocks (fewer when
// there are fewer puzzles), each with its first_example_index.
absl::StatusOr<std::vector<v1::PuzzleInput>> SplitPuzzles(const v1::PuzzleInput& input, int parts);

class ShardedJob {
 public:
  struct Part {
    std::unique_ptr<Client> client;
    std::string job_id;
  };

  // Splits `request` over `targets` (each connected with `options`, target
  // and TLS name replaced) and submits one job per block. A request with an
  // idempotency_key sends KEY#i/n to part i, so a retried submit returns the
  // same jobs. When a later part fails, the parts already submitted are
  // cancelled and the error is returned.
  static absl::StatusOr<ShardedJob> Submit(const ClientOptions& options, const std::vector<Target>& targets,
                                           const v1::SubmitJobRequest& request);
  // Reopens a sharded job from its id.
  static absl::StatusOr<ShardedJob> Open(const ClientOptions& options, absl::string_view id);

  std::string id() const;
  const std::vector<Part>& parts() const { return parts_; }

  // Every part's Job, in part order.
  absl::StatusOr<std::vector<v1::Job>> Parts();
  // The parts summed into one Job (job_id = id()): counts and compute time
  // added, the state the study is in (FAILED if any part failed, then
  // CANCELLED, RUNNING / QUEUED while any part is, SUCCEEDED when all did).
  v1::Job Sum(const std::vector<v1::Job>& parts) const;
  // Sum(Parts()).
  absl::StatusOr<v1::Job> Get();
  absl::StatusOr<v1::Job> Cancel();
  // Like Client::WaitForJob, with the summed Job.
  absl::StatusOr<v1::Job> Wait(const std::function<void(const v1::Job&)>& on_progress = nullptr,
                               absl::Duration poll = absl::Milliseconds(500));
  // Every part's records, merged as they arrive (one thread per part;
  // `on_record` is called from one thread at a time), each exactly once,
  // until every part's job has ended. The first error (a part's, or
  // `on_record`'s) is returned once every part has stopped.
  absl::Status StreamRecords(const std::function<absl::Status(const v1::ExampleRecord&)>& on_record);
  // The SPEC §5 analysis of the merged records, computed by the first part's
  // server (AnalyzeRecords), so the numbers are the ones of one server
  // measuring the whole study.
  absl::StatusOr<v1::AnalyzeResponse> Analyze(const v1::AnalysisParameters& parameters);

 private:
  ShardedJob() = default;
  std::vector<Part> parts_;
};

}  // namespace rrm

#endif  // RRM_CLIENT_CPP_SHARDED_JOB_H_
