#include "server/status_proto.h"

#include "server/job_status.h"

namespace rrm::server {

v1::JobState JobStateToProto(JobState state) {
  switch (state) {
    case JobState::kQueued: return v1::JOB_STATE_QUEUED;
    case JobState::kRunning: return v1::JOB_STATE_RUNNING;
    case JobState::kSucceeded: return v1::JOB_STATE_SUCCEEDED;
    case JobState::kFailed: return v1::JOB_STATE_FAILED;
    case JobState::kCancelled: return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

std::optional<JobState> JobStateFromProto(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED: return JobState::kQueued;
    case v1::JOB_STATE_RUNNING: return JobState::kRunning;
    case v1::JOB_STATE_SUCCEEDED: return JobState::kSucceeded;
    case v1::JOB_STATE_FAILED: return JobState::kFailed;
    case v1::JOB_STATE_CANCELLED: return JobState::kCancelled;
    default: return std::nullopt;
  }
}

v1::Provenance ProvenanceToProto(const Provenance& provenance) {
  v1::Provenance p;
  p.set_model(provenance.model);
  p.set_arch(provenance.arch);
  p.set_checkpoint_path(provenance.checkpoint_path);
  p.set_checkpoint_sha256(provenance.checkpoint_sha256);
  p.set_config_path(provenance.config_path);
  p.set_config_sha256(provenance.config_sha256);
  for (const std::string& o : provenance.overrides) p.add_overrides(o);
  p.set_forward_dtype(provenance.forward_dtype);
  p.set_rrm_version(provenance.rrm_version);
  return p;
}

Provenance ProvenanceFromProto(const v1::Provenance& proto) {
  Provenance p;
  p.model = proto.model();
  p.arch = proto.arch();
  p.checkpoint_path = proto.checkpoint_path();
  p.checkpoint_sha256 = proto.checkpoint_sha256();
  p.config_path = proto.config_path();
  p.config_sha256 = proto.config_sha256();
  p.overrides.assign(proto.overrides().begin(), proto.overrides().end());
  p.forward_dtype = proto.forward_dtype();
  p.rrm_version = proto.rrm_version();
  return p;
}

v1::ModelInfo ModelInfoToProto(const ModelInfo& info) {
  v1::ModelInfo m;
  m.set_name(info.name);
  m.set_checkpoint_path(info.checkpoint_path);
  m.set_config_path(info.config_path);
  for (const std::string& o : info.overrides) m.add_overrides(o);
  for (const std::string& d : info.devices) m.add_devices(d);
  m.set_arch(info.arch);
  m.set_seq_len(info.seq_len);
  m.set_vocab_size(info.vocab_size);
  m.set_num_puzzle_identifiers(info.num_puzzle_identifiers);
  m.set_puzzle_positions(info.puzzle_positions);
  m.set_halt_max_steps(info.halt_max_steps);
  m.set_updates_per_segment(info.updates_per_segment);
  m.set_forward_dtype(info.forward_dtype);
  m.set_parameter_bytes(info.parameter_bytes);
  m.set_checkpoint_sha256(info.checkpoint_sha256);
  m.set_config_sha256(info.config_sha256);
  return m;
}

v1::Job JobToProto(const JobStatus& status) {
  const JobSpec& spec = status.spec;
  v1::Job job;
  job.set_job_id(status.job_id);
  job.set_model(spec.model);
  job.set_state(JobStateToProto(status.state));
  job.set_examples(spec.examples);
  job.set_restarts(spec.restarts);
  job.set_total_records(spec.total_records());
  job.set_records_stored(status.records_stored);
  job.set_records_failed(status.records_failed);
  job.set_error(status.error);
  job.set_submitted_unix(status.submitted_unix);
  job.set_started_unix(status.started_unix);
  job.set_finished_unix(status.finished_unix);
  job.set_compute_seconds(status.compute_seconds);
  *job.mutable_options() = JobOptionsOf(spec);
  job.set_owner(spec.owner);
  job.set_idempotency_key(spec.idempotency_key);
  for (const std::string& e : status.errors) job.add_errors(e);
  if (spec.provenance.has_value()) *job.mutable_provenance() = ProvenanceToProto(*spec.provenance);
  job.set_paused(status.paused);
  return job;
}

}  // namespace rrm::server
