// rrm::Client: a small C++ client for rrmd (service rrm.v1.Dynamics), over
// the generated stubs. Every call returns absl::Status / absl::StatusOr; a
// gRPC status becomes the absl::Status of the same code and message (the
// server's message names the field, the expected and the found value).
//
// StreamRecords survives a server restart: it counts the records it has
// delivered and, when the stream breaks (UNAVAILABLE, or the connection is
// lost), reconnects with from_index = that count, the server's stream-index
// contract (proto: "reconnecting with the next index misses nothing and
// repeats nothing"). Backoff starts at `initial_backoff`, doubles up to
// `max_backoff`, and gives up once `retry_for` has passed without a record.
//
// Thread safety: a Client may be used from several threads at once (gRPC
// stubs are thread-safe); it must not be copied.
#ifndef RRM_CLIENT_CPP_CLIENT_H_
#define RRM_CLIENT_CPP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rrm/v1/dynamics.grpc.pb.h"

namespace rrm {

struct ClientOptions {
  std::string target = "127.0.0.1:50051";  // host:port (any gRPC target)
  bool tls = false;                        // TLS instead of plaintext
  std::string tls_root_certs;              // PEM; empty = the system's roots
  std::string tls_server_name;             // name the certificate must carry; empty = the target's host
  std::string token;                       // sent as `authorization: Bearer <token>` when non-empty
  absl::Duration deadline = absl::Seconds(60);  // per unary call
  // StreamRecords / WaitForJob reconnection (see the header comment).
  absl::Duration retry_for = absl::Seconds(60);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

// grpc::Status -> absl::Status, code for code.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The client contract shared with rrmdyn (client/python/rrmdyn/contract.py),
// both tested from one table, client/contract.json
// (tests/client/contract_test.cc, tests/python/test_contract.py).

// Whether a failed call may succeed when repeated against a restarted server.
bool IsRetryable(const absl::Status& status);

// The exit codes of rrmctl and `python3 -m rrmdyn`.
inline constexpr int kExitOk = 0, kExitOther = 1, kExitUsage = 2, kExitUnavailable = 3, kExitNotFound = 4,
                     kExitRefused = 5;
// The exit code of a command whose call ended with `status`.
int ExitCode(const absl::Status& status);

// The bearer token of a --token_file's text (`path` names it in errors): the
// first line that is neither blank nor a '#' comment; in the server's
// `name:token` form, the part after the first ':'. INVALID_ARGUMENT when
// there is none.
absl::StatusOr<std::string> ParseTokenFile(absl::string_view text, const std::string& path);

class Client {
 public:
  // Creates the channel (no I/O happens yet: a server that is down shows up
  // as UNAVAILABLE on the first call). INVALID_ARGUMENT for an empty target.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }

  // grpc.health.v1 Check of the whole server: OK when SERVING, UNAVAILABLE
  // otherwise.
  absl::Status Health();

  absl::StatusOr<std::vector<v1::ModelInfo>> ListModels();
  absl::StatusOr<v1::ModelInfo> LoadModel(const v1::LoadModelRequest& request);
  absl::Status UnloadModel(const std::string& name);

  absl::StatusOr<v1::SubmitJobResponse> Submit(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Job>> ListJobs(v1::JobState state = v1::JOB_STATE_UNSPECIFIED);
  absl::StatusOr<v1::Job> CancelJob(const std::string& job_id);
  // Removes the job and its records on the server (cancelled first if unfinished).
  absl::Status DeleteJob(const std::string& job_id);

  // Calls `on_record` for every record from stream index `from_index` on, in
  // order, exactly once each, until the job has ended (OK) or an error that
  // reconnecting cannot cure. `on_record` returning an error stops the stream
  // and that error is returned. `received`, if given, is the number of
  // records delivered (also on error), so a caller can resume at
  // from_index + *received.
  absl::Status StreamRecords(const std::string& job_id, int64_t from_index,
                             const std::function<absl::Status(const v1::ExampleRecord&)>& on_record,
                             int64_t* received = nullptr);

  // Polls GetJob every `poll` until the job is SUCCEEDED, FAILED or
  // CANCELLED, calling `on_progress` (if set) with every answer; retries
  // through a server restart like StreamRecords. Returns the final Job.
  absl::StatusOr<v1::Job> WaitForJob(const std::string& job_id,
                                     const std::function<void(const v1::Job&)>& on_progress = nullptr,
                                     absl::Duration poll = absl::Milliseconds(500));

  absl::StatusOr<v1::AnalyzeResponse> Analyze(const v1::AnalyzeRequest& request);
  // The same analysis over the given records (AnalyzeRecords, sent in
  // chunks), e.g. a sharded job's merged records.
  absl::StatusOr<v1::AnalyzeResponse> AnalyzeRecords(const v1::AnalysisParameters& parameters,
                                                     const std::vector<v1::ExampleRecord>& records);

 private:
  explicit Client(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);
  std::unique_ptr<grpc::ClientContext> Context(bool with_deadline = true) const;

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Dynamics::Stub> stub_;
};

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsFinished(v1::JobState state);

// Calls `get` every `poll` until the Job it answers has finished, passing
// every answer to `on_progress` (if set); retries a retryable error (a server
// restart) with the backoff of `options` and gives up after options.retry_for
// without an answer. Client::WaitForJob and ShardedJob::Wait.
absl::StatusOr<v1::Job> WaitUntilFinished(const ClientOptions& options,
                                          const std::function<absl::StatusOr<v1::Job>()>& get,
                                          const std::function<void(const v1::Job&)>& on_progress,
                                          absl::Duration poll);

}  // namespace rrm

#endif  // RRM_CLIENT_CPP_CLIENT_H_
