// Tangent propagation and the finite-time Lyapunov spectrum (SPEC §3).
//
// The spectrum code knows nothing about models: it runs any TangentMap, a map
// on flat joint states that carries tangents exactly (forward-mode
// linearisation). The models' segment map is one such map
// (measure/segment_map.h); tests run the same code on the Hénon, logistic and
// linear maps whose exponents are known.
//
// Layout: a state stack x is [1+k, B, N]: x[0] the primal states of B
// examples, x[1..k] the k tangent directions of each.
#ifndef RRM_CORE_MEASURE_LYAPUNOV_H_
#define RRM_CORE_MEASURE_LYAPUNOV_H_

#include <cstdint>
#include <functional>

#include <torch/torch.h>

namespace rrm::measure {

// Called after each inner update of a step with the partial state stack; may
// change the tangents in place (re-orthonormalisation).
using AfterUpdate = std::function<void(torch::Tensor& x)>;

class TangentMap {
 public:
  virtual ~TangentMap() = default;
  // Φ on a stack: primal Φ(x0), tangents J_Φ(x0)·v. `after_update` may be empty.
  virtual torch::Tensor Step(const torch::Tensor& x, const AfterUpdate& after_update) const = 0;
};

// SPEC §3 portable start directions: SplitMix64 from
// seed + 0x9E3779B97F4A7C15·example_index, uniforms 1 − (z>>11)·2⁻⁵³,
// Box–Muller pairs (cos, then sin), filled column by column, then Householder
// QR in float64 with diag R > 0. Returns Q_0: [dim, k] float64 on the CPU;
// identical on every device and in tests/reference/start_directions.py.
torch::Tensor PortableStartDirections(uint64_t seed, int64_t example_index, int64_t dim, int64_t k);

// Orthonormalises the tangents of `x` in place by a thin QR with positive
// diagonal (computed in float64) and returns log diag R: [B, k] float64.
torch::Tensor OrthonormalizeTangents(torch::Tensor& x);

enum class Reorthonormalize { kSegment, kUpdate };

struct TangentOptions {
  int64_t k = 0;  // tangent directions; 0 = the plain trajectory
  torch::ScalarType tangent_dtype = torch::kFloat32;
  Reorthonormalize every = Reorthonormalize::kSegment;
};

// What one step produced, for the caller's per-step bookkeeping.
struct StepResult {
  int64_t t = 0;              // 1-based
  torch::Tensor before;       // primal [B, N] the step started from
  torch::Tensor after;        // primal [B, N] after the step
  torch::Tensor increments;   // ℓ_{t,1..k}: [B, k] float64 (undefined when k = 0)
};

// Runs T steps of `map` from primal states x0 [B, N] (in the forward dtype)
// and start directions q0 [B, N, k] (undefined when k = 0). The stack is
// carried in the wider of x0's dtype and the tangent dtype. `replace_primal`,
// when set, is called before each step t with the primal [B, N] and may
// overwrite it (teacher states); `on_step` is called after each step.
void RunTangentTrajectory(const TangentMap& map, const torch::Tensor& x0, const torch::Tensor& q0, int64_t T,
                          const TangentOptions& options,
                          const std::function<void(int64_t t, torch::Tensor& primal)>& replace_primal,
                          const std::function<void(const StepResult&)>& on_step);

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_LYAPUNOV_H_
