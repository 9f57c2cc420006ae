// The one measurement entry point: puzzles in, one ExampleRecord per puzzle out.
//
// Runs each batch through T segments of the model's segment map from the reset
// carry, never halting early (as upstream evaluation), and derives everything
// in SPEC §2 per segment. The offline tool, the server's device workers and
// the tests all call MeasurePuzzles().
//
// Thread safety: MeasurePuzzles only reads the model; concurrent calls on one
// model are safe.
#ifndef RRM_CORE_MEASURE_TRAJECTORY_H_
#define RRM_CORE_MEASURE_TRAJECTORY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/measure/lyapunov.h"
#include "core/measure/record.h"
#include "core/model/recurrent_model.h"
#include "core/puzzle/puzzle_set.h"

namespace rrm::measure {

// SPEC §3: how the exponents are measured.
//   kQr          Benettin: k directions carried and re-orthonormalised per
//                segment, exponents from the diagonal of R.
//   kPropagator  the top-k singular values of J_T ⋯ J_1 (and of the early
//                window J_w ⋯ J_1) by block Lanczos: start-independent.
enum class LyapunovMethod { kQr, kPropagator };
// SPEC §5: what a restart (run 1..R-1 of a puzzle) changes.
enum class RestartKind { kNone, kSymmetry, kInitNoise, kStepNoise };

// The one spelling of each (flags, the wire, records): "qr", "propagator";
// "none", "symmetry", "init_noise", "step_noise". Parsing is exact;
// INVALID_ARGUMENT names `field`, the names expected and the text found.
absl::StatusOr<LyapunovMethod> ParseLyapunovMethod(absl::string_view field, absl::string_view text);
absl::StatusOr<RestartKind> ParseRestartKind(absl::string_view field, absl::string_view text);
const char* LyapunovMethodName(LyapunovMethod method);
const char* RestartKindName(RestartKind kind);

struct MeasureOptions {
  int64_t segments = 0;     // T; 0 = the checkpoint's halt_max_steps
  int64_t batch_size = 16;  // examples per forward batch
  // example_index of puzzles[0]: the server measures a job in slices, and
  // example_index (hence Q_0 and restart noise) must be the job-wide position.
  int64_t first_example_index = 0;
  // SPEC §3: top-k Lyapunov exponents by the QR method (0 = trajectory only).
  int64_t lyapunov_k = 0;
  uint64_t lyapunov_seed = 0;  // Q_0 comes from (seed, example_index)
  // Independent starts: draw d uses seed + d; records hold the mean over draws
  // and its standard deviation (SPEC §3 "the estimator's own spread").
  int64_t lyapunov_draws = 1;
  LyapunovMethod lyapunov_method = LyapunovMethod::kQr;
  int64_t early_window = 4;              // w for the propagator's early window
  // SPEC §3 residual test of every σ_1..σ_k: ‖MᵀM v_i − σ_i² v_i‖ ≤ tol·σ_i²;
  // the records say whether it was met within the iterations.
  double propagator_tolerance = 1e-3;
  int64_t propagator_max_iterations = 30;
  // Directions per propagator pass b (0 = k): it tests the top k whatever
  // b is; a block larger than k oversamples (SPEC §3), a smaller one takes
  // more, cheaper iterations (docs/performance.md has what each costs).
  int64_t propagator_block = 0;
  torch::ScalarType tangent_dtype = torch::kFloat32;  // float32 | float64
  Reorthonormalize reorthonormalize = Reorthonormalize::kSegment;
  // SPEC §5 restarts: run `restart` (0 = the puzzle as given) of
  // `restart_kind` with noise scale sigma. Records carry restart and the
  // kind's name; noise is seeded from (lyapunov_seed, example_index, restart).
  RestartKind restart_kind = RestartKind::kNone;
  int32_t restart = 0;
  double restart_sigma = 0;
  // Issue 17 energy maps: 0 = off; n ≥ 1 stores, per record, the share of the
  // top n directions' energy per sequence position (record.h EnergyMap) for
  // the method measured, and the record's given_cells and wrong_cells.
  int64_t energy_map_directions = 0;
  // Cooperative stop (rrmd's CancelJob and deadlines): called at every
  // segment boundary — before each segment of the trajectory and of every
  // propagator pass. A non-OK status stops the measurement there and
  // MeasurePuzzles returns it; records of batches already finished have been
  // given to the sink. Empty: never stops.
  std::function<absl::Status()> stop;
};

// The bounds every entry point enforces (rrm-measure, rrmd's submit, the core).
inline constexpr int64_t kMaxSegments = 4096;
inline constexpr int64_t kMaxLyapunovK = 256;

// The propagator's directions per pass: propagator_block, k where it is 0.
int64_t PropagatorBlock(const MeasureOptions& options);

// Tangent directions per draw an example carries: lyapunov_k for QR, the
// propagator's block (PropagatorBlock). An example carries
// lyapunov_draws times as many; rrmd sizes its work items by that.
int64_t TangentColumns(const MeasureOptions& options);

// The one validator of MeasureOptions: rrmd's SubmitJob and rrm-measure call
// it before any work, and MeasurePuzzles calls it again. Errors name the
// option (without a prefix; the server adds "options."), expected and found.
absl::Status ValidateOptions(const MeasureOptions& options);

// The raw trajectory of the measured examples, for --dump_states. Segment t
// (index t−1) is the state after the t-th call, as in upstream evaluation.
struct TrajectoryDump {
  torch::Tensor z_H;                // float32 [T, B, S, D] (puzzle positions first)
  torch::Tensor z_L;                // float32 [T, B, S, D]
  torch::Tensor logits;             // float32 [T, B, L, V]
  torch::Tensor preds;              // int64 [T, B, L]
  torch::Tensor q_halt_logits;      // float32 [T, B]
  torch::Tensor q_continue_logits;  // float32 [T, B]
  torch::Tensor correct;            // bool [T, B]
};

// External states (e.g. dumped from the official code), [T, B, S, D] each for
// all B puzzles: segment t > 1 starts from the given state at t − 1 instead of
// its own, so one-step parity can be checked against any dump.
struct TeacherStates {
  torch::Tensor z_H;
  torch::Tensor z_L;
};

// Called with each finished record, in example order; a non-OK return stops
// the measurement and is returned.
using RecordSink = std::function<absl::Status(ExampleRecord record)>;

// Measures every puzzle in `puzzles`. Inputs are validated against the model
// first (INVALID_ARGUMENT naming field, expected and found); `dump` and
// `teacher` are optional. Errors from LibTorch (e.g. out of memory) come back
// as a Status, never as an exception.
absl::Status MeasurePuzzles(const model::RecurrentModel& model, const puzzle::PuzzleSet& puzzles,
                            const MeasureOptions& options, const RecordSink& sink,
                            TrajectoryDump* dump = nullptr, const TeacherStates* teacher = nullptr);

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_TRAJECTORY_H_
