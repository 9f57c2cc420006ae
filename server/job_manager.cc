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
#include "wire/record_proto.h"

namespace rrm::server {
namespace {

constexpr int kMaxErrorsShown = 5;

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string StateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED: return "queued";
    case v1::JOB_STATE_RUNNING: return "running";
    case v1::JOB_STATE_SUCCEEDED: return "succeeded";
    case v1::JOB_STATE_FAILED: return "failed";
    case v1::JOB_STATE_CANCELLED: return "cancelled";
    default: return "unspecified";
  }
}

bool Finished(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED;
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

absl::Status Prefixed(const std::string& field, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

torch::Tensor ToTensor(const std::vector<int64_t>& values, int64_t rows, int64_t columns) {
  return torch::tensor(values, torch::kInt64).reshape({rows, columns});
}

}  // namespace

absl::StatusOr<measure::MeasureOptions> ToMeasureOptions(const v1::JobOptions& o) {
  measure::MeasureOptions options;
  options.segments = o.segments();
  options.lyapunov_k = o.lyapunov_k();
  options.lyapunov_seed = o.seed();
  if (o.tangent_dtype().empty() || o.tangent_dtype() == "float32") {
    options.tangent_dtype = torch::kFloat32;
  } else if (o.tangent_dtype() == "float64") {
    options.tangent_dtype = torch::kFloat64;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("options.tangent_dtype: expected float32 or float64, found '", o.tangent_dtype(), "'"));
  }
  options.lyapunov_draws = o.lyapunov_draws() > 0 ? o.lyapunov_draws() : 1;
  if (o.lyapunov_method().empty() || o.lyapunov_method() == "qr" || o.lyapunov_method() == "propagator") {
    options.lyapunov_method = o.lyapunov_method().empty() ? "qr" : o.lyapunov_method();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("options.lyapunov_method: expected qr or propagator, found '", o.lyapunov_method(), "'"));
  }
  if (o.lyapunov_draws() < 0 || o.early_window() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("options.", o.lyapunov_draws() < 0 ? "lyapunov_draws" : "early_window",
                                                   ": expected >= 0, found ",
                                                   o.lyapunov_draws() < 0 ? o.lyapunov_draws() : o.early_window()));
  }
  if (o.early_window() > 0) options.early_window = o.early_window();
  options.restart_kind = o.restarts().kind().empty() ? "none" : o.restarts().kind();
  options.restart_sigma = o.restarts().sigma();
  options.energy_map_directions = o.energy_map_directions();
  return options;
}

namespace {

// A job's measurement options: its JobOptions, and the study index of its
// first puzzle (the worker adds each item's position).
absl::StatusOr<measure::MeasureOptions> JobMeasureOptions(const v1::SubmitJobRequest& request) {
  RRM_ASSIGN_OR_RETURN(measure::MeasureOptions options, ToMeasureOptions(request.options()));
  options.first_example_index = request.puzzles().first_example_index();
  return options;
}

}  // namespace

StoredPuzzles PuzzlesToStored(const puzzle::PuzzleSet& p) {
  StoredPuzzles s;
  s.set_kind(static_cast<int32_t>(p.kind));
  s.set_seq_len(p.inputs.size(1));
  s.set_vocab_size(p.metadata.vocab_size);
  s.set_pad_id(p.metadata.pad_id);
  s.set_num_puzzle_identifiers(p.metadata.num_puzzle_identifiers);
  auto copy = [](const torch::Tensor& t, google::protobuf::RepeatedField<int32_t>* out) {
    const torch::Tensor c = t.to(torch::kInt32).contiguous();
    out->Add(c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel());
  };
  copy(p.inputs, s.mutable_inputs());
  if (p.has_labels()) copy(p.labels, s.mutable_labels());
  copy(p.puzzle_identifiers, s.mutable_puzzle_identifiers());
  for (const std::string& id : p.puzzle_ids) s.add_puzzle_ids(id);
  for (int32_t g : p.givens) s.add_givens(g);
  return s;
}

puzzle::PuzzleSet PuzzlesFromStored(const StoredPuzzles& s) {
  puzzle::PuzzleSet p;
  p.kind = static_cast<puzzle::PuzzleKind>(s.kind());
  p.metadata.seq_len = s.seq_len();
  p.metadata.vocab_size = s.vocab_size();
  p.metadata.pad_id = s.pad_id();
  p.metadata.num_puzzle_identifiers = s.num_puzzle_identifiers();
  const int64_t n = s.puzzle_identifiers_size();
  auto tensor = [&](const google::protobuf::RepeatedField<int32_t>& values, int64_t columns) {
    return torch::tensor(std::vector<int64_t>(values.begin(), values.end()), torch::kInt64).reshape({n, columns});
  };
  p.inputs = tensor(s.inputs(), s.seq_len());
  if (s.labels_size() > 0) p.labels = tensor(s.labels(), s.seq_len());
  p.puzzle_identifiers = tensor(s.puzzle_identifiers(), 1).reshape({n});
  p.puzzle_ids.assign(s.puzzle_ids().begin(), s.puzzle_ids().end());
  p.givens.assign(s.givens().begin(), s.givens().end());
  return p;
}

JobManager::JobManager(JobStore* store, ModelRegistry* registry, Scheduler* scheduler, Metrics* metrics,
                       PathPolicy model_paths, PathPolicy data_paths, JobLimits limits)
    : store_(store),
      registry_(registry),
      scheduler_(scheduler),
      metrics_(metrics),
      model_paths_(std::move(model_paths)),
      data_paths_(std::move(data_paths)),
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
    if (metrics_ != nullptr) metrics_->SetStoreBytes(static_cast<double>(store_->TotalBytes()));
  };
  absl::MutexLock lock(&mu_);
  for (const JobStore::RecoveredJob& recovered : store_->recovered()) {
    const StoredJob& spec = recovered.spec;
    JobEntry& job = jobs_[spec.job_id()];
    v1::Job& info = job.info;
    info.set_job_id(spec.job_id());
    info.set_model(spec.request().model());
    *info.mutable_options() = spec.request().options();
    info.set_owner(spec.owner());
    info.set_idempotency_key(spec.request().idempotency_key());
    info.set_submitted_unix(spec.submitted_unix());
    if (spec.has_provenance()) *info.mutable_provenance() = spec.provenance();
    info.set_examples(spec.puzzles().puzzle_identifiers_size());
    info.set_restarts(spec.restarts());
    info.set_total_records(info.examples() * spec.restarts());
    info.set_records_stored(recovered.records);
    info.set_records_failed(recovered.failed_records);
    info.set_compute_seconds(recovered.compute_seconds);
    job.batch_size = spec.batch_size();
    if (!spec.request().idempotency_key().empty()) {
      idempotency_[{spec.owner(), spec.request().idempotency_key()}] = spec.job_id();
    }
    if (recovered.end.has_value()) {
      info.set_state(recovered.end->state());
      info.set_error(recovered.end->error());
      info.set_finished_unix(recovered.end->finished_unix());
      continue;
    }
    absl::StatusOr<measure::MeasureOptions> options = JobMeasureOptions(spec.request());
    if (!options.ok()) return options.status();
    job.options = *options;
    SetUpStop(job, spec.request().options().deadline_seconds());
    job.puzzles = std::make_shared<const puzzle::PuzzleSet>(PuzzlesFromStored(spec.puzzles()));
    info.set_state(recovered.records > 0 ? v1::JOB_STATE_RUNNING : v1::JOB_STATE_QUEUED);
    RRM_ASSIGN_OR_RETURN(auto done, store_->StoredKeys(spec.job_id()));
    Enqueue(spec.job_id(), job, done);
    MaybeFinish(spec.job_id());
  }
  PublishJobCounts();
  return absl::OkStatus();
}

absl::StatusOr<v1::ModelInfo> JobManager::LoadModel(const v1::LoadModelRequest& request) {
  RRM_ASSIGN_OR_RETURN(std::string checkpoint, model_paths_.Resolve("checkpoint_path", request.checkpoint_path()));
  std::string config;
  if (!request.config_path().empty()) {
    RRM_ASSIGN_OR_RETURN(config, model_paths_.Resolve("config_path", request.config_path()));
  }
  std::vector<std::string> overrides(request.overrides().begin(), request.overrides().end());
  std::vector<std::string> devices(request.devices().begin(), request.devices().end());
  absl::StatusOr<v1::ModelInfo> info = registry_->Load(request.name(), checkpoint, config, overrides, devices);
  scheduler_->Poke();  // queued jobs of this model may run now
  return info;
}

absl::StatusOr<v1::ModelInfo> JobManager::PreloadModel(const std::string& name, const std::string& checkpoint_path) {
  absl::StatusOr<v1::ModelInfo> info = registry_->Load(name, checkpoint_path, "", {}, {});
  scheduler_->Poke();
  return info;
}

absl::Status JobManager::UnloadModel(const std::string& name) {
  absl::MutexLock submit_lock(&submit_mu_);
  absl::MutexLock lock(&mu_);
  std::vector<std::string> users;
  for (const auto& [id, job] : jobs_) {
    if (job.info.model() == name && !Finished(job.info.state())) users.push_back(id);
  }
  if (!users.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("name: model '", name, "' is in use by ", users.size(),
                                                      " unfinished job(s): ", absl::StrJoin(users, ", "),
                                                      "; cancel them or wait for them to finish"));
  }
  return registry_->Remove(name);
}

std::vector<v1::ModelInfo> JobManager::ListModels() const { return registry_->List(); }

absl::StatusOr<puzzle::PuzzleSet> JobManager::ResolvePuzzles(const v1::PuzzleInput& input) const {
  if (input.limit() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles.limit: expected >= 0, found ", input.limit()));
  }
  const int64_t first = input.first_example_index();
  if (first < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("puzzles.first_example_index: expected >= 0, found ", first));
  }
  switch (input.source_case()) {
    case v1::PuzzleInput::kTokens: {
      const auto& rows = input.tokens().puzzles();
      if (rows.empty()) return absl::InvalidArgumentError("puzzles.tokens: expected at least one puzzle, found 0");
      const int64_t n = rows.size(), length = rows[0].inputs_size();
      const bool labelled = rows[0].labels_size() > 0;
      if (length == 0) {
        return absl::InvalidArgumentError("puzzles.tokens.puzzles[0].inputs: expected tokens, found none");
      }
      std::vector<int64_t> inputs, labels, identifiers;
      int64_t max_token = 0;
      puzzle::PuzzleSet set;
      for (int64_t i = 0; i < n; ++i) {
        const v1::TokenPuzzle& row = rows[static_cast<int>(i)];
        if (row.inputs_size() != length) {
          return absl::InvalidArgumentError(absl::StrCat("puzzles.tokens.puzzles[", i, "].inputs: expected ", length,
                                                         " tokens (as puzzles[0]), found ", row.inputs_size()));
        }
        if ((row.labels_size() > 0) != labelled || (labelled && row.labels_size() != length)) {
          return absl::InvalidArgumentError(absl::StrCat("puzzles.tokens.puzzles[", i, "].labels: expected ",
                                                         labelled ? absl::StrCat(length) : std::string("0"),
                                                         " labels (as puzzles[0]), found ", row.labels_size()));
        }
        for (int32_t t : row.inputs()) {
          if (t < 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("puzzles.tokens.puzzles[", i, "].inputs: expected token ids >= 0, found ", t));
          }
          max_token = std::max<int64_t>(max_token, t);
          inputs.push_back(t);
        }
        for (int32_t t : row.labels()) labels.push_back(t);
        identifiers.push_back(row.puzzle_identifier());
        set.puzzle_ids.push_back(row.id().empty() ? std::to_string(first + i) : row.id());
      }
      RRM_ASSIGN_OR_RETURN(set.kind, puzzle::DeclaredKind("puzzles.tokens.kind", input.tokens().kind(), length,
                                                          max_token));
      set.metadata.seq_len = length;
      set.metadata.vocab_size = max_token + 1;
      set.inputs = ToTensor(inputs, n, length);
      if (labelled) set.labels = ToTensor(labels, n, length);
      set.puzzle_identifiers = torch::tensor(identifiers, torch::kInt64);
      set.givens.assign(n, -1);
      if (set.kind == puzzle::PuzzleKind::kSudoku) {
        const torch::Tensor counts = puzzle::SudokuGivenCells(set.inputs).sum(1).to(torch::kInt32).contiguous();
        set.givens.assign(counts.data_ptr<int32_t>(), counts.data_ptr<int32_t>() + n);
      }
      return set;
    }
    case v1::PuzzleInput::kSudoku:
    case v1::PuzzleInput::kMaze: {
      const bool sudoku = input.source_case() == v1::PuzzleInput::kSudoku;
      const std::string field = sudoku ? "puzzles.sudoku" : "puzzles.maze";
      const v1::TextPuzzles& text = sudoku ? input.sudoku() : input.maze();
      const int n = text.puzzles_size();
      if (n == 0) return absl::InvalidArgumentError(absl::StrCat(field, ": expected at least one puzzle, found 0"));
      if (text.solutions_size() != 0 && text.solutions_size() != n) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".solutions: expected 0 or ", n,
                                                       " (one per puzzle), found ", text.solutions_size()));
      }
      if (text.ids_size() != 0 && text.ids_size() != n) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".ids: expected 0 or ", n, " (one per puzzle), found ", text.ids_size()));
      }
      std::string joined;
      for (int i = 0; i < n; ++i) {
        const std::string& puzzle = text.puzzles(i);
        if (puzzle.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".puzzles[", i, "]: expected a puzzle, found an empty string"));
        }
        if (sudoku) {
          if (puzzle.find_first_of("\n,") != std::string::npos) {
            return absl::InvalidArgumentError(absl::StrCat(
                field, ".puzzles[", i, "]: expected one line of 81 characters, found a line break or ','"));
          }
          if (puzzle.size() != 81) {
            return absl::InvalidArgumentError(
                absl::StrCat(field, ".puzzles[", i, "]: expected 81 characters, found ", puzzle.size()));
          }
          absl::StrAppend(&joined, puzzle);
          if (text.solutions_size() > 0) absl::StrAppend(&joined, ",", text.solutions(i));
          joined.push_back('\n');
        } else {
          if (puzzle.find("\n\n") != std::string::npos) {
            return absl::InvalidArgumentError(
                absl::StrCat(field, ".puzzles[", i, "]: expected one grid, found an empty line inside"));
          }
          absl::StrAppend(&joined, puzzle, "\n\n");
          if (text.solutions_size() > 0) absl::StrAppend(&joined, text.solutions(i), "\n\n");
        }
      }
      absl::StatusOr<puzzle::PuzzleSet> set =
          sudoku ? puzzle::ParseSudokuText(joined, field) : puzzle::ParseMazeText(joined, field);
      if (!set.ok()) {
        return absl::Status(set.status().code(),
                            absl::StrCat(set.status().message(),
                                         sudoku ? " (line N is puzzles[N-1])" : " (puzzles joined by empty lines)"));
      }
      if (set->size() != n) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": expected ", n, " puzzles, found ", set->size(), " after parsing"));
      }
      set->puzzle_ids.clear();
      for (int i = 0; i < n; ++i) {
        set->puzzle_ids.push_back(text.ids_size() > 0 ? text.ids(i) : std::to_string(first + i));
      }
      return set;
    }
    case v1::PuzzleInput::kDatasetPath: {
      RRM_ASSIGN_OR_RETURN(std::string path, data_paths_.Resolve("puzzles.dataset_path", input.dataset_path()));
      absl::StatusOr<puzzle::PuzzleSet> set = puzzle::ReadDatasetFolder(path);
      if (!set.ok()) return Prefixed("puzzles.dataset_path", set.status());
      if (first >= set->size()) {
        return absl::InvalidArgumentError(absl::StrCat("puzzles.first_example_index: expected < ", set->size(),
                                                       " (the examples in ", input.dataset_path(), "), found ", first));
      }
      return set->Slice(first, input.limit() > 0 ? first + input.limit() : set->size());
    }
    default:
      return absl::InvalidArgumentError("puzzles: expected one of tokens, sudoku, maze or dataset_path, found none");
  }
}

absl::Status JobManager::ValidateOptions(const v1::JobOptions& o, const puzzle::PuzzleSet& puzzles,
                                         const model::RecurrentModel& model) const {
  if (o.segments() < 0 || o.segments() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.segments: expected 0 (the checkpoint's ", model.config().halt_max_steps,
                     ") to 4096, found ", o.segments()));
  }
  if (o.lyapunov_k() < 0 || o.lyapunov_k() > limits_.max_lyapunov_k) {
    return absl::InvalidArgumentError(absl::StrCat("options.lyapunov_k: expected 0 to ", limits_.max_lyapunov_k,
                                                   ", found ", o.lyapunov_k()));
  }
  if (o.batch_size() < 0 || o.batch_size() > limits_.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("options.batch_size: expected 0 (server default ",
                                                   limits_.default_batch_size, ") to ", limits_.max_batch_size,
                                                   ", found ", o.batch_size()));
  }
  RRM_ASSIGN_OR_RETURN(const measure::MeasureOptions options, ToMeasureOptions(o));
  if (o.deadline_seconds() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.deadline_seconds: expected 0 (none) or a positive number, found ", o.deadline_seconds()));
  }
  const v1::RestartOptions& r = o.restarts();
  const std::string kind = r.kind().empty() ? "none" : r.kind();
  if (kind != "none" && kind != "symmetry" && kind != "init_noise" && kind != "step_noise") {
    return absl::InvalidArgumentError(absl::StrCat(
        "options.restarts.kind: expected none, symmetry, init_noise or step_noise, found '", r.kind(), "'"));
  }
  if (r.count() < 0 || r.count() > limits_.max_restarts) {
    return absl::InvalidArgumentError(absl::StrCat("options.restarts.count: expected 1 to ", limits_.max_restarts,
                                                   " (0 = 1), found ", r.count()));
  }
  if (kind == "none" && r.count() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.restarts.count: expected 1 for kind none (choose symmetry, init_noise or "
                     "step_noise for more runs), found ",
                     r.count()));
  }
  const bool noisy = kind == "init_noise" || kind == "step_noise";
  if (!std::isfinite(r.sigma()) || r.sigma() < 0 || (noisy && r.sigma() == 0)) {
    return absl::InvalidArgumentError(absl::StrCat("options.restarts.sigma: expected a finite value ",
                                                   noisy ? "> 0" : ">= 0", " for kind ", kind, ", found ",
                                                   r.sigma()));
  }
  if (kind == "symmetry" && puzzles.kind == puzzle::PuzzleKind::kTokens) {
    return absl::InvalidArgumentError(
        "options.restarts.kind: expected init_noise or step_noise for token puzzles (symmetry needs Sudoku or "
        "Maze puzzles), found symmetry");
  }
  // Last, the core's own validator (the one rrm-measure and MeasurePuzzles
  // call): what it refuses must be refused here, not fail every record later.
  if (absl::Status status = measure::ValidateOptions(options); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("options.", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::SubmitJobResponse> JobManager::Submit(const v1::SubmitJobRequest& request,
                                                         const Caller& caller) {
  // Per-role priority ceiling (issue #18 "Tenants"): on a shared box a user
  // may lower their own jobs' priority but not jump everyone else's queue.
  if (request.options().priority() > caller.max_priority()) {
    return absl::PermissionDeniedError(absl::StrCat("options.priority: expected at most ", caller.max_priority(),
                                                    " for role ", RoleName(caller.role()), " (",
                                                    caller.max_priority_flag(), "), found ",
                                                    request.options().priority()));
  }
  const std::string& owner = caller.name();
  absl::MutexLock submit_lock(&submit_mu_);
  if (!request.idempotency_key().empty()) {
    absl::MutexLock lock(&mu_);
    auto it = idempotency_.find({owner, request.idempotency_key()});
    if (it != idempotency_.end()) {
      const v1::Job& existing = jobs_.at(it->second).info;
      if (existing.model() != request.model()) {
        return absl::AlreadyExistsError(absl::StrCat("idempotency_key: '", request.idempotency_key(),
                                                     "' was used for job ", existing.job_id(), " on model '",
                                                     existing.model(), "', found model '", request.model(), "'"));
      }
      v1::SubmitJobResponse response;
      response.set_job_id(existing.job_id());
      response.set_existing(true);
      response.set_total_records(existing.total_records());
      return response;
    }
  }
  if (request.model().empty()) return absl::InvalidArgumentError("model: expected a model name, found none");
  std::shared_ptr<const model::RecurrentModel> model = registry_->FindAny(request.model());
  const std::optional<v1::ModelInfo> model_info = registry_->Info(request.model());
  if (model == nullptr || !model_info.has_value()) {
    return absl::NotFoundError(absl::StrCat("model: expected a loaded model (", absl::StrJoin(registry_->Names(), ", "),
                                            "), found '", request.model(), "'"));
  }
  // Limits that need no parsing come first.
  const int64_t inline_count = request.puzzles().has_tokens()   ? request.puzzles().tokens().puzzles_size()
                               : request.puzzles().has_sudoku() ? request.puzzles().sudoku().puzzles_size()
                               : request.puzzles().has_maze()   ? request.puzzles().maze().puzzles_size()
                                                                : 0;
  if (inline_count > limits_.max_puzzles_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles: expected at most ", limits_.max_puzzles_per_job,
                                                   " puzzles per job (--max_puzzles_per_job), found ", inline_count));
  }
  RRM_ASSIGN_OR_RETURN(puzzle::PuzzleSet puzzles,
                       RunTorch("puzzles", [&]() { return ResolvePuzzles(request.puzzles()); }));
  if (puzzles.size() == 0) return absl::InvalidArgumentError("puzzles: expected at least one puzzle, found 0");
  if (puzzles.size() > limits_.max_puzzles_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles: expected at most ", limits_.max_puzzles_per_job,
                                                   " puzzles per job (--max_puzzles_per_job), found ", puzzles.size()));
  }
  // Records carry example_index as int32.
  if (const int64_t last = request.puzzles().first_example_index() + puzzles.size() - 1;
      last > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles.first_example_index: expected the last example index <= ",
                                                   std::numeric_limits<int32_t>::max(), ", found ", last));
  }
  if (absl::Status status = model->ValidateInputs(puzzles.inputs, puzzles.puzzle_identifiers); !status.ok()) {
    return Prefixed(absl::StrCat("puzzles (for model '", request.model(), "')"), status);
  }
  RRM_RETURN_IF_ERROR(ValidateOptions(request.options(), puzzles, *model));
  RRM_ASSIGN_OR_RETURN(measure::MeasureOptions options, JobMeasureOptions(request));
  {
    absl::MutexLock lock(&mu_);
    int64_t active = 0;
    for (const auto& [id, job] : jobs_) {
      if (job.info.owner() == owner && !Finished(job.info.state())) ++active;
    }
    if (active >= limits_.max_active_jobs_per_owner) {
      return absl::ResourceExhaustedError(absl::StrCat("jobs: expected at most ", limits_.max_active_jobs_per_owner,
                                                       " unfinished jobs per caller (--max_jobs_per_token), found ",
                                                       active, "; wait or cancel one"));
    }
  }

  StoredJob spec;
  spec.set_job_id(NewJobId());
  *spec.mutable_request() = request;
  spec.mutable_request()->mutable_puzzles()->clear_tokens();
  spec.mutable_request()->mutable_puzzles()->clear_sudoku();
  spec.mutable_request()->mutable_puzzles()->clear_maze();
  spec.set_owner(owner);
  spec.set_submitted_unix(UnixNow());
  *spec.mutable_puzzles() = PuzzlesToStored(puzzles);
  spec.set_restarts(std::max(1, request.options().restarts().count()));
  spec.set_batch_size(request.options().batch_size() > 0 ? request.options().batch_size()
                                                         : limits_.default_batch_size);
  // The model as loaded now travels with the job and every export (issue #14).
  *spec.mutable_provenance() = ProvenanceOf(*model_info);
  RRM_RETURN_IF_ERROR(store_->Create(spec));

  absl::MutexLock lock(&mu_);
  JobEntry& job = jobs_[spec.job_id()];
  v1::Job& info = job.info;
  info.set_job_id(spec.job_id());
  info.set_model(request.model());
  info.set_state(v1::JOB_STATE_QUEUED);
  info.set_examples(puzzles.size());
  info.set_restarts(spec.restarts());
  info.set_total_records(puzzles.size() * spec.restarts());
  info.set_submitted_unix(spec.submitted_unix());
  *info.mutable_options() = request.options();
  info.set_owner(owner);
  info.set_idempotency_key(request.idempotency_key());
  *info.mutable_provenance() = spec.provenance();
  job.options = options;
  SetUpStop(job, request.options().deadline_seconds());
  job.batch_size = spec.batch_size();
  job.puzzles = std::make_shared<const puzzle::PuzzleSet>(std::move(puzzles));
  if (!request.idempotency_key().empty()) idempotency_[{owner, request.idempotency_key()}] = spec.job_id();
  Enqueue(spec.job_id(), job, {});
  if (metrics_ != nullptr) metrics_->JobSubmitted();
  PublishJobCounts();

  v1::SubmitJobResponse response;
  response.set_job_id(spec.job_id());
  response.set_total_records(info.total_records());
  return response;
}

void JobManager::Enqueue(const std::string& job_id, JobEntry& job,
                         const absl::flat_hash_set<std::pair<int32_t, int32_t>>& done) {
  std::vector<WorkItem> items;
  const int64_t n = job.info.examples();
  // `done` holds stored (example_index, restart) keys; items count positions.
  auto stored = [&](int64_t position, int32_t restart) {
    return done.contains({static_cast<int32_t>(job.options.first_example_index + position), restart});
  };
  for (int32_t restart = 0; restart < job.info.restarts(); ++restart) {
    int64_t begin = 0;
    while (begin < n) {
      if (stored(begin, restart)) {
        ++begin;
        continue;
      }
      int64_t end = begin + 1;
      while (end < n && end - begin < job.batch_size && !stored(end, restart)) ++end;
      WorkItem item;
      item.job_id = job_id;
      item.model = job.info.model();
      item.restart = restart;
      item.begin = begin;
      item.end = end;
      items.push_back(std::move(item));
      begin = end;
    }
  }
  scheduler_->Add(job_id, job.info.options().priority(), std::move(items));
  if (metrics_ != nullptr) metrics_->SetQueueDepth(static_cast<double>(scheduler_->depth()));
}

absl::Status JobManager::CheckAccess(const std::string& job_id, const Caller& caller) const {
  auto it = jobs_.find(job_id);
  // Someone else's job answers exactly as an unknown id (issue #18 "Tenants").
  if (it == jobs_.end() || !caller.MayAccess(it->second.info.owner())) {
    return absl::NotFoundError(absl::StrCat("job_id: no job '", job_id, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& job_id, const Caller& caller) const {
  absl::MutexLock lock(&mu_);
  RRM_RETURN_IF_ERROR(CheckAccess(job_id, caller));
  return jobs_.at(job_id).info;
}

std::vector<v1::Job> JobManager::List(v1::JobState state, const Caller& caller) const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Job> result;
  for (const auto& [id, job] : jobs_) {
    if (!caller.MayAccess(job.info.owner())) continue;
    if (state == v1::JOB_STATE_UNSPECIFIED || job.info.state() == state) result.push_back(job.info);
  }
  return result;
}

absl::StatusOr<v1::Job> JobManager::Cancel(const std::string& job_id, const Caller& caller) {
  absl::Cleanup flush = [this] { FlushEnds(); };  // answers once the end is durable
  absl::MutexLock lock(&mu_);
  RRM_RETURN_IF_ERROR(CheckAccess(job_id, caller));
  JobEntry& job = jobs_.at(job_id);
  if (Finished(job.info.state())) {
    return absl::FailedPreconditionError(absl::StrCat("job_id: job '", job_id, "' already finished as ",
                                                      StateName(job.info.state())));
  }
  FinishJob(job_id, job, v1::JOB_STATE_CANCELLED, "cancelled by CancelJob");
  return job.info;
}

absl::Status JobManager::Delete(const std::string& job_id, const Caller& caller) {
  {
    absl::MutexLock lock(&mu_);
    RRM_RETURN_IF_ERROR(CheckAccess(job_id, caller));
    JobEntry& job = jobs_.at(job_id);
    if (!Finished(job.info.state())) FinishJob(job_id, job, v1::JOB_STATE_CANCELLED, "cancelled by DeleteJob");
  }
  FlushEnds();
  return Remove(job_id);
}

int64_t JobManager::DeleteFinishedBefore(absl::Time cutoff) {
  std::vector<std::string> old;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, job] : jobs_) {
      if (Finished(job.info.state()) && absl::FromUnixSeconds(0) + absl::Seconds(job.info.finished_unix()) < cutoff) {
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
      const v1::Job& info = it->second.info;
      if (!info.idempotency_key().empty()) idempotency_.erase({info.owner(), info.idempotency_key()});
      jobs_.erase(it);
    }
    PublishJobCounts();
  }
  if (metrics_ != nullptr) metrics_->SetStoreBytes(static_cast<double>(store_->TotalBytes()));
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
  if (it == jobs_.end() || Finished(it->second.info.state())) return std::nullopt;  // cancelled meanwhile
  if (replica == nullptr) {
    scheduler_->Requeue({*std::move(item)});
    return std::nullopt;
  }
  JobEntry& job = it->second;
  if (job.info.state() == v1::JOB_STATE_QUEUED) {
    job.info.set_state(v1::JOB_STATE_RUNNING);
    job.info.set_started_unix(UnixNow());
    PublishJobCounts();
  } else if (job.info.started_unix() == 0) {
    job.info.set_started_unix(UnixNow());
  }
  ++job.in_flight;
  Assignment assignment;
  assignment.item = *std::move(item);
  assignment.puzzles = job.puzzles;
  assignment.options = job.options;
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
    r.restart_kind = a.options.restart_kind;
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
      if (status.code() == absl::StatusCode::kDeadlineExceeded && !Finished(job.info.state())) {
        FinishJob(a.item.job_id, job, v1::JOB_STATE_FAILED, std::string(status.message()));
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

  StoreRecords(a.item.job_id, records);
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(a.item.job_id);
  if (it == jobs_.end()) return;
  --it->second.in_flight;
  MaybeFinish(a.item.job_id);
}

void JobManager::StoreRecords(const std::string& job_id, const std::vector<measure::ExampleRecord>& records) {
  std::string model;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || Finished(it->second.info.state())) return;  // cancelled: results dropped
    model = it->second.info.model();
  }
  std::vector<v1::ExampleRecord> protos;
  protos.reserve(records.size());
  for (const measure::ExampleRecord& r : records) {
    protos.push_back(wire::RecordToProto(r));
    protos.back().set_job_id(job_id);
    protos.back().set_model(model);  // SPEC §5 populations: which model produced it
  }
  // Durable first (the store fdatasync's), then visible to GetJob and streams.
  absl::StatusOr<JobStore::AppendResult> appended = store_->Append(job_id, protos);
  // A full disk pauses the job: these records, computed at a device's cost,
  // wait here until the append succeeds (see the header).
  while (appended.status().code() == absl::StatusCode::kResourceExhausted) {
    {
      absl::MutexLock lock(&mu_);
      ExpireDeadlines();  // a paused job's deadline still applies
      auto it = jobs_.find(job_id);
      if (it == jobs_.end() || Finished(it->second.info.state()) || stopping_) return;
      v1::Job& info = it->second.info;
      if (info.paused().empty()) {
        std::cerr << "rrmd: job " << job_id << " paused: " << appended.status() << "; retrying every "
                  << absl::FormatDuration(kDiskFullRetry) << "\n";
      }
      info.set_paused(absl::StrCat("disk full: ", appended.status().message(),
                                   "; the records computed are kept and stored once there is space"));
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kDiskFullRetry);
    }
    appended = store_->Append(job_id, protos);
  }
  if (!appended.ok()) {
    if (appended.status().code() != absl::StatusCode::kFailedPrecondition) {
      std::cerr << "rrmd: job " << job_id << ": " << appended.status() << "\n";
      absl::MutexLock lock(&mu_);
      auto it = jobs_.find(job_id);
      if (it != jobs_.end() && !Finished(it->second.info.state())) {
        FinishJob(job_id, it->second, v1::JOB_STATE_FAILED,
                  absl::StrCat("storing records: ", appended.status().message()));
      }
    }
    return;
  }
  if (metrics_ != nullptr) {
    metrics_->RecordsStored(static_cast<double>(appended->appended.size()), static_cast<double>(appended->bytes));
  }
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  v1::Job& info = it->second.info;
  if (!info.paused().empty()) {
    std::cerr << "rrmd: job " << job_id << " resumed: its records are stored again\n";
    info.clear_paused();
  }
  for (size_t index : appended->appended) {
    const v1::ExampleRecord& r = protos[index];
    const bool failed = !r.error().empty();
    info.set_records_stored(info.records_stored() + 1);
    info.set_compute_seconds(info.compute_seconds() + r.compute_seconds());
    if (failed) {
      info.set_records_failed(info.records_failed() + 1);
      if (info.errors_size() < kMaxErrorsShown &&
          std::find(info.errors().begin(), info.errors().end(), r.error()) == info.errors().end()) {
        info.add_errors(r.error());
      }
    }
    if (metrics_ != nullptr) metrics_->ExampleDone(model, failed, r.compute_seconds());
  }
}

void JobManager::MaybeFinish(const std::string& job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (Finished(job.info.state()) || job.in_flight > 0 || job.info.records_stored() < job.info.total_records()) return;
  FinishJob(job_id, job, v1::JOB_STATE_SUCCEEDED, "");
}

void JobManager::FinishJob(const std::string& job_id, JobEntry& job, v1::JobState state, const std::string& error) {
  job.finished->store(true);  // running items stop at their next segment boundary
  scheduler_->Drop(job_id);
  job.info.set_state(state);
  job.info.set_error(error);
  job.info.clear_paused();
  job.info.set_finished_unix(UnixNow());
  StoredJobEnd end;
  end.set_state(state);
  end.set_error(error);
  end.set_finished_unix(job.info.finished_unix());
  ends_to_write_.emplace_back(job_id, std::move(end));
  job.puzzles.reset();  // the stored spec keeps them
  if (metrics_ != nullptr) metrics_->SetQueueDepth(static_cast<double>(scheduler_->depth()));
  PublishJobCounts();
}

void JobManager::FlushEnds() {
  absl::MutexLock flush_lock(&flush_mu_);
  std::vector<std::pair<std::string, StoredJobEnd>> ends;
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
}

void JobManager::PublishJobCounts() {
  if (metrics_ == nullptr) return;
  std::map<std::string, double> counts{{"queued", 0}, {"running", 0}, {"succeeded", 0}, {"failed", 0}, {"cancelled", 0}};
  for (const auto& [id, job] : jobs_) counts[StateName(job.info.state())] += 1;
  for (const auto& [state, count] : counts) metrics_->SetJobs(state, count);
}

void JobManager::SetUpStop(JobEntry& job, int64_t deadline_seconds) {
  if (deadline_seconds > 0) {
    job.deadline = absl::UnixEpoch() + absl::Seconds(job.info.submitted_unix()) + absl::Seconds(deadline_seconds);
  }
  job.options.stop = [finished = job.finished, deadline = job.deadline, deadline_seconds]() -> absl::Status {
    if (finished->load()) return absl::CancelledError("the job finished while this item ran");
    if (absl::Now() >= deadline) return DeadlineError(deadline_seconds);
    return absl::OkStatus();
  };
}

void JobManager::ExpireDeadlines() {
  const absl::Time now = absl::Now();
  for (auto& [id, job] : jobs_) {
    if (!Finished(job.info.state()) && now >= job.deadline) {
      FinishJob(id, job, v1::JOB_STATE_FAILED, std::string(DeadlineError(job.info.options().deadline_seconds()).message()));
    }
  }
}

}  // namespace rrm::server
