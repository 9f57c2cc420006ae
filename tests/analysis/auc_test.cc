// The AUC primitives against hand-computed cases and independent computations
// (scikit-learn's roc_auc_score, numpy's percentile, brute-force pair counts).
#include "core/analysis/auc.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rrm::analysis {
namespace {

struct ShellResult {
  int exit_code;
  std::string output;
};

ShellResult RunShell(const std::string& command) {
  // One log per process: ctest runs tests in parallel processes.
  const std::string log = ::testing::TempDir() + "/auc_test_shell." + std::to_string(::getpid()) + ".log";
  const int status = std::system((command + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

std::vector<double> ParseDoubles(const std::string& text) {
  std::vector<double> values;
  std::istringstream in(text);
  double v;
  while (in >> v) values.push_back(v);
  return values;
}

// Integer-valued scores on a small range, so ties are frequent.
std::vector<Scored> RandomSamples(std::mt19937_64& rng, int n, int bins, double shift) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> bin(0, bins - 1);
  std::bernoulli_distribution coin(0.4);
  std::vector<Scored> samples;
  for (int i = 0; i < n; ++i) {
    const bool positive = coin(rng);
    samples.push_back({std::round(2.0 * normal(rng) + (positive ? shift : 0.0)), positive, bin(rng)});
  }
  return samples;
}

TEST(Auc, HandComputedWithTiesCountingOneHalf) {
  // positives {1, 2, 2}, negatives {0, 2}: pairs 6; 1>0; 2>0 twice; 2=2 twice -> 3 + 2·½ = 4.
  const std::vector<Scored> samples = {{1, true}, {2, true}, {2, true}, {0, false}, {2, false}};
  EXPECT_DOUBLE_EQ(MannWhitneyAuc(samples), 4.0 / 6.0);
  // All tied: exactly one half.
  EXPECT_DOUBLE_EQ(MannWhitneyAuc({{3, true}, {3, false}, {3, false}}), 0.5);
  // Infinities are ordinary values.
  EXPECT_DOUBLE_EQ(MannWhitneyAuc({{INFINITY, true}, {-INFINITY, false}, {0, false}}), 1.0);
}

TEST(Auc, EmptyClassGivesNaN) {
  EXPECT_TRUE(std::isnan(MannWhitneyAuc({})));
  EXPECT_TRUE(std::isnan(MannWhitneyAuc({{1, true}, {2, true}})));
  EXPECT_TRUE(std::isnan(MannWhitneyAuc({{1, false}})));
  const Interval ci = BootstrapAucInterval({{1, true}}, 1, 100, 0);
  EXPECT_TRUE(std::isnan(ci.low) && std::isnan(ci.high));
}

TEST(Auc, MatchesScikitLearnOnRandomDataWithTies) {
  std::mt19937_64 rng(7);
  const std::string data = ::testing::TempDir() + "/auc_sklearn_data." + std::to_string(::getpid()) + ".txt";
  std::vector<double> ours;
  {
    std::ofstream out(data);
    out.precision(17);
    for (int dataset = 0; dataset < 6; ++dataset) {
      const std::vector<Scored> samples = RandomSamples(rng, 50 + 97 * dataset, 1, 0.3 * dataset - 0.5);
      ours.push_back(MannWhitneyAuc(samples));
      out << samples.size() << "\n";
      for (const Scored& s : samples) out << (s.positive ? 1 : 0) << " " << s.score << "\n";
    }
  }
  const ShellResult run = RunShell(
      "/usr/bin/python3 -c \"\n"
      "from sklearn.metrics import roc_auc_score\n"
      "tokens = open('" + data + "').read().split()\n"
      "i = 0\n"
      "while i < len(tokens):\n"
      "    n = int(tokens[i]); i += 1\n"
      "    y = [int(tokens[i + 2 * j]) for j in range(n)]\n"
      "    s = [float(tokens[i + 2 * j + 1]) for j in range(n)]\n"
      "    i += 2 * n\n"
      "    print(repr(roc_auc_score(y, s)))\n"
      "\"");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::vector<double> theirs = ParseDoubles(run.output);
  ASSERT_EQ(theirs.size(), ours.size()) << run.output;
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], theirs[i], 1e-12) << "dataset " << i;
}

TEST(Auc, PairsWithinBinsMatchBruteForce) {
  std::mt19937_64 rng(11);
  const int bins = 5;
  const std::vector<Scored> samples = RandomSamples(rng, 300, bins, 0.8);
  const std::vector<PairTally> tallies = TallyPairsWithinBins(samples, bins);
  ASSERT_EQ(tallies.size(), static_cast<size_t>(bins));
  double favourable = 0, pairs = 0;
  for (int b = 0; b < bins; ++b) {
    double f = 0, p = 0;
    int64_t np = 0, nn = 0;
    for (const Scored& x : samples) {
      if (x.bin != b) continue;
      (x.positive ? np : nn) += 1;
      if (!x.positive) continue;
      for (const Scored& y : samples) {
        if (y.bin != b || y.positive) continue;
        p += 1;
        f += x.score > y.score ? 1.0 : x.score == y.score ? 0.5 : 0.0;
      }
    }
    EXPECT_DOUBLE_EQ(tallies[b].favourable, f) << "bin " << b;
    EXPECT_DOUBLE_EQ(tallies[b].pairs, p) << "bin " << b;
    EXPECT_EQ(tallies[b].n_positive, np);
    EXPECT_EQ(tallies[b].n_negative, nn);
    favourable += f;
    pairs += p;
  }
  EXPECT_DOUBLE_EQ(PooledAuc(tallies), favourable / pairs);
}

TEST(Auc, PairsWithinBinsOnConstructedData) {
  // Within each bin the positives are all higher, but bin 1's scores are all
  // lower than bin 0's: matched AUC is 1 although the pooled-unmatched one is not.
  const std::vector<Scored> samples = {{10, true, 0}, {9, false, 0}, {8, false, 0},
                                       {2, true, 1},  {1, false, 1}, {11, false, 2}};
  const std::vector<PairTally> tallies = TallyPairsWithinBins(samples, 3);
  EXPECT_DOUBLE_EQ(tallies[0].pairs, 2);
  EXPECT_DOUBLE_EQ(tallies[1].pairs, 1);
  EXPECT_DOUBLE_EQ(tallies[2].pairs, 0);  // one class only: contributes no pairs
  EXPECT_DOUBLE_EQ(PooledAuc(tallies), 1.0);
  // Unmatched: positives {10, 2} vs negatives {9, 8, 1, 11}: 10 beats 3, 2 beats 1 -> 4/8.
  EXPECT_DOUBLE_EQ(MannWhitneyAuc(samples), 0.5);
  // Out-of-range bins are ignored; no pairs at all -> NaN.
  EXPECT_TRUE(std::isnan(PooledAuc(TallyPairsWithinBins({{1, true, 7}, {0, false, 7}}, 3))));
}

TEST(Auc, BootstrapIsReproducibleWithTheSeedAndContainsTheEstimate) {
  std::mt19937_64 rng(3);
  const std::vector<Scored> samples = RandomSamples(rng, 400, 1, 1.0);
  const double auc = MannWhitneyAuc(samples);
  const Interval a = BootstrapAucInterval(samples, 1, 500, 42);
  const Interval b = BootstrapAucInterval(samples, 1, 500, 42);
  const Interval c = BootstrapAucInterval(samples, 1, 500, 43);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_TRUE(a.low != c.low || a.high != c.high);
  EXPECT_LT(a.low, auc);
  EXPECT_GT(a.high, auc);
  // Width near the normal approximation 2·1.96·SE (Hanley & McNeil 1982).
  int64_t np = 0, nn = 0;
  for (const Scored& s : samples) (s.positive ? np : nn) += 1;
  const double q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc);
  const double se = std::sqrt((auc * (1 - auc) + (np - 1) * (q1 - auc * auc) + (nn - 1) * (q2 - auc * auc)) /
                              static_cast<double>(np * nn));
  EXPECT_NEAR(a.high - a.low, 2 * 1.96 * se, 0.35 * 2 * 1.96 * se);
  // No replicates: no interval.
  EXPECT_TRUE(std::isnan(BootstrapAucInterval(samples, 1, 0, 42).low));
}

TEST(Auc, BootstrapWithinBinsKeepsPairCounts) {
  // Perfect separation inside every bin: every resample keeps both classes in
  // each bin, so every replicate AUC is exactly 1.
  const std::vector<Scored> samples = {{5, true, 0}, {6, true, 0}, {1, false, 0},
                                       {0, true, 1}, {-3, false, 1}, {-4, false, 1}};
  const Interval ci = BootstrapAucInterval(samples, 2, 200, 1);
  EXPECT_EQ(ci.low, 1.0);
  EXPECT_EQ(ci.high, 1.0);
}

TEST(Quantile, MatchesNumpyLinearPercentile) {
  const std::vector<double> values = {0.3, 0.1, 0.9, 0.2, 0.25, 0.7, 0.7};
  const ShellResult run = RunShell(
      "/usr/bin/python3 -c \"import numpy as np; v = [0.3, 0.1, 0.9, 0.2, 0.25, 0.7, 0.7]; "
      "print(*[repr(float(np.percentile(v, q))) for q in (0, 5, 25, 50, 75, 95, 100)])\"");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::vector<double> theirs = ParseDoubles(run.output);
  const std::vector<double> qs = {0, 0.05, 0.25, 0.5, 0.75, 0.95, 1};
  ASSERT_EQ(theirs.size(), qs.size());
  for (size_t i = 0; i < qs.size(); ++i) EXPECT_NEAR(Quantile(values, qs[i]), theirs[i], 1e-15) << qs[i];
  EXPECT_TRUE(std::isnan(Quantile({}, 0.5)));
  EXPECT_EQ(Quantile({4.0}, 0.95), 4.0);
}

}  // namespace
}  // namespace rrm::analysis
