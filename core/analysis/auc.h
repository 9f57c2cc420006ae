// Two-class separation statistics of SPEC §5: the Mann–Whitney AUC with ties
// counted one half, its pairs-within-bin form for matched comparisons, and a
// seeded percentile bootstrap. Pure functions of their inputs; thread-safe.
#ifndef RRM_CORE_ANALYSIS_AUC_H_
#define RRM_CORE_ANALYSIS_AUC_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace rrm::analysis {

// One observation: its score, its class, and (for matched AUCs) its bin in
// [0, num_bins). Scores must not be NaN (callers drop and count them);
// ±Infinity are ordinary, ordered values.
struct Scored {
  double score = 0;
  bool positive = false;
  int bin = 0;
};

// Mann–Whitney tally over (positive, negative) pairs of one bin:
// favourable = #(s_pos > s_neg) + ½·#(s_pos = s_neg), pairs = n_pos·n_neg.
struct PairTally {
  double favourable = 0;
  double pairs = 0;
  int64_t n_positive = 0;
  int64_t n_negative = 0;
};

// Per-bin tallies; pairs are formed only within a bin (SPEC §5 "pairs compared
// only within the same decile"). Returns num_bins entries; samples whose bin
// lies outside [0, num_bins) are ignored.
std::vector<PairTally> TallyPairsWithinBins(const std::vector<Scored>& samples, int num_bins);

// P(s_pos > s_neg) + ½·P(s_pos = s_neg) pooled over bins:
// Σ favourable / Σ pairs. NaN when there are no pairs.
double PooledAuc(const std::vector<PairTally>& tallies);

// The plain AUC (every sample in one bin, `bin` ignored). NaN when a class is empty.
double MannWhitneyAuc(const std::vector<Scored>& samples);

// Lower and upper ends of a confidence interval; NaN when not computed.
struct Interval {
  double low;
  double high;
};

// Percentile bootstrap interval for PooledAuc(TallyPairsWithinBins(samples)):
// each of `replicates` resamples draws, with replacement, as many members of
// every (bin, class) cell as it has, so every replicate has the same pair
// counts as the data; the interval is the (1−level)/2 and (1+level)/2
// quantiles (linear interpolation) of the replicate AUCs. The generator is
// std::mt19937_64(seed), indices drawn by multiply-shift, so the result is
// the same on every platform for the same inputs. {NaN, NaN} when
// replicates < 1 or there are no pairs.
Interval BootstrapAucInterval(const std::vector<Scored>& samples, int num_bins, int replicates,
                              uint64_t seed, double level = 0.95);

// Uniform index in [0, n) from one 64-bit draw (Lemire's multiply-shift):
// unlike std::uniform_int_distribution it is specified, so every bootstrap is
// reproducible across standard libraries.
size_t UniformIndex(std::mt19937_64& rng, size_t n);

// Quantile q ∈ [0, 1] of `values` by linear interpolation between order
// statistics (numpy's default "linear" method, Hyndman–Fan type 7). NaN for no
// values. `values` must not contain NaN; it is taken by value and sorted.
double Quantile(std::vector<double> values, double q);

// The same on values already sorted ascending (no copy).
double SortedQuantile(const std::vector<double>& sorted, double q);

}  // namespace rrm::analysis

#endif  // RRM_CORE_ANALYSIS_AUC_H_
