#include "core/measure/lyapunov.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/common/splitmix64.h"

namespace rrm::measure {

torch::Tensor PortableStartDirections(uint64_t seed, int64_t example_index, int64_t dim, int64_t k) {
  // Column-major fill: column j is one joint state (z_H then z_L, row-major).
  std::vector<double> columns(static_cast<size_t>(dim * k));
  SplitMix64::ForStartDirections(seed, example_index).FillNormals(columns.data(), columns.size());
  const torch::Tensor gaussian =
      torch::from_blob(columns.data(), {k, dim}, torch::kFloat64).t().clone();  // [dim, k]
  auto [q, r] = torch::linalg_qr(gaussian, "reduced");  // LAPACK geqrf: Householder
  const torch::Tensor signs = torch::where(r.diagonal() < 0, -1.0, 1.0);
  return q * signs.unsqueeze(0);
}

torch::Tensor OrthonormalizeTangents(torch::Tensor& x, int64_t groups) {
  const int64_t total = x.size(0) - 1, k = total / groups, B = x.size(1), N = x.size(2);
  // [G·k, B, N] -> [B·G, N, k]: one batched QR over examples and draws.
  const torch::Tensor w = x.narrow(0, 1, total).reshape({groups, k, B, N}).permute({2, 0, 3, 1})
                              .reshape({B * groups, N, k}).to(torch::kFloat64);
  auto [q, r] = torch::linalg_qr(w, "reduced");
  const torch::Tensor diagonal = r.diagonal(0, -2, -1);  // [B·G, k]
  // SPEC §3: diag R > 0 — flip the columns of Q whose diagonal entry is negative.
  q = q * torch::where(diagonal < 0, -1.0, 1.0).unsqueeze(1);
  x.narrow(0, 1, total).copy_(q.reshape({B, groups, N, k}).permute({1, 3, 0, 2}).reshape({total, B, N}));
  return diagonal.abs().log().reshape({B, groups * k});
}

void RunTangentTrajectory(const TangentMap& map, const torch::Tensor& x0, const torch::Tensor& q0, int64_t T,
                          const TangentOptions& options,
                          const std::function<void(int64_t t, torch::Tensor& primal)>& replace_primal,
                          const std::function<void(const StepResult&)>& on_step) {
  const int64_t k = options.k * options.draws, groups = options.draws;
  const torch::ScalarType stack_dtype =
      k > 0 && c10::elementSize(options.tangent_dtype) > c10::elementSize(x0.scalar_type())
          ? options.tangent_dtype
          : x0.scalar_type();
  torch::Tensor x = x0.unsqueeze(0).to(stack_dtype);
  if (k > 0) x = torch::cat({x, q0.permute({2, 0, 1}).to(x.device(), stack_dtype)}, 0);

  const bool per_update = k > 0 && options.every == Reorthonormalize::kUpdate;
  for (int64_t t = 1; t <= T; ++t) {
    if (replace_primal) {
      torch::Tensor primal = x[0];
      replace_primal(t, primal);
    }
    StepResult result;
    result.t = t;
    result.before = x[0];
    torch::Tensor increments;
    if (per_update) increments = torch::zeros({x.size(1), k}, torch::TensorOptions().dtype(torch::kFloat64).device(x.device()));
    x = map.Step(x, per_update ? AfterUpdate([&](torch::Tensor& partial) {
                   increments += OrthonormalizeTangents(partial, groups);
                 })
                               : AfterUpdate());
    // Per-update QR leaves the tangents orthonormal; the increments of the
    // segment are the sum of the per-update ones (product of the R factors).
    if (k > 0 && !per_update) increments = OrthonormalizeTangents(x, groups);
    result.after = x[0];
    if (k > 0) {
      result.increments = increments.view({x.size(1), groups, options.k});
      result.frame = x.narrow(0, 1, k);
    }
    on_step(result);
  }
}

torch::Tensor TangentMap::Vjp(const torch::Tensor& x, const torch::Tensor& u) const {
  const int64_t k = u.size(0);
  // Cotangents never narrower than float32 (SPEC §3); float64 stays float64.
  const torch::ScalarType dtype = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  torch::AutoGradMode enable_grad(true);
  // Jᵀ·u = ∂⟨u, J·v⟩/∂v: the tangent pass is linear in v, so any v will do.
  const torch::Tensor directions =
      torch::zeros({k, x.size(0), x.size(1)}, u.options().dtype(dtype)).set_requires_grad(true);
  const torch::Tensor stack = torch::cat({x.detach().unsqueeze(0).to(dtype), directions}, 0);
  const torch::Tensor image = Step(stack, AfterUpdate()).narrow(0, 1, k);
  return torch::autograd::grad({image}, {directions}, {u.to(image.scalar_type())})[0].detach();
}

namespace {

// Orthonormalises W [B, N, k] (float64), returning Q and R with diag R > 0.
std::pair<torch::Tensor, torch::Tensor> PositiveQr(const torch::Tensor& w) {
  auto [q, r] = torch::linalg_qr(w, "reduced");
  const torch::Tensor signs = torch::where(r.diagonal(0, -2, -1) < 0, -1.0, 1.0);
  return {q * signs.unsqueeze(1), r * signs.unsqueeze(2)};
}

}  // namespace

PropagatorResult PropagatorSingularValues(const TangentMap& map, const torch::Tensor& states,
                                          const torch::Tensor& v0, const PropagatorOptions& options) {
  const int64_t T = states.size(0), B = states.size(1), b = v0.size(2), k = options.k;
  TORCH_CHECK(k >= 1 && k <= b, "PropagatorSingularValues: expected 1 <= k <= block ", b, ", found k = ", k);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(states.device());
  const torch::Tensor identity = torch::eye(b, f64).expand({B, b, b});
  PropagatorResult result;
  result.log_sigma = torch::zeros({B, k}, torch::kFloat64);
  result.iterations = torch::full({B}, options.max_iterations, torch::kInt64);
  result.converged = torch::zeros({B}, torch::kBool);
  result.residual = torch::full({B, k}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64);
  // Tangents and cotangents are carried in the tangent dtype, float32 at
  // least (SPEC §3); the primal inside the stack keeps its forward dtype's
  // values (layers.h).
  const torch::ScalarType tangent_dtype = options.tangent_dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const torch::Tensor carried =
      c10::elementSize(states.scalar_type()) >= c10::elementSize(tangent_dtype) ? states : states.to(tangent_dtype);
  if (options.vectors) {
    result.right = torch::zeros({B, states.size(2), k}, f64);
    result.left = torch::zeros({B, states.size(2), k}, f64);
  }
  torch::Tensor v = v0.to(f64);
  constexpr int64_t kStagnation = 5;
  torch::Tensor done = torch::zeros({B}, torch::kBool);
  torch::Tensor best_residual = torch::full({B}, std::numeric_limits<double>::infinity(), torch::kFloat64);
  torch::Tensor since_best = torch::zeros({B}, torch::kInt64);
  for (int64_t iteration = 1; iteration <= options.max_iterations; ++iteration) {
    // Forward: M·V = X·R_f with X orthonormal, R_f = R_T ⋯ R_1.
    torch::Tensor x = v, r_forward = identity;
    for (int64_t t = 0; t < T; ++t) {
      if (options.before_step) options.before_step();
      const torch::Tensor primal = carried[t];
      const torch::Tensor stack = torch::cat({primal.unsqueeze(0), x.permute({2, 0, 1}).to(primal.scalar_type())}, 0);
      auto [q, r] = PositiveQr(map.Step(stack, AfterUpdate()).narrow(0, 1, b).permute({1, 2, 0}).to(torch::kFloat64));
      x = q;
      r_forward = r.matmul(r_forward);
    }
    // Backward: Mᵀ·X = Y·R_b with Y orthonormal.
    torch::Tensor y = x, r_backward = identity;
    for (int64_t t = T - 1; t >= 0; --t) {
      if (options.before_step) options.before_step();
      const torch::Tensor primal = carried[t];
      const torch::Tensor image = map.Vjp(primal, y.permute({2, 0, 1}).to(primal.scalar_type()));
      auto [q, r] = PositiveQr(image.permute({1, 2, 0}).to(torch::kFloat64));
      y = q;
      r_backward = r.matmul(r_backward);
    }
    // Rayleigh–Ritz on span(V): R_f = P·Σ·Wᵀ; σ descending.
    auto [p, sigma, wh] = torch::linalg_svd(r_forward, /*full_matrices=*/false);
    const torch::Tensor w = wh.transpose(-1, -2);
    // ‖MᵀM·v_i − σ_i²·v_i‖ / σ_i² = ‖Y·R_b·p_i / σ_i − V·w_i‖ (MᵀM·V·W = Y·R_b·P·Σ).
    const torch::Tensor top = sigma.narrow(1, 0, k);
    const torch::Tensor image = y.matmul(r_backward.matmul(p.narrow(2, 0, k)) / top.unsqueeze(1));
    const torch::Tensor residual = (image - v.matmul(w.narrow(2, 0, k))).norm(2, /*dim=*/1).to(torch::kCPU);
    // An example stops when every σ_1..σ_k passes, or — not converged — when
    // its worst residual has not reached a new low for kStagnation
    // iterations (it sits on the tangent dtype's rounding floor, which grows
    // like ε·σ_1/σ_i: docs/performance.md), or at max_iterations.
    const torch::Tensor worst = residual.amax(1);
    const torch::Tensor passed = worst.le(options.tolerance);
    const torch::Tensor improved = worst.lt(best_residual);
    best_residual = torch::where(improved, worst, best_residual);
    since_best = torch::where(improved, torch::zeros_like(since_best), since_best + 1);
    const torch::Tensor stop = passed.logical_or(since_best.ge(kStagnation))
                                   .logical_or(torch::tensor(iteration == options.max_iterations));
    const torch::Tensor freeze = torch::logical_and(torch::logical_not(done), stop);
    if (freeze.any().item<bool>()) {
      const torch::Tensor rows = freeze.nonzero().squeeze(1);
      result.log_sigma.index_copy_(0, rows, top.log().to(torch::kCPU).index_select(0, rows));
      result.residual.index_copy_(0, rows, residual.index_select(0, rows));
      result.iterations.index_fill_(0, rows, iteration);
      if (options.vectors) {
        // R_f = P·Σ·Wᵀ: M·(V·w_i) = X·R_f·w_i = σ_i·X·p_i.
        const torch::Tensor device_rows = rows.to(v.device());
        result.right.index_copy_(0, device_rows, v.matmul(w.narrow(2, 0, k)).index_select(0, device_rows));
        result.left.index_copy_(0, device_rows, x.matmul(p.narrow(2, 0, k)).index_select(0, device_rows));
      }
      result.converged.logical_or_(torch::logical_and(freeze, passed));
      done.logical_or_(freeze);
    }
    if (done.all().item<bool>()) break;
    // The next V spans MᵀM·V = Y·R_b·R_f.
    v = y.matmul(std::get<0>(PositiveQr(r_backward.matmul(r_forward))));
  }
  return result;
}

}  // namespace rrm::measure
