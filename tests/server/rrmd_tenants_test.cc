// Tenants on a shared rrmd (issue #18 "Tenants", server/README.md "Tenants"),
// each against the real server process on loopback: a job belongs to its
// caller's token name, another caller gets the same NOT_FOUND as for an
// unknown id on every job RPC, an admin token sees and manages every job,
// priorities are capped per role, and every Dynamics RPC needs a token.
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/rrmd_process.h"

namespace rrm::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const std::string kModelFlag = "--model=trm=" + kFixtures + "/trm_mlpt/step_0";
const std::string kAlice = "secret-a";
const std::string kBob = "secret-b";
const std::string kCarol = "secret-c";  // the admin

// The message another caller's job is refused with must be the one an
// unknown id gets, with only the id itself differing.
std::string WithId(std::string message, const std::string& from, const std::string& to) {
  for (size_t at = message.find(from); at != std::string::npos; at = message.find(from, at + to.size())) {
    message.replace(at, from.size(), to);
  }
  return message;
}

class RrmdTenants : public ::testing::Test {
 protected:
  void StartServer(const std::string& name, std::vector<std::string> extra = {}) {
    const std::string dir = TempFolder(name + "_tokens");
    std::ofstream(dir + "/tokens") << "alice:" << kAlice << "\nbob:" << kBob << "\ncarol/admin:" << kCarol << "\n";
    std::vector<std::string> flags = {kModelFlag, "--auth_tokens=" + dir + "/tokens"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    rrmd_ = std::make_unique<RrmdProcess>(TempFolder(name), std::move(flags));
    std::string failure;
    ASSERT_TRUE(rrmd_->Start(&failure)) << failure;
    stub_ = rrmd_->Stub();
  }
  std::string MustSubmit(const v1::SubmitJobRequest& request, const std::string& token) {
    v1::SubmitJobResponse response;
    auto context = Context(token);
    const grpc::Status status = stub_->SubmitJob(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job_id();
  }
  grpc::Status GetJob(const std::string& job_id, const std::string& token, v1::Job* job = nullptr) {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    v1::Job ignored;
    auto context = Context(token);
    return stub_->GetJob(context.get(), request, job != nullptr ? job : &ignored);
  }
  grpc::Status CancelJob(const std::string& job_id, const std::string& token, v1::Job* job = nullptr) {
    v1::CancelJobRequest request;
    request.set_job_id(job_id);
    v1::Job ignored;
    auto context = Context(token);
    return stub_->CancelJob(context.get(), request, job != nullptr ? job : &ignored);
  }
  grpc::Status DeleteJob(const std::string& job_id, const std::string& token) {
    v1::DeleteJobRequest request;
    request.set_job_id(job_id);
    v1::DeleteJobResponse response;
    auto context = Context(token);
    return stub_->DeleteJob(context.get(), request, &response);
  }
  grpc::Status Analyze(const std::string& job_id, const std::string& token) {
    v1::AnalyzeRequest request;
    request.set_job_id(job_id);
    v1::AnalyzeResponse response;
    auto context = Context(token);
    return stub_->Analyze(context.get(), request, &response);
  }
  grpc::Status Stream(const std::string& job_id, const std::string& token, std::vector<v1::ExampleRecord>* records) {
    return StreamAll(*stub_, job_id, 0, records, -1, token);
  }
  std::vector<std::string> ListJobIds(const std::string& token) {
    v1::ListJobsRequest request;
    v1::ListJobsResponse response;
    auto context = Context(token);
    const grpc::Status status = stub_->ListJobs(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> ids;
    for (const v1::Job& job : response.jobs()) ids.push_back(job.job_id());
    return ids;
  }
  grpc::Status SubmitWithPriority(int32_t priority, const std::string& token) {
    v1::SubmitJobRequest request = SudokuJob("trm", 1, 2, 1);
    request.mutable_options()->set_priority(priority);
    v1::SubmitJobResponse response;
    auto context = Context(token);
    return stub_->SubmitJob(context.get(), request, &response);
  }

  // Every job RPC from `token` on `job_id` (someone else's) answers exactly
  // what it answers for an id that does not exist.
  void ExpectHiddenFrom(const std::string& job_id, const std::string& token) {
    const std::string unknown = "j-no-such-job";
    const grpc::Status none = GetJob(unknown, token);
    ASSERT_EQ(none.error_code(), grpc::StatusCode::NOT_FOUND) << none.error_message();
    const std::string expected = WithId(none.error_message(), unknown, job_id);
    std::vector<v1::ExampleRecord> records;
    const std::vector<std::pair<std::string, grpc::Status>> answers = {
        {"GetJob", GetJob(job_id, token)},
        {"StreamRecords", Stream(job_id, token, &records)},
        {"Analyze", Analyze(job_id, token)},
        {"CancelJob", CancelJob(job_id, token)},
        {"DeleteJob", DeleteJob(job_id, token)},
    };
    for (const auto& [rpc, status] : answers) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << rpc << ": " << status.error_message();
      EXPECT_EQ(status.error_message(), expected) << rpc;
    }
    EXPECT_TRUE(records.empty());
  }

  std::unique_ptr<RrmdProcess> rrmd_;
  std::unique_ptr<v1::Dynamics::Stub> stub_;
};

TEST_F(RrmdTenants, AnotherCallersJobIsNotFoundOnEveryJobRpcBothWays) {
  ASSERT_NO_FATAL_FAILURE(StartServer("tenants_hidden"));
  const std::string alices = MustSubmit(SudokuJob("trm", 1, 2, 1), kAlice);
  const std::string bobs = MustSubmit(SudokuJob("trm", 1, 2, 1), kBob);
  EXPECT_EQ(WaitForJob(*stub_, alices, 120, kAlice).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(WaitForJob(*stub_, bobs, 120, kBob).state(), v1::JOB_STATE_SUCCEEDED);

  ExpectHiddenFrom(bobs, kAlice);
  ExpectHiddenFrom(alices, kBob);
  EXPECT_THAT(ListJobIds(kAlice), UnorderedElementsAre(alices));
  EXPECT_THAT(ListJobIds(kBob), UnorderedElementsAre(bobs));

  // The owner still has every RPC on their own job.
  for (const auto& [job_id, token] : {std::pair{alices, kAlice}, std::pair{bobs, kBob}}) {
    v1::Job job;
    EXPECT_TRUE(GetJob(job_id, token, &job).ok());
    std::vector<v1::ExampleRecord> records;
    EXPECT_TRUE(Stream(job_id, token, &records).ok());
    EXPECT_EQ(records.size(), 1u);
    const grpc::Status analysed = Analyze(job_id, token);
    EXPECT_TRUE(analysed.ok()) << analysed.error_message();
    EXPECT_EQ(CancelJob(job_id, token).error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "already finished";
  }
}

TEST_F(RrmdTenants, AnotherCallerCannotCancelARunningJob) {
  ASSERT_NO_FATAL_FAILURE(StartServer("tenants_cancel"));
  const std::string alices = MustSubmit(SudokuJob("trm", 200, 16, 2), kAlice);
  EXPECT_EQ(CancelJob(alices, kBob).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::Job job;
  ASSERT_TRUE(GetJob(alices, kAlice, &job).ok());
  EXPECT_NE(job.state(), v1::JOB_STATE_CANCELLED);
  ASSERT_TRUE(CancelJob(alices, kAlice, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(RrmdTenants, AnAdminTokenSeesStreamsAnalyzesAndCancelsEveryonesJobs) {
  ASSERT_NO_FATAL_FAILURE(StartServer("tenants_admin"));
  const std::string alices = MustSubmit(SudokuJob("trm", 200, 16, 2), kAlice);
  const std::string bobs = MustSubmit(SudokuJob("trm", 200, 16, 2), kBob);
  const std::string done = MustSubmit(SudokuJob("trm", 1, 2, 1), kBob);
  EXPECT_EQ(WaitForJob(*stub_, done, 120, kBob).state(), v1::JOB_STATE_SUCCEEDED);

  EXPECT_THAT(ListJobIds(kCarol), UnorderedElementsAre(alices, bobs, done));
  v1::Job job;
  ASSERT_TRUE(GetJob(alices, kCarol, &job).ok());
  EXPECT_EQ(job.owner(), "alice");
  ASSERT_TRUE(GetJob(bobs, kCarol, &job).ok());
  EXPECT_EQ(job.owner(), "bob");
  std::vector<v1::ExampleRecord> records;
  EXPECT_TRUE(Stream(done, kCarol, &records).ok());
  EXPECT_EQ(records.size(), 1u);
  const grpc::Status analysed = Analyze(done, kCarol);
  EXPECT_TRUE(analysed.ok()) << analysed.error_message();

  for (const std::string& job_id : {alices, bobs}) {
    ASSERT_TRUE(CancelJob(job_id, kCarol, &job).ok()) << job_id;
    EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  }
  ASSERT_TRUE(GetJob(alices, kAlice, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED) << "the owner sees the admin's cancellation";
  // The admin deletes anyone's job; the owner then finds it gone.
  ASSERT_TRUE(DeleteJob(bobs, kCarol).ok());
  EXPECT_EQ(GetJob(bobs, kBob).error_code(), grpc::StatusCode::NOT_FOUND);
  // The admin's own job is hidden from the users like anyone else's.
  const std::string carols = MustSubmit(SudokuJob("trm", 1, 2, 1), kCarol);
  ExpectHiddenFrom(carols, kAlice);
}

TEST_F(RrmdTenants, APriorityAboveTheCallersRoleCeilingIsRefusedNamingCeilingAndValue) {
  ASSERT_NO_FATAL_FAILURE(StartServer("tenants_priority", {"--max_priority_user=2", "--max_priority_admin=50"}));
  const grpc::Status high = SubmitWithPriority(3, kAlice);
  EXPECT_EQ(high.error_code(), grpc::StatusCode::PERMISSION_DENIED) << high.error_message();
  EXPECT_THAT(high.error_message(), HasSubstr("options.priority"));
  EXPECT_THAT(high.error_message(), HasSubstr("at most 2"));
  EXPECT_THAT(high.error_message(), HasSubstr("--max_priority_user"));
  EXPECT_THAT(high.error_message(), HasSubstr("found 3"));
  EXPECT_TRUE(SubmitWithPriority(2, kAlice).ok());
  EXPECT_TRUE(SubmitWithPriority(-5, kBob).ok()) << "lowering one's own priority is always allowed";

  EXPECT_TRUE(SubmitWithPriority(50, kCarol).ok());
  const grpc::Status higher = SubmitWithPriority(51, kCarol);
  EXPECT_EQ(higher.error_code(), grpc::StatusCode::PERMISSION_DENIED) << higher.error_message();
  EXPECT_THAT(higher.error_message(), HasSubstr("at most 50"));
  EXPECT_THAT(higher.error_message(), HasSubstr("--max_priority_admin"));
  EXPECT_THAT(higher.error_message(), HasSubstr("found 51"));
}

// Calls `method` (a full "/package.Service/Method" path) with an empty
// message and no token; server- and client-streaming methods too, which on
// the wire are one message each way here.
grpc::Status CallWithoutToken(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                              const std::string& token) {
  grpc::GenericStub stub(channel);
  auto context = Context(token, 30);
  grpc::Slice empty_message("");  // a zero-length message: every field at its default
  grpc::ByteBuffer request(&empty_message, 1), response;
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Status answer;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response, [&](grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu);
    answer = std::move(status);
    done = true;
    done_cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  done_cv.wait(lock, [&] { return done; });
  return answer;
}

TEST_F(RrmdTenants, EveryDynamicsRpcNeedsABearerTokenAndHealthStaysOpen) {
  ASSERT_NO_FATAL_FAILURE(StartServer("tenants_every_rpc"));
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("rrm.v1.Dynamics");
  ASSERT_NE(service, nullptr);
  ASSERT_GT(service->method_count(), 0);
  auto channel = grpc::CreateChannel(rrmd_->address(), grpc::InsecureChannelCredentials());
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string method = "/" + service->full_name() + "/" + service->method(i)->name();
    for (const std::string& token : {std::string(), std::string("guess")}) {
      const grpc::Status status = CallWithoutToken(channel, method, token);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << method << " with token '" << token << "': " << status.error_code() << " " << status.error_message();
    }
  }
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckResponse serving;
  auto context = Context();
  ASSERT_TRUE(health->Check(context.get(), {}, &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace rrm::testing
