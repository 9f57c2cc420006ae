// The launcher's rules (core/common/cpu_setup.h, issue #15 items 0 and 1): which
// BLAS is safe and fastest for a CPU's flags, and how many intra-op threads a
// process takes.
#include "core/common/cpu_setup.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace rrm {
namespace {

const std::set<std::string> kSkylakeX = {"sse4_2",   "avx",      "avx2",     "fma",     "avx512f",
                                         "avx512bw", "avx512dq", "avx512vl", "avx512cd"};
const std::set<std::string> kEpyc = {"sse4_2", "avx", "avx2", "fma"};  // Zen 2/3: AVX2 + FMA, no AVX-512
const std::set<std::string> kOld = {"sse4_2", "avx"};

TEST(CpuSetup, SkylakeXKernelsOnlyWithTheAvx512Set) {
  EXPECT_EQ(ChooseBlas(kSkylakeX, "", true, true), "openblas-skylakex");
  // Knights Landing has avx512f without bw/dq/vl: the SkylakeX kernels would fault.
  EXPECT_EQ(ChooseBlas({"avx2", "fma", "avx512f"}, "", true, true), "openblas");
}

TEST(CpuSetup, NeverForcesSkylakeXWithoutAvx512) {
  EXPECT_EQ(ChooseBlas(kEpyc, "", true, true), "openblas");
  EXPECT_EQ(ChooseBlas(kOld, "", true, true), "blis");
}

TEST(CpuSetup, FallsBackToWhatIsInstalled) {
  EXPECT_EQ(ChooseBlas(kSkylakeX, "", false, true), "blis");
  EXPECT_EQ(ChooseBlas(kSkylakeX, "", false, false), "system");
}

TEST(CpuSetup, RrmBlasChoosesExplicitlyAndAnUnknownValueIsIgnored) {
  EXPECT_EQ(ChooseBlas(kSkylakeX, "blis", true, true), "blis");
  EXPECT_EQ(ChooseBlas(kSkylakeX, "bogus", true, true), "openblas-skylakex");
}

TEST(CpuSetup, EveryCoreByDefaultSharedAmongCpuWorkers) {
  EXPECT_EQ(IntraOpThreads(0, 0, 2, 1), 2);
  EXPECT_EQ(IntraOpThreads(0, 0, 2, 2), 1);    // two CPU workers on two cores: one thread each
  EXPECT_EQ(IntraOpThreads(0, 0, 16, 0), 16);  // CUDA workers only
  EXPECT_EQ(IntraOpThreads(0, 0, 2, 3), 1);
}

TEST(CpuSetup, ExplicitThreadsWin) {
  EXPECT_EQ(IntraOpThreads(0, 1, 16, 1), 1);  // scripts/test.sh's OMP_NUM_THREADS=1
  EXPECT_EQ(IntraOpThreads(3, 1, 16, 1), 3);  // --threads over the environment
}

}  // namespace
}  // namespace rrm
