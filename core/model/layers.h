// The building blocks of HRM and TRM, written once for two uses.
//
// Every activation is a *dual stack*: a tensor whose leading axis holds the
// primal value at index 0 and k tangent directions at 1..k (shape
// [1+k, B, S, D]). Linear maps act on the k tangents as one matrix product
// over k·B·S rows (the primal apart, see below); nonlinear maps compute the primal as upstream does and
// push the tangents through the primal's derivative (exact forward-mode
// linearisation, ARCHITECTURE "Tangents"). With k = 0 the stack is [1, B, S, D]
// and every function below is exactly the plain forward.
//
// Numerics follow upstream `models/layers.py`: weights are used in the forward
// dtype, rms_norm runs in float32 and casts back, rotary runs in float32.
//
// One trajectory (SPEC §3). The primal is always computed by the forward
// dtype's own kernels, exactly as with k = 0: each function takes the primal
// of the stack in the forward dtype (exact: a wider stack holds it upcast),
// runs upstream's op on it, and stores the result upcast in the stack. So a
// bfloat16 checkpoint's trajectory is the native bfloat16 one (on a GPU, on
// bfloat16 tensor cores) whatever k, draws or method, and a float32
// checkpoint's is the plain float32 one. Tangents are carried in the stack's
// dtype — float32 at least — beside it and never rounded to the forward
// dtype; the derivatives of the nonlinear pieces are evaluated at the primal's
// values in the tangent dtype. `forward` below is the forward dtype.
//
// Cotangents. With tangents present the primal enters every function as a
// constant (detached), and the tangent path is linear in the directions and
// runs entirely in the tangent dtype; so autograd through a stack's tangents
// differentiates the linearisation alone, and its transpose gives exact
// vector-Jacobian products whose cotangents are never rounded below the
// tangent dtype (measure::TangentMap::Vjp).
#ifndef RRM_CORE_MODEL_LAYERS_H_
#define RRM_CORE_MODEL_LAYERS_H_

#include <cstdint>
#include <optional>

#include <torch/torch.h>

namespace rrm::model {

struct SwiGluWeights {
  torch::Tensor gate_up;  // [2·I, width]: gate rows first, then up rows
  torch::Tensor down;     // [width, I]
};

struct AttentionWeights {
  torch::Tensor qkv;  // [3·H·hd, D]: query heads, key heads, value heads
  torch::Tensor out;  // [D, H·hd]
  int64_t num_heads = 0;
};

// cos/sin tables [S, head_dim] in float32, as upstream RotaryEmbedding builds them.
struct RotaryTable {
  torch::Tensor cos;
  torch::Tensor sin;
};
RotaryTable MakeRotaryTable(int64_t positions, int64_t head_dim, double theta, torch::Device device);

// x·Wᵀ (+ b) over the last axis of a dual stack (linear, so tangents go along).
// Weights stored in another dtype are cast to the stack's at use (as upstream's
// CastedLinear does).
torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight, torch::ScalarType forward,
                     const torch::Tensor& bias = torch::Tensor());

// Root-mean-square normalisation over the last axis (no learned scale).
torch::Tensor RmsNorm(const torch::Tensor& x, double eps, torch::ScalarType forward);

// down(silu(gate(x)) ⊙ up(x)) over the last axis.
torch::Tensor SwiGlu(const torch::Tensor& x, const SwiGluWeights& w, torch::ScalarType forward);

// Non-causal multi-head softmax attention over axis -2 (positions), with
// rotary position embedding of queries and keys when `rotary` is given.
torch::Tensor SelfAttention(const torch::Tensor& x, const AttentionWeights& w,
                            const std::optional<RotaryTable>& rotary, torch::ScalarType forward);

// a + b for two dual stacks, rounded like upstream's addition in `forward`.
torch::Tensor Add(const torch::Tensor& a, const torch::Tensor& b, torch::ScalarType forward);

// x + e where e (no tangent: the input embedding is fixed) joins the primal only.
torch::Tensor AddToPrimal(const torch::Tensor& x, const torch::Tensor& e, torch::ScalarType forward);

}  // namespace rrm::model

#endif  // RRM_CORE_MODEL_LAYERS_H_
