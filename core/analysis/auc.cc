#include "core/analysis/auc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace rrm::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The samples in bins, each bin's members in ascending score, with the tie
// groups marked: computed once, then re-weighted by every bootstrap replicate.
class SortedBins {
 public:
  SortedBins(const std::vector<Scored>& samples, int num_bins) : samples_(samples), num_bins_(num_bins) {
    for (size_t i = 0; i < samples.size(); ++i) {
      if (samples[i].bin >= 0 && samples[i].bin < num_bins) order_.push_back(i);
    }
    std::sort(order_.begin(), order_.end(), [&samples](size_t a, size_t b) {
      if (samples[a].bin != samples[b].bin) return samples[a].bin < samples[b].bin;
      return samples[a].score < samples[b].score;
    });
  }

  // Tallies with per-sample weights (multiplicities); nullptr means all ones.
  std::vector<PairTally> Tally(const std::vector<double>* weights) const {
    std::vector<PairTally> tallies(std::max(num_bins_, 0));
    size_t i = 0;
    while (i < order_.size()) {
      const int bin = samples_[order_[i]].bin;
      PairTally& tally = tallies[bin];
      double negatives_below = 0, positives = 0, negatives = 0;
      while (i < order_.size() && samples_[order_[i]].bin == bin) {
        // One tie group: equal scores in this bin count one half (SPEC §5).
        const double score = samples_[order_[i]].score;
        double group_pos = 0, group_neg = 0;
        while (i < order_.size() && samples_[order_[i]].bin == bin && samples_[order_[i]].score == score) {
          const double w = weights ? (*weights)[order_[i]] : 1.0;
          (samples_[order_[i]].positive ? group_pos : group_neg) += w;
          ++i;
        }
        tally.favourable += group_pos * negatives_below + 0.5 * group_pos * group_neg;
        negatives_below += group_neg;
        positives += group_pos;
        negatives += group_neg;
      }
      tally.pairs = positives * negatives;
      tally.n_positive = static_cast<int64_t>(positives);
      tally.n_negative = static_cast<int64_t>(negatives);
    }
    return tallies;
  }

 private:
  const std::vector<Scored>& samples_;
  int num_bins_;
  std::vector<size_t> order_;
};

}  // namespace

std::vector<PairTally> TallyPairsWithinBins(const std::vector<Scored>& samples, int num_bins) {
  return SortedBins(samples, num_bins).Tally(nullptr);
}

double PooledAuc(const std::vector<PairTally>& tallies) {
  double favourable = 0, pairs = 0;
  for (const PairTally& t : tallies) {
    favourable += t.favourable;
    pairs += t.pairs;
  }
  return pairs > 0 ? favourable / pairs : kNaN;
}

double MannWhitneyAuc(const std::vector<Scored>& samples) {
  std::vector<Scored> one_bin = samples;
  for (Scored& s : one_bin) s.bin = 0;
  return PooledAuc(TallyPairsWithinBins(one_bin, 1));
}

Interval BootstrapAucInterval(const std::vector<Scored>& samples, int num_bins, int replicates,
                              uint64_t seed, double level) {
  if (replicates < 1 || std::isnan(PooledAuc(TallyPairsWithinBins(samples, num_bins)))) {
    return {kNaN, kNaN};
  }
  // Cells (bin, class): resampling inside each keeps every bin's pair count.
  std::vector<std::vector<size_t>> cells(2 * static_cast<size_t>(num_bins));
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].bin < 0 || samples[i].bin >= num_bins) continue;
    cells[2 * samples[i].bin + (samples[i].positive ? 1 : 0)].push_back(i);
  }
  const SortedBins sorted(samples, num_bins);
  std::mt19937_64 rng(seed);
  std::vector<double> weights(samples.size());
  std::vector<double> aucs;
  aucs.reserve(replicates);
  for (int r = 0; r < replicates; ++r) {
    std::fill(weights.begin(), weights.end(), 0.0);
    for (const std::vector<size_t>& cell : cells) {
      for (size_t k = 0; k < cell.size(); ++k) weights[cell[UniformIndex(rng, cell.size())]] += 1.0;
    }
    aucs.push_back(PooledAuc(sorted.Tally(&weights)));
  }
  return {Quantile(aucs, (1.0 - level) / 2.0), Quantile(aucs, (1.0 + level) / 2.0)};
}

size_t UniformIndex(std::mt19937_64& rng, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

double Quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return SortedQuantile(values, q);
}

double SortedQuantile(const std::vector<double>& values, double q) {
  if (values.empty()) return kNaN;
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  if (fraction == 0 || values[below] == values[above]) return values[below];
  return values[below] + fraction * (values[above] - values[below]);
}

}  // namespace rrm::analysis
