// The per-example record (SPEC §4), as the core produces it.
//
// Field names are those of the wire message `rrm.v1.ExampleRecord`; the server
// copies this struct into the proto, and record_json.h writes the same proto3
// JSON mapping without needing protobuf (so core/ and tools/ build alone).
#ifndef RRM_CORE_MEASURE_RECORD_H_
#define RRM_CORE_MEASURE_RECORD_H_

#include <cstdint>
#include <string>
#include <vector>

namespace rrm::measure {

// One segment t = 1..T of the trajectory (SPEC §2).
struct SegmentRecord {
  int32_t index = 0;             // t, 1-based
  bool correct = false;          // every counted label position matches ŷ_t
  double token_accuracy = 0;     // matching share of counted positions
  double halt_confidence = 0;    // sigmoid(q_halt_t)
  double q_halt_logit = 0;
  double q_continue_logit = 0;
  int32_t flips = 0;             // positions where ŷ_t ≠ ŷ_{t−1} (ŷ_0: readout of x_0)
  double displacement_h = 0;     // ‖z_H,t − z_H,t−1‖₂ / sqrt(S·D)
  double displacement_l = 0;     // ‖z_L,t − z_L,t−1‖₂ / sqrt(S·D)
  double displacement_joint = 0; // ‖x_t − x_t−1‖₂ / sqrt(2·S·D)
  std::vector<double> lyapunov_increments;  // ℓ_{t,1..k} (SPEC §3); empty when k = 0
};

// Where the dominant directions' energy sits along the sequence (issue 17;
// the wire message EnergyMap says what each method maps).
struct EnergyMap {
  std::string method;             // propagator_right | propagator_left | window_right | window_left | qr_frame
  int32_t directions = 0;         // n: the top n directions' energy, summed and divided by n
  int32_t puzzle_positions = 0;   // P: positions[P + c] is cell c of the puzzle as given
  std::vector<double> positions;  // P + seq_len shares summing to 1
};

struct ExampleRecord {
  std::string job_id;           // empty offline
  // Which model produced it (SPEC §5 populations: one model per analysis) and
  // its family, which names the model's own halting rule (TRM q_halt > 0,
  // HRM q_halt > q_continue).
  std::string model;            // rrmd: the registry name; rrm-measure: the checkpoint path
  std::string model_family;     // "hrm" | "trm"
  int32_t example_index = 0;    // position in the submitted puzzle list
  std::string puzzle_id;        // dataset row, CSV source or caller's id
  int32_t restart = 0;          // 0 = the puzzle as given
  std::string restart_kind = "none";  // none | symmetry | init_noise | step_noise
  uint64_t seed = 0;
  int32_t givens = -1;          // Sudoku givens, −1 where not defined
  int32_t updates_per_segment = 0;
  std::vector<SegmentRecord> segments;
  std::vector<double> lyapunov;     // λ_1..λ_k per segment (mean over draws)
  std::vector<double> lyapunov_sd;  // their standard deviation over draws
  std::string lyapunov_method;      // "qr" | "propagator"; empty when k = 0
  // Propagator method only: (1/w)·log σ_i of the early-window propagator
  // J_w ⋯ J_1, the window w, the iterations (forward passes) used for J_T ⋯ J_1, the
  // residual tolerance, and whether every σ_i of both propagators met it
  // (SPEC §3: ‖MᵀM v_i − σ_i² v_i‖ ≤ tol·σ_i²).
  std::vector<double> lyapunov_window;
  int32_t lyapunov_window_segments = 0;
  int32_t lyapunov_iterations = 0;
  double lyapunov_tolerance = 0;
  bool lyapunov_converged = false;
  bool correct = false;             // correct_T
  int32_t first_correct_segment = 0;  // first t with correct_t, 0 = never
  std::vector<int32_t> prediction;    // ŷ_T, mapped back to the puzzle as given
  std::string device;
  double compute_seconds = 0;
  std::string error;                // empty when fine
  // With MeasureOptions::energy_map_directions > 0 only; cells 0-based in the
  // puzzle as given.
  std::vector<EnergyMap> energy_maps;
  std::vector<int32_t> given_cells;  // Sudoku cells holding a given digit
  std::vector<int32_t> wrong_cells;  // scored cells with prediction ≠ label at T
};

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_RECORD_H_
