#include "core/model/model_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/common/status.h"

namespace rrm::model {
namespace {

// Upstream TRM's default puzzle_emb_len (trm.py), used when the yaml lacks it.
constexpr int64_t kTrmPuzzleEmbLen = 16;

// One table of the keys a config understands, shared by the yaml reader and
// the overrides so both accept exactly the same names and syntax.
using Setter = std::function<absl::Status(const std::string& value, ModelConfig* config)>;

absl::Status ParseInt(const std::string& key, const std::string& value, int64_t* out) {
  if (!absl::SimpleAtoi(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "': expected an integer, found '", value, "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseDouble(const std::string& key, const std::string& value, double* out) {
  if (!absl::SimpleAtod(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "': expected a number, found '", value, "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseBool(const std::string& key, const std::string& value, bool* out) {
  if (!absl::SimpleAtob(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "': expected true or false, found '", value, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Family> FamilyFromArchName(const std::string& name) {
  // Upstream names: `hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1` (HRM repo),
  // `recursive_reasoning.hrm@...` (TRM repo's copy of HRM),
  // `recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1`.
  const std::string module = name.substr(0, name.find('@'));
  if (module == "hrm.hrm_act_v1" || module == "recursive_reasoning.hrm") return Family::kHrm;
  if (module == "recursive_reasoning.trm") return Family::kTrm;
  return absl::InvalidArgumentError(absl::StrCat(
      "config key 'name': expected an HRM (hrm.hrm_act_v1@...) or TRM "
      "(recursive_reasoning.trm@...) architecture, found '", name, "'"));
}

const std::map<std::string, Setter>& FieldSetters() {
  static const auto* setters = new std::map<std::string, Setter>{
      {"name", [](const std::string& v, ModelConfig* c) -> absl::Status {
         RRM_ASSIGN_OR_RETURN(c->family, FamilyFromArchName(v));
         c->arch_name = v;
         return absl::OkStatus();
       }},
      {"H_cycles", [](const std::string& v, ModelConfig* c) { return ParseInt("H_cycles", v, &c->H_cycles); }},
      {"L_cycles", [](const std::string& v, ModelConfig* c) { return ParseInt("L_cycles", v, &c->L_cycles); }},
      {"H_layers", [](const std::string& v, ModelConfig* c) { return ParseInt("H_layers", v, &c->H_layers); }},
      {"L_layers", [](const std::string& v, ModelConfig* c) { return ParseInt("L_layers", v, &c->L_layers); }},
      {"hidden_size", [](const std::string& v, ModelConfig* c) { return ParseInt("hidden_size", v, &c->hidden_size); }},
      {"num_heads", [](const std::string& v, ModelConfig* c) { return ParseInt("num_heads", v, &c->num_heads); }},
      {"expansion", [](const std::string& v, ModelConfig* c) { return ParseDouble("expansion", v, &c->expansion); }},
      {"pos_encodings", [](const std::string& v, ModelConfig* c) { c->pos_encodings = v; return absl::OkStatus(); }},
      {"mlp_t", [](const std::string& v, ModelConfig* c) { return ParseBool("mlp_t", v, &c->mlp_t); }},
      {"puzzle_emb_ndim", [](const std::string& v, ModelConfig* c) { return ParseInt("puzzle_emb_ndim", v, &c->puzzle_emb_ndim); }},
      {"puzzle_emb_len", [](const std::string& v, ModelConfig* c) { return ParseInt("puzzle_emb_len", v, &c->puzzle_emb_len); }},
      {"halt_max_steps", [](const std::string& v, ModelConfig* c) { return ParseInt("halt_max_steps", v, &c->halt_max_steps); }},
      {"rms_norm_eps", [](const std::string& v, ModelConfig* c) { return ParseDouble("rms_norm_eps", v, &c->rms_norm_eps); }},
      {"rope_theta", [](const std::string& v, ModelConfig* c) { return ParseDouble("rope_theta", v, &c->rope_theta); }},
      {"forward_dtype", [](const std::string& v, ModelConfig* c) { c->forward_dtype = v; return absl::OkStatus(); }},
      {"seq_len", [](const std::string& v, ModelConfig* c) { return ParseInt("seq_len", v, &c->seq_len); }},
      {"vocab_size", [](const std::string& v, ModelConfig* c) { return ParseInt("vocab_size", v, &c->vocab_size); }},
      {"num_puzzle_identifiers", [](const std::string& v, ModelConfig* c) { return ParseInt("num_puzzle_identifiers", v, &c->num_puzzle_identifiers); }},
  };
  return *setters;
}

// Upstream's hydra yaml writes `puzzle_emb_ndim: ${.hidden_size}`; the dump is
// normally resolved, but a hand-written arch yaml may still hold the reference.
std::string ResolveSiblingReference(const YAML::Node& block, const std::string& value) {
  if (value.size() > 4 && value.rfind("${.", 0) == 0 && value.back() == '}') {
    const std::string sibling = value.substr(3, value.size() - 4);
    if (block[sibling] && block[sibling].IsScalar()) return block[sibling].as<std::string>();
  }
  return value;
}

}  // namespace

int64_t ModelConfig::puzzle_positions() const {
  const int64_t ceil_div = hidden_size > 0 ? (puzzle_emb_ndim + hidden_size - 1) / hidden_size : 0;
  if (family == Family::kTrm && puzzle_emb_len != 0) return puzzle_emb_len;
  return ceil_div;
}

int64_t ModelConfig::updates_per_segment() const {
  // SPEC §1: every state update, z_L and z_H alike — each H cycle is L_cycles
  // z_L updates then one z_H update, in both families.
  return H_cycles * (L_cycles + 1);
}

int64_t ModelConfig::SwiGluInner(int64_t width) const {
  const int64_t rounded = static_cast<int64_t>(std::nearbyint(expansion * width * 2.0 / 3.0));
  return (rounded + 255) / 256 * 256;
}

double ActivationBytesPerRow(const ModelConfig& c) {
  const double S = c.state_positions(), D = c.hidden_size, I = c.SwiGluInner(c.hidden_size);
  const double scores = c.mlp_t ? 2.0 * D * c.SwiGluInner(c.state_positions()) : c.num_heads * S * S;
  const double element = c.forward_dtype == "float64" ? 8.0 : 4.0;
  return element * (S * 2 * I + scores + 4 * S * D);
}

std::string FamilyName(Family family) { return family == Family::kHrm ? "hrm" : "trm"; }

absl::StatusOr<ModelConfig> ReadModelConfigYaml(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open config file"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid YAML: ", e.what()));
  }
  const YAML::Node block = (root.IsMap() && root["arch"]) ? root["arch"] : root;
  if (!block.IsMap() || !block["name"]) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected an `arch:` block with a `name:` key"));
  }
  ModelConfig config;
  for (const auto& [key, setter] : FieldSetters()) {
    const YAML::Node node = block[key];
    if (!node || node.IsNull()) continue;
    if (!node.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": arch.", key, " is not a scalar"));
    }
    absl::Status status = setter(ResolveSiblingReference(block, node.as<std::string>()), &config);
    if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.message()));
  }
  // Upstream TRM's config class declares `puzzle_emb_len: int = 16`
  // (models/recursive_reasoning/trm.py), so a TRM yaml without the key has 16
  // puzzle positions (SPEC §1: P = puzzle_emb_len when non-zero); an explicit 0
  // still means the ceiling. HRM has no such key and keeps its ceiling.
  const YAML::Node emb_len = block["puzzle_emb_len"];
  if (config.family == Family::kTrm && (!emb_len || emb_len.IsNull())) config.puzzle_emb_len = kTrmPuzzleEmbLen;
  return config;
}

absl::Status ApplyOverrides(const std::vector<std::string>& overrides, ModelConfig* config) {
  for (const std::string& item : overrides) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("config override '", item, "': expected key=value"));
    }
    const std::string key(absl::StripAsciiWhitespace(parts[0]));
    auto it = FieldSetters().find(key);
    if (it == FieldSetters().end()) {
      std::vector<std::string> known;
      for (const auto& entry : FieldSetters()) known.push_back(entry.first);
      return absl::InvalidArgumentError(absl::StrCat("config override '", item, "': unknown key '",
                                                     key, "'; known: ", absl::StrJoin(known, ", ")));
    }
    RRM_RETURN_IF_ERROR(it->second(std::string(absl::StripAsciiWhitespace(parts[1])), config));
  }
  return absl::OkStatus();
}

absl::Status CompleteFromStateDict(const checkpoint::StateDict& state_dict, ModelConfig* config) {
  auto find = [&](const std::string& key) -> const torch::Tensor* {
    auto it = state_dict.find(key);
    return it == state_dict.end() ? nullptr : &it->second;
  };
  auto agree = [&](const std::string& key, int64_t* value, int64_t found,
                   const std::string& where) -> absl::Status {
    if (*value == 0) {
      *value = found;
    } else if (*value != found) {
      return absl::FailedPreconditionError(absl::StrCat("config/checkpoint mismatch: ", key, " is ",
                                                        *value, " in the config but ", found,
                                                        " in the checkpoint (", where, ")"));
    }
    return absl::OkStatus();
  };

  const torch::Tensor* embed = find("inner.embed_tokens.embedding_weight");
  if (embed == nullptr || embed->dim() != 2) {
    return absl::FailedPreconditionError(
        "checkpoint: missing key inner.embed_tokens.embedding_weight (2-d) — is this an HRM/TRM state dict?");
  }
  RRM_RETURN_IF_ERROR(agree("vocab_size", &config->vocab_size, embed->size(0),
                            "inner.embed_tokens.embedding_weight rows"));
  RRM_RETURN_IF_ERROR(agree("hidden_size", &config->hidden_size, embed->size(1),
                            "inner.embed_tokens.embedding_weight columns"));

  if (const torch::Tensor* puzzle = find("inner.puzzle_emb.weights")) {
    RRM_RETURN_IF_ERROR(agree("num_puzzle_identifiers", &config->num_puzzle_identifiers,
                              puzzle->size(0), "inner.puzzle_emb.weights rows"));
    RRM_RETURN_IF_ERROR(agree("puzzle_emb_ndim", &config->puzzle_emb_ndim, puzzle->size(1),
                              "inner.puzzle_emb.weights columns"));
  } else if (config->puzzle_emb_ndim != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "config/checkpoint mismatch: puzzle_emb_ndim is ", config->puzzle_emb_ndim,
        " in the config but the checkpoint has no inner.puzzle_emb.weights"));
  } else if (config->num_puzzle_identifiers == 0) {
    config->num_puzzle_identifiers = 1;
  }

  // Layer counts from the highest layer index present.
  auto count_layers = [&](const std::string& level) {
    int64_t count = 0;
    const std::string prefix = "inner." + level + ".layers.";
    for (const auto& [key, tensor] : state_dict) {
      if (key.rfind(prefix, 0) != 0) continue;
      int64_t index = 0;
      const std::string rest = key.substr(prefix.size());
      if (absl::SimpleAtoi(rest.substr(0, rest.find('.')), &index)) count = std::max(count, index + 1);
    }
    return count;
  };
  RRM_RETURN_IF_ERROR(agree("L_layers", &config->L_layers, count_layers("L_level"),
                            "inner.L_level.layers.*"));
  if (config->family == Family::kHrm) {
    RRM_RETURN_IF_ERROR(agree("H_layers", &config->H_layers, count_layers("H_level"),
                              "inner.H_level.layers.*"));
  }

  // The sequence length is visible where a weight spans the positions.
  const int64_t P = config->puzzle_positions();
  if (const torch::Tensor* pos = find("inner.embed_pos.embedding_weight")) {
    RRM_RETURN_IF_ERROR(agree("seq_len", &config->seq_len, pos->size(0) - P,
                              "inner.embed_pos.embedding_weight rows minus puzzle positions"));
  }
  if (const torch::Tensor* mlp_t = find("inner.L_level.layers.0.mlp_t.gate_up_proj.weight")) {
    RRM_RETURN_IF_ERROR(agree("seq_len", &config->seq_len, mlp_t->size(1) - P,
                              "mlp_t.gate_up_proj.weight columns minus puzzle positions"));
    if (!config->mlp_t) {
      return absl::FailedPreconditionError(
          "config/checkpoint mismatch: mlp_t is false in the config but the checkpoint has mlp_t weights");
    }
  } else if (config->mlp_t) {
    return absl::FailedPreconditionError(
        "config/checkpoint mismatch: mlp_t is true in the config but the checkpoint has no "
        "inner.L_level.layers.0.mlp_t.gate_up_proj.weight");
  }
  return absl::OkStatus();
}

absl::Status Validate(const ModelConfig& c) {
  auto positive = [](const char* key, double value) -> absl::Status {
    if (value > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "': expected a positive value, found ", value));
  };
  RRM_RETURN_IF_ERROR(positive("H_cycles", c.H_cycles));
  RRM_RETURN_IF_ERROR(positive("L_cycles", c.L_cycles));
  RRM_RETURN_IF_ERROR(positive("L_layers", c.L_layers));
  if (c.family == Family::kHrm) RRM_RETURN_IF_ERROR(positive("H_layers", c.H_layers));
  RRM_RETURN_IF_ERROR(positive("hidden_size", c.hidden_size));
  RRM_RETURN_IF_ERROR(positive("num_heads", c.num_heads));
  RRM_RETURN_IF_ERROR(positive("expansion", c.expansion));
  RRM_RETURN_IF_ERROR(positive("halt_max_steps", c.halt_max_steps));
  RRM_RETURN_IF_ERROR(positive("rms_norm_eps", c.rms_norm_eps));
  RRM_RETURN_IF_ERROR(positive("vocab_size", c.vocab_size));
  if (c.hidden_size % c.num_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("config: hidden_size ", c.hidden_size,
                                                   " is not divisible by num_heads ", c.num_heads));
  }
  if (c.pos_encodings != "rope" && c.pos_encodings != "learned" && c.pos_encodings != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'pos_encodings': expected rope, learned or none, found '", c.pos_encodings, "'"));
  }
  if (c.family == Family::kHrm && c.pos_encodings == "none") {
    return absl::InvalidArgumentError(
        "config key 'pos_encodings': HRM supports rope or learned, found 'none'");
  }
  if (c.pos_encodings == "rope" && c.head_dim() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: rope needs an even head dimension, found ", c.head_dim()));
  }
  if (c.forward_dtype != "float32" && c.forward_dtype != "bfloat16" && c.forward_dtype != "float64") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'forward_dtype': expected float32, bfloat16 or float64, found '", c.forward_dtype, "'"));
  }
  if (c.family == Family::kHrm && c.mlp_t) {
    return absl::InvalidArgumentError("config key 'mlp_t': only TRM has the mlp_t variant");
  }
  if (c.mlp_t && c.seq_len <= 0) {
    return absl::InvalidArgumentError("config: mlp_t needs seq_len (the checkpoint's mlp_t weights give it)");
  }
  return absl::OkStatus();
}

}  // namespace rrm::model
