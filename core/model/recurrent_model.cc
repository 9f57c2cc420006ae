#include "core/model/recurrent_model.h"

#include <cmath>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/common/status.h"

namespace rrm::model {
namespace {

std::string ShapeString(const torch::Tensor& t) {
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  return absl::StrCat("[", absl::StrJoin(sizes, ", "), "]");
}

// Takes tensors out of a state dict by name, checking shapes, and remembers
// which keys were used so leftovers can be reported as unexpected.
class WeightReader {
 public:
  WeightReader(const checkpoint::StateDict& state_dict, torch::Device device, torch::ScalarType dtype)
      : state_dict_(state_dict), device_(device), dtype_(dtype) {}

  absl::StatusOr<torch::Tensor> Take(const std::string& key, std::vector<int64_t> shape) {
    auto it = state_dict_.find(key);
    if (it == state_dict_.end()) {
      return absl::FailedPreconditionError(absl::StrCat("checkpoint: missing key ", key,
                                                        " (expected shape ", ShapeString(torch::empty(shape)), ")"));
    }
    used_.insert(key);
    const torch::Tensor& t = it->second;
    if (t.sizes() != torch::IntArrayRef(shape)) {
      return absl::FailedPreconditionError(absl::StrCat("checkpoint: shape mismatch for ", key, ": expected ",
                                                        ShapeString(torch::empty(shape)), ", found ",
                                                        ShapeString(t)));
    }
    if (!t.is_floating_point()) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint: ", key, " has dtype ", c10::toString(t.scalar_type()),
                       ", expected a floating-point tensor"));
    }
    // Upstream casts weights to the forward dtype at use (CastedLinear); casting
    // once here gives the same values.
    return t.to(device_, dtype_).contiguous();
  }

  absl::Status CheckNothingLeft() const {
    std::vector<std::string> unexpected;
    for (const auto& [key, tensor] : state_dict_) {
      if (!used_.count(key)) unexpected.push_back(key);
    }
    if (unexpected.empty()) return absl::OkStatus();
    if (unexpected.size() > 5) {
      const size_t more = unexpected.size() - 5;
      unexpected.resize(5);
      unexpected.push_back(absl::StrCat("... and ", more, " more"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint: unexpected keys for this architecture: ", absl::StrJoin(unexpected, ", ")));
  }

 private:
  const checkpoint::StateDict& state_dict_;
  const torch::Device device_;
  const torch::ScalarType dtype_;
  std::set<std::string> used_;
};

}  // namespace

RecurrentModel::RecurrentModel(ModelConfig config, torch::Device device)
    : config_(std::move(config)),
      device_(device),
      dtype_(config_.forward_dtype == "bfloat16"  ? torch::kBFloat16
             : config_.forward_dtype == "float64" ? torch::kFloat64
                                                  : torch::kFloat32) {}

absl::StatusOr<std::unique_ptr<RecurrentModel>> RecurrentModel::Create(
    const ModelConfig& config, const checkpoint::StateDict& state_dict, torch::Device device) {
  RRM_RETURN_IF_ERROR(Validate(config));
  std::unique_ptr<RecurrentModel> model(new RecurrentModel(config, device));
  return RunTorch("loading model weights", [&]() -> absl::StatusOr<std::unique_ptr<RecurrentModel>> {
    WeightReader reader(state_dict, device, model->dtype_);
    const ModelConfig& c = model->config_;
    const int64_t D = c.hidden_size, V = c.vocab_size, P = c.puzzle_positions();
    const std::string inner = "inner.";

    RRM_ASSIGN_OR_RETURN(model->embed_tokens_, reader.Take(inner + "embed_tokens.embedding_weight", {V, D}));
    RRM_ASSIGN_OR_RETURN(model->lm_head_, reader.Take(inner + "lm_head.weight", {V, D}));
    RRM_ASSIGN_OR_RETURN(model->q_head_weight_, reader.Take(inner + "q_head.weight", {2, D}));
    RRM_ASSIGN_OR_RETURN(model->q_head_bias_, reader.Take(inner + "q_head.bias", {2}));
    RRM_ASSIGN_OR_RETURN(model->H_init_, reader.Take(inner + "H_init", {D}));
    RRM_ASSIGN_OR_RETURN(model->L_init_, reader.Take(inner + "L_init", {D}));
    if (c.puzzle_emb_ndim > 0) {
      RRM_ASSIGN_OR_RETURN(model->puzzle_emb_, reader.Take(inner + "puzzle_emb.weights",
                                                           {c.num_puzzle_identifiers, c.puzzle_emb_ndim}));
    }
    if (c.pos_encodings == "learned") {
      RRM_ASSIGN_OR_RETURN(model->embed_pos_,
                           reader.Take(inner + "embed_pos.embedding_weight", {c.seq_len + P, D}));
    }

    auto read_swiglu = [&](const std::string& prefix, int64_t width) -> absl::StatusOr<SwiGluWeights> {
      const int64_t I = c.SwiGluInner(width);
      SwiGluWeights w;
      RRM_ASSIGN_OR_RETURN(w.gate_up, reader.Take(prefix + "gate_up_proj.weight", {2 * I, width}));
      RRM_ASSIGN_OR_RETURN(w.down, reader.Take(prefix + "down_proj.weight", {width, I}));
      return w;
    };
    auto read_level = [&](const std::string& name, int64_t layers) -> absl::StatusOr<Level> {
      Level level;
      for (int64_t i = 0; i < layers; ++i) {
        const std::string prefix = absl::StrCat(inner, name, ".layers.", i, ".");
        Block block;
        if (c.mlp_t) {
          RRM_ASSIGN_OR_RETURN(block.mlp_t, read_swiglu(prefix + "mlp_t.", c.state_positions()));
        } else {
          AttentionWeights attention;
          attention.num_heads = c.num_heads;
          RRM_ASSIGN_OR_RETURN(attention.qkv, reader.Take(prefix + "self_attn.qkv_proj.weight", {3 * D, D}));
          RRM_ASSIGN_OR_RETURN(attention.out, reader.Take(prefix + "self_attn.o_proj.weight", {D, D}));
          block.attention = std::move(attention);
        }
        RRM_ASSIGN_OR_RETURN(block.mlp, read_swiglu(prefix + "mlp.", D));
        level.push_back(std::move(block));
      }
      return level;
    };
    RRM_ASSIGN_OR_RETURN(model->L_level_, read_level("L_level", c.L_layers));
    if (c.family == Family::kHrm) {
      RRM_ASSIGN_OR_RETURN(model->H_level_, read_level("H_level", c.H_layers));
    }
    RRM_RETURN_IF_ERROR(reader.CheckNothingLeft());
    return std::move(model);
  });
}

absl::Status RecurrentModel::ValidateInputs(const torch::Tensor& inputs,
                                            const torch::Tensor& puzzle_identifiers) const {
  if (inputs.dim() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs: expected a [batch, seq_len] array, found shape ", ShapeString(inputs)));
  }
  if (config_.seq_len > 0 && inputs.size(1) != config_.seq_len) {
    return absl::InvalidArgumentError(absl::StrCat("inputs: sequence length mismatch: the model expects ",
                                                   config_.seq_len, " tokens, found ", inputs.size(1)));
  }
  if (inputs.numel() > 0) {
    const int64_t lo = inputs.min().item<int64_t>(), hi = inputs.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("inputs: token ", lo < 0 ? lo : hi,
                                                     " outside the model's vocabulary [0, ",
                                                     config_.vocab_size, ")"));
    }
  }
  if (puzzle_identifiers.dim() != 1 || puzzle_identifiers.size(0) != inputs.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat("puzzle_identifiers: expected shape [", inputs.size(0),
                                                   "], found ", ShapeString(puzzle_identifiers)));
  }
  if (puzzle_identifiers.numel() > 0) {
    const int64_t lo = puzzle_identifiers.min().item<int64_t>();
    const int64_t hi = puzzle_identifiers.max().item<int64_t>();
    if (lo < 0 || hi >= config_.num_puzzle_identifiers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "puzzle_identifiers: identifier ", lo < 0 ? lo : hi, " outside the model's range [0, ",
          config_.num_puzzle_identifiers, ")"));
    }
  }
  return absl::OkStatus();
}

torch::Tensor RecurrentModel::InputEmbeddings(const torch::Tensor& inputs,
                                              const torch::Tensor& puzzle_identifiers) const {
  const int64_t B = inputs.size(0), D = config_.hidden_size, P = config_.puzzle_positions();
  torch::Tensor embedding = torch::embedding(embed_tokens_, inputs.to(device_));
  if (config_.puzzle_emb_ndim > 0) {
    torch::Tensor puzzle = puzzle_emb_.index_select(0, puzzle_identifiers.to(device_));
    const int64_t pad = P * D - puzzle.size(-1);
    if (pad > 0) puzzle = torch::constant_pad_nd(puzzle, {0, pad});
    embedding = torch::cat({puzzle.view({B, P, D}), embedding}, -2);
  } else if (P > 0) {
    // TRM with puzzle_emb_len set but no puzzle embedding: upstream would fail
    // here; zeros keep S = P + L consistent with the rest of the model.
    embedding = torch::cat({torch::zeros({B, P, D}, embedding.options()), embedding}, -2);
  }
  if (config_.pos_encodings == "learned") {
    // Upstream scales by 0.707106781 (≈ 1/sqrt 2) to keep the forward variance.
    embedding = 0.707106781 * (embedding + embed_pos_);
  }
  return std::sqrt(static_cast<double>(D)) * embedding;
}

JointState RecurrentModel::InitialState(int64_t batch, int64_t positions) const {
  const int64_t D = config_.hidden_size;
  return {H_init_.view({1, 1, 1, D}).expand({1, batch, positions, D}).contiguous(),
          L_init_.view({1, 1, 1, D}).expand({1, batch, positions, D}).contiguous()};
}

torch::Tensor RecurrentModel::RunBlock(const Block& block, torch::Tensor hidden,
                                       const std::optional<RotaryTable>& rotary) const {
  const double eps = config_.rms_norm_eps;
  // Post-norm blocks, as upstream.
  if (block.mlp_t.has_value()) {
    // TRM mlp_t mixes positions: SwiGLU and norm over the sequence axis.
    torch::Tensor transposed = hidden.transpose(-1, -2);
    transposed = RmsNorm(Add(transposed, SwiGlu(transposed, *block.mlp_t, dtype_), dtype_), eps, dtype_);
    hidden = transposed.transpose(-1, -2);
  } else {
    hidden = RmsNorm(Add(hidden, SelfAttention(hidden, *block.attention, rotary, dtype_), dtype_), eps, dtype_);
  }
  return RmsNorm(Add(hidden, SwiGlu(hidden, block.mlp, dtype_), dtype_), eps, dtype_);
}

torch::Tensor RecurrentModel::RunLevel(const Level& level, torch::Tensor hidden,
                                       const torch::Tensor& injection,
                                       const std::optional<RotaryTable>& rotary) const {
  hidden = Add(hidden, injection, dtype_);
  for (const Block& block : level) hidden = RunBlock(block, std::move(hidden), rotary);
  return hidden;
}

void RecurrentModel::HrmSegment(JointState& x, const torch::Tensor& e, const UpdateHook& hook,
                                const std::optional<RotaryTable>& rotary, bool one_step_gradient) const {
  // Upstream hrm_act_v1: H_cycles·L_cycles − 1 L-updates and H_cycles − 1
  // H-updates without grad, then one more L- and H-update; the same sequence.
  for (int64_t h = 0; h < config_.H_cycles; ++h) {
    const bool last_cycle = h == config_.H_cycles - 1;
    for (int64_t l = 0; l < config_.L_cycles; ++l) {
      std::optional<torch::NoGradGuard> no_grad;
      if (one_step_gradient && !(last_cycle && l == config_.L_cycles - 1)) no_grad.emplace();
      x.z_L = RunLevel(L_level_, x.z_L, AddToPrimal(x.z_H, e, dtype_), rotary);
      if (hook) hook(x);
    }
    std::optional<torch::NoGradGuard> no_grad;
    if (one_step_gradient && !last_cycle) no_grad.emplace();
    x.z_H = RunLevel(H_level_, x.z_H, x.z_L, rotary);
    if (hook) hook(x);
  }
}

void RecurrentModel::TrmSegment(JointState& x, const torch::Tensor& e, const UpdateHook& hook,
                                const std::optional<RotaryTable>& rotary, bool one_step_gradient) const {
  // Upstream trm: H_cycles × (L_cycles × z_L ← L(z_L, z_H + e); z_H ← L(z_H, z_L)),
  // one network for both states; in training the first H_cycles − 1 cycles run without grad.
  for (int64_t h = 0; h < config_.H_cycles; ++h) {
    std::optional<torch::NoGradGuard> no_grad;
    if (one_step_gradient && h < config_.H_cycles - 1) no_grad.emplace();
    for (int64_t l = 0; l < config_.L_cycles; ++l) {
      x.z_L = RunLevel(L_level_, x.z_L, AddToPrimal(x.z_H, e, dtype_), rotary);
      if (hook) hook(x);
    }
    x.z_H = RunLevel(L_level_, x.z_H, x.z_L, rotary);
    if (hook) hook(x);
  }
}

std::optional<RotaryTable> RecurrentModel::Rotary(int64_t positions) const {
  if (config_.pos_encodings != "rope") return std::nullopt;
  return MakeRotaryTable(positions, config_.head_dim(), config_.rope_theta, device_);
}

namespace {

// A state passed as a plain [B, S, D] tensor would be read as a stack of B
// entries over S examples: attention over the wrong axis and a rotary table of
// D positions, silently wrong numbers. Refuse it.
void CheckStacks(const char* where, const JointState& state, const torch::Tensor& e) {
  TORCH_CHECK(state.z_H.dim() == 4 && state.z_L.dim() == 4 && state.z_H.sizes() == state.z_L.sizes(), where,
              ": expected z_H and z_L as dual stacks [1+k, B, S, D] of equal shape, found ", state.z_H.sizes(),
              " and ", state.z_L.sizes(), " (InitialState gives [1, B, S, D])");
  TORCH_CHECK(e.dim() == 3 && e.size(0) == state.z_H.size(1) && e.size(1) == state.z_H.size(2) &&
                  e.size(2) == state.z_H.size(3),
              where, ": expected input embeddings [B, S, D] = ", state.z_H.sizes().slice(1), ", found ", e.sizes());
}

}  // namespace

void RecurrentModel::Segment(JointState& state, const torch::Tensor& e, const UpdateHook& hook) const {
  CheckStacks("Segment", state, e);
  const std::optional<RotaryTable> rotary = Rotary(state.z_H.size(2));
  if (config_.family == Family::kHrm) {
    HrmSegment(state, e, hook, rotary);
  } else {
    TrmSegment(state, e, hook, rotary);
  }
}

void RecurrentModel::TrainingSegment(JointState& state, const torch::Tensor& e) const {
  CheckStacks("TrainingSegment", state, e);
  const std::optional<RotaryTable> rotary = Rotary(state.z_H.size(2));
  if (config_.family == Family::kHrm) {
    HrmSegment(state, e, nullptr, rotary, /*one_step_gradient=*/true);
  } else {
    TrmSegment(state, e, nullptr, rotary, /*one_step_gradient=*/true);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> RecurrentModel::NamedWeights() const {
  // Upstream module order: the inner module's own buffers, then embed_tokens,
  // lm_head, q_head, puzzle_emb, embed_pos, H_level (HRM), L_level.
  std::vector<std::pair<std::string, torch::Tensor>> weights = {
      {"inner.H_init", H_init_},
      {"inner.L_init", L_init_},
      {"inner.embed_tokens.embedding_weight", embed_tokens_},
      {"inner.lm_head.weight", lm_head_},
      {"inner.q_head.weight", q_head_weight_},
      {"inner.q_head.bias", q_head_bias_},
  };
  if (puzzle_emb_.defined()) weights.emplace_back("inner.puzzle_emb.weights", puzzle_emb_);
  if (embed_pos_.defined()) weights.emplace_back("inner.embed_pos.embedding_weight", embed_pos_);
  auto add_level = [&](const std::string& name, const Level& level) {
    for (size_t i = 0; i < level.size(); ++i) {
      const std::string prefix = absl::StrCat("inner.", name, ".layers.", i, ".");
      const Block& block = level[i];
      if (block.attention.has_value()) {
        weights.emplace_back(prefix + "self_attn.qkv_proj.weight", block.attention->qkv);
        weights.emplace_back(prefix + "self_attn.o_proj.weight", block.attention->out);
      }
      if (block.mlp_t.has_value()) {
        weights.emplace_back(prefix + "mlp_t.gate_up_proj.weight", block.mlp_t->gate_up);
        weights.emplace_back(prefix + "mlp_t.down_proj.weight", block.mlp_t->down);
      }
      weights.emplace_back(prefix + "mlp.gate_up_proj.weight", block.mlp.gate_up);
      weights.emplace_back(prefix + "mlp.down_proj.weight", block.mlp.down);
    }
  };
  if (config_.family == Family::kHrm) add_level("H_level", H_level_);
  add_level("L_level", L_level_);
  return weights;
}

Readout RecurrentModel::ReadOut(const torch::Tensor& z_H) const {
  // z_H: [B, S, D] primal.
  const int64_t P = config_.puzzle_positions();
  Readout out;
  const torch::Tensor stack = z_H.unsqueeze(0);  // the layers work on dual stacks
  out.logits = Linear(stack.narrow(2, P, z_H.size(1) - P), lm_head_, dtype_)[0].to(torch::kFloat32);
  const torch::Tensor q = Linear(stack.select(2, 0), q_head_weight_, dtype_, q_head_bias_)[0].to(torch::kFloat32);
  out.q_halt = q.select(-1, 0);
  out.q_continue = q.select(-1, 1);
  return out;
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& checkpoint_path, const std::string& config_path,
                                      const std::vector<std::string>& overrides, torch::Device device) {
  LoadedModel loaded;
  loaded.config_path = config_path;
  if (loaded.config_path.empty()) {
    loaded.config_path =
        (std::filesystem::path(checkpoint_path).parent_path() / "all_config.yaml").string();
  }
  RRM_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfigYaml(loaded.config_path));
  RRM_RETURN_IF_ERROR(ApplyOverrides(overrides, &config));
  RRM_ASSIGN_OR_RETURN(checkpoint::StateDict raw, checkpoint::ReadStateDict(checkpoint_path));
  RRM_ASSIGN_OR_RETURN(checkpoint::StateDict state_dict, checkpoint::StripWrapperPrefixes(std::move(raw)));
  absl::Status complete = CompleteFromStateDict(state_dict, &config);
  if (!complete.ok()) {
    return absl::Status(complete.code(), absl::StrCat(checkpoint_path, ": ", complete.message()));
  }
  RRM_ASSIGN_OR_RETURN(loaded.model, RecurrentModel::Create(config, state_dict, device));
  return loaded;
}

}  // namespace rrm::model

