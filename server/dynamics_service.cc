#include "server/dynamics_service.h"

#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/analysis/analysis.h"
#include "core/common/status.h"
#include "server/status_proto.h"
#include "wire/analysis_proto.h"
#include "wire/record_proto.h"

namespace rrm::server {
namespace {

constexpr int64_t kReadAhead = 64;  // records read from the store per refill

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// An RPC's outcome as its gRPC status (the one mapping), counted in rrm_rpcs_total.
grpc::Status Counted(Metrics* metrics, const char* method, const absl::Status& status) {
  const grpc::Status answer = ToGrpcStatus(status);
  if (metrics != nullptr) metrics->Rpc(method, CodeName(answer.error_code()));
  return answer;
}

// The state of one StreamRecords call, shared between the reactor (gRPC's
// threads) and store wake-ups (worker threads). Wake-ups hold it weakly, so
// they become no-ops once the call is over.
class Follower : public std::enable_shared_from_this<Follower> {
 public:
  Follower(JobStore* store, std::string job_id, int64_t from, grpc::ServerWriteReactor<v1::ExampleRecord>* reactor,
           std::function<void(const grpc::Status&)> on_finish)
      : store_(store), job_id_(std::move(job_id)), next_(from), reactor_(reactor), on_finish_(std::move(on_finish)) {}

  // Sends the next record if none is in flight, finishes if the job is over,
  // or waits for the store to wake it.
  void Pump() {
    std::optional<int64_t> subscribe_at;
    {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr || writing_ || finished_) return;
      if (ahead_.empty()) {
        absl::StatusOr<JobStore::LogState> state = store_->State(job_id_);
        absl::StatusOr<std::vector<v1::ExampleRecord>> records =
            state.ok() ? store_->Read(job_id_, next_, kReadAhead) : state.status();
        if (!records.ok()) {
          FinishLocked(grpc::Status(grpc::StatusCode::INTERNAL, std::string(records.status().message())));
          return;
        }
        next_ += static_cast<int64_t>(records->size());
        for (v1::ExampleRecord& r : *records) ahead_.push_back(std::move(r));
        if (ahead_.empty()) {
          if (state->finished) {
            FinishLocked(grpc::Status::OK);  // everything up to the end was sent
            return;
          }
          subscribe_at = next_;
        }
      }
      if (!subscribe_at.has_value()) {
        current_ = std::move(ahead_.front());
        ahead_.pop_front();
        writing_ = true;
        reactor_->StartWrite(&current_);
        return;
      }
    }
    // Outside the lock: Subscribe may call the wake-up at once.
    std::weak_ptr<Follower> weak = weak_from_this();
    store_->Subscribe(job_id_, *subscribe_at, [weak]() {
      if (auto self = weak.lock()) self->Pump();
    });
  }

  void WriteDone(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
        return;
      }
    }
    Pump();
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void Detach() {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
  }

 private:
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || reactor_ == nullptr) return;
    finished_ = true;
    on_finish_(status);
    reactor_->Finish(status);
  }

  JobStore* const store_;
  const std::string job_id_;
  absl::Mutex mu_;
  int64_t next_ ABSL_GUARDED_BY(mu_);  // stream index of the next record to read
  std::deque<v1::ExampleRecord> ahead_ ABSL_GUARDED_BY(mu_);
  v1::ExampleRecord current_ ABSL_GUARDED_BY(mu_);  // the record being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ServerWriteReactor<v1::ExampleRecord>* reactor_ ABSL_GUARDED_BY(mu_);
  std::function<void(const grpc::Status&)> on_finish_;
};

class RecordStream final : public grpc::ServerWriteReactor<v1::ExampleRecord> {
 public:
  RecordStream(JobStore* store, const std::string& job_id, int64_t from, Metrics* metrics)
      : follower_(std::make_shared<Follower>(store, job_id, from, this, [metrics](const grpc::Status& status) {
          if (metrics != nullptr) metrics->Rpc("StreamRecords", CodeName(status.error_code()));
        })) {
    follower_->Pump();
  }
  void OnWriteDone(bool ok) override { follower_->WriteDone(ok); }
  void OnCancel() override { follower_->Cancel(); }
  void OnDone() override {
    follower_->Detach();
    delete this;
  }

 private:
  std::shared_ptr<Follower> follower_;
};

// The answer when every analysis thread is busy and the queue is full.
absl::Status Busy(const BoundedExecutor& executor) {
  return absl::ResourceExhaustedError(absl::StrCat("analysis: ", executor.threads(), " analyses running and ",
                                                   executor.max_queued(), " waiting, the most this server queues; "
                                                   "retry later"));
}

// AnalyzeRecords: collects the caller's records message by message, then
// runs the same analysis as Analyze once the caller half-closes.
class RecordsAnalysis final : public grpc::ServerReadReactor<v1::AnalyzeRecordsRequest> {
 public:
  // Bounds the memory one call may hold (a record with 16 segments and k = 4
  // is ~3 KB in memory).
  static constexpr int64_t kMaxRecords = 1000000;

  RecordsAnalysis(const absl::Status& auth, v1::AnalyzeResponse* response, Metrics* metrics,
                  BoundedExecutor* executor)
      : response_(response), metrics_(metrics), executor_(executor) {
    if (!auth.ok()) {
      Answer(auth);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the caller half-closed: everything has arrived
      // Off gRPC's callback threads (see UnaryOffThread); Answer's Finish is
      // the task's last touch of this reactor.
      if (!executor_->TrySubmit([this] { Answer(Analyze()); })) Answer(Busy(*executor_));
      return;
    }
    if (first_) {
      first_ = false;
      absl::StatusOr<analysis::AnalysisParameters> parameters = wire::AnalysisParametersFromProto(request_.parameters());
      if (!parameters.ok()) {
        Answer(parameters.status());
        return;
      }
      parameters_ = *parameters;
    }
    if (static_cast<int64_t>(records_.size()) + request_.records_size() > kMaxRecords) {
      Answer(absl::InvalidArgumentError(absl::StrCat("records: expected at most ", kMaxRecords,
                                                     " records per AnalyzeRecords call, found more")));
      return;
    }
    for (const v1::ExampleRecord& r : request_.records()) records_.push_back(wire::RecordFromProto(r));
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Analyze() {
    if (first_) return absl::InvalidArgumentError("records: expected at least one message, found none");
    absl::StatusOr<analysis::Report> report = analysis::Analyze(records_, parameters_);
    if (!report.ok()) return report.status();
    *response_ = wire::ReportToProto(*report);
    response_->set_complete(true);
    return absl::OkStatus();
  }

  // Finishes the call (gRPC sends *response_ with an OK status) and counts it.
  void Answer(const absl::Status& status) {
    Finish(Counted(metrics_, "AnalyzeRecords", status));
  }

  v1::AnalyzeResponse* const response_;
  Metrics* const metrics_;
  BoundedExecutor* const executor_;
  v1::AnalyzeRecordsRequest request_;
  bool first_ = true;
  analysis::AnalysisParameters parameters_;
  std::vector<measure::ExampleRecord> records_;
};

class FailedStream final : public grpc::ServerWriteReactor<v1::ExampleRecord> {
 public:
  explicit FailedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

DynamicsService::DynamicsService(JobManager* jobs, const JobSpecParser* parser, const Authenticator* auth,
                                 Metrics* metrics)
    : jobs_(jobs), parser_(parser), auth_(auth), metrics_(metrics) {}

absl::StatusOr<Caller> DynamicsService::Authenticate(grpc::CallbackServerContext* context) const {
  std::optional<std::string> authorization;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = std::string(it->second.data(), it->second.size());
  }
  return auth_->Check(authorization);
}

// For calls that may compute for minutes (the analysis of a large job): gRPC
// runs reactions on a few callback threads, and blocking them would stall
// record streams and the health checks a Kubernetes liveness probe relies on.
// The request and response stay valid until Finish; server shutdown waits
// for it.
template <typename Fn>
grpc::ServerUnaryReactor* DynamicsService::UnaryOffThread(grpc::CallbackServerContext* context, const char* method,
                                                          Fn&& fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = Authenticate(context);
  const bool queued = analyses_.TrySubmit(
      [this, reactor, method, caller = std::move(caller), fn = std::forward<Fn>(fn)]() mutable {
        reactor->Finish(Counted(metrics_, method, caller.ok() ? fn(*caller) : caller.status()));
      });
  if (!queued) reactor->Finish(Counted(metrics_, method, Busy(analyses_)));
  return reactor;
}

template <typename Fn>
grpc::ServerUnaryReactor* DynamicsService::Unary(grpc::CallbackServerContext* context, const char* method, Fn&& fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = Authenticate(context);
  const absl::Status status = caller.ok() ? fn(*caller) : caller.status();
  reactor->Finish(Counted(metrics_, method, status));
  return reactor;
}

grpc::ServerUnaryReactor* DynamicsService::ListModels(grpc::CallbackServerContext* context,
                                                      const v1::ListModelsRequest* request,
                                                      v1::ListModelsResponse* response) {
  return Unary(context, "ListModels", [&](const Caller&) {
    for (const ModelInfo& info : jobs_->ListModels()) *response->add_models() = ModelInfoToProto(info);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DynamicsService::LoadModel(grpc::CallbackServerContext* context,
                                                     const v1::LoadModelRequest* request, v1::ModelInfo* response) {
  return Unary(context, "LoadModel", [&](const Caller&) {
    ModelLoad load;
    load.name = request->name();
    load.checkpoint_path = request->checkpoint_path();
    load.config_path = request->config_path();
    load.overrides.assign(request->overrides().begin(), request->overrides().end());
    load.devices.assign(request->devices().begin(), request->devices().end());
    absl::StatusOr<ModelInfo> info = jobs_->LoadModel(load);
    if (info.ok()) *response = ModelInfoToProto(*info);
    return info.status();
  });
}

grpc::ServerUnaryReactor* DynamicsService::UnloadModel(grpc::CallbackServerContext* context,
                                                       const v1::UnloadModelRequest* request,
                                                       v1::UnloadModelResponse* response) {
  return Unary(context, "UnloadModel", [&](const Caller&) { return jobs_->UnloadModel(request->name()); });
}

grpc::ServerUnaryReactor* DynamicsService::SubmitJob(grpc::CallbackServerContext* context,
                                                     const v1::SubmitJobRequest* request,
                                                     v1::SubmitJobResponse* response) {
  return Unary(context, "SubmitJob", [&](const Caller& caller) -> absl::Status {
    RRM_ASSIGN_OR_RETURN(JobSpec spec, parser_->Parse(*request, caller));
    RRM_ASSIGN_OR_RETURN(const SubmitResult submitted, jobs_->Submit(std::move(spec)));
    response->set_job_id(submitted.job_id);
    response->set_existing(submitted.existing);
    response->set_total_records(submitted.total_records);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DynamicsService::GetJob(grpc::CallbackServerContext* context,
                                                  const v1::GetJobRequest* request, v1::Job* response) {
  return Unary(context, "GetJob", [&](const Caller& caller) {
    absl::StatusOr<JobStatus> job = jobs_->Get(request->job_id(), caller);
    if (job.ok()) *response = JobToProto(*job);
    return job.status();
  });
}

grpc::ServerUnaryReactor* DynamicsService::ListJobs(grpc::CallbackServerContext* context,
                                                    const v1::ListJobsRequest* request,
                                                    v1::ListJobsResponse* response) {
  return Unary(context, "ListJobs", [&](const Caller& caller) {
    std::optional<JobState> state;  // JOB_STATE_UNSPECIFIED: every job
    if (request->state() != v1::JOB_STATE_UNSPECIFIED) {
      state = JobStateFromProto(request->state());
      if (!state.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("state: expected a JobState or JOB_STATE_UNSPECIFIED, found ", request->state()));
      }
    }
    for (const JobStatus& job : jobs_->List(state, caller)) *response->add_jobs() = JobToProto(job);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DynamicsService::CancelJob(grpc::CallbackServerContext* context,
                                                     const v1::CancelJobRequest* request, v1::Job* response) {
  return Unary(context, "CancelJob", [&](const Caller& caller) {
    absl::StatusOr<JobStatus> job = jobs_->Cancel(request->job_id(), caller);
    if (job.ok()) *response = JobToProto(*job);
    return job.status();
  });
}

grpc::ServerUnaryReactor* DynamicsService::DeleteJob(grpc::CallbackServerContext* context,
                                                     const v1::DeleteJobRequest* request, v1::DeleteJobResponse*) {
  return Unary(context, "DeleteJob", [&](const Caller& caller) { return jobs_->Delete(request->job_id(), caller); });
}

grpc::ServerUnaryReactor* DynamicsService::Analyze(grpc::CallbackServerContext* context,
                                                   const v1::AnalyzeRequest* request, v1::AnalyzeResponse* response) {
  return UnaryOffThread(context, "Analyze", [this, request, response](const Caller& caller) -> absl::Status {
    // The job's state before its records: a job that finishes in between is
    // analysed as stored and reported as incomplete, never the other way round.
    absl::StatusOr<JobStatus> job = jobs_->Get(request->job_id(), caller);
    if (!job.ok()) return job.status();
    absl::StatusOr<analysis::AnalysisParameters> parameters = wire::AnalysisParametersFromProto(request->parameters());
    if (!parameters.ok()) return parameters.status();
    std::vector<measure::ExampleRecord> records;
    for (int64_t from = 0;;) {
      absl::StatusOr<std::vector<v1::ExampleRecord>> chunk = jobs_->store()->Read(request->job_id(), from, 1024);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) break;
      from += static_cast<int64_t>(chunk->size());
      for (const v1::ExampleRecord& r : *chunk) records.push_back(wire::RecordFromProto(r));
    }
    absl::StatusOr<analysis::Report> report = analysis::Analyze(records, *parameters);
    if (!report.ok()) return report.status();
    *response = wire::ReportToProto(*report);
    response->set_job_id(request->job_id());
    response->set_job_state(JobStateToProto(job->state));
    const bool finished = IsFinished(job->state);
    response->set_complete(finished);
    if (!finished) {
      response->set_note(absl::StrCat("job ", request->job_id(), " is ", v1::JobState_Name(JobStateToProto(job->state)),
                                      ": analysed the ", records.size(), " of ", job->spec.total_records(),
                                      " records stored so far"));
    }
    return absl::OkStatus();
  });
}

grpc::ServerReadReactor<v1::AnalyzeRecordsRequest>* DynamicsService::AnalyzeRecords(
    grpc::CallbackServerContext* context, v1::AnalyzeResponse* response) {
  return new RecordsAnalysis(Authenticate(context).status(), response, metrics_, &analyses_);
}

grpc::ServerWriteReactor<v1::ExampleRecord>* DynamicsService::StreamRecords(grpc::CallbackServerContext* context,
                                                                           const v1::StreamRecordsRequest* request) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  absl::Status status = caller.status();
  if (status.ok() && request->from_index() < 0) {
    status = absl::InvalidArgumentError(
        absl::StrCat("from_index: expected a stream index >= 0, found ", request->from_index()));
  }
  // Visible to this caller (the owner check), and stored.
  if (status.ok()) status = jobs_->Get(request->job_id(), *caller).status();
  if (status.ok()) status = jobs_->store()->State(request->job_id()).status();
  if (!status.ok()) {
    return new FailedStream(Counted(metrics_, "StreamRecords", status));
  }
  return new RecordStream(jobs_->store(), request->job_id(), request->from_index(), metrics_);
}

}  // namespace rrm::server
