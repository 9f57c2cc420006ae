// The trainer on tiny models: the loss goes down, checkpoints load in the
// official Python model with the same forward, and runs resume.
#include "core/train/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/checkpoint/state_dict.h"
#include "core/measure/trajectory.h"
#include "core/model/initial_weights.h"
#include "core/puzzle/npy.h"
#include "core/puzzle/sudoku_generator.h"
#include "tests/puzzle/test_support.h"

namespace rrm::train {
namespace {

using ::rrm::puzzle::testing::RunPythonCode;
using ::rrm::puzzle::testing::ScratchDir;

puzzle::PuzzleSet SudokuSet(int n, uint64_t seed) {
  puzzle::PuzzleSet set;
  set.kind = puzzle::PuzzleKind::kSudoku;
  set.metadata.seq_len = 81;
  set.metadata.vocab_size = 11;
  set.inputs = torch::empty({n, 81}, torch::kInt64);
  set.labels = torch::empty({n, 81}, torch::kInt64);
  set.puzzle_identifiers = torch::zeros({n}, torch::kInt64);
  for (int i = 0; i < n; ++i) {
    const puzzle::SudokuPuzzle p = puzzle::GenerateSudoku(40 + i % 10, seed + i);
    for (int c = 0; c < 81; ++c) {
      set.inputs[i][c] = p.puzzle[c] + 1;
      set.labels[i][c] = p.solution[c] + 1;
    }
    set.puzzle_ids.push_back(std::to_string(i));
    set.givens.push_back(p.givens);
  }
  return set;
}

TrainOptions TinyTrm() {
  TrainOptions o;
  model::ModelConfig& a = o.arch;
  a.family = model::Family::kTrm;
  a.hidden_size = 32;
  a.num_heads = 2;
  a.expansion = 2;
  a.H_cycles = 2;
  a.L_cycles = 1;
  a.L_layers = 1;
  a.mlp_t = true;
  a.pos_encodings = "none";
  a.puzzle_emb_ndim = 32;
  a.puzzle_emb_len = 1;
  a.halt_max_steps = 3;
  a.forward_dtype = "float32";
  o.batch_size = 16;
  o.total_steps = 1000;
  o.lr = 3e-3;
  o.lr_warmup_steps = 1;
  o.seed = 5;
  return o;
}

TrainOptions TinyHrm() {
  TrainOptions o = TinyTrm();
  o.arch.family = model::Family::kHrm;
  o.arch.mlp_t = false;
  o.arch.pos_encodings = "rope";
  o.arch.H_layers = 1;
  o.arch.puzzle_emb_len = 0;
  return o;
}

// Mean loss over the first and the last `window` of `steps` steps.
std::pair<double, double> LossBeforeAndAfter(Trainer& trainer, int steps, int window) {
  double first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    absl::StatusOr<StepMetrics> m = trainer.Step();
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return {0, 0};
    if (s < window) first += m->loss / window;
    if (s >= steps - window) last += m->loss / window;
  }
  return {first, last};
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::set_num_threads(1); }
};

TEST_F(TrainerTest, FewStepsReduceTheLossOnATinyTrm) {
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(TinyTrm(), SudokuSet(64, 1));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const auto [before, after] = LossBeforeAndAfter(**trainer, 40, 4);
  EXPECT_LT(after, 0.9 * before) << "before " << before << " after " << after;
  EXPECT_EQ((*trainer)->step(), 40);
}

TEST_F(TrainerTest, FewStepsReduceTheLossOnATinyHrm) {
  TrainOptions options = TinyHrm();
  options.loss_type = "softmax_cross_entropy";
  options.ema = true;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options, SudokuSet(64, 2));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const auto [before, after] = LossBeforeAndAfter(**trainer, 40, 4);
  EXPECT_LT(after, 0.9 * before) << "before " << before << " after " << after;
}

TEST_F(TrainerTest, RejectsUnusableOptions) {
  TrainOptions options = TinyTrm();
  options.loss_type = "mse";
  EXPECT_FALSE(Trainer::Create(options, SudokuSet(4, 0)).ok());
  options = TinyTrm();
  options.arch.forward_dtype = "bfloat16";
  EXPECT_FALSE(Trainer::Create(options, SudokuSet(4, 0)).ok());
  puzzle::PuzzleSet unlabelled = SudokuSet(4, 0);
  unlabelled.labels = torch::Tensor();
  EXPECT_FALSE(Trainer::Create(TinyTrm(), unlabelled).ok());
}

// C++ writes step_N + all_config.yaml -> Python builds the official model from
// the yaml, torch.load + strict load_state_dict, runs 3 segments -> the logits
// equal those of the C++ model loaded back from the same files.
TEST_F(TrainerTest, CheckpointLoadsInTheOfficialPythonModelWithTheSameForward) {
  for (const bool hrm : {false, true}) {
    SCOPED_TRACE(hrm ? "hrm" : "trm");
    ScratchDir scratch;
    TrainOptions options = hrm ? TinyHrm() : TinyTrm();
    options.out_dir = scratch / "run";
    options.ema = !hrm;  // the TRM case checkpoints EMA weights
    const puzzle::PuzzleSet data = SudokuSet(8, 3);
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options, data);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    for (int s = 0; s < 2; ++s) ASSERT_TRUE((*trainer)->Step().ok());
    ASSERT_TRUE((*trainer)->SaveCheckpoint().ok());
    const std::string step = scratch / "run/step_2";
    ASSERT_TRUE(std::filesystem::exists(scratch / "run/trainer_state/step_2.pt"));

    absl::StatusOr<model::LoadedModel> loaded = model::LoadModel(step, "", {}, torch::kCPU);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    // The file holds what UpstreamStateDict says (EMA weights for TRM).
    absl::StatusOr<checkpoint::StateDict> read = checkpoint::ReadStateDict(step);
    ASSERT_TRUE(read.ok());
    for (const auto& [key, tensor] : (*trainer)->UpstreamStateDict()) {
      EXPECT_TRUE(torch::equal(read->at(key), tensor)) << key;
    }

    ASSERT_TRUE(puzzle::WriteNpy(scratch / "inputs.npy", data.inputs).ok());
    const auto run = RunPythonCode(scratch.path(), std::string(R"(
import sys, torch, yaml
sys.path.insert(0, ')") + RRM_SOURCE_DIR + R"(/tests/reference')
import official_forward as ref
cfg = yaml.safe_load(open('run/all_config.yaml'))
arch = cfg['arch']
assert arch['loss']['name'] == 'losses@ACTLossHead' and 'name' in arch, arch
model = ref.build_model(arch, 81, 11, 1, forward_dtype='float32')
sd = torch.load('run/step_2')
assert all(k.startswith('_orig_mod.model.inner.') for k in sd)
model.load_state_dict(ref.strip_checkpoint_prefix(sd), strict=True)
x = torch.from_numpy(np.load('inputs.npy'))
out = ref.run_trajectory(model, x, torch.zeros(x.shape[0], dtype=torch.long), 3)
np.save('logits.npy', out['logits'][-1].float().numpy())
)");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    absl::StatusOr<torch::Tensor> python_logits = puzzle::ReadNpy(scratch / "logits.npy");
    ASSERT_TRUE(python_logits.ok()) << python_logits.status();

    // Through the one measurement entry point, as rrm-measure and the server run it.
    puzzle::PuzzleSet measured = data;
    measure::MeasureOptions measure_options;
    measure_options.segments = 3;
    measure::TrajectoryDump dump;
    ASSERT_TRUE(measure::MeasurePuzzles(*loaded->model, measured, measure_options,
                                        [](measure::ExampleRecord) { return absl::OkStatus(); }, &dump)
                    .ok());
    EXPECT_LT((dump.logits[2] - *python_logits).abs().max().item<double>(), 1e-4);
  }
}

TEST_F(TrainerTest, ResumeRestoresWeightsStepAndStream) {
  ScratchDir scratch;
  TrainOptions options = TinyTrm();
  options.out_dir = scratch / "run";
  options.ema = true;
  absl::StatusOr<std::unique_ptr<Trainer>> first = Trainer::Create(options, SudokuSet(16, 4));
  ASSERT_TRUE(first.ok());
  for (int s = 0; s < 3; ++s) ASSERT_TRUE((*first)->Step().ok());
  ASSERT_TRUE((*first)->SaveCheckpoint().ok());

  absl::StatusOr<std::unique_ptr<Trainer>> second = Trainer::Create(options, SudokuSet(16, 4));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Resume(scratch / "run").ok());
  EXPECT_EQ((*second)->step(), 3);
  const auto a = (*first)->model().NamedWeights(), b = (*second)->model().NamedWeights();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  const auto ua = (*first)->UpstreamStateDict(), ub = (*second)->UpstreamStateDict();
  for (size_t i = 0; i < ua.size(); ++i) EXPECT_TRUE(torch::equal(ua[i].second, ub[i].second)) << ua[i].first;
  absl::StatusOr<StepMetrics> next = (*second)->Step();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->step, 4);

  EXPECT_EQ((*second)->Resume(scratch / "nothing-here").code(), absl::StatusCode::kNotFound);
}

TEST_F(TrainerTest, EvaluateCountsExactAccuracyPerGivens) {
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(TinyTrm(), SudokuSet(8, 1));
  ASSERT_TRUE(trainer.ok());
  const puzzle::PuzzleSet set = SudokuSet(12, 9);
  absl::StatusOr<EvalResult> eval = (*trainer)->Evaluate(set, 10, 2, 4);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(eval->examples, 10);
  int64_t total = 0;
  for (const auto& [givens, counts] : eval->by_givens) total += counts.second;
  EXPECT_EQ(total, 10);
  EXPECT_GE(eval->token_accuracy, 0.0);
  EXPECT_LE(eval->token_accuracy, 1.0);
}

// The training segment computes the same map; with one H cycle it also has
// the same gradient as the plain segment, with two it drops the first cycle's.
TEST_F(TrainerTest, TrainingSegmentMatchesSegmentWithOneStepGradient) {
  for (const int64_t h_cycles : {1, 2}) {
    TrainOptions options = TinyTrm();
    options.arch.H_cycles = h_cycles;
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(options, SudokuSet(4, 6));
    ASSERT_TRUE(trainer.ok());
    const model::RecurrentModel& m = (*trainer)->model();
    const puzzle::PuzzleSet data = SudokuSet(4, 6);
    torch::Tensor weight;
    for (const auto& [name, tensor] : m.NamedWeights()) {
      if (name == "inner.L_level.layers.0.mlp.down_proj.weight") weight = tensor;
    }
    ASSERT_TRUE(weight.defined() && weight.requires_grad());
    auto run = [&](bool training) {
      model::JointState x = m.InitialState(4, m.config().state_positions());
      const torch::Tensor e = m.InputEmbeddings(data.inputs, data.puzzle_identifiers);
      if (training) {
        m.TrainingSegment(x, e);
      } else {
        m.Segment(x, e);
      }
      const torch::Tensor out = x.z_H.sum();
      const torch::Tensor grad = torch::autograd::grad({out}, {weight})[0];
      return std::make_pair(x.z_H.detach(), grad);
    };
    const auto [plain_state, plain_grad] = run(false);
    const auto [train_state, train_grad] = run(true);
    EXPECT_TRUE(torch::allclose(plain_state, train_state, 0, 1e-6));
    if (h_cycles == 1) {
      EXPECT_TRUE(torch::allclose(plain_grad, train_grad, 1e-5, 1e-7));
    } else {
      EXPECT_FALSE(torch::allclose(plain_grad, train_grad, 1e-5, 1e-7));
    }
  }
}

}  // namespace
}  // namespace rrm::train
