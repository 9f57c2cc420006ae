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
  const RestartKind kind = options.restart_kind;
  if (options.restart < 0) {
    return absl::InvalidArgumentError(absl::StrCat("restart: expected >= 0, found ", options.restart));
  }
  if (options.restart > 0 && kind == RestartKind::kNone) {
    return absl::InvalidArgumentError(
        absl::StrCat("restart: ", options.restart, " needs a restart_kind other than none"));
  }
  const bool noisy = kind == RestartKind::kInitNoise || kind == RestartKind::kStepNoise;
  if (!(options.restart_sigma >= 0) || (noisy && options.restart > 0 && options.restart_sigma == 0)) {
    return absl::InvalidArgumentError(absl::StrCat("restart_sigma: expected ", noisy ? "> 0" : ">= 0",
                                                   " for restart_kind ", RestartKindName(kind), ", found ",
                                                   options.restart_sigma));
  }
  return absl::OkStatus();
}

// Thrown at a segment boundary when MeasureOptions::stop asks to stop;
// caught in MeasurePuzzles, which returns its status.
struct Stopped {
  absl::Status status;
};

void CheckStop(const MeasureOptions& options) {
  if (!options.stop) return;
  absl::Status status = options.stop();
  if (!status.ok()) throw Stopped{std::move(status)};
}

// Issue 17: the share of the n unit directions' energy at each sequence
// position, (1/n)·Σ_i ‖v_i[z_H, s]‖² + ‖v_i[z_L, s]‖², from directions
// [B, N, n] in the joint layout (z_H then z_L, each [S, D]) -> [B, S] float64 CPU.
torch::Tensor PositionEnergy(const torch::Tensor& directions, int64_t S, int64_t D) {
  const int64_t B = directions.size(0), n = directions.size(2);
  const torch::Tensor squares = directions.to(torch::kFloat64).square().reshape({B, 2, S, D, n});
  const torch::Tensor energy = squares.sum({1, 3, 4});
  // Unit columns make the sum n; dividing by the sum keeps it exactly 1.
  return (energy / energy.sum(1, /*keepdim=*/true)).to(torch::kCPU).contiguous();
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
  const bool restarted = options.restart > 0 && options.restart_kind != RestartKind::kNone;
  std::vector<SplitMix64> restart_streams;
  for (int64_t b = 0; b < B; ++b) {
    restart_streams.push_back(
        SplitMix64::ForRestart(options.lyapunov_seed, options.first_example_index + begin + b, options.restart));
  }
  std::vector<puzzle::Symmetry> symmetries;
  if (restarted && options.restart_kind == RestartKind::kSymmetry) {
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
  const bool propagator = k > 0 && options.lyapunov_method == LyapunovMethod::kPropagator;
  const int64_t columns = TangentColumns(options);
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
  if (restarted && options.restart_kind == RestartKind::kStepNoise) {
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

  // Every step starts at a segment boundary: the cooperative stop is checked there.
  const auto before_step = [&, replace = std::move(replace_primal)](int64_t t, torch::Tensor& primal) {
    CheckStop(options);
    if (replace) replace(t, primal);
  };

  // Per segment, [B] (or [B, ...]) on the device; copied out once at the end.
  std::vector<torch::Tensor> correct, token_accuracy, q_halt, q_continue, flips, d_h, d_l, d_joint, increments;
  std::vector<torch::Tensor> dump_h, dump_l, dump_logits, dump_preds;
  torch::Tensor x0 = map.InitialPrimal();
  if (restarted && options.restart_kind == RestartKind::kInitNoise) x0 = x0 + noise().to(device, x0.scalar_type());
  torch::Tensor previous_prediction = model.ReadOut(x0.narrow(1, 0, S * D).reshape({B, S, D})).logits.argmax(-1);
  torch::Tensor prediction;
  // The propagator runs the plain trajectory first and keeps its states.
  std::vector<torch::Tensor> states;
  TangentOptions tangent_options;
  tangent_options.k = propagator ? 0 : k;
  tangent_options.draws = draws;
  tangent_options.tangent_dtype = options.tangent_dtype;
  tangent_options.every = options.reorthonormalize;
  const int64_t n_energy = options.energy_map_directions;
  torch::Tensor final_frame;  // QR: the first draw's top n directions after step T, [B, N, n]
  RunTangentTrajectory(map, x0, q0, T, tangent_options, before_step, [&](const StepResult& step) {
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
    if (n_energy > 0 && !propagator && step.t == T) {
      final_frame = step.frame.narrow(0, 0, n_energy).permute({1, 2, 0});
    }
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
    propagator_options.vectors = n_energy > 0;
    propagator_options.before_step = [&] { CheckStop(options); };
    full = PropagatorSingularValues(map, stored, q0, propagator_options);
    if (w > 0) window = PropagatorSingularValues(map, stored.narrow(0, 0, w), q0, propagator_options);
  }

  // Issue 17 energy maps, [B, S] each, named by what they map (record.h).
  std::vector<std::pair<std::string, torch::Tensor>> energy_maps;
  if (n_energy > 0 && propagator) {
    energy_maps.emplace_back("propagator_right", PositionEnergy(full.right.narrow(2, 0, n_energy), S, D));
    energy_maps.emplace_back("propagator_left", PositionEnergy(full.left.narrow(2, 0, n_energy), S, D));
    if (w > 0) {
      energy_maps.emplace_back("window_right", PositionEnergy(window.right.narrow(2, 0, n_energy), S, D));
      energy_maps.emplace_back("window_left", PositionEnergy(window.left.narrow(2, 0, n_energy), S, D));
    }
  } else if (n_energy > 0) {
    energy_maps.emplace_back("qr_frame", PositionEnergy(final_frame, S, D));
  }
  // given_cells and wrong_cells are in the puzzle as given: its own inputs,
  // labels and the prediction already mapped back.
  torch::Tensor given_cells_c, wrong_cells_c;
  if (n_energy > 0) {
    const torch::Tensor given_inputs = puzzles.inputs.slice(0, begin, end).to(torch::kCPU);
    if (puzzles.kind == puzzle::PuzzleKind::kSudoku) given_cells_c = puzzle::SudokuGivenCells(given_inputs);
    if (puzzles.has_labels()) {
      const torch::Tensor given_labels = puzzles.labels.slice(0, begin, end).to(torch::kCPU, torch::kInt64);
      wrong_cells_c = given_labels.ne(puzzle::kIgnoreLabel).logical_and(prediction_c.ne(given_labels));
    }
  }
  const int64_t P = S - inputs.size(1);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BatchResult result;
  for (int64_t b = 0; b < B; ++b) {
    ExampleRecord r;
    r.example_index = static_cast<int32_t>(options.first_example_index + begin + b);
    r.restart = options.restart;
    r.restart_kind = RestartKindName(options.restart > 0 ? options.restart_kind : RestartKind::kNone);
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
      r.lyapunov_method = LyapunovMethodName(LyapunovMethod::kPropagator);
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
      r.lyapunov_method = LyapunovMethodName(LyapunovMethod::kQr);
    }
    for (const auto& [method, energy] : energy_maps) {
      EnergyMap map_record;
      map_record.method = method;
      map_record.directions = static_cast<int32_t>(n_energy);
      map_record.puzzle_positions = static_cast<int32_t>(P);
      const double* e = energy[b].data_ptr<double>();
      map_record.positions.assign(e, e + S);
      // A symmetry restart ran the transformed puzzle: its cell i is cell
      // source[i] of the puzzle as given.
      if (!symmetries.empty()) {
        for (size_t i = 0; i < symmetries[b].source.size(); ++i) {
          map_record.positions[P + symmetries[b].source[i]] = e[P + i];
        }
      }
      r.energy_maps.push_back(std::move(map_record));
    }
    auto cells = [](const torch::Tensor& mask) {
      std::vector<int32_t> out;
      const torch::Tensor indices = mask.nonzero().squeeze(1).to(torch::kInt32).contiguous();
      out.assign(indices.data_ptr<int32_t>(), indices.data_ptr<int32_t>() + indices.numel());
      return out;
    };
    if (given_cells_c.defined()) r.given_cells = cells(given_cells_c[b]);
    if (wrong_cells_c.defined()) r.wrong_cells = cells(wrong_cells_c[b]);
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

absl::StatusOr<LyapunovMethod> ParseLyapunovMethod(absl::string_view field, absl::string_view text) {
  if (text == "qr") return LyapunovMethod::kQr;
  if (text == "propagator") return LyapunovMethod::kPropagator;
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected qr or propagator, found '", text, "'"));
}

absl::StatusOr<RestartKind> ParseRestartKind(absl::string_view field, absl::string_view text) {
  for (RestartKind kind : {RestartKind::kNone, RestartKind::kSymmetry, RestartKind::kInitNoise, RestartKind::kStepNoise}) {
    if (text == RestartKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": expected none, symmetry, init_noise or step_noise, found '", text, "'"));
}

const char* LyapunovMethodName(LyapunovMethod method) {
  return method == LyapunovMethod::kPropagator ? "propagator" : "qr";
}

const char* RestartKindName(RestartKind kind) {
  switch (kind) {
    case RestartKind::kSymmetry: return "symmetry";
    case RestartKind::kInitNoise: return "init_noise";
    case RestartKind::kStepNoise: return "step_noise";
    case RestartKind::kNone: break;
  }
  return "none";
}

absl::Status ValidateOptions(const MeasureOptions& options) {
  if (options.segments < 0 || options.segments > kMaxSegments) {
    return absl::InvalidArgumentError(absl::StrCat("segments: expected 0 (the checkpoint's halt_max_steps) to ",
                                                   kMaxSegments, ", found ", options.segments));
  }
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size: expected a positive number, found ", options.batch_size));
  }
  if (options.lyapunov_method == LyapunovMethod::kPropagator && options.lyapunov_draws != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lyapunov_draws: the propagator does not depend on a start; expected 1, found ", options.lyapunov_draws));
  }
  if (options.lyapunov_draws < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("lyapunov_draws: expected >= 1, found ", options.lyapunov_draws));
  }
  if (options.lyapunov_k < 0 || options.lyapunov_k > kMaxLyapunovK) {
    return absl::InvalidArgumentError(
        absl::StrCat("lyapunov_k: expected 0 (off) to ", kMaxLyapunovK, ", found ", options.lyapunov_k));
  }
  if (options.early_window < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("early_window: expected >= 0 (0 = no early window), found ", options.early_window));
  }
  if (!(options.propagator_tolerance > 0) || !std::isfinite(options.propagator_tolerance)) {
    return absl::InvalidArgumentError(absl::StrCat("propagator_tolerance: expected a finite number > 0, found ",
                                                   options.propagator_tolerance));
  }
  if (options.propagator_block < 0 ||
      (options.lyapunov_k > 0 && options.propagator_block > kPropagatorKeptPerExponent * options.lyapunov_k)) {
    return absl::InvalidArgumentError(absl::StrCat("propagator_block: expected 0 (= lyapunov_k) to ",
                                                   kPropagatorKeptPerExponent, "·lyapunov_k = ",
                                                   kPropagatorKeptPerExponent * options.lyapunov_k, ", found ",
                                                   options.propagator_block));
  }
  // A block smaller than k needs ceil(k / block) iterations before its first test.
  const int64_t block = TangentColumns(options), first_test = block > 0 ? (options.lyapunov_k + block - 1) / block : 1;
  if (options.propagator_max_iterations < first_test) {
    return absl::InvalidArgumentError(absl::StrCat("propagator_max_iterations: expected >= ", first_test,
                                                   " (lyapunov_k over propagator_block, rounded up), found ",
                                                   options.propagator_max_iterations));
  }
  if (options.energy_map_directions < 0 || options.energy_map_directions > options.lyapunov_k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "energy_map_directions: expected 0 (off) or 1..lyapunov_k (", options.lyapunov_k, "), found ",
        options.energy_map_directions));
  }
  RRM_RETURN_IF_ERROR(ValidateRestart(options));
  if (options.tangent_dtype != torch::kFloat32 && options.tangent_dtype != torch::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat("tangent_dtype: expected float32 or float64, found ",
                                                   c10::toString(options.tangent_dtype)));
  }
  return absl::OkStatus();
}

int64_t PropagatorBlock(const MeasureOptions& options) {
  return options.propagator_block > 0 ? options.propagator_block : options.lyapunov_k;
}

int64_t TangentColumns(const MeasureOptions& options) {
  const int64_t k = options.lyapunov_k;
  if (k == 0 || options.lyapunov_method != LyapunovMethod::kPropagator) return k;
  return PropagatorBlock(options);
}

absl::Status MeasurePuzzles(const RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                            const MeasureOptions& options, const RecordSink& sink,
                            TrajectoryDump* dump, const TeacherStates* teacher) {
  const int64_t T = options.segments > 0 ? options.segments : model.config().halt_max_steps;
  RRM_RETURN_IF_ERROR(ValidateOptions(options));
  if (puzzles.size() == 0) return absl::InvalidArgumentError("puzzles: the puzzle set is empty");
  if (options.restart > 0 && options.restart_kind != RestartKind::kNone && teacher != nullptr) {
    return absl::InvalidArgumentError("teacher states: not combinable with restarts (restart > 0)");
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
    absl::StatusOr<BatchResult> measured;
    try {
      measured = RunTorch(absl::StrCat("measuring examples ", begin, "..", end - 1), [&]() {
        return MeasureBatch(model, puzzles, begin, end, T, options, dump != nullptr, teacher);
      });
    } catch (const Stopped& stopped) {
      return stopped.status;
    }
    RRM_ASSIGN_OR_RETURN(BatchResult batch, std::move(measured));
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
