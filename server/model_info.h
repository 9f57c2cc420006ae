// The models rrmd holds as the rest of the server sees them: what a model
// is (ModelInfo), what a job records of it (Provenance), what LoadModel asks
// for (ModelLoad). Plain types without LibTorch, so the store and the codecs
// compile without it.
#ifndef RRM_SERVER_MODEL_INFO_H_
#define RRM_SERVER_MODEL_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

namespace rrm::server {

// rrmd's release, reported in every job's provenance.
inline constexpr char kRrmVersion[] = "0.1.0";

// A loaded model as ListModels and LoadModel show it (the wire's ModelInfo,
// server/status_proto.h).
struct ModelInfo {
  std::string name;
  std::string checkpoint_path;
  std::string config_path;  // the yaml actually used
  std::vector<std::string> overrides;
  std::vector<std::string> devices;  // workers holding a replica
  std::string arch;
  int64_t seq_len = 0;
  int64_t vocab_size = 0;
  int64_t num_puzzle_identifiers = 0;
  int64_t puzzle_positions = 0;
  int64_t halt_max_steps = 0;
  int64_t updates_per_segment = 0;
  std::string forward_dtype;
  int64_t parameter_bytes = 0;  // per replica (the checkpoint file's size)
  std::string checkpoint_sha256;
  std::string config_sha256;  // "" when the config could not be read
};

// Which model and software produced a job's records (issue #14): the model
// as loaded when the job was submitted, stored with the job.
struct Provenance {
  std::string model;
  std::string arch;
  std::string checkpoint_path;
  std::string checkpoint_sha256;
  std::string config_path;
  std::string config_sha256;
  std::vector<std::string> overrides;
  std::string forward_dtype;
  std::string rrm_version;
};

// What LoadModel asks for (paths not yet checked against --model_root).
struct ModelLoad {
  std::string name;
  std::string checkpoint_path;
  std::string config_path;  // "" = all_config.yaml beside the checkpoint
  std::vector<std::string> overrides;
  std::vector<std::string> devices;  // worker names; empty = all
};

}  // namespace rrm::server

#endif  // RRM_SERVER_MODEL_INFO_H_
