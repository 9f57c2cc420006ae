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

  // Vector-Jacobian products u ↦ J_Φ(x)ᵀ·u for primal states x [B, N] and
  // cotangents u [k, B, N] -> [k, B, N]: LibTorch autograd through this map's
  // own tangent pass (Step on a stack of x and a few directions, recorded
  // once, then one backward per few cotangents), which is linear in the
  // directions, so the result is the exact transpose of the JVP that Step computes,
  // ⟨u, J·v⟩ = ⟨Jᵀ·u, v⟩, and cotangents are carried in u's dtype (float32 at
  // least, SPEC §3) — never in a narrower forward dtype.
  virtual torch::Tensor Vjp(const torch::Tensor& x, const torch::Tensor& u) const;
};

// SPEC §3 portable start directions: SplitMix64 from
// seed + 0x9E3779B97F4A7C15·example_index, uniforms 1 − (z>>11)·2⁻⁵³,
// Box–Muller pairs (cos, then sin), filled column by column, then Householder
// QR in float64 with diag R > 0. Returns Q_0: [dim, k] float64 on the CPU;
// identical on every device and in tests/reference/start_directions.py.
torch::Tensor PortableStartDirections(uint64_t seed, int64_t example_index, int64_t dim, int64_t k);

// Orthonormalises the tangents of `x` in place by a thin QR with positive
// diagonal (computed in float64), separately for each of `groups` equal
// blocks of tangents (independent draws), and returns log diag R:
// [B, groups·k] float64, block by block.
torch::Tensor OrthonormalizeTangents(torch::Tensor& x, int64_t groups = 1);

enum class Reorthonormalize { kSegment, kUpdate };

struct TangentOptions {
  int64_t k = 0;      // tangent directions per draw; 0 = the plain trajectory
  int64_t draws = 1;  // independent sets of k directions, orthonormalised separately
  torch::ScalarType tangent_dtype = torch::kFloat32;
  Reorthonormalize every = Reorthonormalize::kSegment;
};

// What one step produced, for the caller's per-step bookkeeping.
struct StepResult {
  int64_t t = 0;              // 1-based
  torch::Tensor before;       // primal [B, N] the step started from
  torch::Tensor after;        // primal [B, N] after the step
  torch::Tensor increments;   // ℓ_{t,1..k} per draw: [B, draws, k] float64 (undefined when k = 0)
  torch::Tensor frame;        // the orthonormal tangents after the step, [draws·k, B, N] (undefined when k = 0)
};

// Runs T steps of `map` from primal states x0 [B, N] (in the forward dtype)
// and start directions q0 [B, N, draws·k], draw by draw (undefined when k = 0). The stack is
// carried in the wider of x0's dtype and the tangent dtype. `replace_primal`,
// when set, is called before each step t with the primal [B, N] and may
// overwrite it (teacher states); `on_step` is called after each step.
void RunTangentTrajectory(const TangentMap& map, const torch::Tensor& x0, const torch::Tensor& q0, int64_t T,
                          const TangentOptions& options,
                          const std::function<void(int64_t t, torch::Tensor& primal)>& replace_primal,
                          const std::function<void(const StepResult&)>& on_step);

// Propagator exponents (SPEC §3): the top-k singular values σ_i of the
// T-step propagator M = J_T ⋯ J_1 along a stored trajectory, by block
// Golub–Kahan–Lanczos bidiagonalisation (a block Krylov method) with blocks
// of b directions (b = k by default; smaller or larger blocks are allowed)
// and full reorthogonalisation. Each iteration runs a
// forward JVP pass (M·V_j) and a reverse VJP pass (Mᵀ·U_j), both
// re-orthonormalised after every step with the b×b triangular factors
// accumulated in float64, so directions that shrink by e^{−16·λ} keep full
// precision. Rayleigh–Ritz over the whole basis gives σ_i and Ritz vectors,
// and the residual test
//   ‖MᵀM·v_i − σ_i²·v_i‖ ≤ tolerance·σ_i²   for i = 1..k
// costs no extra pass; so does the same test for the left pairs
// (‖MMᵀ·u_i − σ_i²·u_i‖ ≤ tolerance·σ_i², after the next forward pass),
// which can stop an example one reverse pass earlier. An example's result is
// frozen at the test it passes (or where it stops improving, see
// lyapunov.cc), so it never depends on the other examples of its batch.
// Independent of any start: v0 only seeds the iteration.
//
// The bases hold at most kPropagatorColumnsPerExponent·k columns; at that
// cap they restart from their top kPropagatorKeptPerExponent·k Ritz
// triplets (a thick restart), so a block may hold at most that many
// directions.
constexpr int64_t kPropagatorColumnsPerExponent = 8;
constexpr int64_t kPropagatorKeptPerExponent = 4;
// Float64 vectors of the joint state's size N that the propagator holds per
// example for k exponents (its four bases, and a copy of each as it grows or
// restarts): for sizing work items to a memory budget.
int64_t PropagatorBasisColumns(int64_t k);
struct PropagatorOptions {
  int64_t k = 0;                // exponents wanted; v0 carries the block
  double tolerance = 1e-3;      // relative residual of every σ_1..σ_k
  int64_t max_iterations = 30;
  torch::ScalarType tangent_dtype = torch::kFloat32;  // float32 | float64
  bool vectors = false;  // also return the top-k singular vectors (energy maps)
  // Called before every step of every forward and reverse pass (a segment
  // boundary); it may throw to abandon the computation (a cooperative stop).
  std::function<void()> before_step;
};
struct PropagatorResult {
  torch::Tensor log_sigma;   // [B, k] float64: log σ_i(M), descending
  torch::Tensor iterations;  // [B] int64: iterations used (forward passes; the last one's reverse pass is skipped when a left pair's test stopped it)
  torch::Tensor converged;   // [B] bool: every σ_1..σ_k met the residual test
  torch::Tensor residual;    // [B, k] float64: ‖MᵀM·v_i − σ_i²·v_i‖ / σ_i² when frozen
  // With `vectors` only, float64 on the states' device, frozen with σ:
  torch::Tensor right;       // [B, N, k]: Ritz vectors v_i = V·w_i (unit; M·v_i ≈ σ_i·u_i)
  torch::Tensor left;        // [B, N, k]: u_i = M·v_i / σ_i (unit)
};
PropagatorResult PropagatorSingularValues(const TangentMap& map, const torch::Tensor& states,
                                          const torch::Tensor& v0, const PropagatorOptions& options);
// `states`: the primal states x_0..x_{T−1} the T steps start from, [T, B, N];
// `v0`: [B, N, b] orthonormal start, 1 ≤ b ≤ kPropagatorKeptPerExponent·k.

}  // namespace rrm::measure

#endif  // RRM_CORE_MEASURE_LYAPUNOV_H_
