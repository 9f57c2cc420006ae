#include "core/model/layers.h"

#include <cmath>

namespace rrm::model {
namespace {

namespace F = torch::nn::functional;

// Splits a dual stack into its primal [1, ...] and tangents [k, ...] (views).
torch::Tensor Primal(const torch::Tensor& x) { return x.narrow(0, 0, 1); }
torch::Tensor Tangents(const torch::Tensor& x) { return x.narrow(0, 1, x.size(0) - 1); }
bool HasTangents(const torch::Tensor& x) { return x.size(0) > 1; }

bool WiderThan(torch::ScalarType carried, torch::ScalarType forward) {
  return c10::elementSize(carried) > c10::elementSize(forward);
}

// A primal-only value rounded to the forward dtype, kept in its own dtype.
torch::Tensor Rounded(const torch::Tensor& t, torch::ScalarType forward) {
  return WiderThan(t.scalar_type(), forward) ? t.to(forward).to(t.scalar_type()) : t;
}

// rotate_half: [x1, x2] -> [-x2, x1] over the last axis.
torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// q·cos + rotate_half(q)·sin in float32 (float64 stacks stay float64), cast
// back (upstream apply_rotary_pos_emb). x: [..., S, H, hd]; cos/sin: [S, hd].
torch::Tensor ApplyRotary(const torch::Tensor& x, const RotaryTable& rotary, torch::ScalarType forward) {
  const auto dtype = x.scalar_type();
  const auto compute = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const torch::Tensor xc = x.to(compute);
  const torch::Tensor cos = rotary.cos.to(compute).unsqueeze(-2);
  const torch::Tensor sin = rotary.sin.to(compute).unsqueeze(-2);
  return RoundPrimal((xc * cos + RotateHalf(xc) * sin).to(dtype), forward);
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

torch::Tensor RoundPrimal(torch::Tensor x, torch::ScalarType forward) {
  if (WiderThan(x.scalar_type(), forward)) {
    torch::Tensor primal = Primal(x);
    primal.copy_(primal.to(forward));
  }
  return x;
}

torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight, torch::ScalarType forward,
                     const torch::Tensor& bias) {
  const auto dtype = x.scalar_type();
  const torch::Tensor w = weight.scalar_type() == dtype ? weight : weight.to(dtype);
  const torch::Tensor b = !bias.defined() || bias.scalar_type() == dtype ? bias : bias.to(dtype);
  return RoundPrimal(F::linear(x, w, b), forward);
}

torch::Tensor RmsNorm(const torch::Tensor& x, double eps, torch::ScalarType forward) {
  const auto dtype = x.scalar_type();
  // Upstream normalises in float32 and casts back; float64 stacks stay float64.
  const auto compute = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const torch::Tensor x0 = Primal(x).to(compute);
  const torch::Tensor variance = x0.square().mean(-1, /*keepdim=*/true);
  const torch::Tensor r = torch::rsqrt(variance + eps);
  const torch::Tensor y0 = Rounded(x0 * r, forward).to(dtype);
  if (!HasTangents(x)) return y0;
  // d(x·r) = r·dx − x·r³·mean(x·dx)
  const torch::Tensor dx = Tangents(x).to(compute);
  const torch::Tensor dy = r * dx - x0 * (r * r * r) * (x0 * dx).mean(-1, /*keepdim=*/true);
  return torch::cat({y0, dy.to(dtype)}, 0);
}

torch::Tensor SwiGlu(const torch::Tensor& x, const SwiGluWeights& w, torch::ScalarType forward) {
  const torch::Tensor gate_up = Linear(x, w.gate_up, forward);
  const int64_t inner = gate_up.size(-1) / 2;
  const torch::Tensor gate = gate_up.narrow(-1, 0, inner);
  const torch::Tensor up = gate_up.narrow(-1, inner, inner);
  const torch::Tensor g0 = Primal(gate);
  const torch::Tensor u0 = Primal(up);
  const torch::Tensor silu_g0 = Rounded(F::silu(g0), forward);
  torch::Tensor hidden = Rounded(silu_g0 * u0, forward);
  if (HasTangents(x)) {
    // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
    const torch::Tensor sigma = torch::sigmoid(g0);
    const torch::Tensor dsilu = sigma * (1 + g0 * (1 - sigma));
    const torch::Tensor dhidden = dsilu * Tangents(gate) * u0 + silu_g0 * Tangents(up);
    hidden = torch::cat({hidden, dhidden}, 0);
  }
  return Linear(hidden, w.down, forward);
}

torch::Tensor SelfAttention(const torch::Tensor& x, const AttentionWeights& w,
                            const std::optional<RotaryTable>& rotary, torch::ScalarType forward) {
  // x: [1+k, B, S, D]
  const int64_t stack = x.size(0), batch = x.size(1), positions = x.size(2);
  const int64_t heads = w.num_heads;
  const torch::Tensor qkv = Linear(x, w.qkv, forward);
  const int64_t head_dim = qkv.size(-1) / (3 * heads);
  const torch::Tensor split = qkv.view({stack, batch, positions, 3 * heads, head_dim});
  torch::Tensor q = split.narrow(3, 0, heads);
  torch::Tensor k = split.narrow(3, heads, heads);
  torch::Tensor v = split.narrow(3, 2 * heads, heads);
  if (rotary.has_value()) {
    // Rotation by a fixed angle is linear: tangents rotate like the primal.
    q = ApplyRotary(q, *rotary, forward);
    k = ApplyRotary(k, *rotary, forward);
  }
  // -> [1+k, B, H, S, hd]
  q = q.transpose(2, 3);
  k = k.transpose(2, 3);
  v = v.transpose(2, 3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));

  const torch::Tensor q0 = Primal(q), k0 = Primal(k), v0 = Primal(v);
  const torch::Tensor p0 = torch::softmax(torch::matmul(q0, k0.transpose(-1, -2)) * scale, -1);
  // Fused attention kernels (upstream) accumulate in float32 and store the
  // output in the forward dtype.
  torch::Tensor out = Rounded(torch::matmul(p0, v0), forward);
  if (HasTangents(x)) {
    const torch::Tensor dq = Tangents(q), dk = Tangents(k), dv = Tangents(v);
    // scores s = q·kᵀ·scale; ds = (dq·k0ᵀ + q0·dkᵀ)·scale
    const torch::Tensor ds =
        (torch::matmul(dq, k0.transpose(-1, -2)) + torch::matmul(q0, dk.transpose(-1, -2))) * scale;
    // softmax: dp = p ⊙ (ds − Σ_j p_j·ds_j)
    const torch::Tensor dp = p0 * (ds - (p0 * ds).sum(-1, /*keepdim=*/true));
    const torch::Tensor dout = torch::matmul(dp, v0) + torch::matmul(p0, dv);
    out = torch::cat({out, dout}, 0);
  }
  // -> [1+k, B, S, H·hd]
  out = out.transpose(2, 3).reshape({stack, batch, positions, heads * head_dim});
  return Linear(out, w.out, forward);
}

torch::Tensor Add(const torch::Tensor& a, const torch::Tensor& b, torch::ScalarType forward) {
  return RoundPrimal(a + b, forward);
}

torch::Tensor AddToPrimal(const torch::Tensor& x, const torch::Tensor& e, torch::ScalarType forward) {
  const torch::Tensor e_cast = e.scalar_type() == x.scalar_type() ? e : e.to(x.scalar_type());
  if (!HasTangents(x)) return RoundPrimal(x + e_cast, forward);
  return torch::cat({Rounded(Primal(x) + e_cast, forward), Tangents(x)}, 0);
}

}  // namespace rrm::model
