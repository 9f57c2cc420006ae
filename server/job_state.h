// Where a job is in its life (JobState) and how it ended (JobEnd, what its
// end.pb keeps). Plain types without LibTorch, shared by JobManager and the
// store.
#ifndef RRM_SERVER_JOB_STATE_H_
#define RRM_SERVER_JOB_STATE_H_

#include <string>

namespace rrm::server {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

// "queued", "running", ... (metrics labels and messages).
const char* JobStateName(JobState state);
bool IsFinished(JobState state);

struct JobEnd {
  JobState state = JobState::kSucceeded;
  std::string error;  // why it failed or was cancelled
  double finished_unix = 0;
};

}  // namespace rrm::server

#endif  // RRM_SERVER_JOB_STATE_H_
