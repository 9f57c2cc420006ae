// rrmd: the gRPC measurement service (README "The measurement service rrmd").
//
// Wires the parts together: job store (--data_dir), model registry with the
// --model preloads, device workers (--devices), scheduler, the Dynamics
// frontend with health and reflection services on --listen, and /metrics on
// --metrics_listen. SIGTERM / SIGINT shut down gracefully: stop accepting
// RPCs, end streams, let each worker finish its current item, exit 0. Work not
// yet stored is redone on the next start (the store makes that exact).
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "core/common/cpu_setup.h"
#include "core/common/status.h"
#include "server/auth.h"
#include "server/device_memory.h"
#include "server/device_worker.h"
#include "server/dynamics_service.h"
#include "server/job_manager.h"
#include "server/job_store.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/path_policy.h"
#include "server/scheduler.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC address HOST:PORT");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464", "Prometheus /metrics address HOST:PORT");
ABSL_FLAG(std::string, devices, "",
          "device workers, e.g. cuda:0,cuda:1 or cpu,cpu (default: every CUDA device, else two cpu workers)");
ABSL_FLAG(std::string, data_dir, "rrmd-data", "job store folder (specs and record logs)");
ABSL_FLAG(std::vector<std::string>, model, {},
          "NAME=CHECKPOINT_PATH to load at start on every device (repeatable, or comma-separated)");
ABSL_FLAG(std::string, model_root, "", "the only folder LoadModel paths may name (empty: LoadModel paths refused)");
ABSL_FLAG(std::string, data_root, "", "the only folder dataset_path may name (empty: dataset paths refused)");
ABSL_FLAG(std::string, auth_tokens, "",
          "file of bearer tokens, one per line: token, name:token or name/admin:token (server/auth.h); without it only "
          "loopback --listen is allowed");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for TLS (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for TLS (with --tls_cert)");
ABSL_FLAG(int64_t, max_puzzles_per_job, 100000, "most puzzles one job may hold");
ABSL_FLAG(int64_t, max_message_bytes, 64 << 20, "largest request message accepted");
ABSL_FLAG(int64_t, max_jobs_per_token, 16, "most unfinished jobs per caller (token)");
ABSL_FLAG(int32_t, max_priority_user, 0,
          "highest SubmitJob priority a user token may ask for (PERMISSION_DENIED above; lower is always allowed)");
ABSL_FLAG(int32_t, max_priority_admin, std::numeric_limits<int32_t>::max(),
          "highest SubmitJob priority an admin token (name/admin:token), or anyone without --auth_tokens, may ask for");
ABSL_FLAG(int32_t, batch_size, 16, "default examples per work item");
ABSL_FLAG(int32_t, device_rest_seconds, 300,
          "how long a worker taken out of rotation rests before it is tried again (doubling after each relapse, "
          "up to 1 h)");
ABSL_FLAG(int32_t, threads, 0,
          "intra-op threads per CPU worker (0: OMP_NUM_THREADS if set, else the cores this process may use shared "
          "among its CPU workers)");
ABSL_FLAG(double, retain_finished_days, 0,
          "delete jobs finished more than this many days ago, at start-up and daily (0 = keep every job)");
ABSL_FLAG(std::string, device_memory_budget, "",
          "per worker: bytes (8000000000, 500MiB, 8GiB) or a share of the device's memory (0.8); an item that does "
          "not fit beside what the device already uses runs in chunks (empty or 0: no budget)");
ABSL_FLAG(std::string, fail_device, "", "testing only: every work item on this worker fails (INTERNAL)");

namespace {

using rrm::server::DeviceSlot;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool IsLoopback(const std::string& address) {
  const size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

// absl flags keep the last of repeated flags; --model accumulates instead.
std::vector<char*> GatherRepeatedModelFlags(int argc, char** argv, std::string* joined) {
  std::vector<char*> args;
  std::vector<std::string> models;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--model=")) {
      models.push_back(arg.substr(8));
    } else if (arg == "--model" && i + 1 < argc) {
      models.push_back(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  if (!models.empty()) {
    *joined = "--model=" + absl::StrJoin(models, ",");
    args.push_back(joined->data());
  }
  return args;
}

absl::Status Serve() {
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string tokens_file = absl::GetFlag(FLAGS_auth_tokens);
  const rrm::server::PriorityCeilings ceilings{absl::GetFlag(FLAGS_max_priority_user),
                                               absl::GetFlag(FLAGS_max_priority_admin)};
  rrm::server::Authenticator auth(ceilings);
  if (!tokens_file.empty()) {
    RRM_ASSIGN_OR_RETURN(auth, rrm::server::Authenticator::FromFile(tokens_file, ceilings));
  } else if (!IsLoopback(listen)) {
    return absl::InvalidArgumentError(absl::StrCat("--listen=", listen,
                                                   ": without --auth_tokens rrmd only listens on a loopback address "
                                                   "(127.0.0.1, localhost, [::1]); give --auth_tokens=FILE"));
  }
  if (absl::GetFlag(FLAGS_tls_cert).empty() != absl::GetFlag(FLAGS_tls_key).empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key: expected both or neither, found one");
  }

  RRM_ASSIGN_OR_RETURN(std::vector<DeviceSlot> slots, rrm::server::ParseDevices(absl::GetFlag(FLAGS_devices)));
  RRM_ASSIGN_OR_RETURN(const rrm::server::MemoryBudget budget,
                       rrm::server::ParseMemoryBudget(absl::GetFlag(FLAGS_device_memory_budget)));
  if (budget.enabled()) {
    // A budget that cannot be applied is refused here, not found out item by item.
    for (const DeviceSlot& slot : slots) {
      const absl::StatusOr<rrm::server::DeviceMemory> memory = rrm::server::ReadDeviceMemory(slot.device);
      if (!memory.ok()) {
        return absl::Status(memory.status().code(), absl::StrCat("--device_memory_budget: cannot read the memory of ",
                                                                 slot.name, ": ", memory.status().message()));
      }
      std::cerr << "rrmd: " << slot.name << ": --device_memory_budget " << budget.ToString() << " = "
                << static_cast<int64_t>(budget.BytesOn(*memory)) << " bytes; "
                << static_cast<int64_t>(memory->used) << " of " << static_cast<int64_t>(memory->total)
                << " bytes used" << std::endl;
    }
  }

  rrm::server::Metrics metrics;
  RRM_ASSIGN_OR_RETURN(std::unique_ptr<rrm::server::JobStore> store,
                       rrm::server::JobStore::Open(absl::GetFlag(FLAGS_data_dir)));
  rrm::server::ModelRegistry registry(slots, &metrics);
  rrm::server::Scheduler scheduler;
  rrm::server::SubmitLimits submit_limits;
  submit_limits.max_puzzles_per_job = absl::GetFlag(FLAGS_max_puzzles_per_job);
  submit_limits.default_batch_size = std::max(1, absl::GetFlag(FLAGS_batch_size));
  const rrm::server::JobSpecParser parser(
      &registry, rrm::server::PathPolicy("--data_root", absl::GetFlag(FLAGS_data_root)), submit_limits);
  rrm::server::JobLimits limits;
  limits.max_active_jobs_per_owner = absl::GetFlag(FLAGS_max_jobs_per_token);
  limits.device_rest = absl::Seconds(std::max(1, absl::GetFlag(FLAGS_device_rest_seconds)));
  rrm::server::JobManager jobs(store.get(), &registry, &scheduler, &metrics,
                               rrm::server::PathPolicy("--model_root", absl::GetFlag(FLAGS_model_root)), limits);
  jobs.SetWorkers(slots);

  for (const std::string& entry : absl::GetFlag(FLAGS_model)) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--model: expected NAME=CHECKPOINT_PATH, found '", entry, "'"));
    }
    absl::StatusOr<rrm::server::ModelInfo> info = jobs.PreloadModel(entry.substr(0, eq), entry.substr(eq + 1));
    if (!info.ok()) return absl::Status(info.status().code(), absl::StrCat("--model ", entry, ": ", info.status().message()));
    std::cerr << "rrmd: loaded model " << info->name << " (" << info->arch << ") on "
              << absl::StrJoin(info->devices, ", ") << "\n";
  }
  RRM_RETURN_IF_ERROR(jobs.Recover());
  const double retain_days = absl::GetFlag(FLAGS_retain_finished_days);
  if (!(retain_days >= 0) || !std::isfinite(retain_days)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--retain_finished_days: expected 0 (keep every job) or a positive number, found ", retain_days));
  }
  // Retention: at start-up (before serving), then daily until shutdown.
  const auto apply_retention = [&] {
    const int64_t deleted = jobs.DeleteFinishedBefore(absl::Now() - absl::Hours(24 * retain_days));
    if (deleted > 0) std::cerr << "rrmd: --retain_finished_days: deleted " << deleted << " finished jobs" << std::endl;
  };
  absl::Notification stopping;
  std::thread retention;
  if (retain_days > 0) {
    apply_retention();
    retention = std::thread([&] {
      while (!stopping.WaitForNotificationWithTimeout(absl::Hours(24))) apply_retention();
    });
  }
  struct JoinRetention {
    absl::Notification& stopping;
    std::thread& thread;
    ~JoinRetention() {
      if (!stopping.HasBeenNotified()) stopping.Notify();
      if (thread.joinable()) thread.join();
    }
  } join_retention{stopping, retention};

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(absl::GetFlag(FLAGS_metrics_listen));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("--metrics_listen=", absl::GetFlag(FLAGS_metrics_listen), ": cannot listen: ", e.what()));
  }
  exposer->RegisterCollectable(metrics.registry());

  std::vector<std::unique_ptr<rrm::server::DeviceWorker>> workers;
  for (const DeviceSlot& slot : slots) {
    workers.push_back(std::make_unique<rrm::server::DeviceWorker>(
        slot, &jobs, &metrics, slot.name == absl::GetFlag(FLAGS_fail_device), budget));
    workers.back()->Start();
  }

  rrm::server::DynamicsService service(&jobs, &parser, &auth, &metrics);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back(
        {ReadFile(absl::GetFlag(FLAGS_tls_key)), ReadFile(absl::GetFlag(FLAGS_tls_cert))});
    credentials = grpc::SslServerCredentials(options);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(absl::GetFlag(FLAGS_max_message_bytes)));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    jobs.Shutdown();
    for (auto& worker : workers) worker->Stop();
    return absl::UnavailableError(absl::StrCat("--listen=", listen, ": cannot listen (address in use or invalid)"));
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  std::vector<std::string> names;
  for (const DeviceSlot& slot : slots) names.push_back(slot.name);
  std::cerr << "rrmd: listening on " << listen << ", metrics on " << absl::GetFlag(FLAGS_metrics_listen)
            << ", workers " << absl::StrJoin(names, ", ") << ", data in " << absl::GetFlag(FLAGS_data_dir) << std::endl;

  // Every thread inherited the blocked signals (see main), so sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "rrmd: signal " << signal << ", shutting down" << std::endl;
  server->GetHealthCheckService()->SetServingStatus(false);
  // Streams following live jobs are cancelled after the deadline.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  jobs.Shutdown();  // the scheduler's too, and any wait for a full disk
  for (auto& worker : workers) worker->Stop();
  std::cerr << "rrmd: stopped" << std::endl;
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  // Block SIGTERM/SIGINT before any thread starts; Serve() waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::SetProgramUsageMessage("rrmd: the rrm-dynamics gRPC measurement service.\n  rrmd --devices=cpu,cpu --data_dir=/var/lib/rrmd --model trm=/models/trm/step_65100");
  std::string joined;
  std::vector<char*> args = GatherRepeatedModelFlags(argc, argv, &joined);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  // Several CPU workers share the cores (rrm::SetUpCpu): an invalid --devices is
  // reported by Serve().
  const auto slots = rrm::server::ParseDevices(absl::GetFlag(FLAGS_devices));
  const auto is_cpu = [](const DeviceSlot& s) { return s.device.is_cpu(); };
  const int cpu_workers = slots.ok() ? static_cast<int>(std::count_if(slots->begin(), slots->end(), is_cpu)) : 0;
  rrm::SetUpCpu("rrmd", argv, absl::GetFlag(FLAGS_threads), cpu_workers, /*openblas=*/false);
  const absl::Status status = Serve();
  if (!status.ok()) {
    std::cerr << "rrmd: " << status.message() << std::endl;
    return 1;
  }
  return 0;
}
