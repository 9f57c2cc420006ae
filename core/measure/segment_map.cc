#include "core/measure/segment_map.h"

namespace rrm::measure {

SegmentMap::SegmentMap(const model::RecurrentModel& model, torch::Tensor e)
    : model_(model), e_(std::move(e)), positions_(e_.size(1)) {}

torch::Tensor SegmentMap::Flatten(const model::JointState& state) const {
  return torch::cat({state.z_H.flatten(2), state.z_L.flatten(2)}, 2);
}

model::JointState SegmentMap::Unflatten(const torch::Tensor& x) const {
  const int64_t half = x.size(2) / 2, D = half / positions_;
  return {x.narrow(2, 0, half).reshape({x.size(0), x.size(1), positions_, D}),
          x.narrow(2, half, half).reshape({x.size(0), x.size(1), positions_, D})};
}

torch::Tensor SegmentMap::InitialPrimal() const {
  return Flatten(model_.InitialState(e_.size(0), positions_))[0];
}

torch::Tensor SegmentMap::Step(const torch::Tensor& x, const AfterUpdate& after_update) const {
  model::JointState state = Unflatten(x);
  model::UpdateHook hook;
  if (after_update) {
    hook = [&](model::JointState& partial) {
      torch::Tensor flat = Flatten(partial);
      after_update(flat);
      partial = Unflatten(flat);
    };
  }
  model_.Segment(state, e_, hook);
  return Flatten(state);
}

}  // namespace rrm::measure
