// A fresh state dict for a config, initialised like upstream's modules (for
// training from scratch and for benchmarks that need no checkpoint).
#ifndef RRM_CORE_MODEL_INITIAL_WEIGHTS_H_
#define RRM_CORE_MODEL_INITIAL_WEIGHTS_H_

#include <cstdint>

#include "core/checkpoint/state_dict.h"
#include "core/model/model_config.h"

namespace rrm::model {

// Keys as RecurrentModel::Create expects them (`inner.…`), float32 on CPU.
// Upstream's init: truncated normal (±2σ, σ corrected for truncation) with
// σ = 1/sqrt(fan_in) for linear maps, 1/sqrt(hidden) for embeddings, 1 for
// H_init/L_init; zero puzzle embeddings; q_head weight 0 and bias −5 (so the
// model starts out confident it should not halt). Requires a complete config
// (seq_len, vocab_size, num_puzzle_identifiers set).
checkpoint::StateDict InitialStateDict(const ModelConfig& config, uint64_t seed);

}  // namespace rrm::model

#endif  // RRM_CORE_MODEL_INITIAL_WEIGHTS_H_
