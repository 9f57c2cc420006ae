// DynamicsService: the gRPC frontend of rrmd (service rrm.v1.Dynamics). It only
// translates: authenticate the caller, hand the request to the JobManager /
// JobStore, map the absl::Status to a grpc::Status once (ToGrpcStatus) and
// count the RPC. StreamRecords is a ServerWriteReactor fed from the job store:
// one write in flight per stream and no thread blocked per client, so a slow
// or stalled client never holds up the device workers.
//
// Thread safety: called by gRPC's callback threads concurrently.
#ifndef RRM_SERVER_DYNAMICS_SERVICE_H_
#define RRM_SERVER_DYNAMICS_SERVICE_H_

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "rrm/v1/dynamics.grpc.pb.h"
#include "server/auth.h"
#include "server/bounded_executor.h"
#include "server/job_manager.h"
#include "server/job_spec.h"
#include "server/metrics.h"

namespace rrm::server {

// absl::Status -> grpc::Status, code for code (both follow google.rpc.Code).
grpc::Status ToGrpcStatus(const absl::Status& status);

class DynamicsService final : public v1::Dynamics::CallbackService {
 public:
  static constexpr int kAnalysisThreads = 2;
  static constexpr size_t kAnalysisQueue = 32;

  // `parser` turns each SubmitJobRequest into the JobSpec `jobs` runs.
  DynamicsService(JobManager* jobs, const JobSpecParser* parser, const Authenticator* auth, Metrics* metrics);

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context, const v1::LoadModelRequest* request,
                                      v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* UnloadModel(grpc::CallbackServerContext* context, const v1::UnloadModelRequest* request,
                                        v1::UnloadModelResponse* response) override;
  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context, const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context, const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context, const v1::DeleteJobRequest* request,
                                      v1::DeleteJobResponse* response) override;
  grpc::ServerWriteReactor<v1::ExampleRecord>* StreamRecords(grpc::CallbackServerContext* context,
                                                             const v1::StreamRecordsRequest* request) override;
  grpc::ServerUnaryReactor* Analyze(grpc::CallbackServerContext* context, const v1::AnalyzeRequest* request,
                                    v1::AnalyzeResponse* response) override;
  grpc::ServerReadReactor<v1::AnalyzeRecordsRequest>* AnalyzeRecords(grpc::CallbackServerContext* context,
                                                                     v1::AnalyzeResponse* response) override;

 private:
  // The one authentication path (issue #18 "Tenants"): every RPC of the
  // service calls it first, through Unary / UnaryOffThread or directly in the
  // two streaming methods, and the Caller it returns is the only way to reach
  // a job (JobManager's job methods take one). Health and reflection are
  // other services and stay open. tests/server/rrmd_tenants_test.cc calls
  // every method of the service descriptor without a token, so a new RPC
  // that forgets this fails it.
  absl::StatusOr<Caller> Authenticate(grpc::CallbackServerContext* context) const;
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, const char* method, Fn&& fn);
  template <typename Fn>
  grpc::ServerUnaryReactor* UnaryOffThread(grpc::CallbackServerContext* context, const char* method, Fn&& fn);

  JobManager* const jobs_;
  const JobSpecParser* const parser_;
  const Authenticator* const auth_;
  Metrics* const metrics_;
  // Analyze and AnalyzeRecords run here, off gRPC's callback threads: a few
  // threads, a bounded queue, RESOURCE_EXHAUSTED beyond it (last member: its
  // destructor finishes the queued analyses before the rest goes away).
  BoundedExecutor analyses_{kAnalysisThreads, kAnalysisQueue};
};

}  // namespace rrm::server

#endif  // RRM_SERVER_DYNAMICS_SERVICE_H_
