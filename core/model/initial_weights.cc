#include "core/model/initial_weights.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace rrm::model {
namespace {

// Truncated normal on [−2σ', 2σ'] whose standard deviation is σ (JAX's
// definition, which upstream follows): σ' = σ / sqrt of the truncated variance.
torch::Tensor TruncatedNormal(std::vector<int64_t> shape, double std, torch::Generator& generator) {
  if (std == 0) return torch::zeros(shape);
  constexpr double lower = -2, upper = 2;
  const double a = std::erf(lower / std::sqrt(2.0)), b = std::erf(upper / std::sqrt(2.0));
  const double z = (b - a) / 2;
  const double c = 1 / std::sqrt(2 * M_PI);
  const double pdf_u = c * std::exp(-0.5 * lower * lower), pdf_l = c * std::exp(-0.5 * upper * upper);
  const double corrected =
      std / std::sqrt(1 - (upper * pdf_u - lower * pdf_l) / z - std::pow((pdf_u - pdf_l) / z, 2));
  torch::Tensor t = torch::empty(shape).uniform_(a, b, generator);
  return t.erfinv_().mul_(std::sqrt(2.0) * corrected).clamp_(lower * corrected, upper * corrected);
}

}  // namespace

checkpoint::StateDict InitialStateDict(const ModelConfig& c, uint64_t seed) {
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  checkpoint::StateDict sd;
  const int64_t D = c.hidden_size, V = c.vocab_size;
  auto linear = [&](const std::string& key, int64_t out, int64_t in) {
    sd[key] = TruncatedNormal({out, in}, 1 / std::sqrt(static_cast<double>(in)), generator);
  };
  sd["inner.embed_tokens.embedding_weight"] = TruncatedNormal({V, D}, 1 / std::sqrt(double(D)), generator);
  linear("inner.lm_head.weight", V, D);
  sd["inner.q_head.weight"] = torch::zeros({2, D});
  sd["inner.q_head.bias"] = torch::full({2}, -5.0);
  sd["inner.H_init"] = TruncatedNormal({D}, 1, generator);
  sd["inner.L_init"] = TruncatedNormal({D}, 1, generator);
  if (c.puzzle_emb_ndim > 0) sd["inner.puzzle_emb.weights"] = torch::zeros({c.num_puzzle_identifiers, c.puzzle_emb_ndim});
  if (c.pos_encodings == "learned") {
    sd["inner.embed_pos.embedding_weight"] = TruncatedNormal({c.state_positions(), D}, 1 / std::sqrt(double(D)), generator);
  }
  auto swiglu = [&](const std::string& prefix, int64_t width) {
    const int64_t I = c.SwiGluInner(width);
    linear(prefix + "gate_up_proj.weight", 2 * I, width);
    linear(prefix + "down_proj.weight", width, I);
  };
  auto level = [&](const std::string& name, int64_t layers) {
    for (int64_t i = 0; i < layers; ++i) {
      const std::string prefix = absl::StrCat("inner.", name, ".layers.", i, ".");
      if (c.mlp_t) {
        swiglu(prefix + "mlp_t.", c.state_positions());
      } else {
        linear(prefix + "self_attn.qkv_proj.weight", 3 * D, D);
        linear(prefix + "self_attn.o_proj.weight", D, D);
      }
      swiglu(prefix + "mlp.", D);
    }
  };
  level("L_level", c.L_layers);
  if (c.family == Family::kHrm) level("H_level", c.H_layers);
  return sd;
}

}  // namespace rrm::model
