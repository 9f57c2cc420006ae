#include "core/measure/lyapunov.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
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
  // Cotangents never narrower than float32 (SPEC §3); float64 stays float64.
  const torch::ScalarType dtype = u.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  torch::AutoGradMode enable_grad(true);
  // Jᵀ·u = ∂⟨u, J·v⟩/∂v. The tangent pass is linear in v, so its graph for
  // any c directions (zeros will do) is the whole linearisation, and one
  // backward through it takes c cotangents. Recording c = k directions
  // replays the tangent pass k times over; c = 1 replays it once but pays
  // autograd's per-node overhead once per cotangent. c = 4 was the fastest
  // measured, at hidden 64 and 512 alike (docs/performance.md).
  constexpr int64_t kCotangentsPerBackward = 4;
  const int64_t k = u.size(0), c = std::min(k, kCotangentsPerBackward);
  const torch::Tensor directions = torch::zeros({c, x.size(0), x.size(1)}, u.options().dtype(dtype)).set_requires_grad(true);
  const torch::Tensor stack = torch::cat({x.detach().unsqueeze(0).to(dtype), directions}, 0);
  const torch::Tensor image = Step(stack, AfterUpdate()).narrow(0, 1, c);
  // Padded with zero cotangents to a whole number of backwards.
  const int64_t padded = (k + c - 1) / c * c;
  const torch::Tensor cotangents =
      torch::cat({u.to(image.scalar_type()), torch::zeros({padded - k, x.size(0), x.size(1)}, image.options())}, 0);
  std::vector<torch::Tensor> chunks;
  for (int64_t j = 0; j < padded; j += c) {
    chunks.push_back(torch::autograd::grad({image}, {directions}, {cotangents.narrow(0, j, c)},
                                           /*retain_graph=*/j + c < padded)[0]);
  }
  return torch::cat(chunks, 0).narrow(0, 0, k).detach();
}

namespace {

// Orthonormalises W [B, N, b] (float64), returning Q and R with diag R > 0.
std::pair<torch::Tensor, torch::Tensor> PositiveQr(const torch::Tensor& w) {
  auto [q, r] = torch::linalg_qr(w, "reduced");
  const torch::Tensor signs = torch::where(r.diagonal(0, -2, -1) < 0, -1.0, 1.0);
  return {q * signs.unsqueeze(1), r * signs.unsqueeze(2)};
}

// An orthonormal basis [B, N, b] of the part of W outside span(basis)
// (undefined: no basis yet): two rounds of Gram–Schmidt, each followed by
// orthonormalisation. Once is not enough when W lies almost inside the span
// (converged directions): what is left is rounding, and only after it is
// scaled up can a second round take out its part inside.
torch::Tensor Complement(torch::Tensor w, const torch::Tensor& basis) {
  if (!basis.defined()) return PositiveQr(w).first;
  for (int round = 0; round < 2; ++round) {
    w = PositiveQr(w - basis.matmul(basis.transpose(-1, -2).matmul(w))).first;
  }
  return w;
}

// One pass of a block [B, N, b] (float64) through the stored steps: forward,
// M·V, or reverse, Mᵀ·U, with M = J_T ⋯ J_1. The block is re-orthonormalised
// after every step and the b×b factors are multiplied in float64, so
// directions that shrink by e^{−16·λ} keep full precision; the image is
// returned as that Q·R product.
torch::Tensor Pass(const TangentMap& map, const torch::Tensor& carried, const torch::Tensor& block, bool forward,
                   const PropagatorOptions& options) {
  const int64_t b = block.size(2), T = carried.size(0);
  torch::Tensor q = block, r = torch::eye(b, block.options()).expand({block.size(0), b, b});
  for (int64_t i = 0; i < T; ++i) {
    if (options.before_step) options.before_step();
    const torch::Tensor primal = carried[forward ? i : T - 1 - i];
    const torch::Tensor directions = q.permute({2, 0, 1}).to(primal.scalar_type());
    const torch::Tensor image =
        forward ? map.Step(torch::cat({primal.unsqueeze(0), directions}, 0), AfterUpdate()).narrow(0, 1, b)
                : map.Vjp(primal, directions);
    auto [step_q, step_r] = PositiveQr(image.permute({1, 2, 0}).to(torch::kFloat64));
    q = step_q;
    r = step_r.matmul(r);
  }
  return q.matmul(r);
}

// Rayleigh–Ritz in span(U) × span(V): the top `count` singular triplets of
// Uᵀ·(M·V) = P·Σ·Wᵀ, as σ [B, count] and coefficients p, w.
struct Ritz {
  torch::Tensor sigma, p, w;
};
Ritz TopRitz(const torch::Tensor& u, const torch::Tensor& mv, int64_t count) {
  auto [p, sigma, wh] = torch::linalg_svd(u.transpose(-1, -2).matmul(mv), /*full_matrices=*/false);
  return {sigma.narrow(1, 0, count), p.narrow(2, 0, count), wh.transpose(-1, -2).narrow(2, 0, count)};
}

// ‖image_i − σ_i·vector_i‖ / σ_i for each column i, on the CPU.
torch::Tensor RelativeResidual(const torch::Tensor& image, const torch::Tensor& vectors, const torch::Tensor& sigma) {
  return ((image - vectors * sigma.unsqueeze(1)).norm(2, /*dim=*/1) / sigma).to(torch::kCPU);
}

}  // namespace

int64_t PropagatorBasisColumns(int64_t k) { return 8 * kPropagatorColumnsPerExponent * k; }

PropagatorResult PropagatorSingularValues(const TangentMap& map, const torch::Tensor& states,
                                          const torch::Tensor& v0, const PropagatorOptions& options) {
  const int64_t B = states.size(1), b = v0.size(2), k = options.k;
  TORCH_CHECK(k >= 1 && b >= 1 && b <= kPropagatorKeptPerExponent * k,
              "PropagatorSingularValues: expected k >= 1 and a block of 1 to ", kPropagatorKeptPerExponent, "·k, found k = ",
              k, ", block ", b);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(states.device());
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

  // Every pass ends in a residual test of the Ritz pairs the pass before it
  // produced, so an example can stop after a forward pass as well as after a
  // reverse one. An example stops when every σ_1..σ_k passes, or — not
  // converged — when the worst residual of its right pairs has not reached a
  // new low for kStagnation iterations (it sits on the tangent dtype's
  // rounding floor), or at the last iteration. Left pairs stop an example
  // only by passing: counted too, their residuals, fluctuating on the floor,
  // kept setting new lows and doubled the iterations of a floor-bound
  // example (with the power iteration before block Lanczos). Its result is frozen
  // where it stops, so it never depends on the other examples of its batch.
  // Returns whether every example has stopped.
  constexpr int64_t kStagnation = 5;
  torch::Tensor done = torch::zeros({B}, torch::kBool);
  torch::Tensor best_residual = torch::full({B}, std::numeric_limits<double>::infinity(), torch::kFloat64);
  torch::Tensor since_best = torch::zeros({B}, torch::kInt64);
  enum class Pairs { kLeft, kRight };
  auto test = [&](Pairs pairs, int64_t iteration, bool last, const torch::Tensor& sigma, const torch::Tensor& residual,
                  const std::function<std::pair<torch::Tensor, torch::Tensor>()>& vectors) {
    const torch::Tensor worst = residual.amax(1);
    const torch::Tensor passed = worst.le(options.tolerance);
    torch::Tensor stop = passed.logical_or(torch::tensor(last));
    if (pairs == Pairs::kRight) {
      const torch::Tensor improved = worst.lt(best_residual);
      best_residual = torch::where(improved, worst, best_residual);
      since_best = torch::where(improved, torch::zeros_like(since_best), since_best + 1);
      stop = stop.logical_or(since_best.ge(kStagnation));
    }
    const torch::Tensor freeze = torch::logical_and(torch::logical_not(done), stop);
    if (freeze.any().item<bool>()) {
      const torch::Tensor rows = freeze.nonzero().squeeze(1);
      result.log_sigma.index_copy_(0, rows, sigma.log().to(torch::kCPU).index_select(0, rows));
      result.residual.index_copy_(0, rows, residual.index_select(0, rows));
      result.iterations.index_fill_(0, rows, iteration);
      if (options.vectors) {
        const auto [right_vectors, left_vectors] = vectors();
        const torch::Tensor device_rows = rows.to(right_vectors.device());
        result.right.index_copy_(0, device_rows, right_vectors.index_select(0, device_rows));
        result.left.index_copy_(0, device_rows, left_vectors.index_select(0, device_rows));
      }
      result.converged.logical_or_(torch::logical_and(freeze, passed));
      done.logical_or_(freeze);
    }
    return done.all().item<bool>();
  };

  // Block Golub–Kahan–Lanczos bidiagonalisation of M with full
  // reorthogonalisation: a Krylov method, so the top k converge at a rate set
  // by the square root of their gaps rather than by the gaps themselves (as
  // in the block power iteration this replaced), which matters most for the
  // early window's flat spectrum (docs/performance.md). Iteration j:
  //   forward pass  M·V_j; U_j = its part outside span(U_1..U_{j−1});
  //   reverse pass  Mᵀ·U_j; V_{j+1} = its part outside span(V_1..V_j).
  // So M·V ⊂ span(U) and Mᵀ·U ⊂ span(V ∪ V_{j+1}), and Rayleigh–Ritz on
  // Uᵀ·M·V = P·Σ·Wᵀ gives two tests that cost no pass of their own:
  //  - right pairs after the reverse pass: v_i = V·w_i, M·v_i = σ_i·u_i with
  //    u_i = U·p_i, so ‖MᵀM·v_i − σ_i²·v_i‖ / σ_i² = ‖Mᵀ·U·p_i − σ_i·v_i‖ / σ_i
  //    (SPEC §3);
  //  - left pairs of span(U_1..U_{j−1}) after the forward pass of V_j:
  //    Mᵀ·u_i = σ_i·y_i with y_i = V·w_i, so ‖MMᵀ·u_i − σ_i²·u_i‖ / σ_i² =
  //    ‖M·V·w_i − σ_i·u_i‖ / σ_i (σ(M) = σ(Mᵀ): the same test for the
  //    transpose). It lets an example stop one reverse pass earlier.
  // Both residuals apply M or Mᵀ to unit vectors, never MᵀM to v_i, so
  // rounding in the passes is not amplified by σ_1²/σ_i².
  // The bases hold at most `room` columns (memory: PropagatorBasisColumns).
  // When the next block would not fit, they restart from their top `kept`
  // Ritz triplets, whose images M·v_i = σ_i·u_i and Mᵀ·u_i are known without
  // a pass. That block, computed before the restart against the whole V, is
  // where the Ritz residuals Mᵀ·u_i − σ_i·v_i lie, so the Krylov relations
  // continue unbroken (a thick restart). It keeps 4k triplets, not b: a
  // block smaller than k must keep at least k, and the rest keep what the
  // discarded columns taught about σ_{k+1}.. at no cost (on the fixtures,
  // keeping 2k or 4k cost the same: docs/performance.md). When N cannot hold a block
  // beside k kept triplets (tiny test maps), the next block is Mᵀ·U_j itself
  // (a power step).
  const int64_t N = states.size(2);
  const int64_t room = std::min(kPropagatorColumnsPerExponent * k, N);
  const int64_t kept = std::min(kPropagatorKeptPerExponent * k, room - b);
  const bool power_steps = kept < k;
  TORCH_CHECK(b * options.max_iterations >= k, "PropagatorSingularValues: ", options.max_iterations,
              " iterations of a block of ", b, " cannot reach k = ", k, " pairs");
  TORCH_CHECK(!power_steps || b >= k, "PropagatorSingularValues: a block of ", b, " < k = ", k,
              " needs a state of at least k + block = ", k + b, " dimensions, found ", N);
  torch::Tensor v = v0.to(f64), u, mv, mtu;  // the bases V and U and their images M·V and Mᵀ·U, [B, N, columns]
  auto newest = [b](const torch::Tensor& basis) { return basis.narrow(2, basis.size(2) - b, b); };
  auto append = [](const torch::Tensor& basis, const torch::Tensor& block) {
    return basis.defined() ? torch::cat({basis, block}, 2) : block;
  };
  for (int64_t iteration = 1; iteration <= options.max_iterations; ++iteration) {
    const bool last = iteration == options.max_iterations;
    mv = append(mv, Pass(map, carried, newest(v), /*forward=*/true, options));
    // Both tests need k pairs: with a block smaller than k the first
    // iterations only grow the basis.
    if (u.defined() && u.size(2) >= k) {
      const Ritz ritz = TopRitz(u, mv, k);
      const torch::Tensor u_pairs = u.matmul(ritz.p);
      if (test(Pairs::kLeft, iteration, false, ritz.sigma, RelativeResidual(mv.matmul(ritz.w), u_pairs, ritz.sigma),
               [&] { return std::make_pair(v.matmul(ritz.w), u_pairs); })) {
        break;
      }
    }
    u = append(u, Complement(newest(mv), u));
    mtu = append(mtu, Pass(map, carried, newest(u), /*forward=*/false, options));
    const Ritz ritz = TopRitz(u, mv, u.size(2));  // all of them: the top k are tested, the top `kept` restart
    if (u.size(2) >= k) {
      const torch::Tensor sigma = ritz.sigma.narrow(1, 0, k), p = ritz.p.narrow(2, 0, k), w = ritz.w.narrow(2, 0, k);
      const torch::Tensor v_pairs = v.matmul(w);
      if (test(Pairs::kRight, iteration, last, sigma, RelativeResidual(mtu.matmul(p), v_pairs, sigma),
               [&] { return std::make_pair(v_pairs, u.matmul(p)); })) {
        break;
      }
    }
    if (power_steps) {
      v = PositiveQr(newest(mtu)).first;
      u = mv = mtu = torch::Tensor();
      continue;
    }
    // Where N itself is the cap, the block is found after the restart,
    // against the kept triplets only (the same space in exact arithmetic).
    torch::Tensor next = v.size(2) + b <= N ? Complement(newest(mtu), v) : torch::Tensor();
    if (v.size(2) + b > room) {
      v = v.matmul(ritz.w.narrow(2, 0, kept));
      u = u.matmul(ritz.p.narrow(2, 0, kept));
      mv = mv.matmul(ritz.w.narrow(2, 0, kept));
      mtu = mtu.matmul(ritz.p.narrow(2, 0, kept));
    }
    if (!next.defined()) next = Complement(newest(mtu), v);
    v = append(v, next);
  }
  return result;
}

}  // namespace rrm::measure
