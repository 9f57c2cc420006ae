// Test helper: runs the real build/bin/rrmd on free loopback ports with a
// temporary --data_dir, waits for its gRPC health service, and hands out
// generated stubs. Header-only so each *_test.cc can include it.
#ifndef RRM_TESTS_SERVER_RRMD_PROCESS_H_
#define RRM_TESTS_SERVER_RRMD_PROCESS_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "rrm/v1/dynamics.grpc.pb.h"

namespace rrm::testing {

inline const std::string kRrmd = std::string(RRM_BINARY_DIR) + "/bin/rrmd";
inline const std::string kFixtures = std::string(RRM_SOURCE_DIR) + "/tests/fixtures";

// A valid Sudoku and its solution (81 characters, '.' blank).
inline const std::string kSudoku =
    "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
inline const std::string kSudokuSolution =
    "534678912672195348198342567859761423426853791713924856961537284287419635345286179";

inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

inline std::string TempFolder(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/rrmd_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A client context with a deadline and, optionally, a bearer token.
inline std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "", int seconds = 60) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

class RrmdProcess {
 public:
  // `flags` come after the defaults (two CPU workers, free ports, data_dir).
  RrmdProcess(std::string data_dir, std::vector<std::string> flags)
      : data_dir_(std::move(data_dir)), flags_(std::move(flags)) {}
  ~RrmdProcess() { Kill(); }

  // An environment variable for the server, set before the next Start().
  void SetEnv(std::string name, std::string value) { env_.emplace_back(std::move(name), std::move(value)); }

  // Starts rrmd and waits until its health service answers SERVING. Returns
  // false (with the log in `failure`) if it exits or does not come up.
  bool Start(std::string* failure = nullptr, bool keep_ports = false) {
    if (!keep_ports || port_ == 0) {
      port_ = FreePort();
      metrics_port_ = FreePort();
    }
    log_ = data_dir_ + ".log" + std::to_string(++starts_);
    std::vector<std::string> args = {kRrmd,
                                     "--listen=127.0.0.1:" + std::to_string(port_),
                                     "--metrics_listen=127.0.0.1:" + std::to_string(metrics_port_),
                                     "--devices=cpu,cpu",
                                     "--data_dir=" + data_dir_};
    args.insert(args.end(), flags_.begin(), flags_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::setenv("OMP_NUM_THREADS", "1", 1);
      for (const auto& [name, value] : env_) ::setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // The server logs "listening on" once its port is open; connecting only
    // then keeps gRPC's reconnect backoff out of the start-up time.
    const auto log_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < log_deadline && log().find("listening on") == std::string::npos) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (failure != nullptr) *failure = "rrmd exited " + std::to_string(exit_code_) + ": " + log();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (failure != nullptr) *failure = "rrmd exited " + std::to_string(exit_code_) + ": " + log();
        return false;
      }
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      auto context = Context("", 1);
      const grpc::Status checked = health->Check(context.get(), request, &response);
      if (checked.ok() &&
          response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (failure != nullptr) *failure = "rrmd did not become healthy: " + log();
    return false;
  }

  // Runs rrmd to completion (for start-up errors); returns its exit code.
  int RunExpectingExit(int timeout_seconds = 60) {
    std::string failure;
    if (Start(&failure)) return -2;  // it came up
    return exit_code_;
  }

  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // SIGTERM and wait; returns the exit code (-1 if killed by a signal or timed out).
  int Terminate(int timeout_seconds = 30) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Kill();
    return -1;
  }

  std::unique_ptr<v1::Dynamics::Stub> Stub() const { return v1::Dynamics::NewStub(channel_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int metrics_port() const { return metrics_port_; }
  std::string log() const { return ReadText(log_); }

 private:
  std::string data_dir_;
  std::vector<std::string> flags_;
  std::vector<std::pair<std::string, std::string>> env_;
  std::string log_;
  int starts_ = 0;
  int port_ = 0;
  int metrics_port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

// A SubmitJob request for `count` copies of kSudoku (with solutions).
inline v1::SubmitJobRequest SudokuJob(const std::string& model, int count, int segments, int batch_size) {
  v1::SubmitJobRequest request;
  request.set_model(model);
  for (int i = 0; i < count; ++i) {
    request.mutable_puzzles()->mutable_sudoku()->add_puzzles(kSudoku);
    request.mutable_puzzles()->mutable_sudoku()->add_solutions(kSudokuSolution);
  }
  request.mutable_options()->set_segments(segments);
  request.mutable_options()->set_batch_size(batch_size);
  return request;
}

// Streams a job's records from `from` until the stream ends (or `stop_after`
// records arrived); returns the final status.
inline grpc::Status StreamAll(v1::Dynamics::Stub& stub, const std::string& job_id, int64_t from,
                              std::vector<v1::ExampleRecord>* records, int64_t stop_after = -1,
                              const std::string& token = "") {
  auto context = Context(token, 300);
  v1::StreamRecordsRequest request;
  request.set_job_id(job_id);
  request.set_from_index(from);
  auto reader = stub.StreamRecords(context.get(), request);
  v1::ExampleRecord record;
  int64_t got = 0;
  while (reader->Read(&record)) {
    records->push_back(record);
    if (stop_after >= 0 && ++got >= stop_after) {
      context->TryCancel();
      break;
    }
  }
  return reader->Finish();
}

// Polls GetJob until the job is in a final state (or the timeout passes).
inline v1::Job WaitForJob(v1::Dynamics::Stub& stub, const std::string& job_id, int timeout_seconds = 120,
                          const std::string& token = "") {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  v1::Job job;
  while (std::chrono::steady_clock::now() < deadline) {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    auto context = Context(token);
    if (stub.GetJob(context.get(), request, &job).ok() &&
        (job.state() == v1::JOB_STATE_SUCCEEDED || job.state() == v1::JOB_STATE_FAILED ||
         job.state() == v1::JOB_STATE_CANCELLED)) {
      return job;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return job;
}

}  // namespace rrm::testing

#endif  // RRM_TESTS_SERVER_RRMD_PROCESS_H_
