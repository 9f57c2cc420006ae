#include "server/job_manager.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <optional>
#include <random>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/common/status.h"

namespace rrm::server {
namespace {

constexpr int kMaxErrorsShown = 5;

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Codes that may say more about the device than about the example.
bool DeviceFault(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown ||
         status.code() == absl::StatusCode::kUnavailable || status.code() == absl::StatusCode::kResourceExhausted;
}

// Why a job past JobOptions.deadline_seconds ended (its records stay).
absl::Status DeadlineError(int64_t deadline_seconds) {
  return absl::DeadlineExceededError(absl::StrCat("deadline: the job ran past options.deadline_seconds = ",
                                                  deadline_seconds, " s after submission; stored records kept"));
}

}  // namespace

JobManager::JobManager(JobStore* store, ModelRegistry* registry, Scheduler* scheduler, Metrics* metrics,
                       PathPolicy model_paths, JobLimits limits)
    : store_(store),
      registry_(registry),
      scheduler_(scheduler),
      metrics_(metrics),
      model_paths_(std::move(model_paths)),
      limits_(limits),
      health_(limits.device_rest) {}

void JobManager::SetWorkers(const std::vector<DeviceSlot>& workers) {
  absl::MutexLock lock(&mu_);
  for (const DeviceSlot& slot : workers) {
    health_.Add(slot.name);
    if (metrics_ != nullptr) metrics_->SetDeviceInRotation(slot.name, true);
  }
}

std::string JobManager::NewJobId() const {
  // Short, unique and sortable by submission time: j-<unix ms>-<32 random bits>.
  static std::mt19937_64 rng(std::random_device{}());
  static absl::Mutex rng_mu(absl::kConstInit);
  absl::MutexLock lock(&rng_mu);
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  return absl::StrFormat("j-%013d-%08x", ms, static_cast<uint32_t>(rng()));
}

absl::Status JobManager::Recover() {
  absl::Cleanup flush = [this] {
    FlushEnds();
    PublishStoreBytes();
  };
  absl::MutexLock lock(&mu_);
  for (const JobStore::RecoveredJob& recovered : store_->recovered()) {
    const StoredJob& stored = recovered.spec;
    const bool finished = recovered.end.has_value();
    absl::StatusOr<JobSpec> spec = SpecFromStored(stored, /*with_puzzles=*/!finished);
    if (!spec.ok()) return spec.status();
    JobEntry& job = AddJob(stored.job_id(), *std::move(spec), stored.submitted_unix());
    JobStatus& status = job.status;
    status.records_stored = recovered.records;
    status.records_failed = recovered.failed_records;
    status.compute_seconds = recovered.compute_seconds;
    if (finished) {
      job.finished->store(true);
      status.state = recovered.end->state;
      status.error = recovered.end->error;
      status.finished_unix = recovered.end->finished_unix;
      continue;
    }
    status.state = recovered.records > 0 ? JobState::kRunning : JobState::kQueued;
    // Options this core refuses (a store written by another version) fail
    // that job, naming why, instead of the server's start.
    if (absl::Status invalid = measure::ValidateOptions(status.spec.options); !invalid.ok()) {
      FinishJob(stored.job_id(), job, JobState::kFailed,
                absl::StrCat("stored options: ", invalid.message(), "; stored records kept"));
      continue;
    }
    RRM_ASSIGN_OR_RETURN(auto done, store_->StoredKeys(stored.job_id()));
    Enqueue(stored.job_id(), job, done);
    MaybeFinish(stored.job_id());
  }
  PublishJobCounts();
  return absl::OkStatus();
}

absl::StatusOr<ModelInfo> JobManager::LoadModel(const ModelLoad& request) {
  RRM_ASSIGN_OR_RETURN(std::string checkpoint, model_paths_.Resolve("checkpoint_path", request.checkpoint_path));
  std::string config;
  if (!request.config_path.empty()) {
    RRM_ASSIGN_OR_RETURN(config, model_paths_.Resolve("config_path", request.config_path));
  }
  absl::StatusOr<ModelInfo> info = registry_->Load(request.name, checkpoint, config, request.overrides, request.devices);
  scheduler_->Poke();  // queued jobs of this model may run now
  return info;
}

absl::StatusOr<ModelInfo> JobManager::PreloadModel(const std::string& name, const std::string& checkpoint_path) {
  absl::StatusOr<ModelInfo> info = registry_->Load(name, checkpoint_path, "", {}, {});
  scheduler_->Poke();
  return info;
}

absl::Status JobManager::UnloadModel(const std::string& name) {
  absl::MutexLock submit_lock(&submit_mu_);
  absl::MutexLock lock(&mu_);
  std::vector<std::string> users;
  for (const auto& [id, job] : jobs_) {
    if (job.status.spec.model == name && !IsFinished(job.status.state)) users.push_back(id);
  }
  if (!users.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("name: model '", name, "' is in use by ", users.size(),
                                                      " unfinished job(s): ", absl::StrJoin(users, ", "),
                                                      "; cancel them or wait for them to finish"));
  }
  return registry_->Remove(name);
}

std::vector<ModelInfo> JobManager::ListModels() const { return registry_->List(); }

absl::StatusOr<SubmitResult> JobManager::Submit(JobSpec spec) {
  absl::MutexLock submit_lock(&submit_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (!spec.idempotency_key.empty()) {
      auto it = idempotency_.find({spec.owner, spec.idempotency_key});
      if (it != idempotency_.end()) {
        const JobStatus& existing = jobs_.at(it->second).status;
        if (existing.spec.model != spec.model) {
          return absl::AlreadyExistsError(absl::StrCat("idempotency_key: '", spec.idempotency_key,
                                                       "' was used for job ", existing.job_id, " on model '",
                                                       existing.spec.model, "', found model '", spec.model, "'"));
        }
        return SubmitResult{existing.job_id, /*existing=*/true, existing.spec.total_records()};
      }
    }
    int64_t active = 0;
    for (const auto& [id, job] : jobs_) {
      if (job.status.spec.owner == spec.owner && !IsFinished(job.status.state)) ++active;
    }
    if (active >= limits_.max_active_jobs_per_owner) {
      return absl::ResourceExhaustedError(absl::StrCat("jobs: expected at most ", limits_.max_active_jobs_per_owner,
                                                       " unfinished jobs per caller (--max_jobs_per_token), found ",
                                                       active, "; wait or cancel one"));
    }
  }
  const std::optional<ModelInfo> model_info = registry_->Info(spec.model);
  if (!model_info.has_value()) {  // unloaded since the spec was parsed
    return absl::NotFoundError(absl::StrCat("model: expected a loaded model (", absl::StrJoin(registry_->Names(), ", "),
                                            "), found '", spec.model, "'"));
  }

  // Durable before acknowledged; the model as loaded now travels with the
  // job and every export (issue #14).
  spec.provenance = ProvenanceOf(*model_info);
  StoredJob stored = SpecToStored(spec);
  stored.set_job_id(NewJobId());
  stored.set_submitted_unix(UnixNow());
  RRM_RETURN_IF_ERROR(store_->Create(stored));
  PublishStoreBytes();

  const int64_t total_records = spec.total_records();
  absl::MutexLock lock(&mu_);
  JobEntry& job = AddJob(stored.job_id(), std::move(spec), stored.submitted_unix());
  Enqueue(stored.job_id(), job, {});
  if (metrics_ != nullptr) metrics_->JobSubmitted();
  PublishJobCounts();
  return SubmitResult{stored.job_id(), /*existing=*/false, total_records};
}

JobManager::JobEntry& JobManager::AddJob(const std::string& job_id, JobSpec spec, double submitted_unix) {
  JobEntry& job = jobs_[job_id];
  if (!spec.idempotency_key.empty()) idempotency_[{spec.owner, spec.idempotency_key}] = job_id;
  job.status.job_id = job_id;
  job.status.submitted_unix = submitted_unix;
  job.status.spec = std::move(spec);
  SetUpStop(job);
  return job;
}

JobStatus JobManager::Snapshot(const JobEntry& job) {
  JobStatus status = job.status;
  status.spec.puzzles.reset();  // a copy for answers; the puzzles stay with the job
  status.spec.options.stop = nullptr;
  return status;
}

void JobManager::Enqueue(const std::string& job_id, JobEntry& job,
                         const absl::flat_hash_set<std::pair<int32_t, int32_t>>& done) {
  const JobSpec& spec = job.status.spec;
  std::vector<WorkItem> items;
  const int64_t n = spec.examples;
  // `done` holds stored (example_index, restart) keys; items count positions.
  auto stored = [&](int64_t position, int32_t restart) {
    return done.contains({static_cast<int32_t>(spec.options.first_example_index + position), restart});
  };
  for (int32_t restart = 0; restart < spec.restarts; ++restart) {
    int64_t begin = 0;
    while (begin < n) {
      if (stored(begin, restart)) {
        ++begin;
        continue;
      }
      int64_t end = begin + 1;
      while (end < n && end - begin < spec.batch_size && !stored(end, restart)) ++end;
      WorkItem item;
      item.job_id = job_id;
      item.model = spec.model;
      item.restart = restart;
      item.begin = begin;
      item.end = end;
      items.push_back(std::move(item));
      begin = end;
    }
  }
  scheduler_->Add(job_id, spec.priority, std::move(items));
  if (metrics_ != nullptr) metrics_->SetQueueDepth(static_cast<double>(scheduler_->depth()));
}

absl::Status JobManager::CheckAccess(const std::string& job_id, const Caller& caller) const {
  auto it = jobs_.find(job_id);
  // Someone else's job answers exactly as an unknown id (issue #18 "Tenants").
  if (it == jobs_.end() || !caller.MayAccess(it->second.status.spec.owner)) {
    return absl::NotFoundError(absl::StrCat("job_id: no job '", job_id, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobStatus> JobManager::Get(const std::string& job_id, const Caller& caller) const {
  absl::MutexLock lock(&mu_);
  RRM_RETURN_IF_ERROR(CheckAccess(job_id, caller));
  return Snapshot(jobs_.at(job_id));
}

std::vector<JobStatus> JobManager::List(std::optional<JobState> state, const Caller& caller) const {
  absl::MutexLock lock(&mu_);
  std::vector<JobStatus> result;
  for (const auto& [id, job] : jobs_) {
    if (!caller.MayAccess(job.status.spec.owner)) continue;
    if (!state.has_value() || job.status.state == *state) result.push_back(Snapshot(job));
  }
  return result;
}

absl::StatusOr<JobStatus> JobManager::Cancel(const std::string& job_id, const Caller& caller) {
  absl::Cleanup flush = [this] { FlushEnds(); };  // answers once the end is durable
  absl::MutexLock lock(&mu_);
  RRM_RETURN_IF_ERROR(CheckAccess(job_id, caller));
  JobEntry& job = jobs_.at(job_id);
  if (IsFinished(job.status.state)) {
    return absl::FailedPreconditionError(absl::StrCat("job_id: job '", job_id, "' already finished as ",
                                                      JobStateName(job.status.state)));
  }
  FinishJob(job_id, job, JobState::kCancelled, "cancelled by CancelJob");
  return Snapshot(job);
}

absl::Status JobManager::Delete(const std::string& job_id, const Caller& caller) {
  {
    absl::MutexLock lock(&mu_);
    RRM_RETURN_IF_ERROR(CheckAccess(job_id, caller));
    JobEntry& job = jobs_.at(job_id);
    if (!IsFinished(job.status.state)) FinishJob(job_id, job, JobState::kCancelled, "cancelled by DeleteJob");
  }
  FlushEnds();
  return Remove(job_id);
}

int64_t JobManager::DeleteFinishedBefore(absl::Time cutoff) {
  std::vector<std::string> old;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, job] : jobs_) {
      if (IsFinished(job.status.state) && absl::UnixEpoch() + absl::Seconds(job.status.finished_unix) < cutoff) {
        old.push_back(id);
      }
    }
  }
  int64_t deleted = 0;
  for (const std::string& id : old) {
    if (absl::Status status = Remove(id); status.ok()) {
      ++deleted;
    } else {
      std::cerr << "rrmd: --retain_finished_days: job " << id << ": " << status << "\n";
    }
  }
  return deleted;
}

absl::Status JobManager::Remove(const std::string& job_id) {
  // Files first: if they cannot be removed the job stays listed and can be deleted again.
  RRM_RETURN_IF_ERROR(store_->Delete(job_id));
  {
    absl::MutexLock lock(&mu_);
    if (auto it = jobs_.find(job_id); it != jobs_.end()) {
      const JobSpec& spec = it->second.status.spec;
      if (!spec.idempotency_key.empty()) idempotency_.erase({spec.owner, spec.idempotency_key});
      jobs_.erase(it);
    }
    PublishJobCounts();
  }
  PublishStoreBytes();
  return absl::OkStatus();
}

void JobManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  scheduler_->Shutdown();
}

std::optional<Assignment> JobManager::Next(const DeviceSlot& worker, absl::Duration timeout) {
  bool may_work = false;
  {
    absl::MutexLock lock(&mu_);
    ExpireDeadlines();
    DeviceHealth::Change change;
    may_work = health_.MayWork(worker.name, absl::Now(), &change);
    if (change == DeviceHealth::Change::kBackOnProbation) {
      if (metrics_ != nullptr) metrics_->SetDeviceInRotation(worker.name, true);
      std::cerr << "rrmd: putting " << worker.name << " back into rotation after resting "
                << absl::FormatDuration(health_.Rest(worker.name)) << "\n";
    }
  }
  FlushEnds();  // of the deadlines expired above
  if (!may_work) {
    // Out of rotation: idle (the worker thread keeps polling for shutdown).
    absl::SleepFor(timeout);
    return std::nullopt;
  }
  std::optional<WorkItem> item = scheduler_->Next(
      worker.name, [&](const WorkItem& w) { return registry_->Find(w.model, worker.name) != nullptr; }, timeout);
  if (metrics_ != nullptr) metrics_->SetQueueDepth(static_cast<double>(scheduler_->depth()));
  if (!item.has_value()) return std::nullopt;
  std::shared_ptr<const model::RecurrentModel> replica = registry_->Find(item->model, worker.name);
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(item->job_id);
  if (it == jobs_.end() || IsFinished(it->second.status.state)) return std::nullopt;  // cancelled meanwhile
  if (replica == nullptr) {
    scheduler_->Requeue({*std::move(item)});
    return std::nullopt;
  }
  JobEntry& job = it->second;
  JobStatus& status = job.status;
  if (status.state == JobState::kQueued) {
    status.state = JobState::kRunning;
    status.started_unix = UnixNow();
    PublishJobCounts();
  } else if (status.started_unix == 0) {
    status.started_unix = UnixNow();
  }
  ++job.in_flight;
  Assignment assignment;
  assignment.item = *std::move(item);
  assignment.puzzles = status.spec.puzzles;
  assignment.options = status.spec.options;
  assignment.model = std::move(replica);
  return assignment;
}

std::vector<measure::ExampleRecord> JobManager::ErrorRecords(const Assignment& a, const DeviceSlot& worker,
                                                             const absl::Status& status) const {
  std::vector<measure::ExampleRecord> records;
  for (int64_t e = a.item.begin; e < a.item.end; ++e) {
    measure::ExampleRecord r;
    r.example_index = static_cast<int32_t>(a.options.first_example_index + e);
    r.puzzle_id = e < static_cast<int64_t>(a.puzzles->puzzle_ids.size()) ? a.puzzles->puzzle_ids[e]
                                                                          : std::to_string(r.example_index);
    r.givens = e < static_cast<int64_t>(a.puzzles->givens.size()) ? a.puzzles->givens[e] : -1;
    r.restart = a.item.restart;
    r.restart_kind = measure::RestartKindName(a.item.restart > 0 ? a.options.restart_kind : measure::RestartKind::kNone);
    r.seed = a.options.lyapunov_seed;
    r.device = worker.name;
    r.error = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
    records.push_back(std::move(r));
  }
  return records;
}

void JobManager::Complete(const DeviceSlot& worker, Assignment a,
                          absl::StatusOr<std::vector<measure::ExampleRecord>> result) {
  absl::Cleanup flush = [this] { FlushEnds(); };  // after every lock below is released
  std::vector<measure::ExampleRecord> records;
  if (result.ok()) {
    records = *std::move(result);
    absl::MutexLock lock(&mu_);
    health_.Succeeded(worker.name);
  } else {
    const absl::Status& status = result.status();
    absl::MutexLock lock(&mu_);
    auto found = jobs_.find(a.item.job_id);
    if (found == jobs_.end()) return;  // deleted meanwhile
    JobEntry& job = found->second;
    if (status.code() == absl::StatusCode::kCancelled || status.code() == absl::StatusCode::kDeadlineExceeded) {
      // The item stopped at a segment boundary (options.stop): the job was
      // finished meanwhile (CancelJob, a failure) or passed its deadline.
      // Nothing of it is stored; what was stored before stays.
      if (status.code() == absl::StatusCode::kDeadlineExceeded && !IsFinished(job.status.state)) {
        FinishJob(a.item.job_id, job, JobState::kFailed, std::string(status.message()));
      }
      if (metrics_ != nullptr) metrics_->ItemStopped();
      --job.in_flight;
      return;
    }
    const bool oom = status.code() == absl::StatusCode::kResourceExhausted;
    if (oom && a.item.size() > 1) {
      // Out of memory: halve the micro-batch and try again (SPEC: no example is lost).
      WorkItem first = a.item, second = a.item;
      first.end = second.begin = a.item.begin + a.item.size() / 2;
      scheduler_->Requeue({std::move(first), std::move(second)});
      --job.in_flight;
      return;
    }
    if (DeviceFault(status)) {
      if (health_.Failed(worker.name, absl::Now()) == DeviceHealth::Change::kTakenOut) {
        if (metrics_ != nullptr) metrics_->SetDeviceInRotation(worker.name, false);
        std::cerr << "rrmd: taking " << worker.name << " out of rotation for "
                  << absl::FormatDuration(health_.Rest(worker.name)) << " after "
                  << health_.ConsecutiveFailures(worker.name) << " failed work items; last: " << status << "\n";
      }
      a.item.attempts += 1;
      a.item.failed_on.insert(worker.name);
      const bool another = health_.AnyInRotationExcept(a.item.failed_on);
      if (another && a.item.attempts < 2) {
        scheduler_->Requeue({a.item});
        --job.in_flight;
        return;
      }
    }
    records = ErrorRecords(a, worker, status);
  }

  StoreRecords(a.item.job_id, std::move(records));
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(a.item.job_id);
  if (it == jobs_.end()) return;
  --it->second.in_flight;
  MaybeFinish(a.item.job_id);
}

void JobManager::StoreRecords(const std::string& job_id, std::vector<measure::ExampleRecord> records) {
  std::string model;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || IsFinished(it->second.status.state)) return;  // cancelled: results dropped
    model = it->second.status.spec.model;
  }
  for (measure::ExampleRecord& r : records) {
    r.job_id = job_id;
    r.model = model;  // SPEC §5 populations: which model produced it
  }
  // Durable first (the store fdatasync's), then visible to GetJob and streams.
  absl::StatusOr<JobStore::AppendResult> appended = store_->Append(job_id, records);
  // A full disk pauses the job: these records, computed at a device's cost,
  // wait here until the append succeeds (see the header).
  while (appended.status().code() == absl::StatusCode::kResourceExhausted) {
    {
      absl::MutexLock lock(&mu_);
      ExpireDeadlines();  // a paused job's deadline still applies
      auto it = jobs_.find(job_id);
      if (it == jobs_.end() || IsFinished(it->second.status.state) || stopping_) return;
      JobStatus& status = it->second.status;
      if (status.paused.empty()) {
        std::cerr << "rrmd: job " << job_id << " paused: " << appended.status() << "; retrying every "
                  << absl::FormatDuration(kDiskFullRetry) << "\n";
      }
      status.paused = absl::StrCat("disk full: ", appended.status().message(),
                                   "; the records computed are kept and stored once there is space");
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kDiskFullRetry);
    }
    appended = store_->Append(job_id, records);
  }
  if (!appended.ok()) {
    if (appended.status().code() != absl::StatusCode::kFailedPrecondition) {
      std::cerr << "rrmd: job " << job_id << ": " << appended.status() << "\n";
      absl::MutexLock lock(&mu_);
      auto it = jobs_.find(job_id);
      if (it != jobs_.end() && !IsFinished(it->second.status.state)) {
        FinishJob(job_id, it->second, JobState::kFailed,
                  absl::StrCat("storing records: ", appended.status().message()));
      }
    }
    return;
  }
  if (metrics_ != nullptr) {
    metrics_->RecordsStored(static_cast<double>(appended->appended.size()), static_cast<double>(appended->bytes));
  }
  PublishStoreBytes();
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  JobStatus& status = it->second.status;
  if (!status.paused.empty()) {
    std::cerr << "rrmd: job " << job_id << " resumed: its records are stored again\n";
    status.paused.clear();
  }
  for (size_t index : appended->appended) {
    const measure::ExampleRecord& r = records[index];
    const bool failed = !r.error.empty();
    status.records_stored += 1;
    status.compute_seconds += r.compute_seconds;
    if (failed) {
      status.records_failed += 1;
      if (status.errors.size() < kMaxErrorsShown &&
          std::find(status.errors.begin(), status.errors.end(), r.error) == status.errors.end()) {
        status.errors.push_back(r.error);
      }
    }
    if (metrics_ != nullptr) metrics_->ExampleDone(model, failed, r.compute_seconds);
  }
}

void JobManager::MaybeFinish(const std::string& job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  const JobStatus& status = job.status;
  if (IsFinished(status.state) || job.in_flight > 0 || status.records_stored < status.spec.total_records()) return;
  FinishJob(job_id, job, JobState::kSucceeded, "");
}

void JobManager::FinishJob(const std::string& job_id, JobEntry& job, JobState state, const std::string& error) {
  job.finished->store(true);  // running items stop at their next segment boundary
  scheduler_->Drop(job_id);
  JobStatus& status = job.status;
  status.state = state;
  status.error = error;
  status.paused.clear();
  status.finished_unix = UnixNow();
  ends_to_write_.emplace_back(job_id, JobEnd{state, error, status.finished_unix});
  status.spec.puzzles.reset();  // the stored spec keeps them
  if (metrics_ != nullptr) metrics_->SetQueueDepth(static_cast<double>(scheduler_->depth()));
  PublishJobCounts();
}

void JobManager::FlushEnds() {
  absl::MutexLock flush_lock(&flush_mu_);
  std::vector<std::pair<std::string, JobEnd>> ends;
  {
    absl::MutexLock lock(&mu_);
    ends.swap(ends_to_write_);
  }
  for (const auto& [job_id, end] : ends) {
    // NOT_FOUND: deleted meanwhile, nothing left to seal.
    if (absl::Status status = store_->Finish(job_id, end); !status.ok() && !absl::IsNotFound(status)) {
      std::cerr << "rrmd: job " << job_id << ": " << status << "\n";
    }
  }
  PublishStoreBytes();
}

void JobManager::PublishStoreBytes() {
  // The store counts every byte it writes and deletes; this only copies it.
  if (metrics_ != nullptr) metrics_->SetStoreBytes(static_cast<double>(store_->TotalBytes()));
}

void JobManager::PublishJobCounts() {
  if (metrics_ == nullptr) return;
  std::map<std::string, double> counts{{"queued", 0}, {"running", 0}, {"succeeded", 0}, {"failed", 0}, {"cancelled", 0}};
  for (const auto& [id, job] : jobs_) counts[JobStateName(job.status.state)] += 1;
  for (const auto& [state, count] : counts) metrics_->SetJobs(state, count);
}

void JobManager::SetUpStop(JobEntry& job) {
  const int64_t deadline_seconds = job.status.spec.deadline_seconds;
  if (deadline_seconds > 0) {
    job.deadline = absl::UnixEpoch() + absl::Seconds(job.status.submitted_unix) + absl::Seconds(deadline_seconds);
  }
  job.status.spec.options.stop = [finished = job.finished, deadline = job.deadline, deadline_seconds]() -> absl::Status {
    if (finished->load()) return absl::CancelledError("the job finished while this item ran");
    if (absl::Now() >= deadline) return DeadlineError(deadline_seconds);
    return absl::OkStatus();
  };
}

void JobManager::ExpireDeadlines() {
  const absl::Time now = absl::Now();
  for (auto& [id, job] : jobs_) {
    if (!IsFinished(job.status.state) && now >= job.deadline) {
      FinishJob(id, job, JobState::kFailed, std::string(DeadlineError(job.status.spec.deadline_seconds).message()));
    }
  }
}

}  // namespace rrm::server
