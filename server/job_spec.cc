#include "server/job_spec.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/common/status.h"
#include "server/status_proto.h"

namespace rrm::server {
namespace {

absl::Status Prefixed(const std::string& field, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

torch::Tensor ToTensor(const std::vector<int64_t>& values, int64_t rows, int64_t columns) {
  return torch::tensor(values, torch::kInt64).reshape({rows, columns});
}

// The server's limits on the options, then the core's one validator.
absl::Status ValidateOptions(const v1::JobOptions& o, const puzzle::PuzzleSet& puzzles,
                             const model::RecurrentModel& model, const SubmitLimits& limits) {
  if (o.segments() < 0 || o.segments() > measure::kMaxSegments) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.segments: expected 0 (the checkpoint's ", model.config().halt_max_steps, ") to ",
                     measure::kMaxSegments, ", found ", o.segments()));
  }
  if (o.lyapunov_k() < 0 || o.lyapunov_k() > limits.max_lyapunov_k) {
    return absl::InvalidArgumentError(absl::StrCat("options.lyapunov_k: expected 0 to ", limits.max_lyapunov_k,
                                                   ", found ", o.lyapunov_k()));
  }
  if (o.batch_size() < 0 || o.batch_size() > limits.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("options.batch_size: expected 0 (server default ",
                                                   limits.default_batch_size, ") to ", limits.max_batch_size,
                                                   ", found ", o.batch_size()));
  }
  RRM_ASSIGN_OR_RETURN(const measure::MeasureOptions options, ToMeasureOptions(o));
  if (o.deadline_seconds() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.deadline_seconds: expected 0 (none) or a positive number, found ", o.deadline_seconds()));
  }
  const v1::RestartOptions& r = o.restarts();
  const measure::RestartKind kind = options.restart_kind;
  if (r.count() < 0 || r.count() > limits.max_restarts) {
    return absl::InvalidArgumentError(absl::StrCat("options.restarts.count: expected 1 to ", limits.max_restarts,
                                                   " (0 = 1), found ", r.count()));
  }
  if (kind == measure::RestartKind::kNone && r.count() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.restarts.count: expected 1 for kind none (choose symmetry, init_noise or "
                     "step_noise for more runs), found ",
                     r.count()));
  }
  const bool noisy = kind == measure::RestartKind::kInitNoise || kind == measure::RestartKind::kStepNoise;
  if (!std::isfinite(r.sigma()) || r.sigma() < 0 || (noisy && r.sigma() == 0)) {
    return absl::InvalidArgumentError(absl::StrCat("options.restarts.sigma: expected a finite value ",
                                                   noisy ? "> 0" : ">= 0", " for kind ", measure::RestartKindName(kind), ", found ",
                                                   r.sigma()));
  }
  if (kind == measure::RestartKind::kSymmetry && puzzles.kind == puzzle::PuzzleKind::kTokens) {
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
  if (!o.lyapunov_method().empty()) {
    RRM_ASSIGN_OR_RETURN(options.lyapunov_method,
                         measure::ParseLyapunovMethod("options.lyapunov_method", o.lyapunov_method()));
  }
  if (o.lyapunov_draws() < 0 || o.early_window() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("options.", o.lyapunov_draws() < 0 ? "lyapunov_draws" : "early_window",
                                                   ": expected >= 0, found ",
                                                   o.lyapunov_draws() < 0 ? o.lyapunov_draws() : o.early_window()));
  }
  if (o.early_window() > 0) options.early_window = o.early_window();
  if (!o.restarts().kind().empty()) {
    RRM_ASSIGN_OR_RETURN(options.restart_kind, measure::ParseRestartKind("options.restarts.kind", o.restarts().kind()));
  }
  options.restart_sigma = o.restarts().sigma();
  options.energy_map_directions = o.energy_map_directions();
  return options;
}


absl::StatusOr<puzzle::PuzzleSet> JobSpecParser::ResolvePuzzles(const v1::PuzzleInput& input) const {
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


JobSpecParser::JobSpecParser(const ModelRegistry* registry, PathPolicy data_paths, SubmitLimits limits)
    : registry_(registry), data_paths_(std::move(data_paths)), limits_(limits) {}

absl::StatusOr<JobSpec> JobSpecParser::Parse(const v1::SubmitJobRequest& request, const Caller& caller) const {
  const v1::JobOptions& o = request.options();
  // Per-role priority ceiling (issue #18 "Tenants"): on a shared box a user
  // may lower their own jobs' priority but not jump everyone else's queue.
  if (o.priority() > caller.max_priority()) {
    return absl::PermissionDeniedError(absl::StrCat("options.priority: expected at most ", caller.max_priority(),
                                                    " for role ", RoleName(caller.role()), " (",
                                                    caller.max_priority_flag(), "), found ", o.priority()));
  }
  if (request.model().empty()) return absl::InvalidArgumentError("model: expected a model name, found none");
  std::shared_ptr<const model::RecurrentModel> model = registry_->FindAny(request.model());
  if (model == nullptr) {
    return absl::NotFoundError(absl::StrCat("model: expected a loaded model (", absl::StrJoin(registry_->Names(), ", "),
                                            "), found '", request.model(), "'"));
  }
  // Limits that need no parsing come first.
  const v1::PuzzleInput& input = request.puzzles();
  const int64_t inline_count = input.has_tokens()   ? input.tokens().puzzles_size()
                               : input.has_sudoku() ? input.sudoku().puzzles_size()
                               : input.has_maze()   ? input.maze().puzzles_size()
                                                    : 0;
  if (inline_count > limits_.max_puzzles_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles: expected at most ", limits_.max_puzzles_per_job,
                                                   " puzzles per job (--max_puzzles_per_job), found ", inline_count));
  }
  RRM_ASSIGN_OR_RETURN(puzzle::PuzzleSet puzzles, RunTorch("puzzles", [&]() { return ResolvePuzzles(input); }));
  if (puzzles.size() == 0) return absl::InvalidArgumentError("puzzles: expected at least one puzzle, found 0");
  if (puzzles.size() > limits_.max_puzzles_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles: expected at most ", limits_.max_puzzles_per_job,
                                                   " puzzles per job (--max_puzzles_per_job), found ", puzzles.size()));
  }
  // Records carry example_index as int32.
  if (const int64_t last = input.first_example_index() + puzzles.size() - 1;
      last > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("puzzles.first_example_index: expected the last example index <= ",
                                                   std::numeric_limits<int32_t>::max(), ", found ", last));
  }
  if (absl::Status status = model->ValidateInputs(puzzles.inputs, puzzles.puzzle_identifiers); !status.ok()) {
    return Prefixed(absl::StrCat("puzzles (for model '", request.model(), "')"), status);
  }
  RRM_RETURN_IF_ERROR(ValidateOptions(o, puzzles, *model, limits_));

  JobSpec spec;
  spec.model = request.model();
  spec.owner = caller.name();
  spec.idempotency_key = request.idempotency_key();
  RRM_ASSIGN_OR_RETURN(spec.options, ToMeasureOptions(o));
  spec.options.first_example_index = input.first_example_index();
  // Resolved now, so that the stored spec does not depend on the checkpoint
  // a later rrmd happens to load under the same name.
  if (spec.options.segments == 0) spec.options.segments = model->config().halt_max_steps;
  spec.examples = puzzles.size();
  spec.puzzles = std::make_shared<const puzzle::PuzzleSet>(std::move(puzzles));
  spec.restarts = std::max(1, o.restarts().count());
  spec.batch_size = o.batch_size() > 0 ? o.batch_size() : limits_.default_batch_size;
  spec.priority = o.priority();
  spec.deadline_seconds = o.deadline_seconds();
  spec.labels.insert(o.labels().begin(), o.labels().end());
  return spec;
}

v1::JobOptions JobOptionsOf(const JobSpec& spec) {
  const measure::MeasureOptions& m = spec.options;
  v1::JobOptions o;
  o.set_segments(static_cast<int32_t>(m.segments));
  o.set_lyapunov_k(static_cast<int32_t>(m.lyapunov_k));
  o.set_seed(m.lyapunov_seed);
  o.set_tangent_dtype(m.tangent_dtype == torch::kFloat64 ? "float64" : "float32");
  o.mutable_restarts()->set_kind(measure::RestartKindName(m.restart_kind));
  o.mutable_restarts()->set_count(spec.restarts);
  o.mutable_restarts()->set_sigma(m.restart_sigma);
  o.set_batch_size(spec.batch_size);
  o.set_priority(spec.priority);
  o.mutable_labels()->insert(spec.labels.begin(), spec.labels.end());
  o.set_lyapunov_draws(static_cast<int32_t>(m.lyapunov_draws));
  o.set_lyapunov_method(measure::LyapunovMethodName(m.lyapunov_method));
  o.set_early_window(static_cast<int32_t>(m.early_window));
  o.set_energy_map_directions(static_cast<int32_t>(m.energy_map_directions));
  o.set_deadline_seconds(spec.deadline_seconds);
  return o;
}

StoredJob SpecToStored(const JobSpec& spec) {
  const measure::MeasureOptions& m = spec.options;
  StoredJob stored;
  stored.set_model(spec.model);
  stored.set_owner(spec.owner);
  stored.set_idempotency_key(spec.idempotency_key);
  *stored.mutable_puzzles() = PuzzlesToStored(*spec.puzzles);
  stored.set_restarts(spec.restarts);
  stored.set_batch_size(spec.batch_size);
  if (spec.provenance.has_value()) *stored.mutable_provenance() = ProvenanceToProto(*spec.provenance);
  StoredOptions& r = *stored.mutable_resolved();
  r.set_segments(m.segments);
  r.set_lyapunov_k(m.lyapunov_k);
  r.set_seed(m.lyapunov_seed);
  r.set_lyapunov_draws(m.lyapunov_draws);
  r.set_lyapunov_method(measure::LyapunovMethodName(m.lyapunov_method));
  r.set_early_window(m.early_window);
  r.set_propagator_tolerance(m.propagator_tolerance);
  r.set_propagator_max_iterations(m.propagator_max_iterations);
  r.set_propagator_block(measure::PropagatorBlock(m));
  r.set_tangent_dtype(m.tangent_dtype == torch::kFloat64 ? "float64" : "float32");
  r.set_reorthonormalize(static_cast<int32_t>(m.reorthonormalize));
  r.set_restart_kind(measure::RestartKindName(m.restart_kind));
  r.set_restart_sigma(m.restart_sigma);
  r.set_energy_map_directions(m.energy_map_directions);
  r.set_first_example_index(m.first_example_index);
  r.set_priority(spec.priority);
  r.set_deadline_seconds(spec.deadline_seconds);
  r.mutable_labels()->insert(spec.labels.begin(), spec.labels.end());
  return stored;
}

absl::StatusOr<JobSpec> SpecFromStored(const StoredJob& stored, bool with_puzzles) {
  JobSpec spec;
  spec.owner = stored.owner();
  spec.examples = stored.puzzles().puzzle_identifiers_size();
  if (with_puzzles) spec.puzzles = std::make_shared<const puzzle::PuzzleSet>(PuzzlesFromStored(stored.puzzles()));
  spec.restarts = std::max(1, stored.restarts());
  spec.batch_size = stored.batch_size();
  if (stored.has_provenance()) spec.provenance = ProvenanceFromProto(stored.provenance());
  if (!stored.has_resolved()) {
    // A store from before the resolved spec: resolve the stored request
    // again (segments 0 stays "the checkpoint's", as it was run then).
    const v1::SubmitJobRequest& request = stored.request();
    spec.model = request.model();
    spec.idempotency_key = request.idempotency_key();
    RRM_ASSIGN_OR_RETURN(spec.options, ToMeasureOptions(request.options()));
    spec.options.first_example_index = request.puzzles().first_example_index();
    spec.priority = request.options().priority();
    spec.deadline_seconds = request.options().deadline_seconds();
    spec.labels.insert(request.options().labels().begin(), request.options().labels().end());
    return spec;
  }
  const StoredOptions& r = stored.resolved();
  spec.model = stored.model();
  spec.idempotency_key = stored.idempotency_key();
  measure::MeasureOptions& m = spec.options;
  m.segments = r.segments();
  m.lyapunov_k = r.lyapunov_k();
  m.lyapunov_seed = r.seed();
  m.lyapunov_draws = r.lyapunov_draws();
  RRM_ASSIGN_OR_RETURN(m.lyapunov_method, measure::ParseLyapunovMethod("stored lyapunov_method", r.lyapunov_method()));
  m.early_window = r.early_window();
  m.propagator_tolerance = r.propagator_tolerance();
  m.propagator_max_iterations = r.propagator_max_iterations();
  m.propagator_block = r.propagator_block();
  if (m.propagator_block == 0 && r.propagator_oversampling_before_block() != 0) {
    // Accepted as k + p before the block was an option: resume it with that block.
    const int64_t p = r.propagator_oversampling_before_block();
    m.propagator_block = m.lyapunov_k + (p >= 0 ? p : m.lyapunov_k);
  }
  m.tangent_dtype = r.tangent_dtype() == "float64" ? torch::kFloat64 : torch::kFloat32;
  m.reorthonormalize = static_cast<measure::Reorthonormalize>(r.reorthonormalize());
  RRM_ASSIGN_OR_RETURN(m.restart_kind, measure::ParseRestartKind("stored restart_kind", r.restart_kind()));
  m.restart_sigma = r.restart_sigma();
  m.energy_map_directions = r.energy_map_directions();
  m.first_example_index = r.first_example_index();
  spec.priority = r.priority();
  spec.deadline_seconds = r.deadline_seconds();
  spec.labels.insert(r.labels().begin(), r.labels().end());
  return spec;
}

}  // namespace rrm::server
