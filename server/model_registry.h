// ModelRegistry: the models rrmd holds, one replica per (model, device
// worker), loaded once and shared by every job that names the model. Weight
// bytes are accounted per device worker (metric rrm_device_weight_bytes).
//
// Thread safety: every method may be called concurrently; loading a
// checkpoint happens outside the registry's lock. Replicas are handed out as
// shared pointers, so unloading never pulls a model from under a running
// work item.
#ifndef RRM_SERVER_MODEL_REGISTRY_H_
#define RRM_SERVER_MODEL_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/model/recurrent_model.h"
#include "server/metrics.h"
#include "server/model_info.h"

namespace rrm::server {

// One device worker: a distinct name ("cuda:0", "cpu#1") and its torch device.
struct DeviceSlot {
  std::string name;
  torch::Device device;
};

// Parses a --devices list ("cuda:0,cuda:1", "cpu,cpu"); empty = every CUDA
// device, else two CPU workers. Repeated CPU entries become "cpu#0", "cpu#1",
// ... INVALID_ARGUMENT naming the entry for a malformed or absent device.
absl::StatusOr<std::vector<DeviceSlot>> ParseDevices(const std::string& list);

// The lower-case hex SHA-256 of a file's bytes; NOT_FOUND if it cannot be opened.
absl::StatusOr<std::string> FileSha256(const std::string& path);

// A job's provenance from the ModelInfo of its model (rrm_version: kRrmVersion).
Provenance ProvenanceOf(const ModelInfo& info);

class ModelRegistry {
 public:
  ModelRegistry(std::vector<DeviceSlot> slots, Metrics* metrics);
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  const std::vector<DeviceSlot>& slots() const { return slots_; }

  // Loads `checkpoint_path` (already authorised by the caller) onto each
  // named device worker (empty = all). INVALID_ARGUMENT for a bad name or an
  // unknown device (listing the workers), ALREADY_EXISTS for a name in use,
  // and the loader's own errors (NOT_FOUND, FAILED_PRECONDITION...) prefixed
  // with "checkpoint_path: ".
  absl::StatusOr<ModelInfo> Load(const std::string& name, const std::string& checkpoint_path,
                                     const std::string& config_path, const std::vector<std::string>& overrides,
                                     const std::vector<std::string>& devices);

  // Drops the model (replicas live on while a work item holds them).
  // NOT_FOUND for an unknown name.
  absl::Status Remove(const std::string& name);

  // The replica of `name` on worker `device`, or null.
  std::shared_ptr<const model::RecurrentModel> Find(const std::string& name, const std::string& device) const;
  // Any replica of `name` (for validation), or null.
  std::shared_ptr<const model::RecurrentModel> FindAny(const std::string& name) const;

  // The ModelInfo of `name` as loaded (with its checkpoint's sha256), or nullopt.
  std::optional<ModelInfo> Info(const std::string& name) const;
  std::vector<ModelInfo> List() const;
  std::vector<std::string> Names() const;

 private:
  struct Entry {
    ModelInfo info;
    std::map<std::string, std::shared_ptr<const model::RecurrentModel>> replicas;  // by worker name
  };
  void PublishWeights() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<DeviceSlot> slots_;
  Metrics* const metrics_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> models_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> loading_ ABSL_GUARDED_BY(mu_);  // names being loaded
};

}  // namespace rrm::server

#endif  // RRM_SERVER_MODEL_REGISTRY_H_
