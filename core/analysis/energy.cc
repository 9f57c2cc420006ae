#include "core/analysis/energy.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/analysis/auc.h"

namespace rrm::analysis {
namespace {

using measure::EnergyMap;
using measure::ExampleRecord;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Fixed report order: the propagator's maps, its early window's, then QR's.
const char* const kMethods[] = {"propagator_right", "propagator_left", "window_right", "window_left", "qr_frame"};

// One record's numbers for one map method.
struct MapSample {
  bool success = false;
  std::vector<double> cells;   // c, renormalised over the cells
  CellTally wrong_vs_right;    // failures only (pairs 0 otherwise)
  int64_t wrong = 0, right_blank = 0;
  CellTally blank_vs_given;
  int64_t blank = 0, given = 0;
  double entropy = kNaN;       // H(c) / log L
  double top5 = kNaN;          // the five largest c_i summed
  double puzzle_share = kNaN;  // Σ_{s<P} E[s]
};

MapSample Sample(const ExampleRecord& r, const EnergyMap& map) {
  MapSample s;
  s.success = r.correct;
  const int64_t P = map.puzzle_positions, L = static_cast<int64_t>(map.positions.size()) - P;
  s.puzzle_share = std::accumulate(map.positions.begin(), map.positions.begin() + P, 0.0);
  s.cells.assign(map.positions.begin() + P, map.positions.end());
  const double total = std::accumulate(s.cells.begin(), s.cells.end(), 0.0);
  for (double& c : s.cells) c = total > 0 ? c / total : 1.0 / static_cast<double>(L);
  double entropy = 0;
  for (double c : s.cells) {
    if (c > 0) entropy -= c * std::log(c);
  }
  s.entropy = L > 1 ? entropy / std::log(static_cast<double>(L)) : kNaN;
  std::vector<double> sorted = s.cells;
  const int64_t top = std::min<int64_t>(5, L);
  std::partial_sort(sorted.begin(), sorted.begin() + top, sorted.end(), std::greater<double>());
  s.top5 = std::accumulate(sorted.begin(), sorted.begin() + top, 0.0);

  std::vector<char> is_given(L, 0), is_wrong(L, 0);
  for (int32_t c : r.given_cells) {
    if (c >= 0 && c < L) is_given[c] = 1;
  }
  for (int32_t c : r.wrong_cells) {
    if (c >= 0 && c < L) is_wrong[c] = 1;
  }
  std::vector<int32_t> wrong, right_blank, blank, given;
  for (int32_t c = 0; c < L; ++c) {
    (is_given[c] ? given : blank).push_back(c);
    if (is_wrong[c]) {
      wrong.push_back(c);
    } else if (!is_given[c]) {
      right_blank.push_back(c);
    }
  }
  if (!r.correct) {
    s.wrong_vs_right = TallyCells(s.cells, wrong, right_blank);
    s.wrong = static_cast<int64_t>(wrong.size());
    s.right_blank = static_cast<int64_t>(right_blank.size());
  }
  if (!given.empty()) {
    s.blank_vs_given = TallyCells(s.cells, blank, given);
    s.blank = static_cast<int64_t>(blank.size());
    s.given = static_cast<int64_t>(given.size());
  }
  return s;
}

// The statistics of one method for puzzle weights w (1 each: the estimate;
// bootstrap counts: a replicate).
struct Estimates {
  double wrong_vs_right = kNaN, blank_vs_given = kNaN, puzzle_share = kNaN;
  double entropy[2] = {kNaN, kNaN}, top5[2] = {kNaN, kNaN};  // [failure, success]
};

Estimates Estimate(const std::vector<MapSample>& samples, const std::vector<double>& weight) {
  double fav_wr = 0, pairs_wr = 0, fav_bg = 0, pairs_bg = 0, share = 0, total = 0;
  double entropy[2] = {0, 0}, top5[2] = {0, 0}, n[2] = {0, 0};
  for (size_t i = 0; i < samples.size(); ++i) {
    const MapSample& s = samples[i];
    const double w = weight[i];
    if (w == 0) continue;
    fav_wr += w * s.wrong_vs_right.favourable;
    pairs_wr += w * s.wrong_vs_right.pairs;
    fav_bg += w * s.blank_vs_given.favourable;
    pairs_bg += w * s.blank_vs_given.pairs;
    share += w * s.puzzle_share;
    total += w;
    const int outcome = s.success ? 1 : 0;
    if (!std::isnan(s.entropy)) {
      entropy[outcome] += w * s.entropy;
      top5[outcome] += w * s.top5;
      n[outcome] += w;
    }
  }
  Estimates e;
  if (pairs_wr > 0) e.wrong_vs_right = fav_wr / pairs_wr;
  if (pairs_bg > 0) e.blank_vs_given = fav_bg / pairs_bg;
  if (total > 0) e.puzzle_share = share / total;
  for (int o = 0; o < 2; ++o) {
    if (n[o] > 0) {
      e.entropy[o] = entropy[o] / n[o];
      e.top5[o] = top5[o] / n[o];
    }
  }
  return e;
}

// Percentile interval of the replicates (NaN ones left out).
void Interval95(std::vector<double> values, double* low, double* high, int64_t* replicates = nullptr) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  if (replicates != nullptr) *replicates = static_cast<int64_t>(values.size());
  if (values.empty()) return;
  std::sort(values.begin(), values.end());
  *low = SortedQuantile(values, 0.025);
  *high = SortedQuantile(values, 0.975);
}

EnergyMapStats AnalyzeMethod(const std::string& method, const std::vector<MapSample>& samples, int directions,
                             int bootstrap, uint64_t seed) {
  EnergyMapStats stats;
  stats.method = method;
  stats.directions = directions;
  stats.records = static_cast<int64_t>(samples.size());
  stats.cells = samples.empty() ? 0 : static_cast<int>(samples[0].cells.size());

  CellAuc& wr = stats.wrong_vs_right;
  wr.comparison = "wrong_vs_right_blank";
  wr.population = "failures";
  wr.direction = "higher energy -> wrong cell (right blank cells the negatives)";
  CellAuc& bg = stats.blank_vs_given;
  bg.comparison = "blank_vs_given";
  bg.population = "all";
  bg.direction = "higher energy -> blank cell (given cells the negatives)";
  std::vector<double> mean_cells[2] = {std::vector<double>(stats.cells, 0.0), std::vector<double>(stats.cells, 0.0)};
  int64_t outcome_count[2] = {0, 0};
  for (const MapSample& s : samples) {
    if (s.wrong_vs_right.pairs > 0) {
      ++wr.puzzles;
      wr.n_positive += s.wrong;
      wr.n_negative += s.right_blank;
      wr.pairs += s.wrong_vs_right.pairs;
    }
    if (s.blank_vs_given.pairs > 0) {
      ++bg.puzzles;
      bg.n_positive += s.blank;
      bg.n_negative += s.given;
      bg.pairs += s.blank_vs_given.pairs;
    }
    const int o = s.success ? 1 : 0;
    ++outcome_count[o];
    for (size_t c = 0; c < s.cells.size() && c < mean_cells[o].size(); ++c) mean_cells[o][c] += s.cells[c];
  }
  for (int o = 0; o < 2; ++o) {
    for (double& c : mean_cells[o]) c = outcome_count[o] > 0 ? c / static_cast<double>(outcome_count[o]) : kNaN;
  }
  stats.mean_cells_failure = std::move(mean_cells[0]);
  stats.mean_cells_success = std::move(mean_cells[1]);

  const Estimates point = Estimate(samples, std::vector<double>(samples.size(), 1.0));
  wr.auc_raw = point.wrong_vs_right;
  if (std::isnan(wr.auc_raw)) wr.absent_reason = "no failure with both a wrong cell and a right blank cell";
  bg.auc_raw = point.blank_vs_given;
  if (std::isnan(bg.auc_raw)) bg.absent_reason = "no record with both given and blank cells (givens: Sudoku only)";
  stats.puzzle_position_share.n = stats.records;
  stats.puzzle_position_share.mean = point.puzzle_share;
  Concentration entropy{"entropy", {}, {}, {}}, top5{"top5_share", {}, {}, {}};
  for (Concentration* c : {&entropy, &top5}) {
    const double* values = c == &entropy ? point.entropy : point.top5;
    c->failure.n = outcome_count[0];
    c->success.n = outcome_count[1];
    c->failure.mean = values[0];
    c->success.mean = values[1];
    c->difference.n = stats.records;
    c->difference.mean = values[0] - values[1];
  }

  if (bootstrap > 0 && !samples.empty()) {
    std::vector<double> r_wr, r_bg, r_share, r_values[2][3];  // [entropy|top5][failure|success|difference]
    std::mt19937_64 rng(seed);
    std::vector<double> weight(samples.size());
    for (int b = 0; b < bootstrap; ++b) {
      std::fill(weight.begin(), weight.end(), 0.0);
      for (size_t i = 0; i < samples.size(); ++i) weight[UniformIndex(rng, samples.size())] += 1.0;
      const Estimates e = Estimate(samples, weight);
      r_wr.push_back(e.wrong_vs_right);
      r_bg.push_back(e.blank_vs_given);
      r_share.push_back(e.puzzle_share);
      for (int which = 0; which < 2; ++which) {
        const double* v = which == 0 ? e.entropy : e.top5;
        r_values[which][0].push_back(v[0]);
        r_values[which][1].push_back(v[1]);
        r_values[which][2].push_back(v[0] - v[1]);
      }
    }
    if (!std::isnan(wr.auc_raw)) Interval95(r_wr, &wr.ci_low, &wr.ci_high, &wr.ci_replicates);
    if (!std::isnan(bg.auc_raw)) Interval95(r_bg, &bg.ci_low, &bg.ci_high, &bg.ci_replicates);
    Interval95(r_share, &stats.puzzle_position_share.ci_low, &stats.puzzle_position_share.ci_high);
    for (int which = 0; which < 2; ++which) {
      Concentration& c = which == 0 ? entropy : top5;
      if (!std::isnan(c.failure.mean)) Interval95(r_values[which][0], &c.failure.ci_low, &c.failure.ci_high);
      if (!std::isnan(c.success.mean)) Interval95(r_values[which][1], &c.success.ci_low, &c.success.ci_high);
      if (!std::isnan(c.difference.mean)) Interval95(r_values[which][2], &c.difference.ci_low, &c.difference.ci_high);
    }
  }
  stats.concentration = {std::move(entropy), std::move(top5)};
  return stats;
}

}  // namespace

CellTally TallyCells(const std::vector<double>& cells, const std::vector<int32_t>& positive,
                     const std::vector<int32_t>& negative) {
  CellTally tally;
  if (positive.empty() || negative.empty()) return tally;
  // Mann–Whitney U of the positives from midranks of the pooled scores.
  std::vector<std::pair<double, bool>> pooled;
  pooled.reserve(positive.size() + negative.size());
  for (int32_t c : positive) pooled.emplace_back(cells[c], true);
  for (int32_t c : negative) pooled.emplace_back(cells[c], false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum = 0;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double midrank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1..j
    for (size_t t = i; t < j; ++t) {
      if (pooled[t].second) rank_sum += midrank;
    }
    i = j;
  }
  const double n_pos = static_cast<double>(positive.size());
  tally.favourable = rank_sum - n_pos * (n_pos + 1) / 2;
  tally.pairs = n_pos * static_cast<double>(negative.size());
  return tally;
}

EnergyAnalysis AnalyzeEnergyMaps(const std::vector<const ExampleRecord*>& population, int bootstrap, uint64_t seed) {
  EnergyAnalysis analysis;
  for (const ExampleRecord* r : population) {
    if (r->energy_maps.empty()) ++analysis.records_without_maps;
  }
  for (const char* method : kMethods) {
    std::vector<MapSample> samples;
    int directions = 0;
    std::string mismatch;
    for (const ExampleRecord* r : population) {
      for (const EnergyMap& map : r->energy_maps) {
        if (map.method != method) continue;
        const int64_t cells = static_cast<int64_t>(map.positions.size()) - map.puzzle_positions;
        if (map.puzzle_positions < 0 || cells < 1) {
          mismatch = absl::StrCat("example ", r->example_index, ": a map without cells");
          continue;
        }
        if (directions == 0) directions = map.directions;
        if (map.directions != directions) {
          mismatch = absl::StrCat("the records map different numbers of directions (", directions, " and ",
                                  map.directions, ")");
        }
        if (!samples.empty() && static_cast<int64_t>(samples[0].cells.size()) != cells) {
          mismatch = "the records' maps have different numbers of cells";
        }
        samples.push_back(Sample(*r, map));
      }
    }
    if (samples.empty()) continue;
    EnergyMapStats stats = AnalyzeMethod(method, samples, directions, bootstrap, seed);
    if (!mismatch.empty()) {
      stats = EnergyMapStats();
      stats.method = method;
      stats.absent_reason = mismatch;
    }
    analysis.maps.push_back(std::move(stats));
  }
  if (analysis.maps.empty()) {
    analysis.absent_reason = "no record carries an energy map (JobOptions.energy_map_directions = 0)";
  }
  return analysis;
}

}  // namespace rrm::analysis
