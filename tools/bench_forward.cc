// bench-forward: speed of the segment map, plain (k = 0) and with k exact
// tangents, against this machine's own sgemm rate measured in the same run.
//
//   build/bin/bench-forward --hidden=128,512 --batch=1,4,16,64 --k=0 --threads=1
//   build/bin/bench-forward --hidden=128,512 --batch=4 --k=0,1,4,8,16 --threads=1
//
// Prints, per (family, hidden, batch, k): seconds per segment, examples/s for
// a full T-segment trajectory, achieved GFLOP/s ((1+k) × the FLOPs of the
// segment map counted below) and that as a share of the matrix-product rate
// of the selected BLAS (rrm::SetUpCpu; the GPU's on --device=cuda) in the same
// dtype (%gemm), the cost ratio
// time(k)/time(0) (the FLOP floor is 1 + k), and an estimate of the memory
// the largest activation of one step needs (for sizing batches); for k > 0
// also the cost of k VJPs through one segment (the propagator's reverse pass,
// LibTorch autograd) relative to the plain forward.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/common/cpu_setup.h"
#include "core/common/device.h"
#include "core/measure/segment_map.h"
#include "core/model/initial_weights.h"
#include "core/model/model_config.h"
#include "core/model/recurrent_model.h"

ABSL_FLAG(std::vector<std::string>, family, std::vector<std::string>({"trm", "trm_mlpt", "hrm"}),
          "Architectures: trm (attention), trm_mlpt, hrm; official Sudoku sizes otherwise.");
ABSL_FLAG(std::vector<std::string>, hidden, std::vector<std::string>({"128", "512"}), "Hidden sizes.");
ABSL_FLAG(std::vector<std::string>, batch, std::vector<std::string>({"1", "4", "16", "64"}), "Batch sizes.");
ABSL_FLAG(int, threads, 0, "Intra-op threads (0: every core this process may use, or OMP_NUM_THREADS if set).");
ABSL_FLAG(int, segments, 16, "T: segments per trajectory (examples/s is for a whole trajectory).");
ABSL_FLAG(double, min_seconds, 1.0, "Time each configuration for at least this long.");
ABSL_FLAG(std::string, device, "cpu", "torch device.");
ABSL_FLAG(std::vector<std::string>, k, std::vector<std::string>({"0"}), "Tangent counts k (0 = plain forward).");
ABSL_FLAG(std::vector<std::string>, dtype, std::vector<std::string>({"float32"}),
          "Forward dtypes (float32, bfloat16); %gemm is against the matrix product in the same dtype.");

namespace {

using rrm::model::Family;
using rrm::model::ModelConfig;

ModelConfig OfficialConfig(const std::string& family, int64_t hidden, const std::string& dtype) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.num_heads = hidden / 64;  // upstream: 8 heads at 512
  c.expansion = 4;
  c.forward_dtype = dtype;
  c.seq_len = 81;
  c.vocab_size = 11;
  c.num_puzzle_identifiers = 1;
  c.puzzle_emb_ndim = hidden;
  if (family == "hrm") {  // config/arch/hrm_v1.yaml
    c.family = Family::kHrm;
    c.H_cycles = 2, c.L_cycles = 2, c.H_layers = 4, c.L_layers = 4;
  } else {  // config/arch/trm.yaml (+ mlp_t, no positions for Sudoku)
    c.family = Family::kTrm;
    c.H_cycles = 3, c.L_cycles = 6, c.L_layers = 2, c.puzzle_emb_len = 16;
    c.mlp_t = family == "trm_mlpt";
    c.pos_encodings = c.mlp_t ? "none" : "rope";
  }
  return c;
}

// FLOPs of one segment for one example: 2·m·n·k per matrix product.
double SegmentFlops(const ModelConfig& c) {
  const double S = c.state_positions(), D = c.hidden_size, I = c.SwiGluInner(c.hidden_size);
  double block = 2 * S * D * 2 * I + 2 * S * I * D;  // SwiGLU over the hidden axis
  if (c.mlp_t) {
    const double It = c.SwiGluInner(c.state_positions());
    block += 2 * D * S * 2 * It + 2 * D * It * S;
  } else {
    block += 2 * S * D * 3 * D + 2 * S * D * D  // qkv and output projections
             + 2 * 2 * S * S * D;              // scores and weighted values
  }
  if (c.family == Family::kHrm) {
    return block * (c.H_cycles * c.L_cycles * c.L_layers + c.H_cycles * c.H_layers);
  }
  return block * c.H_cycles * (c.L_cycles + 1) * c.L_layers;
}

// Waits for the work queued on `device`: copying a new scalar to the host is
// ordered after every kernel already on the default stream (a no-op on the CPU).
void Synchronize(const torch::Device& device) {
  (void)torch::zeros({1}, torch::TensorOptions().device(device)).item<float>();
}

// Seconds per call of `fn`, timed over at least `min_seconds`; on a GPU the
// calls only queue kernels, so the clock stops after the queue has drained.
template <typename Fn>
double SecondsPerCall(const torch::Device& device, Fn&& fn, double min_seconds) {
  fn();  // warm-up
  Synchronize(device);
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  do {
    fn();
    ++calls;
  } while (elapsed() < min_seconds);
  Synchronize(device);
  return elapsed() / calls;
}

std::vector<int64_t> Ints(const std::vector<std::string>& values) {
  std::vector<int64_t> out;
  for (const std::string& v : values) {
    int64_t x = 0;
    if (absl::SimpleAtoi(v, &x)) out.push_back(x);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Forward (trajectory) speed versus this machine's sgemm.");
  absl::ParseCommandLine(argc, argv);
  const rrm::CpuSetup cpu = rrm::SetUpCpu("bench-forward", argv, absl::GetFlag(FLAGS_threads), 1);
  torch::NoGradGuard no_grad;
  const absl::StatusOr<torch::Device> parsed = rrm::ParseDevice("--device", absl::GetFlag(FLAGS_device));
  if (!parsed.ok()) {
    std::fprintf(stderr, "bench-forward: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  const torch::Device device = *parsed;
  const double min_seconds = absl::GetFlag(FLAGS_min_seconds);

  // The rate the trajectory is compared with: a 1024² matrix product through
  // the BLAS rrm::SetUpCpu selected (or the GPU's), in each forward dtype.
  const int64_t n = 1024;
  std::vector<std::pair<std::string, double>> gemm;
  for (const std::string& dtype : absl::GetFlag(FLAGS_dtype)) {
    if (dtype != "float32" && dtype != "bfloat16") {
      std::fprintf(stderr, "--dtype: expected float32 or bfloat16, found '%s'\n", dtype.c_str());
      return 2;
    }
    const auto options =
        torch::TensorOptions().device(device).dtype(dtype == "float32" ? torch::kFloat32 : torch::kBFloat16);
    const torch::Tensor a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
    gemm.emplace_back(dtype, 2.0 * n * n * n /
                                 SecondsPerCall(
                                     device, [&] { torch::mm(a, b); }, min_seconds) /
                                 1e9);
    std::printf("gemm %lldx%lld %s on %s, %d threads, BLAS %s: %.1f GFLOP/s\n", static_cast<long long>(n),
                static_cast<long long>(n), dtype.c_str(), device.str().c_str(), torch::get_num_threads(),
                device.is_cpu() ? cpu.blas.c_str() : "-", gemm.back().second);
  }
  std::printf("\n%-9s %6s %5s %-8s %3s %11s %10s %9s %7s %10s %10s %9s\n", "family", "hidden", "batch", "dtype", "k",
              "s/segment", "traj ex/s", "GFLOP/s", "%gemm", "t(k)/t(0)", "vjp/t(0)", "act. MiB");

  for (const auto& [dtype, gemm_rate] : gemm) {
    for (const std::string& family : absl::GetFlag(FLAGS_family)) {
      for (int64_t hidden : Ints(absl::GetFlag(FLAGS_hidden))) {
        const ModelConfig config = OfficialConfig(family, hidden, dtype);
        auto model = rrm::model::RecurrentModel::Create(config, rrm::model::InitialStateDict(config, 0), device);
        if (!model.ok()) {
          std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
          return 1;
        }
        for (int64_t batch : Ints(absl::GetFlag(FLAGS_batch))) {
          const torch::Tensor inputs =
              torch::randint(1, 11, {batch, 81}, torch::TensorOptions().dtype(torch::kInt64).device(device));
          const torch::Tensor ids = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kInt64).device(device));
          const rrm::measure::SegmentMap map(**model, (*model)->InputEmbeddings(inputs, ids));
          const torch::Tensor x0 = map.InitialPrimal();
          // The machine may be shared: each k is timed in rounds alternating with
          // k = 0, and the ratio is the median of the per-round ratios.
          auto step_seconds = [&](int64_t k, double budget) {
            torch::Tensor x = x0.unsqueeze(0);
            if (k > 0) x = torch::cat({x, torch::randn({k, batch, x0.size(1)}, x0.options())}, 0);
            return SecondsPerCall(
                device, [&] { map.Step(x, {}); }, budget);
          };
          for (int64_t k : Ints(absl::GetFlag(FLAGS_k))) {
            constexpr int kRounds = 3;
            std::vector<double> ratios, vjp_ratios, times;
            for (int round = 0; round < (k > 0 ? kRounds : 1); ++round) {
              const double base = k > 0 ? step_seconds(0, min_seconds / kRounds) : 0;
              times.push_back(step_seconds(k, k > 0 ? min_seconds / kRounds : min_seconds));
              if (k > 0) {
                ratios.push_back(times.back() / base);
                // One reverse pass of the propagator: k VJPs through a segment.
                const torch::Tensor u = torch::randn({k, batch, x0.size(1)}, x0.options());
                vjp_ratios.push_back(SecondsPerCall(
                                         device, [&] { map.Vjp(x0, u); }, min_seconds / kRounds) /
                                     base);
              }
            }
            std::sort(ratios.begin(), ratios.end());
            std::sort(vjp_ratios.begin(), vjp_ratios.end());
            std::sort(times.begin(), times.end());
            const double seconds = times[times.size() / 2];
            const double gflops = SegmentFlops(config) * (1 + k) * batch / seconds / 1e9;
            std::printf("%-9s %6lld %5lld %-8s %3lld %11.4f %10.3f %9.1f %6.0f%% %10s %10s %9.1f\n", family.c_str(),
                        static_cast<long long>(hidden), static_cast<long long>(batch), dtype.c_str(),
                        static_cast<long long>(k), seconds, batch / (seconds * absl::GetFlag(FLAGS_segments)), gflops,
                        100 * gflops / gemm_rate,
                        k > 0 ? absl::StrFormat("%.2f", ratios[ratios.size() / 2]).c_str() : "1.00",
                        k > 0 ? absl::StrFormat("%.2f", vjp_ratios[vjp_ratios.size() / 2]).c_str() : "-",
                        rrm::model::ActivationBytesPerRow(config) * (1 + k) * batch / (1 << 20));
            std::fflush(stdout);
          }
        }
      }
    }
  }
  return 0;
}
