// The launcher every entry point runs first (rrmd, rrm-measure, bench-forward;
// the image's ENTRYPOINT and scripts/demo.sh run those binaries): it picks the
// fastest BLAS that is safe on this CPU and the number of intra-op threads, and
// hands both to the BLAS before it initialises.
//
// Why a re-exec: LibTorch calls whatever libblas.so.3 the dynamic loader found at
// start-up, and libgomp and OpenBLAS read OMP_NUM_THREADS / OPENBLAS_* only when
// they load; so the choice is made by setting LD_LIBRARY_PATH and the thread
// variables and executing the same binary once more (guarded by RRM_CPU_SETUP).
// The system's libblas.so.3 alternative is never touched.
//
// Choice (issue #15 item 1; docs/performance.md "Which BLAS"):
//   - OpenBLAS-openmp with OPENBLAS_CORETYPE=SkylakeX when the CPU has the
//     SkylakeX AVX-512 set (avx512f, avx512bw, avx512dq, avx512vl): OpenBLAS
//     misdetects many virtualised Xeons and falls back to slow kernels, while
//     forcing SkylakeX on a CPU without AVX-512 dies of SIGILL;
//   - OpenBLAS-openmp as it detects itself on AVX2+FMA CPUs (it scales to the
//     second thread where BLIS does not);
//   - else BLIS-openmp; else the system's libblas.so.3.
// RRM_BLAS=openblas-skylakex|openblas|blis|system chooses explicitly.
//
// Threads (item 0): --threads if given, else an explicit OMP_NUM_THREADS (the
// tests set 1), else the cores this process may run on (sched_getaffinity)
// divided among its CPU workers, at least 1; so two CPU workers on two cores get
// one thread each and nothing is oversubscribed.
#ifndef RRM_CORE_COMMON_CPU_SETUP_H_
#define RRM_CORE_COMMON_CPU_SETUP_H_

#include <ATen/Parallel.h>
#include <link.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace rrm {

struct CpuSetup {
  int threads = 1;
  int cores = 1;
  std::string blas;         // the choice: openblas-skylakex, openblas, blis, system
  std::string blas_loaded;  // the libblas.so.3 this process actually loaded
};

namespace cpu_setup_internal {

inline constexpr char kBlisDir[] = "/usr/lib/x86_64-linux-gnu/blis-openmp";
inline constexpr char kOpenBlasDir[] = "/usr/lib/x86_64-linux-gnu/openblas-openmp";

inline bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

inline int PositiveEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return 0;
  const int n = std::atoi(value);
  return n > 0 ? n : 0;
}

inline std::set<std::string> CpuFlags() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;  // every core of one machine reports the same set
  }
  return flags;
}

}  // namespace cpu_setup_internal

// The BLAS rule of the header comment: `flags` as /proc/cpuinfo lists them,
// `forced` the value of RRM_BLAS ("" when unset), `openblas` / `blis` whether
// their openmp libraries are installed.
inline std::string ChooseBlas(const std::set<std::string>& flags, const std::string& forced, bool openblas, bool blis) {
  if (forced == "openblas-skylakex" || forced == "openblas" || forced == "blis" || forced == "system") return forced;
  if (!forced.empty()) {
    std::fprintf(stderr, "RRM_BLAS: expected openblas-skylakex, openblas, blis or system, found '%s'; choosing\n",
                 forced.c_str());
  }
  const auto has = [&](const char* f) { return flags.count(f) > 0; };
  if (openblas && has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl")) return "openblas-skylakex";
  if (openblas && has("avx2") && has("fma")) return "openblas";
  if (blis) return "blis";
  return "system";
}

// The thread rule of the header comment: --threads, else an explicit
// OMP_NUM_THREADS (0 when unset), else the cores shared among the CPU workers.
inline int IntraOpThreads(int threads_flag, int env_threads, int cores, int cpu_workers) {
  if (threads_flag > 0) return threads_flag;
  if (env_threads > 0) return env_threads;
  return std::max(1, cores / std::max(1, cpu_workers));
}

namespace cpu_setup_internal {

inline int AffinityCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

// Real path of the libblas/libopenblas/libblis the dynamic loader mapped.
inline std::string LoadedBlas() {
  std::string found = "none";
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("libblas.so") != std::string::npos || name.find("libopenblas") != std::string::npos ||
            name.find("libblis") != std::string::npos) {
          char* real = realpath(name.c_str(), nullptr);
          *static_cast<std::string*>(data) = real ? real : name;
          std::free(real);
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

inline void SetIfUnset(const char* name, const std::string& value) { setenv(name, value.c_str(), /*overwrite=*/0); }

}  // namespace cpu_setup_internal

// Call first in main, after flag parsing and before any torch call; `argv` is
// main's (re-executed unchanged). `program` names the log line. `openblas`:
// whether OpenBLAS may be chosen without RRM_BLAS asking for it; rrmd passes
// false: with OpenBLAS's libblas.so.3 loaded its Prometheus exposer (civetweb
// 1.15) fails to start ("null context when constructing CivetServer"), a cause
// not yet found (docs/performance.md, "Which BLAS").
inline CpuSetup SetUpCpu(const char* program, char** argv, int threads_flag, int cpu_workers, bool openblas = true) {
  namespace in = cpu_setup_internal;
  CpuSetup setup;
  setup.cores = in::AffinityCores();
  const char* done = std::getenv("RRM_CPU_SETUP");
  if (done == nullptr) {
    const int threads = IntraOpThreads(threads_flag, in::PositiveEnv("OMP_NUM_THREADS"), setup.cores, cpu_workers);
    const std::string blas = ChooseBlas(in::CpuFlags(), std::getenv("RRM_BLAS") ? std::getenv("RRM_BLAS") : "",
                                        openblas && in::Exists(std::string(in::kOpenBlasDir) + "/libblas.so.3"),
                                        in::Exists(std::string(in::kBlisDir) + "/libblas.so.3"));
    const std::string n = std::to_string(threads);
    // An explicit variable of the user's wins (SetIfUnset); OMP_NUM_THREADS is
    // ours to set: --threads or the rule above already respected the user's.
    setenv("OMP_NUM_THREADS", n.c_str(), 1);
    in::SetIfUnset("BLIS_NUM_THREADS", n);
    in::SetIfUnset("OPENBLAS_NUM_THREADS", n);
    // OpenMP threads that spin-wait for a core another process holds make every
    // parallel region 5-10x slower (measured in docs/performance.md, "Which
    // BLAS"); its cost on an idle machine is not measured yet.
    if (threads > 1) in::SetIfUnset("OMP_WAIT_POLICY", "PASSIVE");
    std::string dir;
    if (blas == "openblas-skylakex" || blas == "openblas") dir = in::kOpenBlasDir;
    if (blas == "blis") dir = in::kBlisDir;
    if (blas == "openblas-skylakex") in::SetIfUnset("OPENBLAS_CORETYPE", "SkylakeX");
    if (!dir.empty()) {
      const char* old = std::getenv("LD_LIBRARY_PATH");
      setenv("LD_LIBRARY_PATH", (old && *old ? dir + ":" + old : dir).c_str(), 1);
    }
    setenv("RRM_CPU_SETUP", blas.c_str(), 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "%s: cannot re-execute /proc/self/exe with the chosen BLAS; using the system's\n", program);
    setenv("RRM_CPU_SETUP", "system", 1);
  }
  setup.blas = std::getenv("RRM_CPU_SETUP");
  setup.threads = threads_flag > 0 ? threads_flag : std::max(1, in::PositiveEnv("OMP_NUM_THREADS"));
  at::set_num_threads(setup.threads);
  setup.blas_loaded = in::LoadedBlas();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::fprintf(stderr, "%s: %d intra-op threads (%d cores, %d CPU workers), BLAS %s (%s%s%s)\n", program, setup.threads,
               setup.cores, cpu_workers, setup.blas.c_str(), setup.blas_loaded.c_str(),
               coretype ? ", OPENBLAS_CORETYPE=" : "", coretype ? coretype : "");
  return setup;
}

}  // namespace rrm

#endif  // RRM_CORE_COMMON_CPU_SETUP_H_
