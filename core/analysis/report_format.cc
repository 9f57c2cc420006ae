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
}

void AppendAuc(const AucStat& a, std::string* out) {
  JsonObject o(out);
  o.String("score", a.score);
  o.String("positive_class", a.positive_class);
  o.Int("n_positive", a.n_positive);
  o.Int("n_negative", a.n_negative);
  o.Int("n_missing", a.n_missing);
  o.Double("auc_raw", a.auc_raw);
  o.Double("auc", a.auc);
  o.Bool("higher_predicts_positive", a.higher_predicts_positive);
  o.String("direction", a.direction);
  o.Double("ci_low", a.ci_low);
  o.Double("ci_high", a.ci_high);
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
  o.Double("auc", b.auc);
}

void AppendStrings(const std::vector<std::string>& items, const char* name, JsonObject* o) {
  o->Array(name, items, [](const std::string& s, std::string* out) { AppendJsonString(s, out); });
}

}  // namespace

std::string ReportToJson(const Report& r) {
  std::string out;
  JsonObject root(&out);
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
    o.Int("population", c.population);
    o.Int("restart_records", c.restart_records);
    o.Int("successes", c.successes);
    o.Int("failures", c.failures);
    o.Double("accuracy", c.accuracy);
  }
  {
    JsonObject o(root.Key("lyapunov"));
    const LyapunovInfo& l = r.lyapunov;
    o.String("method", l.method);
    o.Int("k", l.k);
    o.Int("records_with_lyapunov", l.records_with_lyapunov);
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
    o.Double("share_success_settled", s.share_success_settled);
    o.Double("share_success_unsettled", s.share_success_unsettled);
    o.Double("share_failure_settled", s.share_failure_settled);
    o.Double("share_failure_unsettled", s.share_failure_unsettled);
    o.Double("settled_share_of_successes", s.settled_share_of_successes);
    o.Double("settled_share_of_failures", s.settled_share_of_failures);
    AppendQuartiles(s.settling_segment_success, o.Key("settling_segment_success"));
    AppendQuartiles(s.settling_segment_failure, o.Key("settling_segment_failure"));
    o.Double("least_mobile_failure_d_t", s.least_mobile_failure_d_t);
    o.Int("successes_below_least_mobile_failure", s.successes_below_least_mobile_failure);
    o.Double("share_successes_below_least_mobile_failure", s.share_successes_below_least_mobile_failure);
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
    AppendAuc(e.lambda_1, o.Key("lambda_1"));
    AppendAuc(e.d_w, o.Key("d_w"));
    AppendAuc(e.h_w, o.Key("h_w"));
  }
  {
    JsonObject o(root.Key("halting"));
    const Halting& h = r.halting;
    AppendAuc(h.auc, o.Key("auc"));
    o.Int("failures", h.failures);
    o.Int("failures_confident", h.failures_confident);
    o.Double("share_failures_confident", h.share_failures_confident);
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
      j.Double("first_run", row.first_run);
      j.Double("best_of_h", row.best_of_h);
      j.Double("majority", row.majority);
      j.Double("oracle", row.oracle);
    });
    o.String("majority_absent_reason", s.majority_absent_reason);
    o.Int("prune_window", s.prune_window);
    o.Array("pruning", s.pruning, [](const PruneRow& row, std::string* out) {
      JsonObject j(out);
      j.Int("candidates", row.candidates);
      j.Double("segments", row.segments);
      j.Double("accuracy", row.accuracy);
      j.Int("full_runs_same_budget", row.full_runs_same_budget);
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

std::string CountShare(int64_t n, double share) { return absl::StrCat(n, " (", Pct(share), ")"); }

std::string QuartileText(const Quartiles& q, int digits = 4) {
  if (q.n == 0) return "n/a";
  return absl::StrCat(Num(q.median, digits), " [", Num(q.q1, digits), ", ", Num(q.q3, digits), "] n=", q.n);
}

std::string AucLine(const AucStat& a) {
  if (!a.absent_reason.empty()) return absl::StrFormat("%-16s n/a (%s)", a.score, a.absent_reason);
  std::string ci = std::isnan(a.ci_low) ? "[no CI]" : absl::StrCat("[", Num(a.ci_low), ", ", Num(a.ci_high), "]");
  return absl::StrFormat("%-16s %s %-18s %-34s n: %d %s, %d %s, %d missing", a.score, Num(a.auc), ci, a.direction,
                         a.n_positive, a.positive_class, a.n_negative,
                         a.positive_class == "failure" ? "success" : "failure", a.n_missing);
}

}  // namespace

std::string FormatReportTable(const Report& r) {
  std::string out;
  const Counts& c = r.counts;
  absl::StrAppend(&out, "Analysis (SPEC 5)\n");
  absl::StrAppendFormat(&out, "Records %d: %d excluded with error, %d without segments; restart runs %d\n", c.records,
                        c.errors, c.without_segments, c.restart_records);
  absl::StrAppendFormat(&out, "Population (restart 0) %d: %d successes, %d failures, accuracy %s\n", c.population,
                        c.successes, c.failures, Pct(c.accuracy));
  const LyapunovInfo& l = r.lyapunov;
  if (l.absent_reason.empty()) {
    absl::StrAppendFormat(&out, "Lyapunov: method %s, k = %d, %d records", l.method, l.k, l.records_with_lyapunov);
    if (std::isnan(l.lambda_1_seed_sd_mean)) {
      absl::StrAppend(&out, "; seed spread n/a (", l.seed_sd_absent_reason, ")\n");
    } else {
      absl::StrAppend(&out, "; mean seed sd of lambda_1 ", Num(l.lambda_1_seed_sd_mean), "\n");
    }
  } else {
    absl::StrAppend(&out, "Lyapunov: n/a (", l.absent_reason, ")\n");
  }

  const Settling& s = r.settling;
  absl::StrAppend(&out, "\nSettling and decomposition\n");
  if (std::isnan(s.tau)) {
    absl::StrAppend(&out, "  tau n/a (", s.absent_reason, ")\n");
  } else {
    absl::StrAppend(&out, "  tau = ", absl::StrFormat("%.6g", s.tau), " (",
                    s.tau_source == "given" ? "given" : "default: 95th percentile of d_T among successes", ")");
    if (s.n_missing) absl::StrAppend(&out, "; ", s.n_missing, " records with NaN d_T left out");
    absl::StrAppend(&out, "\n");
    absl::StrAppendFormat(&out, "  %-10s %-20s %-20s %s\n", "", "settled", "unsettled", "settled share");
    absl::StrAppendFormat(&out, "  %-10s %-20s %-20s %s\n", "success",
                          CountShare(s.success_settled, s.share_success_settled),
                          CountShare(s.success_unsettled, s.share_success_unsettled),
                          Pct(s.settled_share_of_successes));
    absl::StrAppendFormat(&out, "  %-10s %-20s %-20s %s\n", "failure",
                          CountShare(s.failure_settled, s.share_failure_settled),
                          CountShare(s.failure_unsettled, s.share_failure_unsettled),
                          Pct(s.settled_share_of_failures));
    absl::StrAppend(&out, "  settling segment, median [q1, q3]: successes ",
                    QuartileText(s.settling_segment_success, 1), "; failures ",
                    QuartileText(s.settling_segment_failure, 1), "\n");
  }
  if (s.least_mobile_absent_reason.empty()) {
    absl::StrAppend(&out, "  successes slower at T than the least mobile failure (d_T = ",
                    absl::StrFormat("%.6g", s.least_mobile_failure_d_t), "): ",
                    CountShare(s.successes_below_least_mobile_failure, s.share_successes_below_least_mobile_failure),
                    "\n");
  } else {
    absl::StrAppend(&out, "  least mobile failure: n/a (", s.least_mobile_absent_reason, ")\n");
  }

  absl::StrAppend(&out, "\nMedian [q1, q3] by outcome\n");
  for (const ScoreSummary& m : r.summaries) {
    if (!m.absent_reason.empty()) {
      absl::StrAppendFormat(&out, "  %-10s n/a (%s)\n", m.score, m.absent_reason);
      continue;
    }
    absl::StrAppendFormat(&out, "  %-10s success %-36s failure %s\n", m.score, QuartileText(m.success),
                          QuartileText(m.failure));
  }

  absl::StrAppendFormat(&out, "\nAUC (Mann-Whitney, ties 1/2; 95%% bootstrap CI, %d replicates, seed %d)\n",
                        r.parameters.bootstrap, r.parameters.seed);
  for (const AucStat& a : r.aucs) absl::StrAppend(&out, "  ", AucLine(a), "\n");

  absl::StrAppend(&out, "\nMatched AUC (pairs within bin)\n");
  for (const MatchedAuc& m : r.matched) {
    absl::StrAppend(&out, "  ", m.binning, "\n    ", AucLine(m.pooled), "\n");
    if (!m.pooled.absent_reason.empty()) continue;
    absl::StrAppendFormat(&out, "    %-14s %-25s %9s %9s %12s %s\n", "bin", "range", "failures", "successes",
                          "pairs", "auc");
    for (const BinRow& b : m.bins) {
      const std::string range =
          b.low == b.high ? absl::StrFormat("%g", b.low) : absl::StrFormat("%.4g..%.4g", b.low, b.high);
      absl::StrAppendFormat(&out, "    %-14s %-25s %9d %9d %12.0f %s\n", b.label, range, b.n_positive, b.n_negative,
                            b.pairs, Num(b.auc));
    }
  }

  const EarlyWindow& e = r.early;
  absl::StrAppendFormat(&out,
                        "\nEarly window w = %d: %d not correct at w (%d eventually correct); left out: %d correct at "
                        "w, %d shorter than w\n",
                        e.w, e.n_at_risk, e.n_eventual_success, e.n_correct_at_w, e.n_too_short);
  for (const AucStat* a : {&e.lambda_1, &e.d_w, &e.h_w}) absl::StrAppend(&out, "  ", AucLine(*a), "\n");

  const Halting& h = r.halting;
  absl::StrAppend(&out, "\nHalting\n  ", AucLine(h.auc), "\n");
  absl::StrAppend(&out, "  failures with h_T > 0.5: ", h.failures_confident, " of ", h.failures, " (",
                  Pct(h.share_failures_confident), ")\n");

  const Restarts& t = r.restarts;
  absl::StrAppend(&out, "\nRestarts and selection\n");
  if (!t.absent_reason.empty()) {
    absl::StrAppend(&out, "  n/a (", t.absent_reason, ")\n");
    return out;
  }
  absl::StrAppendFormat(&out, "  %d puzzles with runs 0..%d (%d left out, %d runs ignored), T = %d, kinds: %s\n",
                        t.puzzles, t.max_runs - 1, t.puzzles_left_out, t.runs_ignored, t.segments_per_run,
                        t.restart_kinds.empty() ? "none" : absl::StrJoin(t.restart_kinds, ", "));
  absl::StrAppendFormat(&out, "  %4s %9s %10s %10s %10s %10s\n", "R", "segments", "first run", "best h_T",
                        "majority", "oracle");
  for (const RestartRow& row : t.rows) {
    absl::StrAppendFormat(&out, "  %4d %9.0f %10s %10s %10s %10s\n", row.runs, row.segments, Pct(row.first_run),
                          Pct(row.best_of_h), Pct(row.majority), Pct(row.oracle));
  }
  if (!t.majority_absent_reason.empty()) absl::StrAppend(&out, "  majority n/a: ", t.majority_absent_reason, "\n");
  absl::StrAppendFormat(&out, "  Early pruning at w = %d (C candidates for w segments, best h_w continued to T)\n",
                        t.prune_window);
  if (!t.pruning_absent_reason.empty()) {
    absl::StrAppend(&out, "  n/a (", t.pruning_absent_reason, ")\n");
    return out;
  }
  absl::StrAppendFormat(&out, "  %4s %9s %10s   %s\n", "C", "segments", "accuracy", "same budget: best-of-R by h_T");
  for (const PruneRow& row : t.pruning) {
    absl::StrAppendFormat(&out, "  %4d %9.0f %10s   R = %d: %s\n", row.candidates, row.segments, Pct(row.accuracy),
                          row.full_runs_same_budget, Pct(row.best_of_h_same_budget));
  }
  return out;
}

}  // namespace rrm::analysis
