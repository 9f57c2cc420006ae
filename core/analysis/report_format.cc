#include "core/analysis/report_format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/common/json_text.h"

namespace rrm::analysis {
namespace {

// ---------------------------------------------------------------- JSON

void AppendQuartiles(const Quartiles& q, std::string* out) {
  JsonObject o(out);
  o.Int("n", q.n);
  o.Double("q1", q.q1);
  o.Double("median", q.median);
  o.Double("q3", q.q3);
  o.Double("median_ci_low", q.median_ci_low);
  o.Double("median_ci_high", q.median_ci_high);
}

void AppendProportion(const Proportion& p, std::string* out) {
  JsonObject o(out);
  o.Int("k", p.k);
  o.Int("n", p.n);
  o.Double("share", p.share);
  o.Double("ci_low", p.ci_low);
  o.Double("ci_high", p.ci_high);
}

void AppendPaired(const PairedComparison& c, std::string* out) {
  JsonObject o(out);
  o.Int("n", c.n);
  o.Int("only_strategy", c.only_strategy);
  o.Int("only_first", c.only_first);
  o.Double("difference", c.difference);
  o.Double("p_value", c.p_value);
}

// The claims table's numbers are JSON numbers or null (its consumers plot
// them), unlike the rest of the report's "NaN" strings.
void NumberOrNull(const char* name, double v, JsonObject* o) {
  if (std::isfinite(v)) {
    o->Double(name, v);
  } else {
    o->Key(name)->append("null");
  }
}

void AppendClaim(const Claim& c, std::string* out) {
  JsonObject o(out);
  o.String("id", c.id);
  o.String("claim", c.claim);
  o.String("paper", c.paper);
  NumberOrNull("paper_value", c.paper_value, &o);
  NumberOrNull("measured", c.measured, &o);
  NumberOrNull("ci_low", c.ci_low, &o);
  NumberOrNull("ci_high", c.ci_high, &o);
  o.String("measured_text", c.measured_text);
  o.String("verdict", c.verdict);
  o.String("reason", c.reason);
}

void AppendAuc(const AucStat& a, std::string* out) {
  JsonObject o(out);
  o.String("score", a.score);
  o.String("positive_class", a.positive_class);
  o.Int("n_positive", a.n_positive);
  o.Int("n_negative", a.n_negative);
  o.Int("n_missing", a.n_missing);
  o.Double("auc_raw", a.auc_raw);
  o.Double("auc_folded", a.auc_folded);
  o.String("direction", a.direction);
  o.Double("ci_low", a.ci_low);
  o.Double("ci_high", a.ci_high);
  o.String("ci_method", a.ci_method);
  o.Int("ci_replicates", a.ci_replicates);
  o.String("absent_reason", a.absent_reason);
}

void AppendBin(const BinRow& b, std::string* out) {
  JsonObject o(out);
  o.String("label", b.label);
  o.Double("low", b.low);
  o.Double("high", b.high);
  o.Int("n_positive", b.n_positive);
  o.Int("n_negative", b.n_negative);
  o.Double("pairs", b.pairs);
  o.Double("auc_raw", b.auc_raw);
}

void AppendMean(const MeanStat& m, std::string* out) {
  JsonObject o(out);
  o.Int("n", m.n);
  o.Double("mean", m.mean);
  o.Double("ci_low", m.ci_low);
  o.Double("ci_high", m.ci_high);
}

void AppendCellAuc(const CellAuc& a, std::string* out) {
  JsonObject o(out);
  o.String("comparison", a.comparison);
  o.String("population", a.population);
  o.String("direction", a.direction);
  o.Int("puzzles", a.puzzles);
  o.Int("n_positive", a.n_positive);
  o.Int("n_negative", a.n_negative);
  o.Double("pairs", a.pairs);
  o.Double("auc_raw", a.auc_raw);
  o.Double("ci_low", a.ci_low);
  o.Double("ci_high", a.ci_high);
  o.Int("ci_replicates", a.ci_replicates);
  o.String("absent_reason", a.absent_reason);
}

void AppendEnergyStats(const EnergyMapStats& m, std::string* out) {
  JsonObject o(out);
  o.String("method", m.method);
  o.Int("directions", m.directions);
  o.Int("records", m.records);
  o.Int("cells", m.cells);
  AppendCellAuc(m.wrong_vs_right, o.Key("wrong_vs_right"));
  AppendCellAuc(m.blank_vs_given, o.Key("blank_vs_given"));
  AppendMean(m.puzzle_position_share, o.Key("puzzle_position_share"));
  o.Array("concentration", m.concentration, [](const Concentration& c, std::string* text) {
    JsonObject j(text);
    j.String("score", c.score);
    AppendMean(c.success, j.Key("success"));
    AppendMean(c.failure, j.Key("failure"));
    AppendMean(c.difference, j.Key("difference"));
  });
  o.Doubles("mean_cells_success", m.mean_cells_success);
  o.Doubles("mean_cells_failure", m.mean_cells_failure);
  o.String("absent_reason", m.absent_reason);
}

void AppendStrings(const std::vector<std::string>& items, const char* name, JsonObject* o) {
  o->Array(name, items, [](const std::string& s, std::string* out) { AppendJsonString(s, out); });
}

}  // namespace

std::string ReportToJson(const Report& r) {
  std::string out;
  JsonObject root(&out);
  root.Array("claims", r.claims, AppendClaim);
  {
    JsonObject o(root.Key("parameters"));
    const AnalysisParameters& p = r.parameters;
    if (p.tau.has_value()) {
      o.Double("tau", *p.tau);
    } else {
      o.Key("tau")->append("null");
    }
    o.Int("early_window", p.early_window);
    o.Int("bootstrap", p.bootstrap);
    o.String("seed", absl::StrCat(p.seed));
    o.Int("displacement_bins", p.displacement_bins);
    if (p.lyapunov_method.has_value()) {
      o.String("lyapunov_method", *p.lyapunov_method);
    } else {
      o.Key("lyapunov_method")->append("null");
    }
    if (p.restarts.has_value()) {
      o.Int("restarts", *p.restarts);
    } else {
      o.Key("restarts")->append("null");
    }
  }
  {
    JsonObject o(root.Key("counts"));
    const Counts& c = r.counts;
    o.Int("records", c.records);
    o.Int("errors", c.errors);
    o.Int("without_segments", c.without_segments);
    o.Int("unlabelled", c.unlabelled);
    o.Int("population", c.population);
    o.Int("restart_records", c.restart_records);
    o.Int("successes", c.successes);
    o.Int("failures", c.failures);
    AppendProportion(c.accuracy, o.Key("accuracy"));
  }
  {
    JsonObject o(root.Key("population"));
    const PopulationInfo& p = r.population;
    AppendStrings(p.models, "models", &o);
    o.String("model_family", p.model_family);
    o.Array("segment_counts", p.segment_counts, [](int t, std::string* out) { absl::StrAppend(out, t); });
    o.Int("segments", p.segments);
    o.Bool("sudoku", p.sudoku);
    o.String("absent_reason", p.absent_reason);
  }
  {
    JsonObject o(root.Key("lyapunov"));
    const LyapunovInfo& l = r.lyapunov;
    o.String("method", l.method);
    o.Int("k", l.k);
    o.Int("records_with_lyapunov", l.records_with_lyapunov);
    o.Int("records_not_converged", l.records_not_converged);
    o.Int("updates_per_segment", l.updates_per_segment);
    o.Double("lambda_1_seed_sd_mean", l.lambda_1_seed_sd_mean);
    o.String("seed_sd_absent_reason", l.seed_sd_absent_reason);
    o.String("absent_reason", l.absent_reason);
  }
  {
    JsonObject o(root.Key("settling"));
    const Settling& s = r.settling;
    o.Double("tau", s.tau);
    o.String("tau_source", s.tau_source);
    o.String("absent_reason", s.absent_reason);
    o.Int("n_missing", s.n_missing);
    o.Int("success_settled", s.success_settled);
    o.Int("success_unsettled", s.success_unsettled);
    o.Int("failure_settled", s.failure_settled);
    o.Int("failure_unsettled", s.failure_unsettled);
    AppendProportion(s.share_success_settled, o.Key("share_success_settled"));
    AppendProportion(s.share_success_unsettled, o.Key("share_success_unsettled"));
    AppendProportion(s.share_failure_settled, o.Key("share_failure_settled"));
    AppendProportion(s.share_failure_unsettled, o.Key("share_failure_unsettled"));
    AppendProportion(s.settled_share_of_successes, o.Key("settled_share_of_successes"));
    AppendProportion(s.settled_share_of_failures, o.Key("settled_share_of_failures"));
    AppendQuartiles(s.settling_segment_success, o.Key("settling_segment_success"));
    AppendQuartiles(s.settling_segment_failure, o.Key("settling_segment_failure"));
    o.Double("least_mobile_failure_d_t", s.least_mobile_failure_d_t);
    AppendProportion(s.successes_below_least_mobile_failure, o.Key("successes_below_least_mobile_failure"));
    o.String("least_mobile_absent_reason", s.least_mobile_absent_reason);
  }
  root.Array("summaries", r.summaries, [](const ScoreSummary& s, std::string* out) {
    JsonObject o(out);
    o.String("score", s.score);
    AppendQuartiles(s.success, o.Key("success"));
    AppendQuartiles(s.failure, o.Key("failure"));
    o.Int("n_missing", s.n_missing);
    o.String("absent_reason", s.absent_reason);
  });
  root.Array("aucs", r.aucs, AppendAuc);
  root.Array("matched", r.matched, [](const MatchedAuc& m, std::string* out) {
    JsonObject o(out);
    o.String("binning", m.binning);
    AppendAuc(m.pooled, o.Key("pooled"));
    AppendAuc(m.plain, o.Key("plain"));
    o.Array("bins", m.bins, AppendBin);
  });
  {
    JsonObject o(root.Key("early"));
    const EarlyWindow& e = r.early;
    o.Int("w", e.w);
    o.Int("n_at_risk", e.n_at_risk);
    o.Int("n_eventual_success", e.n_eventual_success);
    o.Int("n_correct_at_w", e.n_correct_at_w);
    o.Int("n_too_short", e.n_too_short);
    o.String("lambda_1_source", e.lambda_1_source);
    AppendAuc(e.lambda_1, o.Key("lambda_1"));
    AppendAuc(e.d_w, o.Key("d_w"));
    AppendAuc(e.h_w, o.Key("h_w"));
  }
  {
    JsonObject o(root.Key("halting"));
    const Halting& h = r.halting;
    AppendAuc(h.auc, o.Key("auc"));
    AppendProportion(h.failures_confident, o.Key("failures_confident"));
    AppendProportion(h.failures_settled_confident, o.Key("failures_settled_confident"));
    o.String("rule", h.rule);
    AppendProportion(h.failures_halted_by_rule, o.Key("failures_halted_by_rule"));
    o.String("rule_absent_reason", h.rule_absent_reason);
  }
  {
    JsonObject o(root.Key("energy"));
    const EnergyAnalysis& e = r.energy;
    o.Array("maps", e.maps, AppendEnergyStats);
    o.Int("records_without_maps", e.records_without_maps);
    o.String("absent_reason", e.absent_reason);
  }
  {
    JsonObject o(root.Key("restarts"));
    const Restarts& s = r.restarts;
    o.Int("puzzles", s.puzzles);
    o.Int("puzzles_left_out", s.puzzles_left_out);
    o.Int("runs_ignored", s.runs_ignored);
    o.Int("max_runs", s.max_runs);
    o.Int("segments_per_run", s.segments_per_run);
    AppendStrings(s.restart_kinds, "restart_kinds", &o);
    o.Array("rows", s.rows, [](const RestartRow& row, std::string* out) {
      JsonObject j(out);
      j.Int("runs", row.runs);
      j.Double("segments", row.segments);
      AppendProportion(row.first_run, j.Key("first_run"));
      AppendProportion(row.best_of_h, j.Key("best_of_h"));
      AppendProportion(row.majority, j.Key("majority"));
      AppendProportion(row.oracle, j.Key("oracle"));
      AppendPaired(row.best_of_h_vs_first, j.Key("best_of_h_vs_first"));
      AppendPaired(row.majority_vs_first, j.Key("majority_vs_first"));
    });
    o.String("majority_absent_reason", s.majority_absent_reason);
    o.Int("prune_window", s.prune_window);
    o.Array("pruning", s.pruning, [](const PruneRow& row, std::string* out) {
      JsonObject j(out);
      j.Int("candidates", row.candidates);
      j.Double("segments", row.segments);
      AppendProportion(row.accuracy, j.Key("accuracy"));
      AppendPaired(row.vs_first, j.Key("vs_first"));
      j.Double("full_runs_same_budget", row.full_runs_same_budget);
      j.Double("best_of_h_same_budget", row.best_of_h_same_budget);
    });
    o.String("pruning_absent_reason", s.pruning_absent_reason);
    o.String("absent_reason", s.absent_reason);
  }
  return out;
}

// ---------------------------------------------------------------- table

namespace {

std::string Num(double v, int digits = 4) {
  if (std::isnan(v)) return "n/a";
  return absl::StrFormat("%.*f", digits, v);
}

std::string Pct(double v) { return std::isnan(v) ? "n/a" : absl::StrFormat("%.1f%%", 100.0 * v); }

// "k (share% [low%, high%])": a count with its Wilson 95% interval.
std::string ShareText(const Proportion& p) {
  if (p.n == 0) return absl::StrCat(p.k, " (n/a)");
  return absl::StrCat(p.k, " (", Pct(p.share), " [", Pct(p.ci_low), ", ", Pct(p.ci_high), "])");
}

// "share% [low%, high%]" without the count (restart tables).
std::string PctCi(const Proportion& p) {
  if (p.n == 0) return "n/a";
  return absl::StrCat(Pct(p.share), " [", Pct(p.ci_low), ", ", Pct(p.ci_high), "]");
}

std::string PairedText(const PairedComparison& c) {
  if (c.n == 0) return "n/a";
  return absl::StrFormat("%+.1f pts, +%d/-%d, McNemar p %s", 100.0 * c.difference, c.only_strategy, c.only_first,
                         absl::StrFormat("%.3g", c.p_value));
}

std::string QuartileText(const Quartiles& q, int digits = 4) {
  if (q.n == 0) return "n/a";
  return absl::StrCat(Num(q.median, digits), " [", Num(q.q1, digits), ", ", Num(q.q3, digits), "] n=", q.n);
}

// auc_raw in the stated direction first, its CI, the direction, then the
// folded value beside it (SPEC §5: never instead of it).
std::string AucLine(const AucStat& a) {
  if (!a.absent_reason.empty()) return absl::StrFormat("%-16s n/a (%s)", a.score, a.absent_reason);
  std::string ci = std::isnan(a.ci_low) ? "[no CI]" : absl::StrCat("[", Num(a.ci_low), ", ", Num(a.ci_high), "]");
  return absl::StrFormat("%-16s auc_raw %s %-18s %-30s folded %s  n: %d %s, %d %s, %d missing", a.score,
                         Num(a.auc_raw), ci, a.direction, Num(a.auc_folded), a.n_positive, a.positive_class,
                         a.n_negative, a.positive_class == "failure" ? "success" : "failure", a.n_missing);
}

void AppendClaims(const std::vector<Claim>& claims, std::string* out) {
  absl::StrAppend(out, "Reference paper's claims (SPEC 6) against these records\n");
  absl::StrAppendFormat(out, "  %-22s %-42s %-44s %s\n", "claim", "paper", "measured (95% interval)", "verdict");
  for (const Claim& c : claims) {
    absl::StrAppendFormat(out, "  %-22s %-42s %-44s %s", c.id, c.paper,
                          c.measured_text.empty() ? "n/a" : c.measured_text, c.verdict);
    if (c.verdict != "consistent") absl::StrAppend(out, " (", c.reason, ")");
    absl::StrAppend(out, "\n");
  }
}

}  // namespace

std::string FormatReportTable(const Report& r) {
  std::string out;
  AppendClaims(r.claims, &out);
  const Counts& c = r.counts;
  absl::StrAppend(&out, "\nAnalysis (SPEC 5)\n");
  absl::StrAppendFormat(&out,
                        "Records %d: %d excluded with error, %d without segments, %d unlabelled (not outcomes); "
                        "restart runs %d\n",
                        c.records, c.errors, c.without_segments, c.unlabelled, c.restart_records);
  absl::StrAppendFormat(&out, "Population (restart 0) %d: %d successes, %d failures, accuracy %s\n", c.population,
                        c.successes, c.failures, PctCi(c.accuracy));
  const PopulationInfo& p = r.population;
  absl::StrAppend(&out, "Model ", p.models.empty() ? "n/a" : absl::StrJoin(p.models, ", "), ", family ",
                  p.model_family.empty() ? "mixed" : p.model_family, ", T = ",
                  p.segment_counts.empty() ? "n/a" : absl::StrJoin(p.segment_counts, ", "));
  if (!p.absent_reason.empty()) absl::StrAppend(&out, "; statistics n/a (", p.absent_reason, ")");
  absl::StrAppend(&out, "\n");
  const LyapunovInfo& l = r.lyapunov;
  if (l.absent_reason.empty()) {
    absl::StrAppendFormat(&out, "Lyapunov: method %s, k = %d, %d records", l.method, l.k, l.records_with_lyapunov);
    if (l.method == "propagator") absl::StrAppend(&out, ", ", l.records_not_converged, " not converged");
    if (l.updates_per_segment > 0) absl::StrAppend(&out, ", ", l.updates_per_segment, " updates per segment");
    if (std::isnan(l.lambda_1_seed_sd_mean)) {
      absl::StrAppend(&out, "; seed spread n/a (", l.seed_sd_absent_reason, ")\n");
    } else {
      absl::StrAppend(&out, "; mean seed sd of lambda_1 ", Num(l.lambda_1_seed_sd_mean), "\n");
    }
  } else {
    absl::StrAppend(&out, "Lyapunov: n/a (", l.absent_reason, ")\n");
  }

  const Settling& s = r.settling;
  absl::StrAppend(&out, "\nSettling and decomposition (shares with Wilson 95% intervals)\n");
  if (std::isnan(s.tau)) {
    absl::StrAppend(&out, "  tau n/a (", s.absent_reason, ")\n");
  } else {
    absl::StrAppend(&out, "  tau = ", absl::StrFormat("%.6g", s.tau), " (",
                    s.tau_source == "given" ? "given" : "default: 95th percentile of d_T among successes", ")");
    if (s.n_missing) absl::StrAppend(&out, "; ", s.n_missing, " records with NaN d_T left out");
    absl::StrAppend(&out, "\n");
    absl::StrAppendFormat(&out, "  %-10s %-26s %-26s %s\n", "", "settled", "unsettled", "settled share");
    absl::StrAppendFormat(&out, "  %-10s %-26s %-26s %s\n", "success", ShareText(s.share_success_settled),
                          ShareText(s.share_success_unsettled), PctCi(s.settled_share_of_successes));
    absl::StrAppendFormat(&out, "  %-10s %-26s %-26s %s\n", "failure", ShareText(s.share_failure_settled),
                          ShareText(s.share_failure_unsettled), PctCi(s.settled_share_of_failures));
    absl::StrAppend(&out, "  settling segment, median [q1, q3]: successes ",
                    QuartileText(s.settling_segment_success, 1), "; failures ",
                    QuartileText(s.settling_segment_failure, 1), "\n");
  }
  if (s.least_mobile_absent_reason.empty()) {
    absl::StrAppend(&out, "  successes slower at T than the least mobile failure (d_T = ",
                    absl::StrFormat("%.6g", s.least_mobile_failure_d_t),
                    "): ", ShareText(s.successes_below_least_mobile_failure), "\n");
  } else {
    absl::StrAppend(&out, "  least mobile failure: n/a (", s.least_mobile_absent_reason, ")\n");
  }

  absl::StrAppend(&out, "\nMedian [q1, q3] by outcome\n");
  for (const ScoreSummary& m : r.summaries) {
    if (!m.absent_reason.empty()) {
      absl::StrAppendFormat(&out, "  %-20s n/a (%s)\n", m.score, m.absent_reason);
      continue;
    }
    absl::StrAppendFormat(&out, "  %-20s success %-36s failure %s\n", m.score, QuartileText(m.success),
                          QuartileText(m.failure));
  }

  absl::StrAppendFormat(&out,
                        "\nAUC in its stated direction (Mann-Whitney, ties 1/2; 95%% bootstrap CI of auc_raw, %d "
                        "replicates, seed %d)\n",
                        r.parameters.bootstrap, r.parameters.seed);
  for (const AucStat& a : r.aucs) absl::StrAppend(&out, "  ", AucLine(a), "\n");

  absl::StrAppend(&out,
                  "\nMatched AUC (pairs within bin; CI: bootstrap over puzzles redoing tau, the unsettled set and "
                  "the bins)\n");
  for (const MatchedAuc& m : r.matched) {
    absl::StrAppend(&out, "  ", m.binning, "\n    matched ", AucLine(m.pooled), "\n    plain   ",
                    AucLine(m.plain), "\n");
    if (!m.pooled.absent_reason.empty()) continue;
    absl::StrAppendFormat(&out, "    %-14s %-25s %9s %9s %12s %s\n", "bin", "range", "failures", "successes",
                          "pairs", "auc_raw");
    for (const BinRow& b : m.bins) {
      const std::string range =
          b.low == b.high ? absl::StrFormat("%g", b.low) : absl::StrFormat("%.4g..%.4g", b.low, b.high);
      absl::StrAppendFormat(&out, "    %-14s %-25s %9d %9d %12.0f %s\n", b.label, range, b.n_positive, b.n_negative,
                            b.pairs, Num(b.auc_raw));
    }
  }

  const EarlyWindow& e = r.early;
  absl::StrAppendFormat(&out,
                        "\nEarly window w = %d: %d not correct at w (%d eventually correct); left out: %d correct at "
                        "w, %d shorter than w\n",
                        e.w, e.n_at_risk, e.n_eventual_success, e.n_correct_at_w, e.n_too_short);
  if (!e.lambda_1_source.empty()) absl::StrAppend(&out, "  lambda_1[1..w]: ", e.lambda_1_source, "\n");
  for (const AucStat* a : {&e.lambda_1, &e.d_w, &e.h_w}) absl::StrAppend(&out, "  ", AucLine(*a), "\n");

  const Halting& h = r.halting;
  absl::StrAppend(&out, "\nHalting\n  ", AucLine(h.auc), "\n");
  absl::StrAppend(&out, "  failures with h_T > 0.5: ", ShareText(h.failures_confident), " of ",
                  h.failures_confident.n, "\n");
  absl::StrAppend(&out, "  failures settled with h_T > 0.5: ", ShareText(h.failures_settled_confident), " of ",
                  h.failures_settled_confident.n, "\n");
  if (h.rule_absent_reason.empty()) {
    absl::StrAppend(&out, "  failures the model's own rule halts at T, ", h.rule, ": ",
                    ShareText(h.failures_halted_by_rule), " of ", h.failures_halted_by_rule.n, "\n");
  } else {
    absl::StrAppend(&out, "  model's own halting rule: n/a (", h.rule_absent_reason, ")\n");
  }

  const EnergyAnalysis& energy = r.energy;
  absl::StrAppend(&out, "\nEnergy maps: where the dominant directions' energy sits (cells; docs/analysis.md)\n");
  if (!energy.absent_reason.empty()) {
    absl::StrAppend(&out, "  n/a (", energy.absent_reason, ")\n");
  }
  for (const EnergyMapStats& m : energy.maps) {
    if (!m.absent_reason.empty()) {
      absl::StrAppend(&out, "  ", m.method, ": n/a (", m.absent_reason, ")\n");
      continue;
    }
    absl::StrAppendFormat(&out, "  %s (top %d directions, %d records, %d cells; %s of the energy on puzzle positions)\n",
                          m.method, m.directions, m.records, m.cells, Pct(m.puzzle_position_share.mean));
    for (const CellAuc* a : {&m.wrong_vs_right, &m.blank_vs_given}) {
      if (a->absent_reason.empty()) {
        absl::StrAppendFormat(&out, "    %-21s AUC %s [%s, %s] over %d puzzles (%s)\n", a->comparison, Num(a->auc_raw, 3),
                              Num(a->ci_low, 3), Num(a->ci_high, 3), a->puzzles, a->direction);
      } else {
        absl::StrAppendFormat(&out, "    %-21s AUC n/a (%s)\n", a->comparison, a->absent_reason);
      }
    }
    for (const Concentration& c : m.concentration) {
      absl::StrAppendFormat(&out, "    %-21s success %s [%s, %s], failure %s [%s, %s], failure - success %s [%s, %s]\n",
                            c.score, Num(c.success.mean, 3), Num(c.success.ci_low, 3), Num(c.success.ci_high, 3),
                            Num(c.failure.mean, 3), Num(c.failure.ci_low, 3), Num(c.failure.ci_high, 3),
                            Num(c.difference.mean, 3), Num(c.difference.ci_low, 3), Num(c.difference.ci_high, 3));
    }
  }

  const Restarts& t = r.restarts;
  absl::StrAppend(&out, "\nRestarts and selection (accuracy [Wilson 95%]; each strategy vs the first run: "
                        "exact McNemar on the same puzzles)\n");
  if (!t.absent_reason.empty()) {
    absl::StrAppend(&out, "  n/a (", t.absent_reason, ")\n");
    return out;
  }
  absl::StrAppendFormat(&out, "  %d puzzles with runs 0..%d (%d left out, %d runs ignored), T = %d, kinds: %s\n",
                        t.puzzles, t.max_runs - 1, t.puzzles_left_out, t.runs_ignored, t.segments_per_run,
                        t.restart_kinds.empty() ? "none" : absl::StrJoin(t.restart_kinds, ", "));
  absl::StrAppendFormat(&out, "  %4s %9s %-22s %-22s %-22s %-22s\n", "R", "segments", "first run", "best h_T",
                        "majority", "oracle");
  for (const RestartRow& row : t.rows) {
    absl::StrAppendFormat(&out, "  %4d %9.0f %-22s %-22s %-22s %-22s\n", row.runs, row.segments, PctCi(row.first_run),
                          PctCi(row.best_of_h), PctCi(row.majority), PctCi(row.oracle));
    absl::StrAppend(&out, "       best h_T vs first: ", PairedText(row.best_of_h_vs_first),
                    "; majority vs first: ", PairedText(row.majority_vs_first), "\n");
  }
  if (!t.majority_absent_reason.empty()) absl::StrAppend(&out, "  majority n/a: ", t.majority_absent_reason, "\n");
  absl::StrAppendFormat(&out,
                        "  Early pruning at w = %d (C candidates for w segments, best h_w continued to T: C*w + T - w "
                        "segments)\n",
                        t.prune_window);
  if (!t.pruning_absent_reason.empty()) {
    absl::StrAppend(&out, "  n/a (", t.pruning_absent_reason, ")\n");
    return out;
  }
  absl::StrAppendFormat(&out, "  %4s %9s %-22s %-44s %s\n", "C", "segments", "accuracy", "vs first run",
                        "best-of-R by h_T at equal segments");
  for (const PruneRow& row : t.pruning) {
    absl::StrAppendFormat(&out, "  %4d %9.0f %-22s %-44s R = %s: %s\n", row.candidates, row.segments,
                          PctCi(row.accuracy), PairedText(row.vs_first), absl::StrFormat("%.3g", row.full_runs_same_budget),
                          Pct(row.best_of_h_same_budget));
  }
  return out;
}

}  // namespace rrm::analysis
