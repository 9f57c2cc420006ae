// The building blocks of HRM and TRM, written once for two uses.
//
// Every activation is a *dual stack*: a tensor whose leading axis holds the
// primal value at index 0 and k tangent directions at 1..k (shape
// [1+k, B, S, D]). Linear maps act on the whole stack as one matrix product
// over (1+k)·B·S rows; nonlinear maps compute the primal as upstream does and
// push the tangents through the primal's derivative (exact forward-mode
// linearisation, ARCHITECTURE "Tangents"). With k = 0 the stack is [1, B, S, D]
// and every function below is exactly the plain forward.
//
// Numerics follow upstream `models/layers.py`: weights are used in the forward
// dtype, rms_norm runs in float32 and casts back, rotary runs in float32.
//
// Tangents are carried in float32 at least (SPEC §3). When the stack is wider
// than the forward dtype (a bfloat16 checkpoint with float32 tangents, or
// float64 tangents), each function rounds the primal to the forward dtype
// wherever upstream stores an op's output in it, so the primal trajectory is
// the forward dtype's while the tangents keep their precision. `forward` below
// is that dtype; with a stack of the forward dtype rounding is a no-op.
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

// Rounds the primal (index 0) of `x` to `forward` in place when x is wider.
torch::Tensor RoundPrimal(torch::Tensor x, torch::ScalarType forward);

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
