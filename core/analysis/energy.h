// Where the instability lives (issue 17): cell-level statistics of the
// records' energy maps (record.h EnergyMap), one set per map method. Every
// number is defined in docs/analysis.md "Energy maps"; Analyze() fills
// Report::energy with them, so every client shows the same numbers.
//
// Cells. A map's positions are P puzzle-embedding positions, then the
// puzzle's cells (in the puzzle as given); the cell statistics read the cells
// only, the map renormalised over them (c_i = E[P+i] / Σ_cells E).
//
// Population: the analysis population (restart 0, valid, labelled). Records
// without maps are left out and counted. Intervals: 95% percentile bootstrap
// over puzzles (the population's records drawn with replacement,
// std::mt19937_64(seed) per statistic), as every other CI of the report.
//
// Thread safety: pure functions.
#ifndef RRM_CORE_ANALYSIS_ENERGY_H_
#define RRM_CORE_ANALYSIS_ENERGY_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/measure/record.h"

namespace rrm::analysis {

// A pairs-within-puzzle AUC: in each puzzle, every (positive, negative) pair
// of its cells; AUC = Σ_puzzles (#(c_pos > c_neg) + ½·#(=)) / Σ_puzzles pairs.
struct CellAuc {
  std::string comparison;      // "wrong_vs_right_blank" | "blank_vs_given"
  std::string population;      // "failures" | "all"
  std::string direction;       // the stated direction, e.g. "higher energy -> wrong cell"
  int64_t puzzles = 0;         // puzzles with at least one pair
  int64_t n_positive = 0;      // cells of the positive class over those puzzles
  int64_t n_negative = 0;
  double pairs = 0;
  double auc_raw = std::numeric_limits<double>::quiet_NaN();
  double ci_low = std::numeric_limits<double>::quiet_NaN();
  double ci_high = std::numeric_limits<double>::quiet_NaN();
  int64_t ci_replicates = 0;
  std::string absent_reason;   // non-empty ⇔ auc_raw is NaN
};

// A mean over records with its bootstrap interval.
struct MeanStat {
  int64_t n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double ci_low = std::numeric_limits<double>::quiet_NaN();
  double ci_high = std::numeric_limits<double>::quiet_NaN();
};

// How concentrated the maps are, by outcome, and failures minus successes.
struct Concentration {
  std::string score;           // "entropy" (H/log L, 1 = uniform) | "top5_share"
  MeanStat success;
  MeanStat failure;
  MeanStat difference;         // failure mean − success mean (one bootstrap of puzzles)
};

struct EnergyMapStats {
  std::string method;          // EnergyMap.method
  int directions = 0;          // n (one value per method in one analysis)
  int64_t records = 0;         // population records carrying this map
  int cells = 0;               // L, cells per map
  CellAuc wrong_vs_right;      // within failures: wrong cells vs right blank cells
  CellAuc blank_vs_given;      // every record with givens: blank cells vs given cells
  MeanStat puzzle_position_share;  // Σ_{s<P} E[s]: the share outside the cells
  std::vector<Concentration> concentration;  // entropy, top5_share
  // Mean cell map c (length L) over successes and over failures: the heat maps.
  std::vector<double> mean_cells_success;
  std::vector<double> mean_cells_failure;
  std::string absent_reason;
};

struct EnergyAnalysis {
  std::vector<EnergyMapStats> maps;  // one per method present, in a fixed order
  int64_t records_without_maps = 0;  // population records carrying none
  std::string absent_reason;         // non-empty when no record carries a map
};

// The statistics over `population` (sorted by example_index, as Analyze
// keeps it). bootstrap = 0: no intervals.
EnergyAnalysis AnalyzeEnergyMaps(const std::vector<const measure::ExampleRecord*>& population, int bootstrap,
                                 uint64_t seed);

// The per-puzzle tally behind CellAuc, exposed for tests: favourable pairs
// (#(pos > neg) + ½·#(pos = neg)) and pairs between the scores of `positive`
// and `negative` cells of one map. Ranks, O(n log n).
struct CellTally {
  double favourable = 0;
  double pairs = 0;
};
CellTally TallyCells(const std::vector<double>& cells, const std::vector<int32_t>& positive,
                     const std::vector<int32_t>& negative);

}  // namespace rrm::analysis

#endif  // RRM_CORE_ANALYSIS_ENERGY_H_
