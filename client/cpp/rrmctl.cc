// rrmctl: the command line for rrmd (see `rrmctl --help` and README.md,
// "Command line: rrmctl"). Results go to stdout, progress and errors to
// stderr ("rrmctl: <message>"), and the exit code says what went wrong:
//   0 ok, 1 other error (or a --wait'ed job that did not succeed),
//   2 usage error, 3 server unavailable, 4 not found,
//   5 invalid argument / failed precondition / permission / authentication.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/client.h"
#include "client/cpp/puzzle_request.h"
#include "client/cpp/record_csv.h"
#include "client/cpp/sharded_job.h"
#include "core/analysis/analysis.h"
#include "core/analysis/comparison.h"
#include "core/analysis/report_format.h"
#include "core/common/json_text.h"
#include "core/measure/record_json.h"
#include "core/puzzle/puzzle_set.h"
#include "wire/analysis_proto.h"
#include "wire/record_proto.h"

// --- connection ---
ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "rrmd address HOST:PORT; several, comma-separated (all:HOST:PORT = every address HOST resolves to), "
          "shard a submitted job over them");
ABSL_FLAG(std::string, token_file, "", "file holding the bearer token (first line; `name:token` sends the token)");
ABSL_FLAG(bool, tls, false, "connect with TLS");
ABSL_FLAG(std::string, tls_ca, "", "PEM file of root certificates for --tls (default: the system's)");
ABSL_FLAG(int, deadline_seconds, 60, "deadline of each unary call");
ABSL_FLAG(int, retry_seconds, 60, "how long streams and --wait keep reconnecting to an unavailable server");
// --- submit ---
ABSL_FLAG(std::string, model, "", "submit: model name (see `rrmctl models`)");
ABSL_FLAG(std::string, data, "", "submit: upstream dataset folder, read here and sent inline");
ABSL_FLAG(std::string, sudoku, "", "submit: Sudoku text/CSV file, read here and sent inline");
ABSL_FLAG(std::string, maze, "", "submit: Maze text/CSV file, read here and sent inline");
ABSL_FLAG(std::string, server_data, "", "submit: dataset folder on the server (under its --data_root)");
ABSL_FLAG(int64_t, limit, 0, "submit: only the first N puzzles (0 = all)");
ABSL_FLAG(int, segments, 0, "submit: segments T (0 = the checkpoint's halt_max_steps)");
ABSL_FLAG(int, lyapunov_k, 0, "submit: top-k Lyapunov exponents (0 = trajectory only)");
ABSL_FLAG(int, lyapunov_draws, 0, "submit: independent tangent starts (0 = 1)");
ABSL_FLAG(std::string, lyapunov_method, "",
          "submit: qr (default) | propagator; report: which records' lambda to analyse");
ABSL_FLAG(int, early_window, 0, "submit: propagator early window w; report: early window w (0 = 4)");
ABSL_FLAG(int, energy_map_directions, 0,
          "submit: energy maps of the top n directions per puzzle position (0 = off; n <= lyapunov_k)");
ABSL_FLAG(int64_t, job_deadline_seconds, 0,
          "submit: JobOptions.deadline_seconds, the job fails this many seconds after submission (0 = none)");
ABSL_FLAG(uint64_t, seed, 0, "submit: Q_0 and noise seed");
ABSL_FLAG(std::string, tangent_dtype, "", "submit: float32 (default) | float64");
ABSL_FLAG(int, restarts, 0, "submit: runs per puzzle R (0 = 1); report: runs for the restart analysis (0 = all)");
ABSL_FLAG(std::string, restart_kind, "", "submit: none | symmetry | init_noise | step_noise");
ABSL_FLAG(double, restart_sigma, 0, "submit: noise scale for the noise restart kinds");
ABSL_FLAG(int, batch_size, 0, "submit: examples per work item (0 = server default)");
ABSL_FLAG(int, priority, 0, "submit: higher runs first");
ABSL_FLAG(std::vector<std::string>, label, {}, "submit: key=value labels, comma-separated");
ABSL_FLAG(std::string, idempotency_key, "", "submit: a retried submit with the same key returns the first job");
ABSL_FLAG(bool, wait, false, "submit: follow the job until it ends (exit 1 unless it SUCCEEDED)");
// --- models ---
ABSL_FLAG(std::string, config, "", "models load: all_config.yaml (default: beside the checkpoint)");
ABSL_FLAG(std::vector<std::string>, override, {}, "models load: upstream key=value overrides");
ABSL_FLAG(std::vector<std::string>, devices, {}, "models load: worker names (default: all)");
// --- jobs / status ---
ABSL_FLAG(std::string, state, "", "jobs: only jobs in this state (queued, running, succeeded, failed, cancelled)");
ABSL_FLAG(bool, json, false, "status, jobs, models: proto3 JSON; report: the report as JSON");
// --- records ---
ABSL_FLAG(int64_t, from, 0, "records: first stream index");
ABSL_FLAG(std::string, format, "jsonl", "records: jsonl (SPEC §4 proto3 JSON, one record a line) | csv");
ABSL_FLAG(std::string, out, "", "records: write to this file instead of stdout");
// --- report ---
ABSL_FLAG(std::string, records, "", "report: analyse this JSONL file offline (no server)");
ABSL_FLAG(std::string, tau, "", "report: settling threshold on d_T (default: p95 of d_T among successes)");
ABSL_FLAG(int, bootstrap, -1, "report: bootstrap replicates per CI (-1 = the default 1000; 0 = no CIs)");
ABSL_FLAG(uint64_t, bootstrap_seed, 0, "report: bootstrap seed");
ABSL_FLAG(int, displacement_bins, 0, "report: d_T quantile bins of the matched AUC (0 = 10)");
// --- display ---
ABSL_FLAG(std::string, progress, "auto", "auto (a bar when stderr is a terminal) | bar | lines | none");

namespace rrm {
namespace {

constexpr int kOk = kExitOk, kOther = kExitOther, kUsage = kExitUsage, kUnavailable = kExitUnavailable,
              kNotFound = kExitNotFound, kRefused = kExitRefused;

constexpr char kUsageText[] = R"(rrmctl: command line for rrmd (service rrm.v1.Dynamics)

usage: rrmctl [--target=HOST:PORT[,HOST:PORT...]] [--token_file=F] [--tls [--tls_ca=PEM]] SUBCOMMAND ...

subcommands:
  health                          is the server SERVING?
  models                          list loaded models
  models load NAME PATH           load a checkpoint (under the server's --model_root)
                                  [--config=YAML --override=k=v,... --devices=cpu#0,...]
  models unload NAME
  submit --model=NAME (--data=DIR | --sudoku=FILE | --maze=FILE | --server_data=PATH)
         [--limit --segments --lyapunov_k --lyapunov_draws --lyapunov_method --early_window --energy_map_directions --job_deadline_seconds
          --seed --tangent_dtype --restarts --restart_kind --restart_sigma --batch_size
          --priority --label=k=v,... --idempotency_key] [--wait]
                                  prints the job id alone on stdout; --wait follows it
  jobs [--state=running]          list jobs
  status JOB                      one job (--json: proto3 JSON)
  cancel JOB
  delete JOB                      remove the job and its records (cancelled first if unfinished)
  records JOB [--from=N] [--format=jsonl|csv] [--out=FILE]
  report JOB [--json]             the SPEC §5 failure decomposition (Analyze RPC)
  report JOB_A JOB_B ... [--json] several jobs side by side, one column per model
                                  (claims, decomposition, AUCs, halting, restarts)
                                  and whether their puzzle sets agree; --json:
                                  {"jobs": [ids], "reports": {id: report}}
  report --records=FILE.jsonl [--json]   the same analysis offline, no server
         [--tau --early_window --bootstrap --bootstrap_seed --displacement_bins
          --lyapunov_method --restarts]

several servers (--target=a:50051,b:50051 or --target=all:NAME:50051, every
address NAME resolves to, e.g. a Kubernetes headless Service):
  submit cuts the puzzles into one contiguous block per server (records keep
  their study-wide example_index; --server_data needs --limit) and prints the
  sharded job id TARGET/JOB,TARGET/JOB,...; status, cancel, records (merged
  streams, no --from) and report (of the merged records) take that id and need
  no --target. health, models and jobs run on every server.

exit codes:
  0 ok
  1 other error; submit --wait: the job FAILED or was CANCELLED
  2 usage error (bad flag, subcommand or argument count)
  3 server unavailable (down, unreachable, or gone longer than --retry_seconds)
  4 not found (job, model, file)
  5 refused: invalid argument, failed precondition, permission denied,
    unauthenticated (the server's message is printed)
errors go to stderr as "rrmctl: <message>".

`rrmctl --helpfull` lists every flag with its default.
)";

int Fail(int code, const std::string& message) {
  std::cerr << "rrmctl: " << message << std::endl;
  return code;
}

int Fail(const absl::Status& status) {
  std::string prefix;
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    prefix = absl::StrCat("server ", absl::GetFlag(FLAGS_target), " unavailable: ");
  }
  return Fail(ExitCode(status), absl::StrCat(prefix, absl::StatusCodeToString(status.code()), ": ", status.message()));
}

struct Usage {
  std::string message;
};

// Flags are checked before absl parses them so that a bad flag is exit code 2
// with our message (absl would exit 1).
std::optional<Usage> CheckFlags(int argc, char** argv, bool* help) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    absl::string_view body = absl::StripPrefix(absl::StripPrefix(arg, "-"), "-");
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(body, absl::MaxSplits('=', 1));
    const bool has_value = body.find('=') != absl::string_view::npos;
    if (kv.first == "help" || kv.first == "h" || kv.first == "helpshort") {
      *help = true;
      return std::nullopt;
    }
    if (kv.first == "helpfull" || kv.first == "version" || kv.first == "flagfile" || kv.first == "fromenv" ||
        kv.first == "tryfromenv" || kv.first == "undefok") {
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(kv.first);
    if (flag == nullptr && absl::StartsWith(kv.first, "no")) {
      absl::CommandLineFlag* negated = absl::FindCommandLineFlag(kv.first.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>() && !has_value) continue;
    }
    if (flag == nullptr) return Usage{absl::StrCat("unknown flag --", kv.first, " (see rrmctl --help)")};
    std::string value;
    if (has_value) {
      value = std::string(kv.second);
    } else if (flag->IsOfType<bool>()) {
      continue;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Usage{absl::StrCat("flag --", kv.first, ": expected a value, found none")};
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return Usage{absl::StrCat("flag --", kv.first, ": ", error)};
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The token of --token_file (rrm::ParseTokenFile, client/contract.json).
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseTokenFile(*text, path);
}

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  return std::string(absl::StripPrefix(name, "JOB_STATE_"));
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

// Progress of a job on stderr: a redrawn bar on a terminal, otherwise a plain
// line whenever the state changes or at most every 5 s.
class Progress {
 public:
  Progress() {
    const std::string mode = absl::GetFlag(FLAGS_progress);
    bar_ = mode == "bar" || (mode == "auto" && ::isatty(2));
    quiet_ = mode == "none";
  }
  void Update(const v1::Job& job) {
    if (quiet_) return;
    const absl::Time now = absl::Now();
    if (!started_) {
      started_ = true;
      start_time_ = now;
      start_records_ = job.records_stored();
    }
    const double elapsed = absl::ToDoubleSeconds(now - start_time_);
    const double rate = elapsed > 0.5 ? (job.records_stored() - start_records_) / elapsed : NAN;
    const int64_t total = job.total_records();
    const double eta = rate > 0 ? (total - job.records_stored()) / rate : NAN;
    const std::string numbers =
        absl::StrFormat("%d/%d records%s, %s/s, ETA %s", job.records_stored(), total,
                        job.records_failed() > 0 ? absl::StrCat(" (", job.records_failed(), " failed)") : "",
                        std::isfinite(rate) ? absl::StrFormat("%.1f", rate) : "?", Duration(eta));
    if (bar_) {
      constexpr int kWidth = 30;
      const int filled = total > 0 ? static_cast<int>(kWidth * job.records_stored() / total) : 0;
      std::cerr << "\r\033[K" << StateName(job.state()) << " [" << std::string(filled, '#')
                << std::string(kWidth - filled, '.') << "] " << numbers << std::flush;
      if (IsFinished(job.state())) std::cerr << "\n";
      return;
    }
    if (job.state() != last_state_ || job.records_stored() != last_records_) {
      if (job.state() != last_state_ || now - last_line_ >= absl::Seconds(5) || IsFinished(job.state())) {
        std::cerr << "job " << job.job_id() << ": " << StateName(job.state()) << " " << numbers << std::endl;
        last_line_ = now;
        last_state_ = job.state();
        last_records_ = job.records_stored();
      }
    }
  }

 private:
  bool bar_ = false;
  bool quiet_ = false;
  bool started_ = false;
  absl::Time start_time_;
  int64_t start_records_ = 0;
  absl::Time last_line_ = absl::InfinitePast();
  v1::JobState last_state_ = v1::JOB_STATE_UNSPECIFIED;
  int64_t last_records_ = -1;
};

// Everything but the target.
absl::StatusOr<ClientOptions> OptionsFromFlags() {
  ClientOptions options;
  options.tls = absl::GetFlag(FLAGS_tls);
  if (!absl::GetFlag(FLAGS_tls_ca).empty()) {
    absl::StatusOr<std::string> pem = ReadFile(absl::GetFlag(FLAGS_tls_ca));
    if (!pem.ok()) return pem.status();
    options.tls_root_certs = *pem;
  }
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    absl::StatusOr<std::string> token = ReadToken(absl::GetFlag(FLAGS_token_file));
    if (!token.ok()) return token.status();
    options.token = *token;
  }
  options.deadline = absl::Seconds(absl::GetFlag(FLAGS_deadline_seconds));
  options.retry_for = absl::Seconds(absl::GetFlag(FLAGS_retry_seconds));
  return options;
}

int Health(Client& client) {
  absl::Status status = client.Health();
  if (!status.ok()) return Fail(status);
  std::cout << "SERVING" << std::endl;
  return kOk;
}

void PrintModel(const v1::ModelInfo& m) {
  std::cout << absl::StrFormat("%-16s %-28s seq_len=%d vocab=%d T=%d devices=%s  %s\n", m.name(), m.arch(),
                               m.seq_len(), m.vocab_size(), m.halt_max_steps(), absl::StrJoin(m.devices(), ","),
                               m.checkpoint_path());
}

int Models(Client& client, const std::vector<std::string>& args) {
  if (args.empty()) {
    absl::StatusOr<std::vector<v1::ModelInfo>> models = client.ListModels();
    if (!models.ok()) return Fail(models.status());
    for (const v1::ModelInfo& m : *models) {
      if (absl::GetFlag(FLAGS_json)) {
        std::cout << ToJson(m) << "\n";
      } else {
        PrintModel(m);
      }
    }
    return kOk;
  }
  if (args[0] == "load" && args.size() == 3) {
    v1::LoadModelRequest request;
    request.set_name(args[1]);
    request.set_checkpoint_path(args[2]);
    request.set_config_path(absl::GetFlag(FLAGS_config));
    for (const std::string& o : absl::GetFlag(FLAGS_override)) request.add_overrides(o);
    for (const std::string& d : absl::GetFlag(FLAGS_devices)) request.add_devices(d);
    absl::StatusOr<v1::ModelInfo> info = client.LoadModel(request);
    if (!info.ok()) return Fail(info.status());
    PrintModel(*info);
    return kOk;
  }
  if (args[0] == "unload" && args.size() == 2) {
    absl::Status status = client.UnloadModel(args[1]);
    if (!status.ok()) return Fail(status);
    return kOk;
  }
  return Fail(kUsage, "usage: rrmctl models [load NAME PATH | unload NAME]");
}

// The SubmitJob request from the flags; `exit_code` says why not.
std::optional<v1::SubmitJobRequest> SubmitRequestFromFlags(int* exit_code) {
  auto fail = [&](int code, const std::string& message) -> std::optional<v1::SubmitJobRequest> {
    *exit_code = Fail(code, message);
    return std::nullopt;
  };
  v1::SubmitJobRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  if (request.model().empty()) return fail(kUsage, "submit: --model=NAME is required");
  const std::string data = absl::GetFlag(FLAGS_data), sudoku = absl::GetFlag(FLAGS_sudoku),
                    maze = absl::GetFlag(FLAGS_maze), server_data = absl::GetFlag(FLAGS_server_data);
  const int sources = !data.empty() + !sudoku.empty() + !maze.empty() + !server_data.empty();
  if (sources != 1) {
    return fail(kUsage, absl::StrCat("submit: expected exactly one of --data, --sudoku, --maze, --server_data, found ",
                                     sources));
  }
  const int64_t limit = absl::GetFlag(FLAGS_limit);
  if (limit < 0) return fail(kUsage, absl::StrCat("flag --limit: expected >= 0, found ", limit));
  if (!server_data.empty()) {
    request.mutable_puzzles()->set_dataset_path(server_data);
    request.mutable_puzzles()->set_limit(limit);
  } else {
    absl::StatusOr<puzzle::PuzzleSet> set = !data.empty()     ? puzzle::ReadDatasetFolder(data)
                                            : !sudoku.empty() ? puzzle::ReadSudokuFile(sudoku)
                                                              : puzzle::ReadMazeFile(maze);
    if (!set.ok()) {
      *exit_code = Fail(set.status());
      return std::nullopt;
    }
    *request.mutable_puzzles() = PuzzleSetToInput(limit > 0 ? set->Head(limit) : *set);
  }
  v1::JobOptions* options = request.mutable_options();
  options->set_segments(absl::GetFlag(FLAGS_segments));
  options->set_lyapunov_k(absl::GetFlag(FLAGS_lyapunov_k));
  options->set_lyapunov_draws(absl::GetFlag(FLAGS_lyapunov_draws));
  options->set_lyapunov_method(absl::GetFlag(FLAGS_lyapunov_method));
  options->set_early_window(absl::GetFlag(FLAGS_early_window));
  options->set_energy_map_directions(absl::GetFlag(FLAGS_energy_map_directions));
  options->set_deadline_seconds(absl::GetFlag(FLAGS_job_deadline_seconds));
  options->set_seed(absl::GetFlag(FLAGS_seed));
  options->set_tangent_dtype(absl::GetFlag(FLAGS_tangent_dtype));
  options->mutable_restarts()->set_kind(absl::GetFlag(FLAGS_restart_kind));
  options->mutable_restarts()->set_count(absl::GetFlag(FLAGS_restarts));
  options->mutable_restarts()->set_sigma(absl::GetFlag(FLAGS_restart_sigma));
  options->set_batch_size(absl::GetFlag(FLAGS_batch_size));
  options->set_priority(absl::GetFlag(FLAGS_priority));
  for (const std::string& label : absl::GetFlag(FLAGS_label)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(label, absl::MaxSplits('=', 1));
    if (kv.first.empty() || label.find('=') == std::string::npos) {
      return fail(kUsage, absl::StrCat("flag --label: expected key=value, found \"", label, "\""));
    }
    (*options->mutable_labels())[kv.first] = kv.second;
  }
  request.set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
  return request;
}

// Submits to one server, or shards over several; prints the (sharded) job id.
int Submit(const ClientOptions& options, const std::vector<Target>& targets) {
  int exit_code = kOk;
  std::optional<v1::SubmitJobRequest> request = SubmitRequestFromFlags(&exit_code);
  if (!request.has_value()) return exit_code;
  Progress progress;
  auto on_progress = [&](const v1::Job& j) { progress.Update(j); };
  absl::StatusOr<v1::Job> job;
  if (targets.size() == 1) {
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(WithTarget(options, targets.front()));
    if (!client.ok()) return Fail(kUsage, std::string(client.status().message()));
    absl::StatusOr<v1::SubmitJobResponse> submitted = (*client)->Submit(*request);
    if (!submitted.ok()) return Fail(submitted.status());
    std::cout << submitted->job_id() << std::endl;
    if (!absl::GetFlag(FLAGS_wait)) return kOk;
    job = (*client)->WaitForJob(submitted->job_id(), on_progress);
  } else {
    absl::StatusOr<ShardedJob> sharded = ShardedJob::Submit(options, targets, *request);
    if (!sharded.ok()) return Fail(sharded.status());
    std::cout << sharded->id() << std::endl;
    if (!absl::GetFlag(FLAGS_wait)) return kOk;
    job = sharded->Wait(on_progress);
  }
  if (!job.ok()) return Fail(job.status());
  if (job->state() != v1::JOB_STATE_SUCCEEDED) {
    return Fail(kOther, absl::StrCat("job ", job->job_id(), " ended ", StateName(job->state()),
                                     job->error().empty() ? "" : absl::StrCat(": ", job->error())));
  }
  return kOk;
}

void PrintJob(const v1::Job& job) {
  std::cout << "job_id:        " << job.job_id() << "\n"
            << "state:         " << StateName(job.state()) << "\n"
            << "model:         " << job.model() << "\n"
            << "records:       " << job.records_stored() << "/" << job.total_records() << " (" << job.records_failed()
            << " with error)\n"
            << "examples:      " << job.examples() << " x " << job.restarts() << " restarts\n"
            << "compute:       " << absl::StrFormat("%.3f", job.compute_seconds()) << " s\n";
  if (!job.owner().empty()) std::cout << "owner:         " << job.owner() << "\n";
  if (!job.error().empty()) std::cout << "error:         " << job.error() << "\n";
  if (!job.paused().empty()) std::cout << "paused:        " << job.paused() << "\n";
  for (const std::string& e : job.errors()) std::cout << "record error:  " << e << "\n";
}

int Jobs(Client& client) {
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  if (const std::string name = absl::GetFlag(FLAGS_state); !name.empty()) {
    if (!v1::JobState_Parse("JOB_STATE_" + absl::AsciiStrToUpper(name), &state)) {
      return Fail(kUsage, absl::StrCat("flag --state: expected queued, running, succeeded, failed or cancelled, found \"",
                                       name, "\""));
    }
  }
  absl::StatusOr<std::vector<v1::Job>> jobs = client.ListJobs(state);
  if (!jobs.ok()) return Fail(jobs.status());
  if (!absl::GetFlag(FLAGS_json)) {
    std::cout << absl::StrFormat("%-30s %-10s %-16s %s\n", "JOB", "STATE", "MODEL", "RECORDS");
  }
  for (const v1::Job& job : *jobs) {
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << ToJson(job) << "\n";
    } else {
      std::cout << absl::StrFormat("%-30s %-10s %-16s %d/%d\n", job.job_id(), StateName(job.state()), job.model(),
                                   job.records_stored(), job.total_records());
    }
  }
  return kOk;
}

int Status(Client& client, const std::string& job_id) {
  absl::StatusOr<v1::Job> job = client.GetJob(job_id);
  if (!job.ok()) return Fail(job.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ToJson(*job) << std::endl;
  } else {
    PrintJob(*job);
  }
  return kOk;
}

int Cancel(Client& client, const std::string& job_id) {
  absl::StatusOr<v1::Job> job = client.CancelJob(job_id);
  if (!job.ok()) return Fail(job.status());
  std::cout << job->job_id() << " " << StateName(job->state()) << std::endl;
  return kOk;
}

int Delete(Client& client, const std::string& job_id) {
  if (absl::Status status = client.DeleteJob(job_id); !status.ok()) return Fail(status);
  std::cout << job_id << " deleted" << std::endl;
  return kOk;
}

using OnRecord = std::function<absl::Status(const v1::ExampleRecord&)>;

// Writes what `stream` delivers as --format to --out (or stdout).
int WriteRecords(const std::function<absl::Status(const OnRecord&)>& stream) {
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "jsonl" && format != "csv") {
    return Fail(kUsage, absl::StrCat("flag --format: expected jsonl or csv, found \"", format, "\""));
  }
  std::ofstream file;
  const std::string path = absl::GetFlag(FLAGS_out);
  if (!path.empty()) {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) return Fail(kOther, absl::StrCat("--out ", path, ": cannot open for writing"));
  }
  std::ostream& out = path.empty() ? std::cout : file;
  std::vector<measure::ExampleRecord> buffered;  // csv: columns depend on every record
  absl::Status status = stream([&](const v1::ExampleRecord& record) {
    measure::ExampleRecord r = wire::RecordFromProto(record);
    if (format == "csv") {
      buffered.push_back(std::move(r));
    } else {
      out << measure::RecordToJson(r) << '\n';
      if (!out) return absl::DataLossError("cannot write the output (disk full or pipe closed?)");
    }
    return absl::OkStatus();
  });
  if (format == "csv") out << RecordsToCsv(buffered);  // what arrived, also on error
  out.flush();
  if (!status.ok()) return Fail(status);
  if (!out) return Fail(kOther, "cannot write the output");
  return kOk;
}

int Records(Client& client, const std::string& job_id) {
  const int64_t from = absl::GetFlag(FLAGS_from);
  if (from < 0) return Fail(kUsage, absl::StrCat("flag --from: expected a stream index >= 0, found ", from));
  return WriteRecords([&](const OnRecord& on_record) { return client.StreamRecords(job_id, from, on_record); });
}

absl::StatusOr<v1::AnalysisParameters> ParametersFromFlags() {
  v1::AnalysisParameters p;
  if (const std::string tau = absl::GetFlag(FLAGS_tau); !tau.empty()) {
    double value = 0;
    if (!absl::SimpleAtod(tau, &value)) {
      return absl::InvalidArgumentError(absl::StrCat("flag --tau: expected a number, found \"", tau, "\""));
    }
    p.set_tau(value);
  }
  p.set_early_window(absl::GetFlag(FLAGS_early_window));
  if (absl::GetFlag(FLAGS_bootstrap) >= 0) p.set_bootstrap(absl::GetFlag(FLAGS_bootstrap));
  p.set_seed(absl::GetFlag(FLAGS_bootstrap_seed));
  p.set_displacement_bins(absl::GetFlag(FLAGS_displacement_bins));
  p.set_lyapunov_method(absl::GetFlag(FLAGS_lyapunov_method));
  p.set_restarts(absl::GetFlag(FLAGS_restarts));
  return p;
}

void PrintReport(const std::string& table, const std::string& json) {
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << json << std::endl;
  } else {
    std::cout << table << std::flush;
  }
}

// `analyze` answers for a job (one server's Analyze, or a sharded job's
// merged records); null for --records (offline).
using Analyzer = std::function<absl::StatusOr<v1::AnalyzeResponse>(const v1::AnalysisParameters&)>;

int Report(const std::vector<std::string>& args, const Analyzer& analyze) {
  const std::string records_path = absl::GetFlag(FLAGS_records);
  if (records_path.empty() == args.empty() || args.size() > 1) {
    return Fail(kUsage,
                "usage: rrmctl report JOB [--json] | rrmctl report JOB_A JOB_B ... [--json] | "
                "rrmctl report --records=FILE.jsonl [--json]");
  }
  absl::StatusOr<v1::AnalysisParameters> parameters = ParametersFromFlags();
  if (!parameters.ok()) return Fail(parameters.status());
  if (!records_path.empty()) {  // offline: the very functions the server calls
    absl::StatusOr<analysis::AnalysisParameters> core = wire::AnalysisParametersFromProto(*parameters);
    if (!core.ok()) return Fail(core.status());
    absl::StatusOr<std::vector<measure::ExampleRecord>> records = measure::ReadRecordsJsonl(records_path);
    if (!records.ok()) return Fail(records.status());
    absl::StatusOr<analysis::Report> report = analysis::Analyze(*records, *core);
    if (!report.ok()) return Fail(report.status());
    PrintReport(analysis::FormatReportTable(*report), analysis::ReportToJson(*report));
    return kOk;
  }
  absl::StatusOr<v1::AnalyzeResponse> response = analyze(*parameters);
  if (!response.ok()) return Fail(response.status());
  if (!response->note().empty()) std::cerr << "rrmctl: note: " << response->note() << std::endl;
  PrintReport(response->table(), response->report_json());
  return kOk;
}

// One job's records and name for `report JOB_A JOB_B ...`: every record of a
// finished job; of an unfinished one, the records stored when GetJob answered
// (as Analyze does, with the same note).
struct JobRecords {
  std::string id;
  std::string model;
  std::vector<measure::ExampleRecord> records;
};

absl::StatusOr<JobRecords> FetchJobRecords(Client& client, const std::string& job_id) {
  absl::StatusOr<v1::Job> job = client.GetJob(job_id);
  if (!job.ok()) return job.status();
  JobRecords out;
  out.id = job_id;
  out.model = job->model().empty() ? job_id : job->model();
  const bool finished = job->state() == v1::JOB_STATE_SUCCEEDED || job->state() == v1::JOB_STATE_FAILED ||
                        job->state() == v1::JOB_STATE_CANCELLED;
  const int64_t stored = job->records_stored();
  if (!finished && stored == 0) {
    std::cerr << "rrmctl: note: job " << job_id << " is " << v1::JobState_Name(job->state())
              << ": no records stored yet" << std::endl;
    return out;
  }
  const absl::Status enough = absl::CancelledError("enough records");
  absl::Status status = client.StreamRecords(job_id, 0, [&](const v1::ExampleRecord& record) -> absl::Status {
    out.records.push_back(wire::RecordFromProto(record));
    if (!finished && static_cast<int64_t>(out.records.size()) >= stored) return enough;
    return absl::OkStatus();
  });
  if (!status.ok() && status != enough) return status;
  if (!finished) {
    std::cerr << "rrmctl: note: job " << job_id << " is " << v1::JobState_Name(job->state()) << ": analysed the "
              << out.records.size() << " of " << job->total_records() << " records stored so far" << std::endl;
  }
  return out;
}

// `report JOB_A JOB_B ...`: each job's records analysed here by the very
// Analyze() the server's Analyze RPC runs, with the same parameters, side by
// side (core/analysis/comparison.h). Columns: the jobs' model names, with the
// job id where two jobs share a model.
int CompareReports(Client& client, const std::vector<std::string>& job_ids) {
  for (const std::string& id : job_ids) {
    if (IsShardedJobId(id)) {
      return Fail(kUsage, absl::StrCat("report: comparing sharded jobs is not supported (", id, ")"));
    }
  }
  absl::StatusOr<v1::AnalysisParameters> parameters = ParametersFromFlags();
  if (!parameters.ok()) return Fail(parameters.status());
  absl::StatusOr<analysis::AnalysisParameters> core = wire::AnalysisParametersFromProto(*parameters);
  if (!core.ok()) return Fail(core.status());
  std::vector<JobRecords> jobs;
  for (const std::string& id : job_ids) {
    absl::StatusOr<JobRecords> job = FetchJobRecords(client, id);
    if (!job.ok()) return Fail(job.status());
    jobs.push_back(*std::move(job));
  }
  std::vector<std::pair<std::string, analysis::Report>> reports;
  std::vector<std::pair<std::string, std::vector<measure::ExampleRecord>>> named_records;
  for (const JobRecords& job : jobs) {
    int same_model = 0;
    for (const JobRecords& other : jobs) same_model += other.model == job.model ? 1 : 0;
    const std::string name = same_model > 1 ? absl::StrCat(job.model, " (", job.id, ")") : job.model;
    absl::StatusOr<analysis::Report> report = analysis::Analyze(job.records, *core);
    if (!report.ok()) return Fail(report.status());
    reports.emplace_back(name, *std::move(report));
    named_records.emplace_back(name, job.records);
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::string out;
    {
      JsonObject root(&out);
      root.Array("jobs", job_ids, [](const std::string& id, std::string* text) { AppendJsonString(id, text); });
      std::string* text = root.Key("reports");
      text->push_back('{');
      for (size_t i = 0; i < reports.size(); ++i) {
        if (i) text->push_back(',');
        AppendJsonString(job_ids[i], text);
        text->push_back(':');
        text->append(analysis::ReportToJson(reports[i].second));
      }
      text->push_back('}');
    }
    std::cout << out << std::endl;
    return kOk;
  }
  std::cout << analysis::FormatComparisonTable(reports, analysis::PuzzleSetNote(named_records)) << std::flush;
  return kOk;
}

// status, cancel, records and report of a sharded job (TARGET/JOB,...).
int OnShardedJob(const std::string& command, const ClientOptions& options, const std::string& id) {
  if (command == "delete") {
    return Fail(kUsage, "delete: a sharded job's parts live on several servers; delete each part "
                        "(rrmctl --target=SERVER delete PART_ID)");
  }
  absl::StatusOr<ShardedJob> job = ShardedJob::Open(options, id);
  if (!job.ok()) return Fail(kUsage, std::string(job.status().message()));
  if (command == "status") {
    absl::StatusOr<std::vector<v1::Job>> parts = job->Parts();
    if (!parts.ok()) return Fail(parts.status());
    const v1::Job sum = job->Sum(*parts);
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << ToJson(sum) << std::endl;
      return kOk;
    }
    PrintJob(sum);
    for (size_t i = 0; i < parts->size(); ++i) {
      const v1::Job& part = (*parts)[i];
      std::cout << absl::StrFormat("part %d:        %s/%s %s %d/%d\n", i + 1, job->parts()[i].client->options().target,
                                   part.job_id(), StateName(part.state()), part.records_stored(),
                                   part.total_records());
    }
    return kOk;
  }
  if (command == "cancel") {
    absl::StatusOr<v1::Job> sum = job->Cancel();
    if (!sum.ok()) return Fail(sum.status());
    std::cout << sum->job_id() << " " << StateName(sum->state()) << std::endl;
    return kOk;
  }
  if (command == "records") {
    if (absl::GetFlag(FLAGS_from) != 0) {
      return Fail(kUsage, absl::StrCat("flag --from: a sharded job's records are merged from ", job->parts().size(),
                                       " streams and have no single stream index; expected 0, found ",
                                       absl::GetFlag(FLAGS_from)));
    }
    return WriteRecords([&](const OnRecord& on_record) { return job->StreamRecords(on_record); });
  }
  return Report({id}, [&](const v1::AnalysisParameters& parameters) { return job->Analyze(parameters); });
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsageText);
  bool help = false;
  if (std::optional<Usage> usage = CheckFlags(argc, argv, &help)) return Fail(kUsage, usage->message);
  if (help) {
    std::cout << kUsageText;
    return kOk;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (args.empty()) {
    std::cerr << kUsageText;
    return Fail(kUsage, "expected a subcommand");
  }
  const std::string command = args[0];
  args.erase(args.begin());
  const std::string progress = absl::GetFlag(FLAGS_progress);
  if (progress != "auto" && progress != "bar" && progress != "lines" && progress != "none") {
    return Fail(kUsage, absl::StrCat("flag --progress: expected auto, bar, lines or none, found \"", progress, "\""));
  }
  auto arity = [&](size_t n, const char* usage) -> bool {
    if (args.size() == n) return true;
    Fail(kUsage, absl::StrCat("usage: rrmctl ", usage));
    return false;
  };
  const bool known = command == "health" || command == "models" || command == "submit" || command == "jobs" ||
                     command == "status" || command == "cancel" || command == "delete" || command == "records" ||
                     command == "report";
  if (!known) return Fail(kUsage, absl::StrCat("unknown subcommand \"", command, "\" (see rrmctl --help)"));
  if (command == "report" && !absl::GetFlag(FLAGS_records).empty()) return Report(args, nullptr);

  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    // A missing or empty credentials file is a usage error, not a server one.
    const std::string f = absl::GetFlag(FLAGS_token_file);
    if (absl::StatusOr<std::string> t = ReadToken(f); !t.ok()) return Fail(kUsage, std::string(t.status().message()));
  }
  absl::StatusOr<ClientOptions> options = OptionsFromFlags();
  if (!options.ok()) return Fail(kUsage, std::string(options.status().message()));
  const bool on_job = command == "status" || command == "cancel" || command == "delete" || command == "records" ||
                      command == "report";
  if (on_job && args.size() == 1 && IsShardedJobId(args[0])) return OnShardedJob(command, *options, args[0]);
  absl::StatusOr<std::vector<Target>> targets = ExpandTargets(absl::GetFlag(FLAGS_target));
  if (!targets.ok()) {
    return Fail(absl::IsNotFound(targets.status()) ? kUnavailable : kUsage, std::string(targets.status().message()));
  }
  if (command == "submit") {
    if (!arity(0, "submit --model=NAME (--data|--sudoku|--maze|--server_data)=...")) return kUsage;
    return Submit(*options, *targets);
  }
  if (targets->size() > 1 && on_job) {
    return Fail(kUsage, absl::StrCat(command, ": a job id names a job of one server; with several --target "
                                              "servers, give the sharded job's id (TARGET/JOB,...)"));
  }
  // Server commands run on every target in turn; the exit code is the first failure's.
  int exit_code = kOk;
  for (const Target& target : *targets) {
    if (targets->size() > 1) std::cout << "# " << target.address << std::endl;
    absl::StatusOr<std::unique_ptr<Client>> connected = Client::Connect(WithTarget(*options, target));
    if (!connected.ok()) return Fail(kUsage, std::string(connected.status().message()));
    Client& client = **connected;
    int code = kUsage;
    if (command == "health") {
      code = arity(0, "health") ? Health(client) : kUsage;
    } else if (command == "models") {
      code = Models(client, args);
    } else if (command == "jobs") {
      code = arity(0, "jobs [--state=STATE]") ? Jobs(client) : kUsage;
    } else if (command == "status") {
      code = arity(1, "status JOB") ? Status(client, args[0]) : kUsage;
    } else if (command == "cancel") {
      code = arity(1, "cancel JOB") ? Cancel(client, args[0]) : kUsage;
    } else if (command == "delete") {
      code = arity(1, "delete JOB") ? Delete(client, args[0]) : kUsage;
    } else if (command == "records") {
      code = arity(1, "records JOB [--from=N] [--format=jsonl|csv] [--out=FILE]") ? Records(client, args[0]) : kUsage;
    } else if (args.size() >= 2) {
      code = CompareReports(client, args);
    } else {
      code = Report(args, [&](const v1::AnalysisParameters& parameters) {
        v1::AnalyzeRequest request;
        request.set_job_id(args.empty() ? "" : args[0]);
        *request.mutable_parameters() = parameters;
        return client.Analyze(request);
      });
    }
    if (exit_code == kOk) exit_code = code;
    if (code == kUsage) break;
  }
  return exit_code;
}

}  // namespace
}  // namespace rrm

int main(int argc, char** argv) { return rrm::Main(argc, argv); }
