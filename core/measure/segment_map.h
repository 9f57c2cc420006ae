// A model's segment map x_t = Φ(x_{t−1}; e) as a TangentMap on flat joint
// states x = (z_H, z_L) ∈ R^N, N = 2·S·D (z_H first, each [S, D] row-major,
// SPEC §3), for one batch with its input embeddings fixed.
#ifndef RRM_CORE_MEASURE_SEGMENT_MAP_H_
#define RRM_CORE_MEASURE_SEGMENT_MAP_H_

#include <torch/torch.h>

#include "core/measure/lyapunov.h"
#include "core/model/recurrent_model.h"

namespace rrm::measure {

class SegmentMap : public TangentMap {
 public:
  // `e`: the batch's input embeddings [B, S, D]. The model must outlive this.
  SegmentMap(const model::RecurrentModel& model, torch::Tensor e);

  torch::Tensor Step(const torch::Tensor& x, const AfterUpdate& after_update) const override;

  // Flat joint stack [1+k, B, N] <-> the model's two stacks [1+k, B, S, D].
  torch::Tensor Flatten(const model::JointState& state) const;
  model::JointState Unflatten(const torch::Tensor& x) const;

  // The reset carry x_0 as flat primal states [B, N].
  torch::Tensor InitialPrimal() const;

 private:
  const model::RecurrentModel& model_;
  const torch::Tensor e_;
  const int64_t positions_;  // S
};

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_SEGMENT_MAP_H_
