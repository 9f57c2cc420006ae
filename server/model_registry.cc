#include "server/model_registry.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/common/device.h"
#include "core/common/status.h"

namespace rrm::server {

absl::StatusOr<std::vector<DeviceSlot>> ParseDevices(const std::string& list) {
  std::vector<DeviceSlot> slots;
  std::vector<std::string> entries = absl::StrSplit(list, ',', absl::SkipWhitespace());
  if (entries.empty()) {
    const int64_t cuda = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
    for (int64_t i = 0; i < cuda; ++i) entries.push_back(absl::StrCat("cuda:", i));
    if (entries.empty()) entries = {"cpu", "cpu"};
  }
  int cpu_count = 0;
  for (const std::string& raw : entries) {
    const std::string entry(absl::StripAsciiWhitespace(raw));
    RRM_ASSIGN_OR_RETURN(torch::Device device, ParseDevice("--devices", entry));
    std::string name = device.is_cpu() ? absl::StrCat("cpu#", cpu_count++) : device.str();
    for (const DeviceSlot& slot : slots) {
      if (slot.name == name) return absl::InvalidArgumentError(absl::StrCat("--devices: '", entry, "' listed twice"));
    }
    slots.push_back({name, device});
  }
  return slots;
}

absl::StatusOr<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  // OpenSSL's libcrypto comes with gRPC (its targets link OpenSSL::Crypto).
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (context == nullptr || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("sha256: cannot initialise OpenSSL's digest");
  }
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0 && EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(in.gcount())) != 1) {
      return absl::InternalError("sha256: digest update failed");
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context.get(), digest, &size) != 1) return absl::InternalError("sha256: digest failed");
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size));
}

Provenance ProvenanceOf(const ModelInfo& info) {
  Provenance p;
  p.model = info.name;
  p.arch = info.arch;
  p.checkpoint_path = info.checkpoint_path;
  p.checkpoint_sha256 = info.checkpoint_sha256;
  p.config_path = info.config_path;
  p.config_sha256 = info.config_sha256;
  p.overrides = info.overrides;
  p.forward_dtype = info.forward_dtype;
  p.rrm_version = kRrmVersion;
  return p;
}

ModelRegistry::ModelRegistry(std::vector<DeviceSlot> slots, Metrics* metrics)
    : slots_(std::move(slots)), metrics_(metrics) {
  absl::MutexLock lock(&mu_);
  PublishWeights();
}

absl::StatusOr<ModelInfo> ModelRegistry::Load(const std::string& name, const std::string& checkpoint_path,
                                                  const std::string& config_path,
                                                  const std::vector<std::string>& overrides,
                                                  const std::vector<std::string>& devices) {
  if (name.empty() || name.size() > 128 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: expected 1-128 characters of [A-Za-z0-9_.-], found '", name, "'"));
  }
  std::vector<DeviceSlot> targets;
  if (devices.empty()) {
    targets = slots_;
  } else {
    for (const std::string& wanted : devices) {
      auto it = std::find_if(slots_.begin(), slots_.end(), [&](const DeviceSlot& s) { return s.name == wanted; });
      if (it == slots_.end()) {
        std::vector<std::string> names;
        for (const DeviceSlot& s : slots_) names.push_back(s.name);
        return absl::InvalidArgumentError(absl::StrCat("devices: expected one of ", absl::StrJoin(names, ", "),
                                                       ", found '", wanted, "'"));
      }
      if (std::none_of(targets.begin(), targets.end(), [&](const DeviceSlot& s) { return s.name == wanted; })) {
        targets.push_back(*it);
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (models_.count(name) > 0 || loading_.contains(name)) {
      return absl::AlreadyExistsError(absl::StrCat("name: a model named '", name, "' is already loaded"));
    }
    loading_.insert(name);
  }
  Entry entry;
  absl::Status status;
  std::string used_config;
  for (const DeviceSlot& slot : targets) {
    absl::StatusOr<model::LoadedModel> loaded = model::LoadModel(checkpoint_path, config_path, overrides, slot.device);
    if (!loaded.ok()) {
      status = absl::Status(loaded.status().code(), absl::StrCat("checkpoint_path: ", loaded.status().message()));
      break;
    }
    used_config = loaded->config_path;
    entry.replicas[slot.name] = std::shared_ptr<const model::RecurrentModel>(std::move(loaded->model));
  }
  // Hashed once here, outside the lock, so every job's provenance names the
  // exact bytes measured (the loader has just read the same file).
  std::string checkpoint_sha256, config_sha256;
  if (status.ok()) {
    absl::StatusOr<std::string> hash = FileSha256(checkpoint_path);
    if (hash.ok()) {
      checkpoint_sha256 = *std::move(hash);
    } else {
      status = absl::Status(hash.status().code(), absl::StrCat("checkpoint_path: ", hash.status().message()));
    }
    // A config inside a checkpoint folder that vanished after loading is no
    // reason to refuse a model that loaded: its hash stays "".
    if (absl::StatusOr<std::string> config = FileSha256(used_config); config.ok()) config_sha256 = *config;
  }
  absl::MutexLock lock(&mu_);
  loading_.erase(name);
  if (!status.ok()) return status;

  const model::RecurrentModel& any = *entry.replicas.begin()->second;
  const model::ModelConfig& c = any.config();
  ModelInfo& info = entry.info;
  info.name = name;
  info.checkpoint_path = checkpoint_path;
  info.config_path = used_config;
  info.overrides = overrides;
  for (const DeviceSlot& slot : targets) info.devices.push_back(slot.name);
  info.arch = c.arch_name;
  info.seq_len = c.seq_len;
  info.vocab_size = c.vocab_size;
  info.num_puzzle_identifiers = c.num_puzzle_identifiers;
  info.puzzle_positions = c.puzzle_positions();
  info.halt_max_steps = c.halt_max_steps;
  info.updates_per_segment = c.updates_per_segment();
  info.forward_dtype = c.forward_dtype;
  // Accounted per replica as the checkpoint's size: the state dict is the
  // weights (upstream stores float32; a bfloat16 replica holds about half).
  std::error_code error;
  const auto file_bytes = std::filesystem::file_size(checkpoint_path, error);
  info.parameter_bytes = error ? 0 : static_cast<int64_t>(file_bytes);
  info.checkpoint_sha256 = checkpoint_sha256;
  info.config_sha256 = config_sha256;
  models_[name] = std::move(entry);
  PublishWeights();
  return models_[name].info;
}

absl::Status ModelRegistry::Remove(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (models_.erase(name) == 0) return absl::NotFoundError(absl::StrCat("name: no model named '", name, "' is loaded"));
  PublishWeights();
  return absl::OkStatus();
}

std::shared_ptr<const model::RecurrentModel> ModelRegistry::Find(const std::string& name,
                                                                 const std::string& device) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return nullptr;
  auto replica = it->second.replicas.find(device);
  return replica == it->second.replicas.end() ? nullptr : replica->second;
}

std::shared_ptr<const model::RecurrentModel> ModelRegistry::FindAny(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  return it == models_.end() || it->second.replicas.empty() ? nullptr : it->second.replicas.begin()->second;
}

std::optional<ModelInfo> ModelRegistry::Info(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<ModelInfo> ModelRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ModelInfo> result;
  for (const auto& [name, entry] : models_) result.push_back(entry.info);
  return result;
}

std::vector<std::string> ModelRegistry::Names() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> result;
  for (const auto& [name, entry] : models_) result.push_back(name);
  return result;
}

void ModelRegistry::PublishWeights() {
  if (metrics_ == nullptr) return;
  for (const DeviceSlot& slot : slots_) {
    double bytes = 0;
    for (const auto& [name, entry] : models_) {
      if (entry.replicas.count(slot.name) > 0) bytes += static_cast<double>(entry.info.parameter_bytes);
    }
    metrics_->SetDeviceWeightBytes(slot.name, bytes);
  }
  metrics_->SetModelsLoaded(static_cast<double>(models_.size()));
}

}  // namespace rrm::server
