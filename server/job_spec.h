// JobSpec: one submission as rrmd measures it — the puzzles resolved (inline
// text, tokens or a dataset folder), the options typed with every default
// filled in, the owner. The frontend parses a SubmitJobRequest into one
// (JobSpecParser, field-path errors naming field, expected and found);
// JobManager takes nothing else, and the store persists the resolved spec
// (StoredJob.resolved), so a job resumed after an upgrade is measured with
// exactly the values it was accepted with, whatever the new defaults are.
//
// Thread safety: JobSpecParser::Parse is const and may run concurrently.
#ifndef RRM_SERVER_JOB_SPEC_H_
#define RRM_SERVER_JOB_SPEC_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/measure/trajectory.h"
#include "core/puzzle/puzzle_set.h"
#include "rrm/v1/dynamics.pb.h"
#include "server/auth.h"
#include "server/job_store.pb.h"
#include "server/model_registry.h"
#include "server/path_policy.h"

namespace rrm::server {

struct JobSpec {
  std::string model;
  std::string owner;  // the submitting caller's name
  std::string idempotency_key;
  std::shared_ptr<const puzzle::PuzzleSet> puzzles;  // null for a finished job read back
  int64_t examples = 0;                               // puzzles in the job
  // Resolved: segments from the checkpoint when 0, draws, early window and
  // restart kind defaulted, first_example_index set; `stop` is left to
  // JobManager.
  measure::MeasureOptions options;
  int32_t restarts = 1;    // R >= 1
  int32_t batch_size = 0;  // examples per work item (the server default when 0 was asked)
  int32_t priority = 0;
  int64_t deadline_seconds = 0;  // from submission; 0 = none
  std::map<std::string, std::string> labels;
  // The model as loaded at submit: JobManager fills it in, the parser does
  // not; absent for jobs stored before provenance existed.
  std::optional<Provenance> provenance;

  int64_t total_records() const { return examples * restarts; }
};

// The server's limits on one submission (rrmd's flags).
struct SubmitLimits {
  int64_t max_puzzles_per_job = 100000;
  int32_t default_batch_size = 16;
  int32_t max_batch_size = 1024;
  int32_t max_restarts = 1024;
  int32_t max_lyapunov_k = 256;
};

class JobSpecParser {
 public:
  // `registry`: the loaded models the request is checked against;
  // `data_paths`: where puzzles.dataset_path may point (--data_root).
  JobSpecParser(const ModelRegistry* registry, PathPolicy data_paths, SubmitLimits limits);

  // Resolves and validates everything before any work: INVALID_ARGUMENT /
  // NOT_FOUND (an unknown model) / PERMISSION_DENIED (a priority above the
  // caller's ceiling, a dataset outside --data_root), each naming the field,
  // the expected and the found value. The options pass the server's limits
  // and then the core's one validator (measure::ValidateOptions).
  absl::StatusOr<JobSpec> Parse(const v1::SubmitJobRequest& request, const Caller& caller) const;

 private:
  absl::StatusOr<puzzle::PuzzleSet> ResolvePuzzles(const v1::PuzzleInput& input) const;

  const ModelRegistry* const registry_;
  const PathPolicy data_paths_;
  const SubmitLimits limits_;
};

// JobOptions (the wire) as MeasureOptions, without resolving anything that
// needs the model: INVALID_ARGUMENT naming `options.<field>` for an unknown
// tangent_dtype, lyapunov_method or restart kind, or a negative count.
absl::StatusOr<measure::MeasureOptions> ToMeasureOptions(const v1::JobOptions& options);

// The options a job runs with, as GetJob shows them (resolved, not as typed).
v1::JobOptions JobOptionsOf(const JobSpec& spec);

// The spec on disk and back. SpecFromStored reads stores written before
// StoredJob.resolved existed by resolving their stored request again;
// `with_puzzles` false leaves `puzzles` null (a finished job needs none).
StoredJob SpecToStored(const JobSpec& spec);
absl::StatusOr<JobSpec> SpecFromStored(const StoredJob& stored, bool with_puzzles = true);

}  // namespace rrm::server

#endif  // RRM_SERVER_JOB_SPEC_H_
