#include "core/measure/lyapunov.h"

#include <cmath>
#include <vector>

namespace rrm::measure {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t Next() {
    state_ += kGolden;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // In (0, 1]: never 0, so log(u) is finite.
  double Uniform() { return 1.0 - static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace

torch::Tensor PortableStartDirections(uint64_t seed, int64_t example_index, int64_t dim, int64_t k) {
  SplitMix64 rng(seed + kGolden * static_cast<uint64_t>(example_index));  // mod 2^64
  // Column-major fill: column j is one joint state (z_H then z_L, row-major).
  std::vector<double> columns(static_cast<size_t>(dim * k));
  for (size_t i = 0; i < columns.size(); i += 2) {
    const double u1 = rng.Uniform(), u2 = rng.Uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    columns[i] = radius * std::cos(2.0 * M_PI * u2);
    if (i + 1 < columns.size()) columns[i + 1] = radius * std::sin(2.0 * M_PI * u2);
  }
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
    if (k > 0) result.increments = increments.view({x.size(1), groups, options.k});
    on_step(result);
  }
}

torch::Tensor TangentMap::Vjp(const torch::Tensor& x, const torch::Tensor& u) const {
  const int64_t k = u.size(0), B = x.size(0), N = x.size(1);
  torch::AutoGradMode enable_grad(true);
  // k copies of the batch, one per cotangent: a single backward pass gives all k.
  const torch::Tensor inputs = x.detach().repeat({k, 1}).set_requires_grad(true);
  const torch::Tensor outputs = Step(inputs.unsqueeze(0), AfterUpdate())[0];
  const torch::Tensor grads = torch::autograd::grad({outputs}, {inputs}, {u.reshape({k * B, N}).to(outputs.scalar_type())})[0];
  return grads.view({k, B, N}).detach();
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
                                          const torch::Tensor& v0, double tolerance, int64_t max_iterations) {
  const int64_t T = states.size(0), B = states.size(1), k = v0.size(2);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(states.device());
  const torch::Tensor identity = torch::eye(k, f64).expand({B, k, k});
  PropagatorResult result;
  result.iterations = torch::full({B}, max_iterations, torch::kInt64);
  torch::Tensor v = v0.to(f64);
  torch::Tensor sigma_before;
  // Tangents and cotangents are carried in float32 at least (SPEC §3).
  const torch::Tensor carried = c10::elementSize(states.scalar_type()) >= 4 ? states : states.to(torch::kFloat32);
  for (int64_t iteration = 1; iteration <= max_iterations; ++iteration) {
    // Forward: M·V = X·R_f with X orthonormal, R_f = R_T ⋯ R_1.
    torch::Tensor x = v, r_forward = identity;
    for (int64_t t = 0; t < T; ++t) {
      const torch::Tensor primal = carried[t];
      const torch::Tensor stack = torch::cat({primal.unsqueeze(0), x.permute({2, 0, 1}).to(primal.scalar_type())}, 0);
      auto [q, r] = PositiveQr(map.Step(stack, AfterUpdate()).narrow(0, 1, k).permute({1, 2, 0}).to(torch::kFloat64));
      x = q;
      r_forward = r.matmul(r_forward);
    }
    // U spans M·V: U = X·Q' with R_f = Q'·R'.
    torch::Tensor u = x.matmul(std::get<0>(PositiveQr(r_forward)));
    // Backward: Mᵀ·U = Y·R_b, Y orthonormal.
    torch::Tensor r_backward = identity;
    for (int64_t t = T - 1; t >= 0; --t) {
      const torch::Tensor primal = carried[t];
      const torch::Tensor image = map.Vjp(primal, u.permute({2, 0, 1}).to(primal.scalar_type()));
      auto [q, r] = PositiveQr(image.permute({1, 2, 0}).to(torch::kFloat64));
      u = q;
      r_backward = r.matmul(r_backward);
    }
    // σ(Mᵀ·U) = σ(R_b); the next V spans Mᵀ·U.
    const torch::Tensor sigma = torch::linalg_svdvals(r_backward);  // [B, k], descending
    v = u.matmul(std::get<0>(PositiveQr(r_backward)));
    if (sigma_before.defined()) {
      const torch::Tensor change = ((sigma - sigma_before).abs() / sigma).amax(1);
      const torch::Tensor newly = change.lt(tolerance).to(torch::kCPU).logical_and(result.iterations.eq(max_iterations));
      result.iterations.masked_fill_(newly, iteration);
    }
    sigma_before = sigma;
    result.log_sigma = sigma.log();
    if (result.iterations.lt(max_iterations).all().item<bool>()) break;
  }
  return result;
}

}  // namespace rrm::measure
