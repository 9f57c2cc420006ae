// A small LibTorch trainer for TRM and HRM on upstream dataset folders, in the
// spirit of upstream pretrain.py + ACTLossHead (SPEC §1 models), CPU-friendly.
//
// Recipe (what one Step() does, mirroring upstream's training forward):
//   * A batch of B slots, each holding one example and its carry (z_H, z_L,
//     segment count). Slots whose example halted at the previous step take the
//     next example of the (shuffled, optionally augmented) data stream and
//     reset their carry to H_init / L_init, as upstream's ACT wrapper does.
//   * One segment from the carry with the 1-step gradient
//     (RecurrentModel::TrainingSegment); the new carry is detached, so
//     gradients never cross segments (deep supervision).
//   * Loss = mean over slots of [ mean over counted tokens of the token loss
//     (stablemax_cross_entropy or softmax_cross_entropy, upstream's
//     definitions) + 0.5 · BCE(q_halt, prediction is exactly correct) ],
//     i.e. upstream's lm_loss + 0.5·q_halt_loss divided by the batch size.
//   * AdamW (β1, β2, decoupled weight decay) with linear warm-up then cosine
//     decay to lr·lr_min_ratio (upstream's schedule); optional EMA of weights.
//     H_init / L_init are fixed buffers upstream and are not trained; the
//     puzzle embedding (upstream: sign-SGD on a sparse embedding) is trained
//     by the same AdamW here.
//   * Halting as upstream ACT with no_ACT_continue: a slot halts when it has
//     run halt_max_steps segments or q_halt > 0, except that with probability
//     halt_exploration_prob a slot must first reach a random minimum of
//     [2, halt_max_steps] segments. q_continue is not trained.
//
// Checkpoints follow upstream's layout: `<out>/step_N` (torch.save zip, keys
// `_orig_mod.model.inner.…`, EMA weights when EMA is on) and
// `<out>/all_config.yaml` (upstream-shaped, `arch:` block), plus this
// trainer's own `<out>/trainer_state/step_N.pt` (raw weights, AdamW moments,
// stream position) for resuming. Upstream's Python code loads `step_N`.
//
// Thread safety: a Trainer is used from one thread.
#ifndef RRM_CORE_TRAIN_TRAINER_H_
#define RRM_CORE_TRAIN_TRAINER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/model_config.h"
#include "core/model/recurrent_model.h"
#include "core/puzzle/puzzle_set.h"

namespace rrm::train {

struct TrainOptions {
  // Architecture. seq_len, vocab_size and num_puzzle_identifiers come from
  // the data; forward_dtype must be float32 (CPU training).
  model::ModelConfig arch;
  double halt_exploration_prob = 0.1;
  std::string loss_type = "stablemax_cross_entropy";  // | softmax_cross_entropy

  int64_t batch_size = 64;       // slots (upstream global_batch_size)
  int64_t total_steps = 1000;    // optimizer steps; the cosine schedule spans them
  double lr = 1e-3;
  double lr_min_ratio = 1.0;     // 1 = constant after warm-up (upstream's Sudoku recipe)
  int64_t lr_warmup_steps = 100;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  bool ema = false;
  double ema_rate = 0.999;
  // Random Sudoku symmetry (upstream's shuffle_sudoku) applied to every
  // example drawn, for Sudoku data; an endless supply of equivalent puzzles.
  bool augment = true;
  uint64_t seed = 0;

  std::string out_dir;        // where checkpoints go ("" = never written)
  std::string data_path;      // recorded in all_config.yaml (data_paths)
  std::string run_name = "rrm-train";
};

// What one Step() saw. Per-example figures are over the slots that halted at
// this step (as upstream's train metrics), with `halted` their number; the
// `all_` figures are over every slot of the step.
struct StepMetrics {
  int64_t step = 0;   // after this step
  double lr = 0;
  double loss = 0;    // the optimised loss (per slot)
  double lm_loss = 0;
  double q_halt_loss = 0;
  int64_t halted = 0;
  double token_accuracy = 0;   // over halted slots
  double exact_accuracy = 0;   // over halted slots
  double q_halt_accuracy = 0;  // (q_halt > 0) == exactly correct, over halted slots
  double mean_segments = 0;    // segments run by the halted slots
  double all_token_accuracy = 0;
  double all_exact_accuracy = 0;
};

// Exact accuracy after T segments from the reset carry, no early halting
// (upstream evaluation), overall and per Sudoku givens count.
struct EvalResult {
  int64_t examples = 0;
  double exact_accuracy = 0;
  double token_accuracy = 0;
  std::map<int32_t, std::pair<int64_t, int64_t>> by_givens;  // givens -> (correct, total)
};

class Trainer {
 public:
  // A fresh model (upstream-like init from `options.seed`) for `train_set`,
  // which must have labels. INVALID_ARGUMENT for unusable options or data.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainOptions& options,
                                                         puzzle::PuzzleSet train_set);

  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One optimizer step (see the file comment). Errors from LibTorch come back
  // as a Status.
  absl::StatusOr<StepMetrics> Step();

  // Writes `<out_dir>/step_N`, `<out_dir>/all_config.yaml` and
  // `<out_dir>/trainer_state/step_N.pt` for the current step N.
  absl::Status SaveCheckpoint();

  // Continues from the newest `<dir>/trainer_state/step_N.pt` (with `<dir>/step_N`
  // for the EMA weights): weights, AdamW state, step and data-stream position.
  // Carries restart from the reset state. NOT_FOUND if `dir` holds no trainer
  // state; FAILED_PRECONDITION if the saved weights do not fit this model.
  absl::Status Resume(const std::string& dir);

  // Evaluates the weights the checkpoint would hold (EMA when on) on the
  // first `limit` examples of `set` (all if limit <= 0) over `segments`
  // segments (0 = halt_max_steps).
  absl::StatusOr<EvalResult> Evaluate(const puzzle::PuzzleSet& set, int64_t limit, int64_t segments,
                                      int64_t batch_size = 64);

  int64_t step() const { return step_; }
  const model::RecurrentModel& model() const { return *model_; }
  const model::ModelConfig& config() const { return model_->config(); }

  // The state dict as upstream would save it (`_orig_mod.model.inner.…`),
  // EMA weights when EMA is on.
  std::vector<std::pair<std::string, torch::Tensor>> UpstreamStateDict() const;

 private:
  Trainer(TrainOptions options, puzzle::PuzzleSet train_set, std::unique_ptr<model::RecurrentModel> model);

  double LearningRate(int64_t step) const;
  // Replaces the examples of halted slots with the next ones from the stream.
  void Refill();
  // The next training example's index and (augmented) tokens.
  void DrawExample(int64_t slot);

  TrainOptions options_;
  puzzle::PuzzleSet train_set_;
  std::unique_ptr<model::RecurrentModel> model_;
  std::vector<std::pair<std::string, torch::Tensor>> weights_;    // model_'s own tensors
  std::vector<torch::Tensor> trainable_;
  std::vector<torch::Tensor> ema_;                                // parallel to weights_
  std::unique_ptr<torch::optim::AdamW> optimizer_;

  int64_t step_ = 0;
  int64_t drawn_ = 0;  // examples drawn from the stream so far
  std::vector<int64_t> order_;  // the current epoch's permutation
  int64_t order_epoch_ = -1;

  // Slots.
  torch::Tensor inputs_, labels_, identifiers_;  // [B, L], [B, L], [B]
  torch::Tensor z_H_, z_L_;                      // [1, B, S, D], detached
  torch::Tensor segments_;                       // int64 [B]
  torch::Tensor halted_;                         // bool [B]
};

// Writes upstream's all_config.yaml shape (yaml.dump of the PretrainConfig:
// sorted keys, `arch:` block with name, loss and the hyperparameters) for a
// training run with `options` and complete architecture `arch`.
absl::Status WriteAllConfigYaml(const std::string& path, const model::ModelConfig& arch,
                                const TrainOptions& options);

}  // namespace rrm::train

#endif  // RRM_CORE_TRAIN_TRAINER_H_
