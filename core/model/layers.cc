#include "core/model/layers.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace rrm::model {
namespace {

namespace F = torch::nn::functional;

bool HasTangents(const torch::Tensor& x) { return x.size(0) > 1; }

torch::Tensor Cast(const torch::Tensor& t, torch::ScalarType dtype) {
  return !t.defined() || t.scalar_type() == dtype ? t : t.to(dtype);
}

// The primal [1, ...] in the forward dtype (exact: a wider stack holds it
// upcast). With tangents it is a constant for autograd, so autograd through a
// stack differentiates the linearisation only (see layers.h, "Cotangents").
torch::Tensor Primal(const torch::Tensor& x, torch::ScalarType forward) {
  torch::Tensor primal = x.narrow(0, 0, 1);
  if (HasTangents(x)) primal = primal.detach();
  return Cast(primal, forward);
}

// The k tangents [k, ...] (a view, in the stack's dtype).
torch::Tensor Tangents(const torch::Tensor& x) { return x.narrow(0, 1, x.size(0) - 1); }

// A stack of dtype `carried` from a primal computed in the forward dtype and
// tangents computed in `carried` (undefined when k = 0). The stack's primal
// keeps the memory layout the primal had, so the next kernels see the same
// strides with or without tangents (a reduction over a strided axis adds in
// another order): the primal comes out bit for bit the same (SPEC §3).
torch::Tensor Join(const torch::Tensor& primal, const torch::Tensor& tangents, torch::ScalarType carried) {
  if (!tangents.defined()) return Cast(primal, carried);
  // Axes 1.. in the primal's memory order (outermost first); axis 0 outermost.
  std::vector<int64_t> order(primal.dim() - 1);
  std::iota(order.begin(), order.end(), 1);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return primal.stride(a) > primal.stride(b); });
  order.insert(order.begin(), 0);
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i) inverse[order[i]] = static_cast<int64_t>(i);
  return torch::cat({Cast(primal, carried).permute(order), tangents.permute(order)}, 0).permute(inverse);
}

// Where upstream computes in float32 (rms_norm, rotary): float64 stays float64.
torch::ScalarType AtLeastFloat32(torch::ScalarType dtype) {
  return dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// rotate_half: [x1, x2] -> [-x2, x1] over the last axis.
torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor Rotate(const torch::Tensor& x, const RotaryTable& rotary, torch::ScalarType compute) {
  const torch::Tensor xc = x.to(compute);
  return xc * rotary.cos.to(compute).unsqueeze(-2) + RotateHalf(xc) * rotary.sin.to(compute).unsqueeze(-2);
}

// q·cos + rotate_half(q)·sin in float32, cast back (upstream
// apply_rotary_pos_emb). x: [..., S, H, hd]; cos/sin: [S, hd]. Rotation by a
// fixed angle is linear: the tangents rotate like the primal.
torch::Tensor ApplyRotary(const torch::Tensor& x, const RotaryTable& rotary, torch::ScalarType forward) {
  const auto carried = x.scalar_type();
  const torch::Tensor y0 = Rotate(Primal(x, forward), rotary, AtLeastFloat32(forward)).to(forward);
  if (!HasTangents(x)) return Join(y0, {}, carried);
  return Join(y0, Rotate(Tangents(x), rotary, AtLeastFloat32(carried)).to(carried), carried);
}

}  // namespace

RotaryTable MakeRotaryTable(int64_t positions, int64_t head_dim, double theta, torch::Device device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  // Same float32 op sequence as upstream so the table matches bit for bit.
  const torch::Tensor exponent = torch::arange(0, head_dim, 2, f32) / static_cast<double>(head_dim);
  const torch::Tensor inv_freq = 1.0 / torch::pow(theta, exponent);
  const torch::Tensor t = torch::arange(positions, f32);
  const torch::Tensor freqs = torch::outer(t, inv_freq);
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight, torch::ScalarType forward,
                     const torch::Tensor& bias) {
  const auto carried = x.scalar_type();
  // Weights stored in another dtype are cast at use, as upstream's CastedLinear.
  const torch::Tensor y0 = F::linear(Primal(x, forward), Cast(weight, forward), Cast(bias, forward));
  if (!HasTangents(x)) return Join(y0, {}, carried);
  return Join(y0, F::linear(Tangents(x), Cast(weight, carried)), carried);
}

torch::Tensor RmsNorm(const torch::Tensor& x, double eps, torch::ScalarType forward) {
  const auto carried = x.scalar_type();
  // Upstream normalises in float32 and casts back.
  const auto compute = AtLeastFloat32(forward);
  const torch::Tensor x0 = Primal(x, forward).to(compute);
  const torch::Tensor r = torch::rsqrt(x0.square().mean(-1, /*keepdim=*/true) + eps);
  const torch::Tensor y0 = (x0 * r).to(forward);
  if (!HasTangents(x)) return Join(y0, {}, carried);
  // d(x·r) = r·dx − x·r³·mean(x·dx), at the primal's values in the tangent dtype.
  const auto tangent_compute = AtLeastFloat32(carried);
  const torch::Tensor xt = x0.to(tangent_compute);
  const torch::Tensor rt =
      tangent_compute == compute ? r : torch::rsqrt(xt.square().mean(-1, /*keepdim=*/true) + eps);
  const torch::Tensor dx = Tangents(x).to(tangent_compute);
  const torch::Tensor dy = rt * dx - xt * (rt * rt * rt) * (xt * dx).mean(-1, /*keepdim=*/true);
  return Join(y0, dy.to(carried), carried);
}

torch::Tensor SwiGlu(const torch::Tensor& x, const SwiGluWeights& w, torch::ScalarType forward) {
  const auto carried = x.scalar_type();
  const torch::Tensor gate_up = Linear(x, w.gate_up, forward);
  const int64_t inner = gate_up.size(-1) / 2;
  const torch::Tensor gate = gate_up.narrow(-1, 0, inner);
  const torch::Tensor up = gate_up.narrow(-1, inner, inner);
  const torch::Tensor g0 = Primal(gate, forward);
  const torch::Tensor u0 = Primal(up, forward);
  const torch::Tensor hidden0 = F::silu(g0) * u0;
  torch::Tensor dhidden;
  if (HasTangents(x)) {
    // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
    const torch::Tensor g = Cast(g0, carried), u = Cast(u0, carried);
    const torch::Tensor sigma = torch::sigmoid(g);
    const torch::Tensor dsilu = sigma * (1 + g * (1 - sigma));
    dhidden = dsilu * Tangents(gate) * u + F::silu(g) * Tangents(up);
  }
  return Linear(Join(hidden0, dhidden, carried), w.down, forward);
}

torch::Tensor SelfAttention(const torch::Tensor& x, const AttentionWeights& w,
                            const std::optional<RotaryTable>& rotary, torch::ScalarType forward) {
  // x: [1+k, B, S, D]
  const auto carried = x.scalar_type();
  const int64_t stack = x.size(0), batch = x.size(1), positions = x.size(2);
  const int64_t heads = w.num_heads;
  const torch::Tensor qkv = Linear(x, w.qkv, forward);
  const int64_t head_dim = qkv.size(-1) / (3 * heads);
  const torch::Tensor split = qkv.view({stack, batch, positions, 3 * heads, head_dim});
  torch::Tensor q = split.narrow(3, 0, heads);
  torch::Tensor k = split.narrow(3, heads, heads);
  torch::Tensor v = split.narrow(3, 2 * heads, heads);
  if (rotary.has_value()) {
    q = ApplyRotary(q, *rotary, forward);
    k = ApplyRotary(k, *rotary, forward);
  }
  // -> [1+k, B, H, S, hd]
  q = q.transpose(2, 3);
  k = k.transpose(2, 3);
  v = v.transpose(2, 3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));

  const torch::Tensor q0 = Primal(q, forward), k0 = Primal(k, forward), v0 = Primal(v, forward);
  const torch::Tensor p0 = torch::softmax(torch::matmul(q0, k0.transpose(-1, -2)) * scale, -1);
  const torch::Tensor out0 = torch::matmul(p0, v0);
  torch::Tensor dout;
  if (HasTangents(x)) {
    // At the primal's values in the tangent dtype (p recomputed there when the
    // forward dtype is narrower, so the derivative is not bfloat16's).
    const torch::Tensor qc = Cast(q0, carried), kc = Cast(k0, carried), vc = Cast(v0, carried);
    const torch::Tensor p =
        carried == forward ? p0 : torch::softmax(torch::matmul(qc, kc.transpose(-1, -2)) * scale, -1);
    const torch::Tensor dq = Tangents(q), dk = Tangents(k), dv = Tangents(v);
    // scores s = q·kᵀ·scale; ds = (dq·kᵀ + q·dkᵀ)·scale
    const torch::Tensor ds =
        (torch::matmul(dq, kc.transpose(-1, -2)) + torch::matmul(qc, dk.transpose(-1, -2))) * scale;
    // softmax: dp = p ⊙ (ds − Σ_j p_j·ds_j)
    const torch::Tensor dp = p * (ds - (p * ds).sum(-1, /*keepdim=*/true));
    dout = torch::matmul(dp, vc) + torch::matmul(p, dv);
  }
  // -> [1+k, B, S, H·hd]
  const torch::Tensor out =
      Join(out0, dout, carried).transpose(2, 3).reshape({stack, batch, positions, heads * head_dim});
  return Linear(out, w.out, forward);
}

torch::Tensor Add(const torch::Tensor& a, const torch::Tensor& b, torch::ScalarType forward) {
  const torch::Tensor sum0 = Primal(a, forward) + Primal(b, forward);
  if (!HasTangents(a)) return Join(sum0, {}, a.scalar_type());
  return Join(sum0, Tangents(a) + Tangents(b), a.scalar_type());
}

torch::Tensor AddToPrimal(const torch::Tensor& x, const torch::Tensor& e, torch::ScalarType forward) {
  const torch::Tensor sum0 = Primal(x, forward) + Cast(e, forward);
  return Join(sum0, HasTangents(x) ? Tangents(x) : torch::Tensor(), x.scalar_type());
}

}  // namespace rrm::model
