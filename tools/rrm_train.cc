// rrm-train: trains a small TRM or HRM on an upstream dataset folder with
// LibTorch (CPU), writing checkpoints in upstream's layout (step_N +
// all_config.yaml) that rrm-measure and upstream's Python code both load.
//
//   rrm-train --data data/sudoku-train/train --out runs/trm --steps 20000
//   rrm-train --resume runs/trm --steps 30000        # continue a run
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/puzzle/puzzle_set.h"
#include "core/train/trainer.h"

ABSL_FLAG(std::string, data, "", "Training split folder (upstream layout with labels), e.g. DIR/train.");
ABSL_FLAG(std::string, out, "", "Output folder for step_N, all_config.yaml and trainer_state/.");
ABSL_FLAG(std::string, resume, "",
          "Continue from the newest trainer_state/step_N.pt in this folder (also the default --out).");
ABSL_FLAG(std::string, arch, "trm", "trm | hrm.");
ABSL_FLAG(int64_t, hidden_size, 64, "Hidden width D.");
ABSL_FLAG(int64_t, num_heads, 4, "Attention heads (attention variants).");
ABSL_FLAG(double, expansion, 4.0, "SwiGLU expansion.");
ABSL_FLAG(int64_t, H_cycles, 2, "H cycles per segment.");
ABSL_FLAG(int64_t, L_cycles, 2, "L cycles per H cycle.");
ABSL_FLAG(int64_t, L_layers, 2, "Layers of L_level (TRM: the one network).");
ABSL_FLAG(int64_t, H_layers, 2, "Layers of H_level (HRM only).");
ABSL_FLAG(bool, mlp_t, true, "TRM: MLP over the sequence axis instead of attention (upstream's Sudoku recipe).");
ABSL_FLAG(std::string, pos_encodings, "none", "rope | learned | none (HRM: rope | learned).");
ABSL_FLAG(int64_t, puzzle_emb_ndim, -1, "Puzzle embedding width (-1 = hidden_size, upstream's default; 0 = none).");
ABSL_FLAG(int64_t, puzzle_emb_len, 1, "TRM: puzzle-embedding positions P (0 = ceil(ndim/hidden)).");
ABSL_FLAG(int64_t, halt_max_steps, 16, "Segments at most per example (and T of evaluation).");
ABSL_FLAG(double, halt_exploration_prob, 0.1, "Probability that a slot must run a random minimum of segments.");
ABSL_FLAG(std::string, loss_type, "stablemax_cross_entropy", "stablemax_cross_entropy | softmax_cross_entropy.");
ABSL_FLAG(int64_t, batch_size, 64, "Slots per step.");
ABSL_FLAG(int64_t, steps, 1000, "Total optimizer steps (the schedule spans them).");
ABSL_FLAG(double, lr, 1e-3, "Peak learning rate.");
ABSL_FLAG(int64_t, lr_warmup_steps, 100, "Linear warm-up steps.");
ABSL_FLAG(double, lr_min_ratio, 1.0, "Cosine decay floor as a fraction of lr (1 = constant).");
ABSL_FLAG(double, weight_decay, 0.1, "AdamW decoupled weight decay.");
ABSL_FLAG(double, beta1, 0.9, "AdamW beta1.");
ABSL_FLAG(double, beta2, 0.95, "AdamW beta2.");
ABSL_FLAG(bool, ema, false, "Keep an exponential moving average of the weights and checkpoint it.");
ABSL_FLAG(double, ema_rate, 0.999, "EMA decay per step.");
ABSL_FLAG(bool, augment, true, "Sudoku: random validity-preserving symmetry on every example drawn.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the initial weights, data order, augmentation and exploration.");
ABSL_FLAG(int64_t, checkpoint_every, 1000, "Write a checkpoint every N steps (and at the end).");
ABSL_FLAG(double, log_seconds, 10, "Seconds between progress lines.");
ABSL_FLAG(std::string, eval_data, "", "Optional labelled split folder evaluated at each checkpoint.");
ABSL_FLAG(int64_t, eval_limit, 256, "Examples of --eval_data to evaluate (0 = all).");
ABSL_FLAG(int, threads, 1, "Intra-op CPU threads.");
ABSL_FLAG(std::string, run_name, "rrm-train", "Recorded in all_config.yaml.");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "rrm-train: " << status.message() << "\n";
  return 1;
}

void PrintEval(const rrm::train::EvalResult& eval, int64_t step) {
  std::string bins;
  for (const auto& [givens, counts] : eval.by_givens) {
    absl::StrAppend(&bins, " ", givens, ":", counts.first, "/", counts.second);
  }
  std::cout << absl::StrFormat("eval step %d | exact %.3f | token %.4f | n %d | by givens%s\n", step,
                               eval.exact_accuracy, eval.token_accuracy, eval.examples, bins)
            << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains a small TRM/HRM on an upstream dataset folder; checkpoints in upstream's layout.\n"
      "  rrm-train --data DIR/train --out runs/demo --steps 20000 [--resume runs/demo]");
  absl::ParseCommandLine(argc, argv);
  torch::set_num_threads(std::max(1, absl::GetFlag(FLAGS_threads)));

  rrm::train::TrainOptions options;
  rrm::model::ModelConfig& arch = options.arch;
  const std::string family = absl::GetFlag(FLAGS_arch);
  if (family != "trm" && family != "hrm") return Fail(absl::InvalidArgumentError("--arch must be trm or hrm"));
  arch.family = family == "hrm" ? rrm::model::Family::kHrm : rrm::model::Family::kTrm;
  arch.hidden_size = absl::GetFlag(FLAGS_hidden_size);
  arch.num_heads = absl::GetFlag(FLAGS_num_heads);
  arch.expansion = absl::GetFlag(FLAGS_expansion);
  arch.H_cycles = absl::GetFlag(FLAGS_H_cycles);
  arch.L_cycles = absl::GetFlag(FLAGS_L_cycles);
  arch.L_layers = absl::GetFlag(FLAGS_L_layers);
  arch.H_layers = family == "hrm" ? absl::GetFlag(FLAGS_H_layers) : 0;
  arch.mlp_t = family == "trm" && absl::GetFlag(FLAGS_mlp_t);
  arch.pos_encodings = absl::GetFlag(FLAGS_pos_encodings);
  const int64_t ndim = absl::GetFlag(FLAGS_puzzle_emb_ndim);
  arch.puzzle_emb_ndim = ndim < 0 ? arch.hidden_size : ndim;
  arch.puzzle_emb_len = family == "trm" ? absl::GetFlag(FLAGS_puzzle_emb_len) : 0;
  arch.halt_max_steps = absl::GetFlag(FLAGS_halt_max_steps);
  arch.forward_dtype = "float32";
  options.halt_exploration_prob = absl::GetFlag(FLAGS_halt_exploration_prob);
  options.loss_type = absl::GetFlag(FLAGS_loss_type);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.total_steps = absl::GetFlag(FLAGS_steps);
  options.lr = absl::GetFlag(FLAGS_lr);
  options.lr_warmup_steps = absl::GetFlag(FLAGS_lr_warmup_steps);
  options.lr_min_ratio = absl::GetFlag(FLAGS_lr_min_ratio);
  options.weight_decay = absl::GetFlag(FLAGS_weight_decay);
  options.beta1 = absl::GetFlag(FLAGS_beta1);
  options.beta2 = absl::GetFlag(FLAGS_beta2);
  options.ema = absl::GetFlag(FLAGS_ema);
  options.ema_rate = absl::GetFlag(FLAGS_ema_rate);
  options.augment = absl::GetFlag(FLAGS_augment);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.run_name = absl::GetFlag(FLAGS_run_name);
  const std::string resume = absl::GetFlag(FLAGS_resume);
  options.out_dir = absl::GetFlag(FLAGS_out).empty() ? resume : absl::GetFlag(FLAGS_out);
  options.data_path = absl::GetFlag(FLAGS_data);
  if (options.data_path.empty() || options.out_dir.empty()) {
    return Fail(absl::InvalidArgumentError("--data and --out (or --resume) are required"));
  }

  absl::StatusOr<rrm::puzzle::PuzzleSet> train_set = rrm::puzzle::ReadDatasetFolder(options.data_path);
  if (!train_set.ok()) return Fail(train_set.status());
  rrm::puzzle::PuzzleSet eval_set;
  if (!absl::GetFlag(FLAGS_eval_data).empty()) {
    absl::StatusOr<rrm::puzzle::PuzzleSet> read = rrm::puzzle::ReadDatasetFolder(absl::GetFlag(FLAGS_eval_data));
    if (!read.ok()) return Fail(read.status());
    eval_set = *std::move(read);
  }
  absl::StatusOr<std::unique_ptr<rrm::train::Trainer>> created =
      rrm::train::Trainer::Create(options, *std::move(train_set));
  if (!created.ok()) return Fail(created.status());
  rrm::train::Trainer& trainer = **created;
  if (!resume.empty()) {
    if (absl::Status status = trainer.Resume(resume); !status.ok()) return Fail(status);
    std::cout << "resumed " << resume << " at step " << trainer.step() << "\n";
  }
  const auto& c = trainer.config();
  std::cout << absl::StrFormat(
      "training %s hidden %d L_layers %d H_cycles %d L_cycles %d mlp_t %d seq_len %d vocab %d P %d, "
      "batch %d, steps %d, lr %g, %s\n",
      rrm::model::FamilyName(c.family), c.hidden_size, c.L_layers, c.H_cycles, c.L_cycles, c.mlp_t, c.seq_len,
      c.vocab_size, c.puzzle_positions(), options.batch_size, options.total_steps, options.lr, options.loss_type)
            << std::flush;

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto window_start = started;
  const double log_seconds = absl::GetFlag(FLAGS_log_seconds);
  const int64_t checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  // Sums over the steps since the last progress line.
  double loss = 0, halted = 0, token = 0, exact = 0, segments = 0;
  int64_t window_steps = 0;
  auto checkpoint = [&]() -> absl::Status {
    if (absl::Status status = trainer.SaveCheckpoint(); !status.ok()) return status;
    std::cout << "checkpoint " << options.out_dir << "/step_" << trainer.step() << "\n" << std::flush;
    if (eval_set.size() > 0) {
      absl::StatusOr<rrm::train::EvalResult> eval = trainer.Evaluate(eval_set, absl::GetFlag(FLAGS_eval_limit), 0);
      if (!eval.ok()) return eval.status();
      PrintEval(*eval, trainer.step());
    }
    return absl::OkStatus();
  };
  while (trainer.step() < options.total_steps) {
    absl::StatusOr<rrm::train::StepMetrics> m = trainer.Step();
    if (!m.ok()) return Fail(m.status());
    loss += m->loss;
    halted += m->halted;
    token += m->token_accuracy * m->halted;
    exact += m->exact_accuracy * m->halted;
    segments += m->mean_segments * m->halted;
    ++window_steps;
    const double window = std::chrono::duration<double>(Clock::now() - window_start).count();
    if (window >= log_seconds || trainer.step() == options.total_steps) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
      const double h = std::max(halted, 1.0);
      // examples/s counts example-segments (one slot through one segment).
      std::cout << absl::StrFormat(
                       "step %d | loss %.4f | token_acc %.4f | exact_acc %.4f | segments %.2f | halted %d | "
                       "%.1f examples/s | lr %.2e | %.0fs\n",
                       trainer.step(), loss / window_steps, token / h, exact / h, segments / h,
                       static_cast<int64_t>(halted), window_steps * options.batch_size / window, m->lr, elapsed)
                << std::flush;
      loss = halted = token = exact = segments = 0;
      window_steps = 0;
      window_start = Clock::now();
    }
    if (checkpoint_every > 0 && trainer.step() % checkpoint_every == 0 && trainer.step() < options.total_steps) {
      if (absl::Status status = checkpoint(); !status.ok()) return Fail(status);
    }
  }
  if (absl::Status status = checkpoint(); !status.ok()) return Fail(status);
  std::cout << absl::StrFormat("done: %d steps in %.0f s\n", trainer.step(),
                               std::chrono::duration<double>(Clock::now() - started).count());
  return 0;
}
