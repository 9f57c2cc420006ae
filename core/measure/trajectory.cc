#include "core/measure/trajectory.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/common/splitmix64.h"
#include "core/common/status.h"
#include "core/measure/lyapunov.h"
#include "core/measure/segment_map.h"
#include "core/puzzle/symmetry.h"

namespace rrm::measure {
namespace {

using model::RecurrentModel;

// ‖a − b‖₂ / sqrt(dim) per example over all but the batch axis, in float64.
torch::Tensor Displacement(const torch::Tensor& now, const torch::Tensor& before) {
  const torch::Tensor diff = (now.to(torch::kFloat64) - before.to(torch::kFloat64)).flatten(1);
  return diff.square().sum(1).div(static_cast<double>(diff.size(1))).sqrt();
}

absl::Status CheckTeacher(const TeacherStates& teacher, int64_t T, int64_t B, int64_t S, int64_t D) {
  for (const auto& [name, t] : {std::pair<const char*, const torch::Tensor&>{"z_H", teacher.z_H},
                                {"z_L", teacher.z_L}}) {
    if (!t.defined() || t.dim() != 4 || t.size(0) < T - 1 || t.size(1) != B || t.size(2) != S ||
        t.size(3) != D) {
      return absl::InvalidArgumentError(absl::StrCat(
          "teacher states ", name, ": expected shape [>=", T - 1, ", ", B, ", ", S, ", ", D,
          "], found ", t.defined() ? c10::str(t.sizes()) : std::string("none")));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRestart(const MeasureOptions& options) {
  const std::string& kind = options.restart_kind;
  if (kind != "none" && kind != "symmetry" && kind != "init_noise" && kind != "step_noise") {
    return absl::InvalidArgumentError(absl::StrCat(
        "restart_kind: expected none, symmetry, init_noise or step_noise, found '", kind, "'"));
  }
  if (options.restart < 0) {
    return absl::InvalidArgumentError(absl::StrCat("restart: expected >= 0, found ", options.restart));
  }
  if (options.restart > 0 && kind == "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("restart: ", options.restart, " needs a restart_kind other than none"));
  }
  const bool noisy = kind == "init_noise" || kind == "step_noise";
  if (!(options.restart_sigma >= 0) || (noisy && options.restart > 0 && options.restart_sigma == 0)) {
    return absl::InvalidArgumentError(absl::StrCat("restart_sigma: expected ", noisy ? "> 0" : ">= 0",
                                                   " for restart_kind ", kind, ", found ",
                                                   options.restart_sigma));
  }
  return absl::OkStatus();
}

struct BatchResult {
  std::vector<ExampleRecord> records;
  TrajectoryDump dump;  // filled only when asked for
};

absl::StatusOr<BatchResult> MeasureBatch(const RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                                         int64_t begin, int64_t end, int64_t T, const MeasureOptions& options,
                                         bool keep_dump, const TeacherStates* teacher) {
  const auto started = std::chrono::steady_clock::now();
  const model::ModelConfig& config = model.config();
  const torch::Device device = model.device();
  const int64_t B = end - begin;

  torch::NoGradGuard no_grad;
  torch::Tensor inputs = puzzles.inputs.slice(0, begin, end).to(device);
  const torch::Tensor identifiers = puzzles.puzzle_identifiers.slice(0, begin, end).to(device);
  torch::Tensor labels, counted;
  if (puzzles.has_labels()) labels = puzzles.labels.slice(0, begin, end).to(device);

  // SPEC §5 restarts: restart 0 is the puzzle as given; restart r > 0 draws its
  // symmetry or its noise, in the order docs/draws.md writes down, from one
  // SplitMix64 stream per (seed, example_index, r) — whatever the batching.
  const bool restarted = options.restart > 0 && options.restart_kind != "none";
  std::vector<SplitMix64> restart_streams;
  for (int64_t b = 0; b < B; ++b) {
    restart_streams.push_back(
        SplitMix64::ForRestart(options.lyapunov_seed, options.first_example_index + begin + b, options.restart));
  }
  std::vector<puzzle::Symmetry> symmetries;
  if (restarted && options.restart_kind == "symmetry") {
    inputs = inputs.clone();  // the slices may alias the caller's puzzles
    if (labels.defined()) labels = labels.clone();
    for (int64_t b = 0; b < B; ++b) {
      RRM_ASSIGN_OR_RETURN(puzzle::Symmetry symmetry,
                           puzzle::RestartSymmetry(puzzles.kind, inputs.size(1), restart_streams[b]));
      inputs[b] = symmetry.Apply(inputs[b]);
      if (labels.defined()) labels[b] = symmetry.Apply(labels[b]);
      symmetries.push_back(std::move(symmetry));
    }
  }
  if (labels.defined()) counted = labels.ne(puzzle::kIgnoreLabel);

  const torch::Tensor e = model.InputEmbeddings(inputs, identifiers);
  const int64_t S = e.size(1), D = e.size(2), N = 2 * S * D;
  const SegmentMap map(model, e);

  // SPEC §3: Q_0 per example from (seed, example_index) alone.
  const int64_t k = options.lyapunov_k, draws = options.lyapunov_draws;
  const bool propagator = k > 0 && options.lyapunov_method == "propagator";
  // The propagator iterates a block of k + p directions (SPEC §3 oversampling).
  const int64_t columns =
      propagator ? k + (options.propagator_oversampling >= 0 ? options.propagator_oversampling : k) : k;
  torch::Tensor q0;
  if (k > 0) {
    std::vector<torch::Tensor> starts;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<torch::Tensor> per_draw;
      for (int64_t d = 0; d < draws; ++d) {
        per_draw.push_back(PortableStartDirections(options.lyapunov_seed + d,
                                                   options.first_example_index + begin + b, N, columns));
      }
      starts.push_back(torch::cat(per_draw, 1));
    }
    q0 = torch::stack(starts).to(device);  // [B, N, draws·k]
  }
  // σ·ε for noise restarts: per call, the next N standard normals of each
  // example's stream (Box–Muller, SPEC §3) in the joint layout (z_H then z_L,
  // each [S, D] row-major), in float64 on the CPU so every device adds the
  // same numbers; rounded to the state's dtype only when added.
  auto noise = [&]() {
    torch::Tensor epsilon = torch::empty({B, N}, torch::TensorOptions().dtype(torch::kFloat64));
    for (int64_t b = 0; b < B; ++b) restart_streams[b].FillNormals(epsilon.data_ptr<double>() + b * N, N);
    return options.restart_sigma * epsilon;
  };

  std::function<void(int64_t, torch::Tensor&)> replace_primal;
  if (restarted && options.restart_kind == "step_noise") {
    // x_t = Φ(x_{t−1}) + σ·ε_t: the noise joins the carry between segments,
    // ε_t drawn before segment t + 1 for t = 1..T−1, in that order.
    replace_primal = [&](int64_t t, torch::Tensor& primal) {
      if (t > 1) primal.add_(noise().to(primal.device(), primal.scalar_type()));
    };
  } else if (teacher != nullptr) {
    replace_primal = [&](int64_t t, torch::Tensor& primal) {
      if (t == 1) return;
      const torch::Tensor z_H = teacher->z_H[t - 2].slice(0, begin, end).flatten(1);
      const torch::Tensor z_L = teacher->z_L[t - 2].slice(0, begin, end).flatten(1);
      primal.copy_(torch::cat({z_H, z_L}, 1));
    };
  }

  // Per segment, [B] (or [B, ...]) on the device; copied out once at the end.
  std::vector<torch::Tensor> correct, token_accuracy, q_halt, q_continue, flips, d_h, d_l, d_joint, increments;
  std::vector<torch::Tensor> dump_h, dump_l, dump_logits, dump_preds;
  torch::Tensor x0 = map.InitialPrimal();
  if (restarted && options.restart_kind == "init_noise") x0 = x0 + noise().to(device, x0.scalar_type());
  torch::Tensor previous_prediction = model.ReadOut(x0.narrow(1, 0, S * D).reshape({B, S, D})).logits.argmax(-1);
  torch::Tensor prediction;
  // The propagator runs the plain trajectory first and keeps its states.
  std::vector<torch::Tensor> states;
  TangentOptions tangent_options;
  tangent_options.k = propagator ? 0 : k;
  tangent_options.draws = draws;
  tangent_options.tangent_dtype = options.tangent_dtype;
  tangent_options.every = options.reorthonormalize;
  RunTangentTrajectory(map, x0, q0, T, tangent_options, replace_primal, [&](const StepResult& step) {
    const torch::Tensor z_H = step.after.narrow(1, 0, S * D).reshape({B, S, D});
    const torch::Tensor z_L = step.after.narrow(1, S * D, S * D).reshape({B, S, D});
    const model::Readout out = model.ReadOut(z_H);
    prediction = out.logits.argmax(-1);
    if (labels.defined()) {
      const torch::Tensor matches = prediction.eq(labels).logical_and(counted).sum(-1);
      const torch::Tensor counts = counted.sum(-1);
      // Upstream: exact when every counted position matches; accuracy over
      // max(count, 1) so a puzzle with nothing to score reads as 0.
      correct.push_back(matches.eq(counts));
      token_accuracy.push_back(matches.to(torch::kFloat64) / counts.clamp_min(1).to(torch::kFloat64));
    } else {
      correct.push_back(torch::zeros({B}, torch::TensorOptions().dtype(torch::kBool).device(device)));
      token_accuracy.push_back(torch::full({B}, std::numeric_limits<double>::quiet_NaN(),
                                           torch::TensorOptions().dtype(torch::kFloat64).device(device)));
    }
    q_halt.push_back(out.q_halt);
    q_continue.push_back(out.q_continue);
    flips.push_back(prediction.ne(previous_prediction).sum(-1));
    d_h.push_back(Displacement(step.after.narrow(1, 0, S * D), step.before.narrow(1, 0, S * D)));
    d_l.push_back(Displacement(step.after.narrow(1, S * D, S * D), step.before.narrow(1, S * D, S * D)));
    d_joint.push_back(Displacement(step.after, step.before));
    if (propagator) states.push_back(step.before.clone());
    if (k > 0 && !propagator) increments.push_back(step.increments);
    if (keep_dump) {
      // A copy, never a view: the carry is changed in place later (step noise,
      // teacher states), and on the CPU a same-dtype .to() would alias it.
      dump_h.push_back(z_H.to(torch::kCPU, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true));
      dump_l.push_back(z_L.to(torch::kCPU, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true));
      dump_logits.push_back(out.logits.to(torch::kCPU));
      dump_preds.push_back(prediction.to(torch::kCPU));
    }
    previous_prediction = prediction;
  });

  auto stack = [](const std::vector<torch::Tensor>& v, torch::ScalarType dtype) {
    return torch::stack(v).to(torch::kCPU, dtype).contiguous();
  };
  const torch::Tensor correct_c = stack(correct, torch::kBool);
  const torch::Tensor accuracy_c = stack(token_accuracy, torch::kFloat64);
  const torch::Tensor q_halt_c = stack(q_halt, torch::kFloat64);
  const torch::Tensor q_continue_c = stack(q_continue, torch::kFloat64);
  const torch::Tensor flips_c = stack(flips, torch::kInt64);
  const torch::Tensor d_h_c = stack(d_h, torch::kFloat64);
  const torch::Tensor d_l_c = stack(d_l, torch::kFloat64);
  const torch::Tensor d_joint_c = stack(d_joint, torch::kFloat64);
  // Predictions of a symmetry restart, mapped back to the puzzle as given.
  if (!symmetries.empty()) {
    for (int64_t b = 0; b < B; ++b) prediction[b] = symmetries[b].Invert(prediction[b]);
  }
  const torch::Tensor prediction_c = prediction.to(torch::kCPU, torch::kInt64).contiguous();
  // [T, B, draws, k]: the record keeps per-segment increments averaged over draws.
  const bool qr = k > 0 && !propagator;
  const torch::Tensor increments_c = qr ? stack(increments, torch::kFloat64) : torch::Tensor();
  const torch::Tensor mean_increments = qr ? increments_c.mean(2).contiguous() : torch::Tensor();
  // Propagator exponents: λ_i = (1/T)·log σ_i(J_T ⋯ J_1), and over the early window.
  PropagatorResult full, window;
  const int64_t w = std::min<int64_t>(options.early_window, T);
  if (propagator) {
    const torch::Tensor stored = torch::stack(states);  // x_0..x_{T−1}: [T, B, N]
    PropagatorOptions propagator_options;
    propagator_options.k = k;
    propagator_options.tolerance = options.propagator_tolerance;
    propagator_options.max_iterations = options.propagator_max_iterations;
    propagator_options.tangent_dtype = options.tangent_dtype;
    full = PropagatorSingularValues(map, stored, q0, propagator_options);
    if (w > 0) window = PropagatorSingularValues(map, stored.narrow(0, 0, w), q0, propagator_options);
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BatchResult result;
  for (int64_t b = 0; b < B; ++b) {
    ExampleRecord r;
    r.example_index = static_cast<int32_t>(options.first_example_index + begin + b);
    r.restart = options.restart;
    r.restart_kind = options.restart > 0 ? options.restart_kind : "none";
    r.seed = options.lyapunov_seed;
    r.puzzle_id = puzzles.puzzle_ids.empty() ? std::to_string(begin + b) : puzzles.puzzle_ids[begin + b];
    r.givens = puzzles.givens.empty() ? -1 : puzzles.givens[begin + b];
    r.updates_per_segment = static_cast<int32_t>(config.updates_per_segment());
    r.model_family = config.family == model::Family::kHrm ? "hrm" : "trm";
    for (int64_t t = 0; t < T; ++t) {
      SegmentRecord s;
      s.index = static_cast<int32_t>(t + 1);
      s.correct = correct_c[t][b].item<bool>();
      s.token_accuracy = accuracy_c[t][b].item<double>();
      s.q_halt_logit = q_halt_c[t][b].item<double>();
      s.q_continue_logit = q_continue_c[t][b].item<double>();
      s.halt_confidence = 1.0 / (1.0 + std::exp(-s.q_halt_logit));
      s.flips = static_cast<int32_t>(flips_c[t][b].item<int64_t>());
      s.displacement_h = d_h_c[t][b].item<double>();
      s.displacement_l = d_l_c[t][b].item<double>();
      s.displacement_joint = d_joint_c[t][b].item<double>();
      if (qr) {
        const double* l = mean_increments[t][b].data_ptr<double>();
        s.lyapunov_increments.assign(l, l + k);
      }
      if (s.correct && r.first_correct_segment == 0) r.first_correct_segment = s.index;
      r.segments.push_back(std::move(s));
    }
    r.correct = T > 0 && r.segments.back().correct;
    if (propagator) {
      const torch::Tensor lambda = (full.log_sigma[b] / static_cast<double>(T)).to(torch::kCPU).contiguous();
      r.lyapunov.assign(lambda.data_ptr<double>(), lambda.data_ptr<double>() + k);
      // lyapunov_sd stays empty: independent of the start, there is no spread.
      r.lyapunov_method = "propagator";
      r.lyapunov_iterations = static_cast<int32_t>(full.iterations[b].item<int64_t>());
      r.lyapunov_tolerance = options.propagator_tolerance;
      r.lyapunov_converged = full.converged[b].item<bool>() && (w == 0 || window.converged[b].item<bool>());
      if (w > 0) {
        const torch::Tensor early = (window.log_sigma[b] / static_cast<double>(w)).to(torch::kCPU).contiguous();
        r.lyapunov_window.assign(early.data_ptr<double>(), early.data_ptr<double>() + k);
        r.lyapunov_window_segments = static_cast<int32_t>(w);
      }
    } else if (k > 0) {
      // SPEC §3: λ_i = (1/T) Σ_t ℓ_{t,i}, per segment, for each draw; the
      // record holds their mean and (sample) standard deviation over draws.
      const torch::Tensor per_draw = increments_c.select(1, b).mean(0);  // [draws, k]
      const torch::Tensor mean = per_draw.mean(0).contiguous();
      const torch::Tensor sd = draws > 1 ? per_draw.std(0, /*unbiased=*/true).contiguous()
                                         : torch::zeros({k}, torch::kFloat64);
      r.lyapunov.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + k);
      r.lyapunov_sd.assign(sd.data_ptr<double>(), sd.data_ptr<double>() + k);
      r.lyapunov_method = "qr";
    }
    const int64_t* tokens = prediction_c[b].data_ptr<int64_t>();
    r.prediction.assign(tokens, tokens + prediction_c.size(1));
    r.device = device.str();
    r.compute_seconds = seconds / static_cast<double>(B);
    result.records.push_back(std::move(r));
  }
  if (keep_dump) {
    result.dump.z_H = torch::stack(dump_h);
    result.dump.z_L = torch::stack(dump_l);
    result.dump.logits = torch::stack(dump_logits);
    result.dump.preds = torch::stack(dump_preds);
    result.dump.q_halt_logits = q_halt_c.to(torch::kFloat32);
    result.dump.q_continue_logits = q_continue_c.to(torch::kFloat32);
    result.dump.correct = correct_c;
  }
  return result;
}

}  // namespace

absl::Status MeasurePuzzles(const RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                            const MeasureOptions& options, const RecordSink& sink,
                            TrajectoryDump* dump, const TeacherStates* teacher) {
  const int64_t T = options.segments > 0 ? options.segments : model.config().halt_max_steps;
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size: expected a positive number, found ", options.batch_size));
  }
  if (puzzles.size() == 0) return absl::InvalidArgumentError("puzzles: the puzzle set is empty");
  if (options.lyapunov_method != "qr" && options.lyapunov_method != "propagator") {
    return absl::InvalidArgumentError(absl::StrCat("lyapunov_method: expected qr or propagator, found '",
                                                   options.lyapunov_method, "'"));
  }
  if (options.lyapunov_method == "propagator" && options.lyapunov_draws != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lyapunov_draws: the propagator does not depend on a start; expected 1, found ", options.lyapunov_draws));
  }
  if (options.lyapunov_draws < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("lyapunov_draws: expected >= 1, found ", options.lyapunov_draws));
  }
  if (options.lyapunov_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lyapunov_k: expected 0 (off) or a positive number, found ", options.lyapunov_k));
  }
  if (!(options.propagator_tolerance > 0) || !std::isfinite(options.propagator_tolerance)) {
    return absl::InvalidArgumentError(absl::StrCat("propagator_tolerance: expected a finite number > 0, found ",
                                                   options.propagator_tolerance));
  }
  if (options.propagator_oversampling < -1) {
    return absl::InvalidArgumentError(absl::StrCat("propagator_oversampling: expected >= 0 (or -1 = k), found ",
                                                   options.propagator_oversampling));
  }
  if (options.propagator_max_iterations < 1) {
    return absl::InvalidArgumentError(absl::StrCat("propagator_max_iterations: expected >= 1, found ",
                                                   options.propagator_max_iterations));
  }
  RRM_RETURN_IF_ERROR(ValidateRestart(options));
  if (options.restart > 0 && options.restart_kind != "none" && teacher != nullptr) {
    return absl::InvalidArgumentError("teacher states: not combinable with restarts (restart > 0)");
  }
  if (options.tangent_dtype != torch::kFloat32 && options.tangent_dtype != torch::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat("tangent_dtype: expected float32 or float64, found ",
                                                   c10::toString(options.tangent_dtype)));
  }
  RRM_RETURN_IF_ERROR(model.ValidateInputs(puzzles.inputs, puzzles.puzzle_identifiers));
  if (puzzles.has_labels() && puzzles.labels.sizes() != puzzles.inputs.sizes()) {
    return absl::InvalidArgumentError(absl::StrCat("labels: expected the shape of inputs ",
                                                   c10::str(puzzles.inputs.sizes()), ", found ",
                                                   c10::str(puzzles.labels.sizes())));
  }
  if (teacher != nullptr) {
    const model::ModelConfig& c = model.config();
    RRM_RETURN_IF_ERROR(CheckTeacher(*teacher, T, puzzles.size(),
                                     c.puzzle_positions() + puzzles.inputs.size(1), c.hidden_size));
  }

  std::vector<TrajectoryDump> parts;
  for (int64_t begin = 0; begin < puzzles.size(); begin += options.batch_size) {
    const int64_t end = std::min(puzzles.size(), begin + options.batch_size);
    RRM_ASSIGN_OR_RETURN(BatchResult batch,
                         RunTorch(absl::StrCat("measuring examples ", begin, "..", end - 1), [&]() {
                           return MeasureBatch(model, puzzles, begin, end, T, options, dump != nullptr, teacher);
                         }));
    for (ExampleRecord& record : batch.records) RRM_RETURN_IF_ERROR(sink(std::move(record)));
    if (dump != nullptr) parts.push_back(std::move(batch.dump));
  }
  if (dump != nullptr) {
    auto cat = [&](torch::Tensor TrajectoryDump::*field) {
      std::vector<torch::Tensor> pieces;
      for (const TrajectoryDump& part : parts) pieces.push_back(part.*field);
      (*dump).*field = torch::cat(pieces, 1);
    };
    for (auto field : {&TrajectoryDump::z_H, &TrajectoryDump::z_L, &TrajectoryDump::logits,
                       &TrajectoryDump::preds, &TrajectoryDump::q_halt_logits,
                       &TrajectoryDump::q_continue_logits, &TrajectoryDump::correct}) {
      cat(field);
    }
  }
  return absl::OkStatus();
}

}  // namespace rrm::measure
