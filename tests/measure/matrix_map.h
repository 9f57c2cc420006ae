// Test helpers shared by the measure tests: a linear map x -> A x, whose
// propagator is a matrix power with a known SVD, and the stored primal
// trajectory of any map.
#ifndef RRM_TESTS_MEASURE_MATRIX_MAP_H_
#define RRM_TESTS_MEASURE_MATRIX_MAP_H_

#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/measure/lyapunov.h"

namespace rrm::testing {

// x -> A x for a fixed A (non-normal A: singular values differ from |eigenvalues|).
class MatrixMap : public measure::TangentMap {
 public:
  explicit MatrixMap(torch::Tensor a) : a_(std::move(a)) {}
  torch::Tensor Step(const torch::Tensor& s, const measure::AfterUpdate&) const override {
    return torch::matmul(s, a_.t().to(s.scalar_type()));
  }

 private:
  torch::Tensor a_;
};

// The stored primal trajectory x_0..x_{T−1} of a map, [T, B, N].
inline torch::Tensor StoredStates(const measure::TangentMap& map, torch::Tensor x, int64_t T) {
  std::vector<torch::Tensor> states;
  for (int64_t t = 0; t < T; ++t) {
    states.push_back(x);
    x = map.Step(x.unsqueeze(0), measure::AfterUpdate())[0].detach();
  }
  return torch::stack(states);
}

}  // namespace rrm::testing

#endif  // RRM_TESTS_MEASURE_MATRIX_MAP_H_
