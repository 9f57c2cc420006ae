// rrm-measure: the offline measurement, no server. One JSON record per puzzle
// (SPEC §4), optionally the raw trajectory as .npy files.
//
//   rrm-measure --checkpoint ckpt/step_1000 --data data/sudoku-extreme --out records.jsonl
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/cpu_setup.h"
#include "core/common/device.h"
#include "core/common/status.h"
#include "core/measure/record_json.h"
#include "core/measure/trajectory.h"
#include "core/model/recurrent_model.h"
#include "core/puzzle/npy.h"
#include "core/puzzle/puzzle_set.h"

ABSL_FLAG(std::string, checkpoint, "", "Checkpoint file: upstream step_N (torch.save) or .safetensors.");
ABSL_FLAG(std::string, config, "", "Architecture yaml; default: all_config.yaml beside the checkpoint.");
ABSL_FLAG(std::vector<std::string>, override, {},
          "Config overrides as key=value,key=value with upstream key names, e.g. "
          "forward_dtype=float32,H_cycles=2.");
ABSL_FLAG(std::string, data, "", "Upstream dataset folder (a split with dataset.json, or a root whose test/ is used).");
ABSL_FLAG(std::string, sudoku, "", "Sudoku file: upstream CSV or 81-character lines.");
ABSL_FLAG(std::string, maze, "", "Maze file: upstream CSV or n x n grids over '# SGo'.");
ABSL_FLAG(int64_t, limit, 0, "Measure only the first N puzzles (0 = all).");
ABSL_FLAG(int64_t, batch, 16, "Examples per forward batch.");
ABSL_FLAG(int64_t, segments, 0, "Segments T per trajectory (0 = the checkpoint's halt_max_steps).");
ABSL_FLAG(std::string, device, "cpu", "torch device, e.g. cpu or cuda:0.");
ABSL_FLAG(int64_t, lyapunov_k, 8, "Top-k Lyapunov exponents by the QR method (SPEC 3); 0 disables.");
ABSL_FLAG(uint64_t, lyapunov_seed, 0, "Seed of the portable start directions Q_0 (with the example index).");
ABSL_FLAG(int64_t, lyapunov_draws, 1,
          "Independent start directions (seeds seed..seed+m-1): records hold the mean and standard deviation.");
ABSL_FLAG(std::string, lyapunov_method, "qr",
          "qr (Benettin QR, per-segment increments) or propagator (top-k singular values of the T-segment "
          "propagator and of the early window, independent of the start).");
ABSL_FLAG(int64_t, energy_map_directions, 0,
          "Energy maps (docs/analysis.md): 0 = off; n = the top n directions' energy per puzzle position, n <= lyapunov_k.");
ABSL_FLAG(int64_t, early_window, 4, "w: the propagator's early window J_w...J_1.");
ABSL_FLAG(double, propagator_tolerance, 1e-3,
          "Propagator: stop when |M^T M v_i - s_i^2 v_i| <= tol * s_i^2 for every i <= k (records say if met).");
ABSL_FLAG(int64_t, propagator_block, 0, "Propagator: directions per pass (0 = lyapunov_k; up to 4·lyapunov_k).");
ABSL_FLAG(std::string, tangent_dtype, "float32", "Tangent precision: float32 or float64.");
ABSL_FLAG(std::string, reorthonormalize, "segment",
          "Re-orthonormalise tangents after every segment or after every inner update: segment | update.");
ABSL_FLAG(int, threads, 0, "Intra-op CPU threads (0: every core this process may use, or OMP_NUM_THREADS if set).");
ABSL_FLAG(int32_t, restarts, 1,
          "Runs per puzzle (SPEC 5): restart 0 is the puzzle as given, 1..R-1 of --restart_kind.");
ABSL_FLAG(std::string, restart_kind, "none", "none | symmetry | init_noise | step_noise.");
ABSL_FLAG(double, restart_sigma, 0, "Noise scale sigma for init_noise / step_noise restarts.");
ABSL_FLAG(std::string, out, "", "Output JSONL file, one record per puzzle ('-' = stdout).");
ABSL_FLAG(std::string, dump_states, "",
          "Folder for the raw trajectory: z_H.npy z_L.npy [T,B,S,D], logits.npy [T,B,L,V], preds.npy, "
          "q_halt_logits.npy, q_continue_logits.npy [T,B], correct.npy [T,B].");
ABSL_FLAG(std::string, teacher_states, "",
          "Folder with z_H.npy and z_L.npy [T,B,S,D]: segment t > 1 starts from the given state at t-1.");

namespace {

using rrm::measure::ExampleRecord;

absl::StatusOr<rrm::puzzle::PuzzleSet> ReadPuzzles() {
  const std::string data = absl::GetFlag(FLAGS_data), sudoku = absl::GetFlag(FLAGS_sudoku),
                    maze = absl::GetFlag(FLAGS_maze);
  if ((!data.empty()) + (!sudoku.empty()) + (!maze.empty()) != 1) {
    return absl::InvalidArgumentError("give exactly one of --data, --sudoku, --maze");
  }
  absl::StatusOr<rrm::puzzle::PuzzleSet> puzzles = !data.empty()     ? rrm::puzzle::ReadDatasetFolder(data)
                                                   : !sudoku.empty() ? rrm::puzzle::ReadSudokuFile(sudoku)
                                                                     : rrm::puzzle::ReadMazeFile(maze);
  if (!puzzles.ok()) return puzzles.status();
  return puzzles->Head(absl::GetFlag(FLAGS_limit));
}

// A one-line progress bar on a terminal; a plain line per 10% otherwise.
class Progress {
 public:
  explicit Progress(int64_t total) : total_(total), tty_(isatty(STDERR_FILENO)) {}
  void Update(int64_t done) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    if (tty_) {
      const int width = 30, filled = static_cast<int>(width * done / std::max<int64_t>(total_, 1));
      std::fprintf(stderr, "\r[%s%s] %lld/%lld  %.2f ex/s  ETA %ds ", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), static_cast<long long>(done),
                   static_cast<long long>(total_), rate, static_cast<int>(eta));
      if (done == total_) std::fprintf(stderr, "\n");
    } else if (done * 10 / std::max<int64_t>(total_, 1) > last_decile_ || done == total_) {
      last_decile_ = done * 10 / std::max<int64_t>(total_, 1);
      std::fprintf(stderr, "rrm-measure: %lld/%lld examples, %.2f ex/s\n", static_cast<long long>(done),
                   static_cast<long long>(total_), rate);
    }
  }

 private:
  const int64_t total_;
  const bool tty_;
  int64_t last_decile_ = 0;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

absl::Status WriteDump(const std::string& folder, const rrm::measure::TrajectoryDump& dump) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(folder, ": cannot create folder: ", ec.message()));
  const std::pair<const char*, const torch::Tensor*> files[] = {
      {"z_H.npy", &dump.z_H}, {"z_L.npy", &dump.z_L}, {"logits.npy", &dump.logits}, {"preds.npy", &dump.preds},
      {"q_halt_logits.npy", &dump.q_halt_logits}, {"q_continue_logits.npy", &dump.q_continue_logits},
      {"correct.npy", &dump.correct}};
  for (const auto& [name, tensor] : files) {
    RRM_RETURN_IF_ERROR(rrm::puzzle::WriteNpy((std::filesystem::path(folder) / name).string(), *tensor));
  }
  return absl::OkStatus();
}

absl::Status Run() {
  if (absl::GetFlag(FLAGS_checkpoint).empty()) return absl::InvalidArgumentError("--checkpoint is required");
  if (absl::GetFlag(FLAGS_out).empty()) return absl::InvalidArgumentError("--out is required");

  rrm::measure::MeasureOptions options;
  options.segments = absl::GetFlag(FLAGS_segments);
  options.batch_size = absl::GetFlag(FLAGS_batch);
  options.lyapunov_k = absl::GetFlag(FLAGS_lyapunov_k);
  options.lyapunov_seed = absl::GetFlag(FLAGS_lyapunov_seed);
  options.lyapunov_draws = absl::GetFlag(FLAGS_lyapunov_draws);
  RRM_ASSIGN_OR_RETURN(options.lyapunov_method,
                       rrm::measure::ParseLyapunovMethod("--lyapunov_method", absl::GetFlag(FLAGS_lyapunov_method)));
  RRM_ASSIGN_OR_RETURN(options.restart_kind,
                       rrm::measure::ParseRestartKind("--restart_kind", absl::GetFlag(FLAGS_restart_kind)));
  options.restart_sigma = absl::GetFlag(FLAGS_restart_sigma);
  options.early_window = absl::GetFlag(FLAGS_early_window);
  options.propagator_tolerance = absl::GetFlag(FLAGS_propagator_tolerance);
  options.propagator_block = absl::GetFlag(FLAGS_propagator_block);
  options.energy_map_directions = absl::GetFlag(FLAGS_energy_map_directions);
  const std::string tangent_dtype = absl::GetFlag(FLAGS_tangent_dtype);
  if (tangent_dtype != "float32" && tangent_dtype != "float64") {
    return absl::InvalidArgumentError(
        absl::StrCat("--tangent_dtype: expected float32 or float64, found '", tangent_dtype, "'"));
  }
  options.tangent_dtype = tangent_dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  const std::string every = absl::GetFlag(FLAGS_reorthonormalize);
  if (every != "segment" && every != "update") {
    return absl::InvalidArgumentError(
        absl::StrCat("--reorthonormalize: expected segment or update, found '", every, "'"));
  }
  options.reorthonormalize =
      every == "update" ? rrm::measure::Reorthonormalize::kUpdate : rrm::measure::Reorthonormalize::kSegment;
  // The core's one validator, before the model is loaded: a bad flag fails at once.
  if (absl::Status status = rrm::measure::ValidateOptions(options); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("--", status.message()));
  }

  RRM_ASSIGN_OR_RETURN(torch::Device device, rrm::ParseDevice("--device", absl::GetFlag(FLAGS_device)));
  RRM_ASSIGN_OR_RETURN(rrm::model::LoadedModel loaded,
                       rrm::model::LoadModel(absl::GetFlag(FLAGS_checkpoint), absl::GetFlag(FLAGS_config),
                                             absl::GetFlag(FLAGS_override), device));
  RRM_ASSIGN_OR_RETURN(rrm::puzzle::PuzzleSet puzzles, ReadPuzzles());

  rrm::measure::TeacherStates teacher;
  const std::string teacher_dir = absl::GetFlag(FLAGS_teacher_states);
  if (!teacher_dir.empty()) {
    RRM_ASSIGN_OR_RETURN(teacher.z_H, rrm::puzzle::ReadNpyAs(teacher_dir + "/z_H.npy", torch::kFloat32));
    RRM_ASSIGN_OR_RETURN(teacher.z_L, rrm::puzzle::ReadNpyAs(teacher_dir + "/z_L.npy", torch::kFloat32));
    const int64_t n = puzzles.size();
    if (teacher.z_H.dim() == 4 && teacher.z_H.size(1) > n) {  // dump of more puzzles than --limit keeps
      teacher.z_H = teacher.z_H.slice(1, 0, n);
      teacher.z_L = teacher.z_L.slice(1, 0, n);
    }
  }

  const std::string out_path = absl::GetFlag(FLAGS_out);
  std::ofstream file;
  if (out_path != "-") {
    file.open(out_path);
    if (!file) return absl::PermissionDeniedError(absl::StrCat(out_path, ": cannot open for writing"));
  }
  std::ostream& out = out_path == "-" ? std::cout : file;

  const int32_t restarts = absl::GetFlag(FLAGS_restarts);
  if (restarts < 1) return absl::InvalidArgumentError(absl::StrCat("--restarts: expected >= 1, found ", restarts));
  const bool dumping = !absl::GetFlag(FLAGS_dump_states).empty();
  if (dumping && restarts > 1) return absl::InvalidArgumentError("--dump_states: only with --restarts 1");

  Progress progress(puzzles.size() * restarts);
  int64_t done = 0, solved = 0;
  rrm::measure::TrajectoryDump dump;
  for (int32_t restart = 0; restart < restarts; ++restart) {
    options.restart = restart;
    RRM_RETURN_IF_ERROR(rrm::measure::MeasurePuzzles(
        *loaded.model, puzzles, options,
        [&](ExampleRecord record) {
          record.model = absl::GetFlag(FLAGS_checkpoint);  // SPEC §5 populations: which model
          out << rrm::measure::RecordToJson(record) << '\n';
          solved += record.correct;
          progress.Update(++done);
          return out ? absl::OkStatus() : absl::DataLossError(absl::StrCat(out_path, ": write failed"));
        },
        dumping ? &dump : nullptr, teacher_dir.empty() ? nullptr : &teacher));
  }
  out.flush();
  if (dumping) RRM_RETURN_IF_ERROR(WriteDump(absl::GetFlag(FLAGS_dump_states), dump));
  std::fprintf(stderr, "rrm-measure: %lld puzzles x %d runs, %lld runs correct at the last segment\n",
               static_cast<long long>(puzzles.size()), restarts, static_cast<long long>(solved));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures puzzle trajectories of an HRM/TRM checkpoint offline.\n"
      "  rrm-measure --checkpoint PATH [--config YAML] (--data DIR | --sudoku FILE | --maze FILE) --out FILE");
  absl::ParseCommandLine(argc, argv);
  rrm::SetUpCpu("rrm-measure", argv, absl::GetFlag(FLAGS_threads), 1);
  const absl::Status status = Run();
  if (!status.ok()) {
    std::fprintf(stderr, "rrm-measure: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
