// A job's status inside rrmd: what JobManager keeps and answers for GetJob,
// ListJobs and CancelJob. A domain type; the frontend turns it into the
// wire's Job once (server/status_proto.h).
#ifndef RRM_SERVER_JOB_STATUS_H_
#define RRM_SERVER_JOB_STATUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/job_spec.h"
#include "server/job_state.h"

namespace rrm::server {

struct JobStatus {
  std::string job_id;
  // As resolved at submit (model, owner, options, provenance...); its
  // `puzzles` are null in every copy JobManager hands out.
  JobSpec spec;
  JobState state = JobState::kQueued;
  int64_t records_stored = 0;
  int64_t records_failed = 0;            // stored with `error` set
  std::vector<std::string> errors;       // distinct record errors, the first few
  std::string error;                     // why the job failed or was cancelled
  std::string paused;                    // why it waits now (a full disk); "" while it progresses
  double submitted_unix = 0;
  double started_unix = 0;
  double finished_unix = 0;
  double compute_seconds = 0;            // sum over its records
};

}  // namespace rrm::server

#endif  // RRM_SERVER_JOB_STATUS_H_
