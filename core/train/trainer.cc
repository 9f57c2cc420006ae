#include "core/train/trainer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/checkpoint/state_dict_writer.h"
#include "core/common/status.h"
#include "core/model/initial_weights.h"
#include "core/puzzle/sudoku_generator.h"

namespace rrm::train {
namespace {

namespace fs = std::filesystem;

// Upstream's ACTLossHead wraps the model (`model.`) and torch.compile adds `_orig_mod.`.
constexpr char kUpstreamPrefix[] = "_orig_mod.model.";

bool IsBuffer(const std::string& name) {
  // Upstream registers H_init / L_init as buffers: never trained.
  return name == "inner.H_init" || name == "inner.L_init";
}

// Upstream's stablemax: s(x) = 1/(1−x) for x < 0, x + 1 otherwise, normalised;
// computed in float64 like upstream. Returns −log p(label) per position.
torch::Tensor StablemaxCrossEntropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  const torch::Tensor x = logits.to(torch::kFloat64);
  const torch::Tensor s = torch::where(x < 0, 1.0 / (1.0 - x + 1e-30), x + 1.0);
  const torch::Tensor log_probs = torch::log(s / s.sum(-1, /*keepdim=*/true));
  return -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1);
}

torch::Tensor SoftmaxCrossEntropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t V = logits.size(-1);
  return torch::nn::functional::cross_entropy(
             logits.to(torch::kFloat32).reshape({-1, V}), labels.reshape({-1}),
             torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view(labels.sizes());
}

// Python's float repr as PyYAML writes it: shortest round-trip digits, fixed
// notation for 1e-4 <= |x| < 1e16, and a ".0" wherever there is no dot
// (PyYAML reads "1e-05" as a string, "1.0e-05" as a float).
std::string YamlFloat(double value) {
  char buffer[64];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", digits - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  const int exponent = value == 0 ? 0 : std::atoi(std::strchr(buffer, 'e') + 1);
  std::string text;
  if (exponent >= -4 && exponent < 16) {
    std::snprintf(buffer, sizeof(buffer), "%.*f", std::max(0, digits - 1 - exponent), value);
    text = buffer;
    if (text.find('.') == std::string::npos) text += ".0";
  } else {
    text = buffer;  // d.ddde±XX
    const size_t e = text.find('e');
    if (text.find('.') == std::string::npos) text.insert(e, ".0");
  }
  return text;
}

uint64_t Mix(uint64_t a, uint64_t b) { return puzzle::SplitMix64(a ^ (0x9E3779B97F4A7C15ull * (b + 1))).Next(); }

}  // namespace

absl::Status WriteAllConfigYaml(const std::string& path, const model::ModelConfig& c,
                                const TrainOptions& o) {
  const bool hrm = c.family == model::Family::kHrm;
  std::string arch_name = c.arch_name;
  if (arch_name.empty()) {
    arch_name = hrm ? "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"
                    : "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1";
  }
  // yaml.dump sorts keys; upper case sorts before lower case.
  std::string yaml = "arch:\n";
  absl::StrAppend(&yaml, "  H_cycles: ", c.H_cycles, "\n  H_layers: ", c.H_layers, "\n  L_cycles: ",
                  c.L_cycles, "\n  L_layers: ", c.L_layers, "\n  expansion: ", YamlFloat(c.expansion),
                  "\n  forward_dtype: ", c.forward_dtype, "\n  halt_exploration_prob: ",
                  YamlFloat(o.halt_exploration_prob), "\n  halt_max_steps: ", c.halt_max_steps,
                  "\n  hidden_size: ", c.hidden_size, "\n  loss:\n    loss_type: ", o.loss_type,
                  "\n    name: losses@ACTLossHead\n");
  if (!hrm) absl::StrAppend(&yaml, "  mlp_t: ", c.mlp_t ? "true" : "false", "\n");
  absl::StrAppend(&yaml, "  name: ", arch_name, "\n");
  if (!hrm) absl::StrAppend(&yaml, "  no_ACT_continue: true\n");
  absl::StrAppend(&yaml, "  num_heads: ", c.num_heads, "\n  pos_encodings: ", c.pos_encodings, "\n");
  if (!hrm) absl::StrAppend(&yaml, "  puzzle_emb_len: ", c.puzzle_emb_len, "\n");
  absl::StrAppend(&yaml, "  puzzle_emb_ndim: ", c.puzzle_emb_ndim, "\n  rms_norm_eps: ",
                  YamlFloat(c.rms_norm_eps), "\n  rope_theta: ", YamlFloat(c.rope_theta), "\n");
  absl::StrAppend(&yaml, "beta1: ", YamlFloat(o.beta1), "\nbeta2: ", YamlFloat(o.beta2),
                  "\ncheckpoint_every_eval: true\ncheckpoint_path: ", o.out_dir.empty() ? "null" : o.out_dir,
                  "\ndata_paths:\n- ", o.data_path.empty() ? "null" : o.data_path,
                  "\nema: ", o.ema ? "true" : "false", "\nema_rate: ", YamlFloat(o.ema_rate),
                  "\nglobal_batch_size: ", o.batch_size, "\nlr: ", YamlFloat(o.lr),
                  "\nlr_min_ratio: ", YamlFloat(o.lr_min_ratio), "\nlr_warmup_steps: ", o.lr_warmup_steps,
                  "\nproject_name: rrm-dynamics demo\npuzzle_emb_lr: ", YamlFloat(o.lr),
                  "\npuzzle_emb_weight_decay: ", YamlFloat(o.weight_decay), "\nrun_name: ", o.run_name,
                  "\nseed: ", o.seed, "\ntotal_steps: ", o.total_steps,
                  "\ntrainer: rrm-train\nweight_decay: ", YamlFloat(o.weight_decay), "\n");
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << yaml;
    if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot rename into place"));
  }
  return absl::OkStatus();
}

Trainer::Trainer(TrainOptions options, puzzle::PuzzleSet train_set,
                 std::unique_ptr<model::RecurrentModel> model)
    : options_(std::move(options)), train_set_(std::move(train_set)), model_(std::move(model)) {}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainOptions& options,
                                                         puzzle::PuzzleSet train_set) {
  if (!train_set.has_labels() || train_set.size() == 0) {
    return absl::InvalidArgumentError("training data: needs a non-empty set with labels");
  }
  if (options.loss_type != "stablemax_cross_entropy" && options.loss_type != "softmax_cross_entropy") {
    return absl::InvalidArgumentError(absl::StrCat(
        "loss_type: expected stablemax_cross_entropy or softmax_cross_entropy, found '", options.loss_type, "'"));
  }
  if (options.batch_size < 1 || options.total_steps < 1 || options.lr <= 0) {
    return absl::InvalidArgumentError("batch_size, total_steps and lr must be positive");
  }
  model::ModelConfig config = options.arch;
  if (config.forward_dtype != "float32") {
    return absl::InvalidArgumentError(
        absl::StrCat("forward_dtype: the trainer runs float32, found '", config.forward_dtype, "'"));
  }
  config.seq_len = train_set.inputs.size(1);
  config.vocab_size = train_set.metadata.vocab_size;
  config.num_puzzle_identifiers = std::max<int64_t>(train_set.metadata.num_puzzle_identifiers, 1);
  RRM_RETURN_IF_ERROR(model::Validate(config));
  return RunTorch("creating the trainer", [&]() -> absl::StatusOr<std::unique_ptr<Trainer>> {
    torch::manual_seed(options.seed);
    const checkpoint::StateDict initial = model::InitialStateDict(config, options.seed);
    RRM_ASSIGN_OR_RETURN(std::unique_ptr<model::RecurrentModel> model,
                         model::RecurrentModel::Create(config, initial, torch::kCPU));
    std::unique_ptr<Trainer> trainer(new Trainer(options, std::move(train_set), std::move(model)));
    trainer->train_set_.inputs = trainer->train_set_.inputs.to(torch::kInt64).contiguous();
    trainer->train_set_.labels = trainer->train_set_.labels.to(torch::kInt64).contiguous();
    trainer->train_set_.puzzle_identifiers = trainer->train_set_.puzzle_identifiers.to(torch::kInt64).contiguous();
    trainer->weights_ = trainer->model_->NamedWeights();
    for (auto& [name, tensor] : trainer->weights_) {
      if (IsBuffer(name)) continue;
      tensor.requires_grad_(true);
      trainer->trainable_.push_back(tensor);
    }
    if (options.ema) {
      for (const auto& [name, tensor] : trainer->weights_) trainer->ema_.push_back(tensor.detach().clone());
    }
    trainer->optimizer_ = std::make_unique<torch::optim::AdamW>(
        trainer->trainable_, torch::optim::AdamWOptions(options.lr)
                                 .betas({options.beta1, options.beta2})
                                 .weight_decay(options.weight_decay));
    const int64_t B = options.batch_size, L = config.seq_len;
    trainer->inputs_ = torch::zeros({B, L}, torch::kInt64);
    trainer->labels_ = torch::zeros({B, L}, torch::kInt64);
    trainer->identifiers_ = torch::zeros({B}, torch::kInt64);
    const model::JointState x0 = trainer->model_->InitialState(B, config.state_positions());
    trainer->z_H_ = x0.z_H;
    trainer->z_L_ = x0.z_L;
    trainer->segments_ = torch::zeros({B}, torch::kInt64);
    trainer->halted_ = torch::ones({B}, torch::kBool);  // every slot starts by drawing an example
    return trainer;
  });
}

double Trainer::LearningRate(int64_t step) const {
  // Upstream's cosine_schedule_with_warmup_lr_lambda (step counts from 1).
  const double base = options_.lr;
  if (step < options_.lr_warmup_steps) return base * step / std::max<int64_t>(1, options_.lr_warmup_steps);
  const double progress = static_cast<double>(step - options_.lr_warmup_steps) /
                          std::max<int64_t>(1, options_.total_steps - options_.lr_warmup_steps);
  const double r = options_.lr_min_ratio;
  return base * (r + std::max(0.0, (1 - r) * 0.5 * (1.0 + std::cos(M_PI * progress))));
}

void Trainer::DrawExample(int64_t slot) {
  const int64_t n = train_set_.size();
  const int64_t epoch = drawn_ / n;
  if (epoch != order_epoch_) {
    // A fresh permutation per epoch, a pure function of (seed, epoch) so resuming reproduces it.
    order_.resize(n);
    for (int64_t i = 0; i < n; ++i) order_[i] = i;
    puzzle::SplitMix64 rng(Mix(options_.seed, static_cast<uint64_t>(epoch)));
    for (int64_t i = n; i > 1; --i) std::swap(order_[i - 1], order_[rng.Below(i)]);
    order_epoch_ = epoch;
  }
  const int64_t index = order_[drawn_ % n];
  const uint64_t example_seed = Mix(options_.seed ^ 0x5bd1e995ull, static_cast<uint64_t>(drawn_));
  ++drawn_;
  inputs_[slot].copy_(train_set_.inputs[index]);
  labels_[slot].copy_(train_set_.labels[index]);
  identifiers_[slot] = train_set_.puzzle_identifiers[index];
  if (!options_.augment || train_set_.kind != puzzle::PuzzleKind::kSudoku) return;
  // Upstream shuffle_sudoku on tokens (value + 1; blank = 1).
  auto in = inputs_.accessor<int64_t, 2>();
  auto out = labels_.accessor<int64_t, 2>();
  puzzle::SudokuPuzzle puzzle;
  for (int c = 0; c < 81; ++c) {
    if (in[slot][c] < 1 || in[slot][c] > 10 || out[slot][c] < 2 || out[slot][c] > 10) return;  // not plain Sudoku
    puzzle.puzzle[c] = static_cast<uint8_t>(in[slot][c] - 1);
    puzzle.solution[c] = static_cast<uint8_t>(out[slot][c] - 1);
  }
  puzzle::SplitMix64 rng(example_seed);
  const puzzle::SudokuPuzzle shuffled = puzzle::ShuffleSudoku(puzzle, rng);
  for (int c = 0; c < 81; ++c) {
    in[slot][c] = shuffled.puzzle[c] + 1;
    out[slot][c] = shuffled.solution[c] + 1;
  }
}

void Trainer::Refill() {
  torch::NoGradGuard no_grad;
  auto halted = halted_.accessor<bool, 1>();
  for (int64_t b = 0; b < halted_.size(0); ++b) {
    if (halted[b]) DrawExample(b);
  }
  const model::JointState x0 = model_->InitialState(options_.batch_size, config().state_positions());
  const torch::Tensor reset = halted_.view({1, -1, 1, 1});
  z_H_ = torch::where(reset, x0.z_H, z_H_);
  z_L_ = torch::where(reset, x0.z_L, z_L_);
  segments_.masked_fill_(halted_, 0);
}

absl::StatusOr<StepMetrics> Trainer::Step() {
  return RunTorch("training step", [&]() -> absl::StatusOr<StepMetrics> {
    Refill();
    const model::ModelConfig& c = config();
    const torch::Tensor e = model_->InputEmbeddings(inputs_, identifiers_);
    model::JointState state{z_H_, z_L_};
    model_->TrainingSegment(state, e);
    const model::Readout out = model_->ReadOut(state.z_H[0]);

    const torch::Tensor mask = labels_ != puzzle::kIgnoreLabel;
    const torch::Tensor counts = mask.sum(-1);
    const torch::Tensor divisor = counts.clamp_min(1).to(torch::kFloat64);
    const torch::Tensor safe_labels = torch::where(mask, labels_, torch::zeros_like(labels_));
    torch::Tensor token_loss = options_.loss_type == "stablemax_cross_entropy"
                                   ? StablemaxCrossEntropy(out.logits, safe_labels)
                                   : SoftmaxCrossEntropy(out.logits, safe_labels).to(torch::kFloat64);
    token_loss = torch::where(mask, token_loss, torch::zeros_like(token_loss));
    const torch::Tensor lm_loss = token_loss.sum(-1) / divisor;  // [B]

    torch::Tensor is_correct, seq_correct;
    {
      torch::NoGradGuard no_grad;
      is_correct = mask & (out.logits.argmax(-1) == labels_);
      seq_correct = is_correct.sum(-1) == counts;
    }
    const torch::Tensor q_halt_loss = torch::binary_cross_entropy_with_logits(
        out.q_halt, seq_correct.to(torch::kFloat32), {}, {}, at::Reduction::None);
    const torch::Tensor loss = (lm_loss.to(torch::kFloat32) + 0.5 * q_halt_loss).mean();

    optimizer_->zero_grad();
    loss.backward();
    ++step_;
    const double lr = LearningRate(step_);
    for (auto& group : optimizer_->param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    }
    optimizer_->step();

    torch::NoGradGuard no_grad;
    if (options_.ema) {
      for (size_t i = 0; i < weights_.size(); ++i) {
        ema_[i].mul_(options_.ema_rate).add_(weights_[i].second.detach(), 1 - options_.ema_rate);
      }
    }

    // Halting (upstream ACT, no_ACT_continue) with exploration.
    segments_ += 1;
    torch::Tensor halted = segments_ >= c.halt_max_steps;
    if (c.halt_max_steps > 1) {
      halted = halted | (out.q_halt.detach() > 0);
      torch::Generator generator = at::detail::createCPUGenerator(Mix(options_.seed ^ 0x7f4a7c15ull, step_));
      const int64_t B = options_.batch_size;
      const torch::Tensor explore = torch::rand({B}, generator) < options_.halt_exploration_prob;
      const torch::Tensor min_segments =
          explore.to(torch::kInt64) * torch::randint(2, c.halt_max_steps + 1, {B}, generator, torch::kInt64);
      halted = halted & (segments_ >= min_segments);
    }
    halted_ = halted;
    z_H_ = state.z_H.detach();
    z_L_ = state.z_L.detach();

    StepMetrics m;
    m.step = step_;
    m.lr = lr;
    m.loss = loss.item<double>();
    m.lm_loss = lm_loss.mean().item<double>();
    m.q_halt_loss = q_halt_loss.mean().item<double>();
    const torch::Tensor token_accuracy = is_correct.sum(-1).to(torch::kFloat64) / divisor;
    m.all_token_accuracy = token_accuracy.mean().item<double>();
    m.all_exact_accuracy = seq_correct.to(torch::kFloat64).mean().item<double>();
    m.halted = halted.sum().item<int64_t>();
    if (m.halted > 0) {
      const double h = static_cast<double>(m.halted);
      m.token_accuracy = token_accuracy.masked_select(halted).sum().item<double>() / h;
      m.exact_accuracy = (seq_correct & halted).sum().item<double>() / h;
      m.q_halt_accuracy = (((out.q_halt.detach() >= 0) == seq_correct) & halted).sum().item<double>() / h;
      m.mean_segments = segments_.masked_select(halted).sum().item<double>() / h;
    }
    return m;
  });
}

std::vector<std::pair<std::string, torch::Tensor>> Trainer::UpstreamStateDict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < weights_.size(); ++i) {
    out.emplace_back(kUpstreamPrefix + weights_[i].first,
                     (options_.ema ? ema_[i] : weights_[i].second).detach());
  }
  return out;
}

absl::Status Trainer::SaveCheckpoint() {
  if (options_.out_dir.empty()) return absl::FailedPreconditionError("no output folder set");
  const fs::path dir(options_.out_dir);
  std::error_code error;
  fs::create_directories(dir / "trainer_state", error);
  if (error) return absl::InternalError(absl::StrCat(dir.string(), ": cannot create: ", error.message()));
  RRM_RETURN_IF_ERROR(WriteAllConfigYaml((dir / "all_config.yaml").string(), config(), options_));
  RRM_RETURN_IF_ERROR(
      checkpoint::WriteTorchZip((dir / absl::StrCat("step_", step_)).string(), UpstreamStateDict()));
  const std::string state_path = (dir / "trainer_state" / absl::StrCat("step_", step_, ".pt")).string();
  return RunTorch(state_path, [&]() -> absl::Status {
    torch::serialize::OutputArchive archive;
    archive.write("step", torch::tensor(step_, torch::kInt64));
    archive.write("drawn", torch::tensor(drawn_, torch::kInt64));
    for (size_t i = 0; i < weights_.size(); ++i) {
      archive.write(absl::StrCat("weight_", i), weights_[i].second.detach());
      if (options_.ema) archive.write(absl::StrCat("ema_", i), ema_[i]);
    }
    torch::serialize::OutputArchive optimizer;
    optimizer_->save(optimizer);
    archive.write("optimizer", optimizer);
    const std::string temporary = state_path + ".tmp";
    archive.save_to(temporary);
    if (std::rename(temporary.c_str(), state_path.c_str()) != 0) {
      return absl::InternalError("cannot rename into place");
    }
    return absl::OkStatus();
  });
}

absl::Status Trainer::Resume(const std::string& dir) {
  int64_t newest = -1;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "trainer_state", error)) {
    const std::string name = entry.path().filename().string();
    int64_t n = 0;
    if (name.rfind("step_", 0) == 0 && entry.path().extension() == ".pt" &&
        absl::SimpleAtoi(name.substr(5, name.size() - 8), &n)) {
      newest = std::max(newest, n);
    }
  }
  if (newest < 0) {
    return absl::NotFoundError(absl::StrCat(dir, ": no trainer_state/step_N.pt to resume from"));
  }
  const std::string path = (fs::path(dir) / "trainer_state" / absl::StrCat("step_", newest, ".pt")).string();
  return RunTorch(path, [&]() -> absl::Status {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    // A fresh tensor per read: InputArchive::read re-points a defined tensor
    // at the stored data without changing its dtype.
    auto read = [&archive](const std::string& key) {
      torch::Tensor value;
      archive.read(key, value);
      return value;
    };
    auto try_read = [&archive](const std::string& key, torch::Tensor* value) {
      *value = torch::Tensor();
      return archive.try_read(key, *value);
    };
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < weights_.size(); ++i) {
      const torch::Tensor value = read(absl::StrCat("weight_", i));
      if (value.sizes() != weights_[i].second.sizes()) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": saved ", weights_[i].first, " does not fit this model's shape"));
      }
      weights_[i].second.copy_(value);
      if (options_.ema) {
        // A run that had no EMA starts its EMA from the weights.
        torch::Tensor ema;
        if (try_read(absl::StrCat("ema_", i), &ema)) {
          ema_[i].copy_(ema);
        } else {
          ema_[i].copy_(weights_[i].second);
        }
      }
    }
    torch::serialize::InputArchive optimizer;
    archive.read("optimizer", optimizer);
    optimizer_->load(optimizer);
    step_ = read("step").item<int64_t>();
    drawn_ = read("drawn").item<int64_t>();
    order_epoch_ = -1;
    halted_.fill_(true);
    return absl::OkStatus();
  });
}

absl::StatusOr<EvalResult> Trainer::Evaluate(const puzzle::PuzzleSet& set, int64_t limit, int64_t segments,
                                             int64_t batch_size) {
  if (!set.has_labels()) return absl::InvalidArgumentError("evaluation data has no labels");
  RRM_RETURN_IF_ERROR(model_->ValidateInputs(set.inputs.to(torch::kInt64), set.puzzle_identifiers.to(torch::kInt64)));
  return RunTorch("evaluation", [&]() -> absl::StatusOr<EvalResult> {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> saved;
    if (options_.ema) {  // evaluate what the checkpoint holds
      for (size_t i = 0; i < weights_.size(); ++i) {
        saved.push_back(weights_[i].second.detach().clone());
        weights_[i].second.copy_(ema_[i]);
      }
    }
    const int64_t T = segments > 0 ? segments : config().halt_max_steps;
    const int64_t n = limit > 0 ? std::min(limit, set.size()) : set.size();
    EvalResult result;
    double token_sum = 0;
    int64_t correct_sum = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t count = std::min(batch_size, n - start);
      const torch::Tensor inputs = set.inputs.narrow(0, start, count).to(torch::kInt64);
      const torch::Tensor labels = set.labels.narrow(0, start, count).to(torch::kInt64);
      const torch::Tensor ids = set.puzzle_identifiers.narrow(0, start, count).to(torch::kInt64);
      model::JointState x = model_->InitialState(count, config().state_positions());
      const torch::Tensor e = model_->InputEmbeddings(inputs, ids);
      for (int64_t t = 0; t < T; ++t) model_->Segment(x, e);
      const torch::Tensor preds = model_->ReadOut(x.z_H[0]).logits.argmax(-1);
      const torch::Tensor mask = labels != puzzle::kIgnoreLabel;
      const torch::Tensor right = mask & (preds == labels);
      const torch::Tensor exact = right.sum(-1) == mask.sum(-1);
      token_sum += (right.sum(-1).to(torch::kFloat64) / mask.sum(-1).clamp_min(1)).sum().item<double>();
      auto exact_a = exact.accessor<bool, 1>();
      for (int64_t b = 0; b < count; ++b) {
        const int32_t givens = static_cast<size_t>(start + b) < set.givens.size() ? set.givens[start + b] : -1;
        auto& [ok, total] = result.by_givens[givens];
        ok += exact_a[b];
        ++total;
        correct_sum += exact_a[b];
      }
    }
    if (options_.ema) {
      for (size_t i = 0; i < weights_.size(); ++i) weights_[i].second.copy_(saved[i]);
    }
    result.examples = n;
    result.exact_accuracy = n > 0 ? static_cast<double>(correct_sum) / n : 0;
    result.token_accuracy = n > 0 ? token_sum / n : 0;
    return result;
  });
}

}  // namespace rrm::train
