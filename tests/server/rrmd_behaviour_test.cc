// rrmd's user-visible behaviours, each against the real server process:
// cancellation, idempotent resubmission, fair scheduling, unload refusal,
// input validation, path confinement, bearer tokens, failing devices.
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/job_store.h"
#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;

const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";

class RrmdBehaviour : public ::testing::Test {
 protected:
  void StartServer(const std::string& name, std::vector<std::string> flags) {
    rrmd_ = std::make_unique<RrmdProcess>(TempFolder(name), std::move(flags));
    std::string failure;
    ASSERT_TRUE(rrmd_->Start(&failure)) << failure;
    stub_ = rrmd_->Stub();
  }
  grpc::Status Submit(const v1::SubmitJobRequest& request, v1::SubmitJobResponse* response,
                      const std::string& token = "") {
    auto context = Context(token);
    return stub_->SubmitJob(context.get(), request, response);
  }
  std::string MustSubmit(const v1::SubmitJobRequest& request) {
    v1::SubmitJobResponse response;
    const grpc::Status status = Submit(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job_id();
  }
  v1::Job Get(const std::string& job_id) {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    v1::Job job;
    auto context = Context();
    EXPECT_TRUE(stub_->GetJob(context.get(), request, &job).ok());
    return job;
  }

  std::unique_ptr<RrmdProcess> rrmd_;
  std::unique_ptr<v1::Dynamics::Stub> stub_;
};

TEST_F(RrmdBehaviour, CancelStopsAJobAndKeepsItsRecords) {
  StartServer("cancel", {kModelFlag});
  const std::string job_id = MustSubmit(SudokuJob("trm", 200, 16, 2));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job_id);
  v1::Job cancelled;
  auto context = Context();
  ASSERT_TRUE(stub_->CancelJob(context.get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::JOB_STATE_CANCELLED);
  // The stream of a cancelled job ends (OK) after what was stored.
  std::vector<v1::ExampleRecord> records;
  EXPECT_TRUE(StreamAll(*stub_, job_id, 0, &records).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const v1::Job later = Get(job_id);
  EXPECT_EQ(later.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_LT(later.records_stored(), 200);
  EXPECT_EQ(static_cast<int64_t>(records.size()), later.records_stored());
  auto again = Context();
  EXPECT_EQ(stub_->CancelJob(again.get(), cancel, &cancelled).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// A Sudoku sent as tokens (as a dataset folder whose puzzles carry
// identifiers is) keeps its kind: givens are counted and symmetry restarts run.
TEST_F(RrmdBehaviour, TokenPuzzlesDeclaredSudokuKeepGivensAndSymmetryRestarts) {
  StartServer("token_kind", {kModelFlag});
  v1::SubmitJobRequest request = SudokuJob("trm", 1, 2, 1);
  request.mutable_puzzles()->Clear();
  auto* tokens = request.mutable_puzzles()->mutable_tokens();
  auto* row = tokens->add_puzzles();
  int givens = 0;
  for (char c : kSudoku) {
    row->add_inputs(c == '.' ? 1 : c - '0' + 1);  // upstream: blank 1, digit d -> d + 1
    givens += c != '.';
  }
  row->set_puzzle_identifier(0);
  request.mutable_options()->mutable_restarts()->set_kind("symmetry");
  request.mutable_options()->mutable_restarts()->set_count(2);
  v1::SubmitJobResponse refused;
  EXPECT_EQ(Submit(request, &refused).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "undeclared tokens are not Sudoku: no symmetry";
  tokens->set_kind("sudoku");
  const std::string job_id = MustSubmit(request);
  ASSERT_EQ(WaitForJob(*stub_, job_id).state(), v1::JOB_STATE_SUCCEEDED);
  std::vector<v1::ExampleRecord> records;
  ASSERT_TRUE(StreamAll(*stub_, job_id, 0, &records).ok());
  ASSERT_EQ(records.size(), 2u);
  for (const v1::ExampleRecord& r : records) {
    EXPECT_EQ(r.givens(), givens);
    EXPECT_TRUE(r.error().empty()) << r.error();
  }
}

// One counter of the server's /metrics page (0 when absent).
double MetricValue(int metrics_port, const std::string& name) {
  const std::string command = "curl -s http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics";
  std::string text;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) text.append(buffer, n);
    ::pclose(pipe);
  }
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + name.size() + 2));
}

// A job whose one work item runs for minutes: 4096 segments with 8 tangents.
v1::SubmitJobRequest LongJob() {
  v1::SubmitJobRequest request = SudokuJob("trm", 2, 4096, 2);
  request.mutable_options()->set_lyapunov_k(8);
  return request;
}

TEST_F(RrmdBehaviour, CancelStopsRunningItemsAtASegmentBoundaryAndFreesTheWorker) {
  StartServer("cancel_running", {kModelFlag, "--devices=cpu"});  // one worker
  const std::string long_job = MustSubmit(LongJob());
  while (Get(long_job).state() != v1::JOB_STATE_RUNNING) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(long_job);
  v1::Job cancelled;
  auto context = Context();
  ASSERT_TRUE(stub_->CancelJob(context.get(), cancel, &cancelled).ok());
  // The only worker is free again: a small job runs to the end.
  const std::string small = MustSubmit(SudokuJob("trm", 2, 2, 2));
  EXPECT_EQ(WaitForJob(*stub_, small).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(MetricValue(rrmd_->metrics_port(), "rrm_work_items_stopped_total"), 1)
      << "the running item was not stopped at a segment boundary";
  EXPECT_EQ(Get(long_job).state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Get(long_job).records_stored(), 0);

  // kill -9 after the cancel: it stays cancelled, nothing stored twice.
  rrmd_->Kill();
  std::string failure;
  ASSERT_TRUE(rrmd_->Start(&failure, /*keep_ports=*/true)) << failure;
  stub_ = rrmd_->Stub();
  EXPECT_EQ(Get(long_job).state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Get(long_job).records_stored(), 0);
  std::vector<v1::ExampleRecord> records;
  EXPECT_TRUE(StreamAll(*stub_, small, 0, &records).ok());
  EXPECT_EQ(records.size(), 2u);
}

TEST_F(RrmdBehaviour, DeadlineFailsAJobNamingItAndKeepsItsRecords) {
  StartServer("deadline", {kModelFlag});
  // Many one-puzzle items: some finish before the deadline, the rest cannot.
  v1::SubmitJobRequest request = SudokuJob("trm", 400, 64, 1);
  request.mutable_options()->set_lyapunov_k(4);
  request.mutable_options()->set_deadline_seconds(2);
  const std::string job_id = MustSubmit(request);
  const v1::Job ended = WaitForJob(*stub_, job_id);
  ASSERT_EQ(ended.state(), v1::JOB_STATE_FAILED) << ended.error();
  EXPECT_THAT(ended.error(), HasSubstr("options.deadline_seconds = 2"));
  EXPECT_LT(ended.records_stored(), 400);
  std::vector<v1::ExampleRecord> records;
  EXPECT_TRUE(StreamAll(*stub_, job_id, 0, &records).ok());
  EXPECT_EQ(static_cast<int64_t>(records.size()), ended.records_stored());

  // kill -9 after the deadline: still failed, the same records, none twice.
  rrmd_->Kill();
  std::string failure;
  ASSERT_TRUE(rrmd_->Start(&failure, /*keep_ports=*/true)) << failure;
  stub_ = rrmd_->Stub();
  const v1::Job again = Get(job_id);
  EXPECT_EQ(again.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(again.records_stored(), ended.records_stored());
  std::vector<v1::ExampleRecord> after;
  EXPECT_TRUE(StreamAll(*stub_, job_id, 0, &after).ok());
  std::set<int32_t> indices;
  for (const v1::ExampleRecord& r : after) indices.insert(r.example_index());
  EXPECT_EQ(indices.size(), after.size());
  EXPECT_EQ(after.size(), records.size());
}

grpc::Status DeleteJob(v1::Dynamics::Stub& stub, const std::string& job_id) {
  v1::DeleteJobRequest request;
  request.set_job_id(job_id);
  v1::DeleteJobResponse response;
  auto context = Context();
  return stub.DeleteJob(context.get(), request, &response);
}

TEST_F(RrmdBehaviour, DeleteJobRemovesItsFilesAndCancelsARunningJobFirst) {
  const std::string data_dir = TempFolder("delete");
  StartServer("delete", {kModelFlag, "--devices=cpu"});
  const std::string done = MustSubmit(SudokuJob("trm", 2, 2, 2));
  ASSERT_EQ(WaitForJob(*stub_, done).state(), v1::JOB_STATE_SUCCEEDED);
  const std::string kept = MustSubmit(SudokuJob("trm", 1, 2, 1));
  ASSERT_EQ(WaitForJob(*stub_, kept).state(), v1::JOB_STATE_SUCCEEDED);
  const double bytes_before = MetricValue(rrmd_->metrics_port(), "rrm_store_bytes");
  ASSERT_TRUE(std::filesystem::exists(data_dir + "/jobs/" + done));

  ASSERT_TRUE(DeleteJob(*stub_, done).ok());
  EXPECT_FALSE(std::filesystem::exists(data_dir + "/jobs/" + done));
  v1::GetJobRequest get;
  get.set_job_id(done);
  v1::Job job;
  auto context = Context();
  EXPECT_EQ(stub_->GetJob(context.get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  std::vector<v1::ExampleRecord> records;
  EXPECT_EQ(StreamAll(*stub_, done, 0, &records).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(DeleteJob(*stub_, done).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(MetricValue(rrmd_->metrics_port(), "rrm_store_bytes"), bytes_before);

  // A running job is cancelled first: its item stops and the worker is free.
  const std::string running = MustSubmit(LongJob());
  while (Get(running).state() != v1::JOB_STATE_RUNNING) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(DeleteJob(*stub_, running).ok());
  const std::string small = MustSubmit(SudokuJob("trm", 1, 2, 1));
  EXPECT_EQ(WaitForJob(*stub_, small).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_FALSE(std::filesystem::exists(data_dir + "/jobs/" + running));
  EXPECT_EQ(Get(kept).records_stored(), 1) << "another job's records are untouched";
}

// A crash after the delete's rename into trash/ (the folder half removed):
// the next start completes it, and the other jobs are whole.
TEST_F(RrmdBehaviour, ARestartInTheMiddleOfADeleteCompletesIt) {
  const std::string data_dir = TempFolder("delete_restart");
  StartServer("delete_restart", {kModelFlag});
  const std::string doomed = MustSubmit(SudokuJob("trm", 2, 2, 2));
  const std::string kept = MustSubmit(SudokuJob("trm", 2, 2, 2));
  ASSERT_EQ(WaitForJob(*stub_, doomed).state(), v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(WaitForJob(*stub_, kept).state(), v1::JOB_STATE_SUCCEEDED);
  rrmd_->Kill();
  std::filesystem::create_directories(data_dir + "/trash");
  std::filesystem::rename(data_dir + "/jobs/" + doomed, data_dir + "/trash/" + doomed);
  std::filesystem::remove(data_dir + "/trash/" + doomed + "/records.log");
  std::string failure;
  ASSERT_TRUE(rrmd_->Start(&failure, /*keep_ports=*/true)) << failure;
  stub_ = rrmd_->Stub();
  EXPECT_FALSE(std::filesystem::exists(data_dir + "/trash"));
  v1::GetJobRequest get;
  get.set_job_id(doomed);
  v1::Job job;
  auto context = Context();
  EXPECT_EQ(stub_->GetJob(context.get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get(kept).state(), v1::JOB_STATE_SUCCEEDED);
  std::vector<v1::ExampleRecord> records;
  EXPECT_TRUE(StreamAll(*stub_, kept, 0, &records).ok());
  EXPECT_EQ(records.size(), 2u);
}

TEST_F(RrmdBehaviour, RetainFinishedDaysDeletesOldFinishedJobsAtStartUp) {
  const std::string data_dir = TempFolder("retention");
  StartServer("retention", {kModelFlag});
  const std::string old_job = MustSubmit(SudokuJob("trm", 1, 2, 1));
  const std::string recent = MustSubmit(SudokuJob("trm", 1, 2, 1));
  ASSERT_EQ(WaitForJob(*stub_, old_job).state(), v1::JOB_STATE_SUCCEEDED);
  ASSERT_EQ(WaitForJob(*stub_, recent).state(), v1::JOB_STATE_SUCCEEDED);
  rrmd_->Kill();
  // The first job finished ten days ago, as its end.pb says.
  server::StoredJobEnd end;
  const std::string end_path = data_dir + "/jobs/" + old_job + "/end.pb";
  ASSERT_TRUE(end.ParseFromString(ReadText(end_path)));
  end.set_finished_unix(end.finished_unix() - 10 * 86400);
  ASSERT_TRUE(server::WriteFileAtomically(*server::StoreEnv::Default(), end_path, end.SerializeAsString()).ok());

  rrmd_ = std::make_unique<RrmdProcess>(data_dir, std::vector<std::string>{kModelFlag, "--retain_finished_days=7"});
  std::string failure;
  ASSERT_TRUE(rrmd_->Start(&failure)) << failure;
  stub_ = rrmd_->Stub();
  v1::ListJobsResponse jobs;
  auto context = Context();
  ASSERT_TRUE(stub_->ListJobs(context.get(), {}, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).job_id(), recent);
  EXPECT_FALSE(std::filesystem::exists(data_dir + "/jobs/" + old_job));
  EXPECT_THAT(rrmd_->log(), HasSubstr("deleted 1 finished jobs"));
}

TEST_F(RrmdBehaviour, IdempotentResubmitReturnsTheSameJob) {
  StartServer("idempotent", {kModelFlag});
  v1::SubmitJobRequest request = SudokuJob("trm", 4, 2, 2);
  request.set_idempotency_key("client-retry-1");
  v1::SubmitJobResponse first, second;
  ASSERT_TRUE(Submit(request, &first).ok());
  ASSERT_TRUE(Submit(request, &second).ok());
  EXPECT_EQ(first.job_id(), second.job_id());
  EXPECT_FALSE(first.existing());
  EXPECT_TRUE(second.existing());
  v1::ListJobsResponse jobs;
  auto context = Context();
  ASSERT_TRUE(stub_->ListJobs(context.get(), {}, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 1);
}

TEST_F(RrmdBehaviour, SmallJobSubmittedAfterALargeOneFinishesFirst) {
  StartServer("fair", {kModelFlag});
  const std::string large = MustSubmit(SudokuJob("trm", 80, 8, 2));
  const std::string small = MustSubmit(SudokuJob("trm", 2, 8, 2));
  const v1::Job small_done = WaitForJob(*stub_, small);
  ASSERT_EQ(small_done.state(), v1::JOB_STATE_SUCCEEDED);
  const v1::Job large_now = Get(large);
  EXPECT_NE(large_now.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_LT(large_now.records_stored(), 40) << "the small job waited for most of the large one";
}

TEST_F(RrmdBehaviour, UnloadIsRefusedWhileAJobUsesTheModel) {
  StartServer("unload", {kModelFlag});
  const std::string job_id = MustSubmit(SudokuJob("trm", 200, 16, 2));
  v1::UnloadModelRequest unload;
  unload.set_name("trm");
  v1::UnloadModelResponse response;
  auto context = Context();
  const grpc::Status refused = stub_->UnloadModel(context.get(), unload, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr(job_id));

  v1::CancelJobRequest cancel;
  cancel.set_job_id(job_id);
  v1::Job cancelled;
  auto cancel_context = Context();
  ASSERT_TRUE(stub_->CancelJob(cancel_context.get(), cancel, &cancelled).ok());
  auto again = Context();
  EXPECT_TRUE(stub_->UnloadModel(again.get(), unload, &response).ok());
  v1::ListModelsResponse models;
  auto list = Context();
  ASSERT_TRUE(stub_->ListModels(list.get(), {}, &models).ok());
  EXPECT_EQ(models.models_size(), 0);
}

struct BadInput {
  std::string name;
  std::function<void(v1::SubmitJobRequest&)> change;
  grpc::StatusCode code;
  std::string message;  // a substring naming the field
};

TEST_F(RrmdBehaviour, RejectsEveryBadSubmissionNamingTheField) {
  StartServer("bad_input", {kModelFlag, "--max_puzzles_per_job=50"});
  const std::vector<BadInput> cases = {
      {"unknown model", [](auto& r) { r.set_model("nope"); }, grpc::StatusCode::NOT_FOUND, "model"},
      {"no puzzles", [](auto& r) { r.clear_puzzles(); }, grpc::StatusCode::INVALID_ARGUMENT, "puzzles"},
      {"too many puzzles",
       [](auto& r) {
         for (int i = 0; i < 60; ++i) r.mutable_puzzles()->mutable_sudoku()->add_puzzles(kSudoku);
         r.mutable_puzzles()->mutable_sudoku()->clear_solutions();
       },
       grpc::StatusCode::INVALID_ARGUMENT, "at most 50"},
      {"sequence length",
       [](auto& r) {
         auto* row = r.mutable_puzzles()->mutable_tokens()->add_puzzles();
         for (int i = 0; i < 10; ++i) row->add_inputs(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "81"},
      {"vocabulary",
       [](auto& r) {
         auto* row = r.mutable_puzzles()->mutable_tokens()->add_puzzles();
         for (int i = 0; i < 81; ++i) row->add_inputs(i == 5 ? 50 : 1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "50"},
      {"ragged tokens",
       [](auto& r) {
         auto* tokens = r.mutable_puzzles()->mutable_tokens();
         for (int n : {81, 80}) {
           auto* row = tokens->add_puzzles();
           for (int i = 0; i < n; ++i) row->add_inputs(1);
         }
       },
       grpc::StatusCode::INVALID_ARGUMENT, "puzzles.tokens.puzzles[1].inputs"},
      {"malformed sudoku",
       [](auto& r) {
         r.mutable_puzzles()->mutable_sudoku()->set_puzzles(0, std::string(80, '.') + "x");
         r.mutable_puzzles()->mutable_sudoku()->clear_solutions();
       },
       grpc::StatusCode::INVALID_ARGUMENT, "puzzles.sudoku"},
      {"short sudoku", [](auto& r) { r.mutable_puzzles()->mutable_sudoku()->set_puzzles(0, "123"); },
       grpc::StatusCode::INVALID_ARGUMENT, "puzzles.sudoku.puzzles[0]: expected 81 characters, found 3"},
      {"restart kind", [](auto& r) { r.mutable_options()->mutable_restarts()->set_kind("mirror"); },
       grpc::StatusCode::INVALID_ARGUMENT, "options.restarts.kind"},
      {"restart count for none", [](auto& r) { r.mutable_options()->mutable_restarts()->set_count(3); },
       grpc::StatusCode::INVALID_ARGUMENT, "options.restarts.count"},
      {"negative restart count",
       [](auto& r) {
         r.mutable_options()->mutable_restarts()->set_kind("init_noise");
         r.mutable_options()->mutable_restarts()->set_sigma(0.1);
         r.mutable_options()->mutable_restarts()->set_count(-1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "options.restarts.count"},
      {"noise without sigma",
       [](auto& r) {
         r.mutable_options()->mutable_restarts()->set_kind("step_noise");
         r.mutable_options()->mutable_restarts()->set_count(2);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "options.restarts.sigma"},
      {"tangent dtype", [](auto& r) { r.mutable_options()->set_tangent_dtype("float16"); },
       grpc::StatusCode::INVALID_ARGUMENT, "options.tangent_dtype"},
      {"negative lyapunov k", [](auto& r) { r.mutable_options()->set_lyapunov_k(-1); },
       grpc::StatusCode::INVALID_ARGUMENT, "options.lyapunov_k"},
      // What the core refuses is refused at submit (one validator), not
      // accepted and then failed record by record.
      {"propagator with draws",
       [](auto& r) {
         r.mutable_options()->set_lyapunov_k(2);
         r.mutable_options()->set_lyapunov_method("propagator");
         r.mutable_options()->set_lyapunov_draws(2);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "options.lyapunov_draws: the propagator does not depend on a start"},
      {"energy maps above k",
       [](auto& r) {
         r.mutable_options()->set_lyapunov_k(2);
         r.mutable_options()->set_energy_map_directions(3);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "options.energy_map_directions: expected 0 (off) or 1..lyapunov_k (2), found 3"},
      {"tokens declared sudoku with the wrong shape",
       [](auto& r) {
         auto* tokens = r.mutable_puzzles()->mutable_tokens();
         tokens->set_kind("sudoku");
         auto* row = tokens->add_puzzles();
         for (int i = 0; i < 80; ++i) row->add_inputs(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "puzzles.tokens.kind: sudoku expects 81 tokens below 11, found 80"},
      {"unknown token kind",
       [](auto& r) {
         auto* tokens = r.mutable_puzzles()->mutable_tokens();
         tokens->set_kind("chess");
         auto* row = tokens->add_puzzles();
         for (int i = 0; i < 81; ++i) row->add_inputs(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "puzzles.tokens.kind: expected tokens, sudoku or maze"},
      {"negative deadline", [](auto& r) { r.mutable_options()->set_deadline_seconds(-5); },
       grpc::StatusCode::INVALID_ARGUMENT, "options.deadline_seconds: expected 0 (none) or a positive number, found -5"},
      {"dataset outside data_root", [](auto& r) { r.mutable_puzzles()->set_dataset_path("/etc"); },
       grpc::StatusCode::PERMISSION_DENIED, "puzzles.dataset_path"},
  };
  for (const BadInput& bad : cases) {
    v1::SubmitJobRequest request = SudokuJob("trm", 1, 2, 1);
    bad.change(request);
    v1::SubmitJobResponse response;
    const grpc::Status status = Submit(request, &response);
    EXPECT_EQ(status.error_code(), bad.code) << bad.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(bad.message)) << bad.name;
  }
  v1::ListJobsResponse jobs;
  auto context = Context();
  ASSERT_TRUE(stub_->ListJobs(context.get(), {}, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0) << "a rejected submission started a job";

  // Other RPCs validate too.
  v1::GetJobRequest get;
  get.set_job_id("j-unknown");
  v1::Job job;
  auto get_context = Context();
  EXPECT_EQ(stub_->GetJob(get_context.get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  std::vector<v1::ExampleRecord> records;
  EXPECT_EQ(StreamAll(*stub_, "j-unknown", 0, &records).error_code(), grpc::StatusCode::NOT_FOUND);
  const std::string job_id = MustSubmit(SudokuJob("trm", 1, 2, 1));
  EXPECT_EQ(StreamAll(*stub_, job_id, -1, &records).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListJobsRequest list;
  list.set_state(static_cast<v1::JobState>(42));  // a state of some newer client
  auto list_context = Context();
  const grpc::Status listed = stub_->ListJobs(list_context.get(), list, &jobs);
  EXPECT_EQ(listed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(listed.error_message(), HasSubstr("state: expected a JobState or JOB_STATE_UNSPECIFIED, found 42"));
  v1::LoadModelRequest load;
  load.set_name("bad name!");
  load.set_checkpoint_path("trm_mlpt/step_0");
  v1::ModelInfo info;
  auto load_context = Context();
  EXPECT_EQ(stub_->LoadModel(load_context.get(), load, &info).error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "without --model_root every server-side path is refused";
}

TEST_F(RrmdBehaviour, RefusesPathsOutsideTheRoots) {
  const std::string outside = TempFolder("outside");
  std::filesystem::copy(kFixtures + "/trm_attn", outside + "/trm_attn", std::filesystem::copy_options::recursive);
  const std::string root = TempFolder("model_root");
  std::filesystem::create_directory_symlink(kFixtures + "/trm_attn", root + "/inside");
  std::filesystem::create_directory_symlink(outside + "/trm_attn", root + "/escape");
  StartServer("paths", {"--model_root=" + kFixtures, "--data_root=" + kFixtures + "/trm_attn"});
  auto load = [&](const std::string& path) {
    v1::LoadModelRequest request;
    request.set_name("m" + std::to_string(std::hash<std::string>()(path) % 100000));
    request.set_checkpoint_path(path);
    v1::ModelInfo info;
    auto context = Context();
    return stub_->LoadModel(context.get(), request, &info);
  };
  for (const std::string& path : {std::string("../../../../etc/passwd"), std::string("/etc/passwd"),
                                  std::string("trm_attn/../../../etc/passwd"), outside + "/trm_attn/step_0",
                                  std::string("trm_attn/data/../../../") + "CMakeLists.txt"}) {
    const grpc::Status status = load(path);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << path << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("checkpoint_path")) << path;
  }
  EXPECT_TRUE(load("trm_attn/step_0").ok());
  EXPECT_TRUE(load(kFixtures + "/hrm/step_0").ok());

  v1::SubmitJobRequest request = SudokuJob("trm", 1, 2, 1);
  for (const std::string& path : {std::string(".."), std::string("../hrm/data"), std::string("/tmp")}) {
    v1::SubmitJobRequest dataset;
    dataset.set_model(request.model());
    dataset.mutable_puzzles()->set_dataset_path(path);
    v1::SubmitJobResponse response;
    // The model check comes first: load one the dataset fits.
    dataset.set_model("m" + std::to_string(std::hash<std::string>()("trm_attn/step_0") % 100000));
    const grpc::Status status = Submit(dataset, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << path << ": " << status.error_message();
  }
  v1::SubmitJobRequest dataset;
  dataset.set_model("m" + std::to_string(std::hash<std::string>()("trm_attn/step_0") % 100000));
  dataset.mutable_puzzles()->set_dataset_path("data");
  dataset.mutable_options()->set_segments(2);
  v1::SubmitJobResponse response;
  const grpc::Status accepted = Submit(dataset, &response);
  ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_EQ(response.total_records(), 2);
}

TEST_F(RrmdBehaviour, RequiresAKnownBearerToken) {
  const std::string dir = TempFolder("tokens");
  std::ofstream(dir + "/tokens") << "# comment\nalice:secret-a\nsecret-b\n";
  StartServer("auth", {kModelFlag, "--auth_tokens=" + dir + "/tokens"});
  v1::ListModelsResponse models;
  auto none = Context();
  EXPECT_EQ(stub_->ListModels(none.get(), {}, &models).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto wrong = Context("guess");
  EXPECT_EQ(stub_->ListModels(wrong.get(), {}, &models).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto right = Context("secret-a");
  EXPECT_TRUE(stub_->ListModels(right.get(), {}, &models).ok());
  std::vector<v1::ExampleRecord> records;
  EXPECT_EQ(StreamAll(*stub_, "j-any", 0, &records).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::SubmitJobResponse response;
  ASSERT_TRUE(Submit(SudokuJob("trm", 1, 2, 1), &response, "secret-a").ok());
  const v1::Job job = WaitForJob(*stub_, response.job_id(), 60, "secret-a");
  EXPECT_EQ(job.owner(), "alice");
}

TEST_F(RrmdBehaviour, LimitsMessageSizeAndUnfinishedJobsPerCaller) {
  const std::string dir = TempFolder("limits_tokens");
  std::ofstream(dir + "/tokens") << "alice:secret-a\nbob:secret-b\n";
  StartServer("limits", {kModelFlag, "--auth_tokens=" + dir + "/tokens", "--max_message_bytes=4096",
                         "--max_jobs_per_token=1"});
  // 100 puzzles with solutions are ~16 KB: refused by gRPC before any work,
  // naming both sizes.
  v1::SubmitJobResponse response;
  const grpc::Status large = Submit(SudokuJob("trm", 100, 2, 1), &response, "secret-a");
  EXPECT_EQ(large.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << large.error_message();
  EXPECT_THAT(large.error_message(), HasSubstr("4096"));

  // One unfinished job per caller: alice's second waits for her first, bob is
  // not held up by alice.
  const v1::SubmitJobRequest long_job = SudokuJob("trm", 20, 16, 1);
  ASSERT_TRUE(Submit(long_job, &response, "secret-a").ok());
  const std::string first = response.job_id();
  const grpc::Status second = Submit(long_job, &response, "secret-a");
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(second.error_message(), HasSubstr("--max_jobs_per_token"));
  EXPECT_THAT(second.error_message(), HasSubstr("found 1"));
  EXPECT_TRUE(Submit(SudokuJob("trm", 1, 2, 1), &response, "secret-b").ok());
  v1::CancelJobRequest cancel;
  cancel.set_job_id(first);
  v1::Job cancelled;
  auto context = Context("secret-a");
  ASSERT_TRUE(stub_->CancelJob(context.get(), cancel, &cancelled).ok());
  EXPECT_TRUE(Submit(SudokuJob("trm", 1, 2, 1), &response, "secret-a").ok()) << "a finished job frees the slot";
}

TEST(RrmdStartup, RefusesNonLoopbackListenWithoutTokens) {
  RrmdProcess rrmd(TempFolder("open"), {"--listen=0.0.0.0:" + std::to_string(FreePort())});
  // The later --listen wins over the helper's default.
  EXPECT_EQ(rrmd.RunExpectingExit(), 1);
  EXPECT_THAT(rrmd.log(), HasSubstr("--auth_tokens"));
}

TEST_F(RrmdBehaviour, TakesAFailingDeviceOutOfRotation) {
  StartServer("failing_device", {kModelFlag, "--fail_device=cpu#1"});
  const std::string job_id = MustSubmit(SudokuJob("trm", 16, 2, 1));
  std::vector<v1::ExampleRecord> records;
  ASSERT_TRUE(StreamAll(*stub_, job_id, 0, &records).ok());
  ASSERT_EQ(records.size(), 16u);
  for (const auto& r : records) {
    EXPECT_EQ(r.error(), "") << r.example_index();
    EXPECT_EQ(r.device(), "cpu#0");
  }
  EXPECT_THAT(rrmd_->log(), HasSubstr("taking cpu#1 out of rotation for 5m"));
}

TEST_F(RrmdBehaviour, ARestedDeviceIsTriedAgainAndRestsLongerAfterARelapse) {
  StartServer("resting_device", {kModelFlag, "--fail_device=cpu#1", "--device_rest_seconds=1"});
  // Long enough for cpu#1 to come back at least once while work remains.
  const std::string job_id = MustSubmit(SudokuJob("trm", 60, 16, 1));
  std::vector<v1::ExampleRecord> records;
  ASSERT_TRUE(StreamAll(*stub_, job_id, 0, &records).ok());
  ASSERT_EQ(records.size(), 60u);
  for (const auto& r : records) {
    EXPECT_EQ(r.error(), "") << "an item failing on the probation worker is retried on the other";
    EXPECT_EQ(r.device(), "cpu#0");
  }
  const std::string log = rrmd_->log();
  EXPECT_THAT(log, HasSubstr("taking cpu#1 out of rotation for 1s"));
  EXPECT_THAT(log, HasSubstr("putting cpu#1 back into rotation after resting 1s"));
  EXPECT_THAT(log, HasSubstr("taking cpu#1 out of rotation for 2s")) << "one failure on probation, twice the rest";
}

}  // namespace
}  // namespace rrm::testing
