#include "client/cpp/client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace rrm {
namespace {

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

void Sleep(absl::Duration d) { std::this_thread::sleep_for(absl::ToChronoMilliseconds(d)); }

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

bool IsRetryable(const absl::Status& status) {
  // UNAVAILABLE: the server is down or restarting (also how a killed
  // connection reads). CANCELLED / ABORTED without our asking: a server
  // shutting down ends its calls that way.
  return absl::IsUnavailable(status) || absl::IsCancelled(status) || absl::IsAborted(status);
}

int ExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
      return kExitRefused;
    default:
      return kExitOther;
  }
}

absl::StatusOr<std::string> ParseTokenFile(absl::string_view text, const std::string& path) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (const size_t colon = line.find(':'); colon != absl::string_view::npos) {
      line = absl::StripAsciiWhitespace(line.substr(colon + 1));
    }
    if (!line.empty()) return std::string(line);
  }
  return absl::InvalidArgumentError(absl::StrCat("--token_file ", path, ": expected a token, found none"));
}

bool IsFinished(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target: expected HOST:PORT, found an empty string");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  if (options.tls && !options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  // gRPC's own reconnect backoff (1 s growing to 120 s by default) would
  // otherwise dominate how fast we notice a restarted server.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(options.target, credentials, args);
  return std::unique_ptr<Client>(new Client(options, std::move(channel)));
}

Client::Client(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options), channel_(std::move(channel)), stub_(v1::Dynamics::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::Context(bool with_deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (with_deadline) context->set_deadline(Deadline(options_.deadline));
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  return context;
}

absl::Status Client::Health() {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub->Check(context.get(), request, &response));
  if (!status.ok()) return status;
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat("health: expected SERVING, found ",
                                               grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::ModelInfo>> Client::ListModels() {
  v1::ListModelsResponse response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->ListModels(context.get(), {}, &response));
  if (!status.ok()) return status;
  return std::vector<v1::ModelInfo>(response.models().begin(), response.models().end());
}

absl::StatusOr<v1::ModelInfo> Client::LoadModel(const v1::LoadModelRequest& request) {
  v1::ModelInfo response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->LoadModel(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::Status Client::UnloadModel(const std::string& name) {
  v1::UnloadModelRequest request;
  request.set_name(name);
  v1::UnloadModelResponse response;
  auto context = Context();
  return FromGrpcStatus(stub_->UnloadModel(context.get(), request, &response));
}

absl::StatusOr<v1::SubmitJobResponse> Client::Submit(const v1::SubmitJobRequest& request) {
  v1::SubmitJobResponse response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->SubmitJob(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::Job> Client::GetJob(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->GetJob(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<v1::Job>> Client::ListJobs(v1::JobState state) {
  v1::ListJobsRequest request;
  request.set_state(state);
  v1::ListJobsResponse response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->ListJobs(context.get(), request, &response));
  if (!status.ok()) return status;
  return std::vector<v1::Job>(response.jobs().begin(), response.jobs().end());
}

absl::StatusOr<v1::Job> Client::CancelJob(const std::string& job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::Job response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->CancelJob(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::Status Client::DeleteJob(const std::string& job_id) {
  v1::DeleteJobRequest request;
  request.set_job_id(job_id);
  v1::DeleteJobResponse response;
  auto context = Context();
  return FromGrpcStatus(stub_->DeleteJob(context.get(), request, &response));
}

absl::StatusOr<v1::AnalyzeResponse> Client::Analyze(const v1::AnalyzeRequest& request) {
  v1::AnalyzeResponse response;
  auto context = Context();
  absl::Status status = FromGrpcStatus(stub_->Analyze(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::AnalyzeResponse> Client::AnalyzeRecords(const v1::AnalysisParameters& parameters,
                                                           const std::vector<v1::ExampleRecord>& records) {
  constexpr size_t kRecordsPerMessage = 1000;  // ~3 MB, far below any message limit
  v1::AnalyzeResponse response;
  // Analysing 1M records with bootstrap CIs takes minutes, not the unary deadline.
  auto context = Context(/*with_deadline=*/false);
  auto writer = stub_->AnalyzeRecords(context.get(), &response);
  v1::AnalyzeRecordsRequest message;
  *message.mutable_parameters() = parameters;
  size_t next = 0;
  do {  // at least one message, which carries the parameters
    const size_t end = std::min(records.size(), next + kRecordsPerMessage);
    for (; next < end; ++next) *message.add_records() = records[next];
    if (!writer->Write(message)) break;  // the server answered early (an error): Finish says why
    message.Clear();
  } while (next < records.size());
  writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (!status.ok()) return status;
  return response;
}

absl::Status Client::StreamRecords(const std::string& job_id, int64_t from_index,
                                   const std::function<absl::Status(const v1::ExampleRecord&)>& on_record,
                                   int64_t* received) {
  int64_t count = 0;
  if (received != nullptr) *received = 0;
  absl::Duration backoff = options_.initial_backoff;
  absl::Time give_up = absl::Now() + options_.retry_for;
  while (true) {
    auto context = Context(/*with_deadline=*/false);  // a stream follows the job for as long as it runs
    v1::StreamRecordsRequest request;
    request.set_job_id(job_id);
    request.set_from_index(from_index + count);
    auto reader = stub_->StreamRecords(context.get(), request);
    v1::ExampleRecord record;
    while (reader->Read(&record)) {
      absl::Status accepted = on_record(record);
      ++count;
      if (received != nullptr) *received = count;
      if (!accepted.ok()) {
        context->TryCancel();
        reader->Finish();
        return accepted;
      }
      backoff = options_.initial_backoff;  // progress: start the retry budget afresh
      give_up = absl::Now() + options_.retry_for;
    }
    const absl::Status status = FromGrpcStatus(reader->Finish());
    if (status.ok()) return status;  // the job has ended and every record was sent
    if (!IsRetryable(status)) return status;
    if (absl::Now() + backoff > give_up) {
      return absl::Status(status.code(),
                          absl::StrCat("stream of job ", job_id, " broke after ", from_index + count,
                                       " records and did not come back within ",
                                       absl::FormatDuration(options_.retry_for), ": ", status.message()));
    }
    Sleep(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<v1::Job> Client::WaitForJob(const std::string& job_id,
                                           const std::function<void(const v1::Job&)>& on_progress,
                                           absl::Duration poll) {
  return WaitUntilFinished(options_, [&] { return GetJob(job_id); }, on_progress, poll);
}

absl::StatusOr<v1::Job> WaitUntilFinished(const ClientOptions& options,
                                          const std::function<absl::StatusOr<v1::Job>()>& get,
                                          const std::function<void(const v1::Job&)>& on_progress,
                                          absl::Duration poll) {
  absl::Duration backoff = options.initial_backoff;
  absl::Time give_up = absl::Now() + options.retry_for;
  while (true) {
    absl::StatusOr<v1::Job> job = get();
    if (job.ok()) {
      if (on_progress) on_progress(*job);
      if (IsFinished(job->state())) return job;
      backoff = options.initial_backoff;
      give_up = absl::Now() + options.retry_for;
      Sleep(poll);
      continue;
    }
    if (!IsRetryable(job.status())) return job.status();
    if (absl::Now() + backoff > give_up) return job.status();
    Sleep(backoff);
    backoff = std::min(backoff * 2, options.max_backoff);
  }
}

}  // namespace rrm
