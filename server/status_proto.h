// The server's status types on the wire and on disk: the one codec between
// the domain (JobStatus, ModelInfo, Provenance, JobState) and the protos the
// frontend answers with and the store keeps (StoredJob.provenance, end.pb).
#ifndef RRM_SERVER_STATUS_PROTO_H_
#define RRM_SERVER_STATUS_PROTO_H_

#include <optional>

#include "rrm/v1/dynamics.pb.h"
#include "server/job_state.h"
#include "server/model_info.h"

namespace rrm::server {

struct JobStatus;  // server/job_status.h (with LibTorch, which this header avoids)

v1::JobState JobStateToProto(JobState state);
// nullopt for JOB_STATE_UNSPECIFIED or a value this build does not know.
std::optional<JobState> JobStateFromProto(v1::JobState state);

v1::Provenance ProvenanceToProto(const Provenance& provenance);
Provenance ProvenanceFromProto(const v1::Provenance& proto);

v1::ModelInfo ModelInfoToProto(const ModelInfo& info);

// GetJob's answer: options as resolved (JobOptionsOf), provenance when known.
v1::Job JobToProto(const JobStatus& status);

}  // namespace rrm::server

#endif  // RRM_SERVER_STATUS_PROTO_H_
