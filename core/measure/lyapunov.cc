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

torch::Tensor OrthonormalizeTangents(torch::Tensor& x) {
  const int64_t k = x.size(0) - 1;
  const torch::Tensor tangents = x.narrow(0, 1, k);
  const torch::Tensor w = tangents.permute({1, 2, 0}).to(torch::kFloat64);  // [B, N, k]
  auto [q, r] = torch::linalg_qr(w, "reduced");
  const torch::Tensor diagonal = r.diagonal(0, -2, -1);  // [B, k]
  // SPEC §3: diag R > 0 — flip the columns of Q whose diagonal entry is negative.
  const torch::Tensor signs = torch::where(diagonal < 0, -1.0, 1.0);
  q = q * signs.unsqueeze(1);
  x.narrow(0, 1, k).copy_(q.permute({2, 0, 1}));
  return diagonal.abs().log();
}

void RunTangentTrajectory(const TangentMap& map, const torch::Tensor& x0, const torch::Tensor& q0, int64_t T,
                          const TangentOptions& options,
                          const std::function<void(int64_t t, torch::Tensor& primal)>& replace_primal,
                          const std::function<void(const StepResult&)>& on_step) {
  const int64_t k = options.k;
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
                   increments += OrthonormalizeTangents(partial);
                 })
                               : AfterUpdate());
    // Per-update QR leaves the tangents orthonormal; the increments of the
    // segment are the sum of the per-update ones (product of the R factors).
    if (k > 0 && !per_update) increments = OrthonormalizeTangents(x);
    result.after = x[0];
    result.increments = increments;
    on_step(result);
  }
}

}  // namespace rrm::measure
