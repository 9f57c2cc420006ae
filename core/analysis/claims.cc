#include "core/analysis/claims.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rrm::analysis {
namespace {

constexpr char kConsistent[] = "consistent";
constexpr char kNotConsistent[] = "not consistent";
constexpr char kNotMeasurable[] = "not measurable";

std::string Percent(double v) { return std::isnan(v) ? "n/a" : absl::StrFormat("%.1f%%", 100.0 * v); }
std::string Fixed(double v, int digits) { return std::isnan(v) ? "n/a" : absl::StrFormat("%.*f", digits, v); }
std::string Signed(double v) { return std::isnan(v) ? "n/a" : absl::StrFormat("%+.4f", v); }

std::string WithInterval(double v, double low, double high, std::string (*format)(double)) {
  if (std::isnan(v)) return "n/a";
  if (std::isnan(low)) return absl::StrCat(format(v), " [no interval]");
  return absl::StrCat(format(v), " [", format(low), ", ", format(high), "]");
}
std::string Auc3(double v) { return Fixed(v, 3); }

std::string ShareText(const Proportion& p) {
  if (p.n == 0) return "n/a";
  return absl::StrCat(WithInterval(p.share, p.ci_low, p.ci_high, Percent), " (", p.k, " of ", p.n, ")");
}
std::string AucText(const AucStat& a) { return WithInterval(a.auc_raw, a.ci_low, a.ci_high, Auc3); }

Claim Row(const char* id, const char* claim, const char* paper) {
  Claim c;
  c.id = id;
  c.claim = claim;
  c.paper = paper;
  return c;
}

void SetMeasured(double value, double low, double high, Claim* c) {
  c->measured = value;
  c->ci_low = low;
  c->ci_high = high;
}
void SetMeasured(const Proportion& p, Claim* c) { SetMeasured(p.share, p.ci_low, p.ci_high, c); }
void SetMeasured(const AucStat& a, Claim* c) { SetMeasured(a.auc_raw, a.ci_low, a.ci_high, c); }

void NotMeasurable(const std::string& reason, Claim* c) {
  c->verdict = kNotMeasurable;
  c->reason = reason;
}

// The verdict rule (docs/analysis.md): consistent ⇔ the paper's value, or its
// range [low, high], meets the measured 95% interval.
bool Meets(double low, double high, double ci_low, double ci_high) { return high >= ci_low && low <= ci_high; }

void Judge(double paper_low, double paper_high, const std::string& absent_reason, Claim* c) {
  if (!c->verdict.empty()) return;  // already not measurable
  if (std::isnan(c->measured)) return NotMeasurable(absent_reason.empty() ? "no measured value" : absent_reason, c);
  if (std::isnan(c->ci_low)) return NotMeasurable("no 95% interval (bootstrap = 0)", c);
  const bool meets = Meets(paper_low, paper_high, c->ci_low, c->ci_high);
  c->verdict = meets ? kConsistent : kNotConsistent;
  c->reason = meets ? "the paper's value lies in the 95% interval" : "the paper's value lies outside the 95% interval";
}

// The paper value by family: `trm` / `hrm` (NaN: the paper gives none).
bool ByFamily(const std::string& family, double trm, double hrm, Claim* c) {
  if (family != "trm" && family != "hrm") {
    NotMeasurable(family == "unknown" || family.empty()
                      ? "model family unknown (records carry no model_family): the paper's value depends on it"
                      : absl::StrCat("the paper gives no value for model family \"", family, "\""),
                  c);
    return false;
  }
  c->paper_value = family == "trm" ? trm : hrm;
  if (std::isnan(c->paper_value)) {
    NotMeasurable(absl::StrCat("the paper gives this for ", family == "trm" ? "HRM" : "TRM", " only"), c);
    return false;
  }
  return true;
}

const ScoreSummary* FindSummary(const Report& r, const std::string& score) {
  for (const ScoreSummary& s : r.summaries) {
    if (s.score == score) return &s;
  }
  return nullptr;
}

const AucStat* FindAuc(const Report& r, const std::string& score) {
  for (const AucStat& a : r.aucs) {
    if (a.score == score) return &a;
  }
  return nullptr;
}

const MatchedAuc* FindMatched(const Report& r, const std::string& binning_prefix, const std::string& score) {
  for (const MatchedAuc& m : r.matched) {
    if (m.binning.rfind(binning_prefix, 0) == 0 && m.pooled.score == score) return &m;
  }
  return nullptr;
}

}  // namespace

std::vector<Claim> Claims(const Report& r) {
  const std::string& family = r.population.model_family;
  const std::string& population_reason = r.population.absent_reason;
  std::vector<Claim> rows;

  {
    Claim c = Row("accuracy", "Sudoku-Extreme accuracy", "TRM 87.6%, HRM 52.6%");
    SetMeasured(r.counts.accuracy, &c);
    c.measured_text = ShareText(r.counts.accuracy);
    if (!r.population.sudoku && r.counts.population > 0) {
      NotMeasurable("the records are not Sudoku (no givens); the claim is about Sudoku-Extreme", &c);
    }
    if (c.verdict.empty() && ByFamily(family, 0.876, 0.526, &c)) {
      Judge(c.paper_value, c.paper_value, population_reason, &c);
    }
    rows.push_back(c);
  }
  {
    Claim c = Row("failures_settled", "Failures almost never settle (settled share of failures, d_T <= tau)",
                  "TRM 0 of 254 (0%), HRM 0.55%");
    const Proportion& p = r.settling.settled_share_of_failures;
    SetMeasured(p, &c);
    c.measured_text = ShareText(p);
    if (ByFamily(family, 0.0, 0.0055, &c)) Judge(c.paper_value, c.paper_value, r.settling.absent_reason, &c);
    rows.push_back(c);
  }
  {
    Claim c = Row("least_mobile_failure", "Successes that move slower at T than the least mobile failure",
                  "TRM 96.5%");
    const Proportion& p = r.settling.successes_below_least_mobile_failure;
    SetMeasured(p, &c);
    c.measured_text = ShareText(p);
    if (ByFamily(family, 0.965, std::nan(""), &c)) {
      Judge(c.paper_value, c.paper_value, r.settling.least_mobile_absent_reason, &c);
    }
    rows.push_back(c);
  }
  {
    Claim c = Row("median_lambda_1", "Median lambda_1 per segment, failures vs successes",
                  "+0.103 (failures) vs +0.012 (successes)");
    c.paper_value = 0.103;
    const ScoreSummary* s = FindSummary(r, "lambda_1");
    if (s == nullptr || !s->absent_reason.empty() || s->failure.n == 0 || s->success.n == 0) {
      NotMeasurable(s && !s->absent_reason.empty() ? s->absent_reason : "no lambda_1 for both outcomes", &c);
    } else {
      SetMeasured(s->failure.median, s->failure.median_ci_low, s->failure.median_ci_high, &c);
      c.measured_text = absl::StrCat(
          "failures ", WithInterval(s->failure.median, s->failure.median_ci_low, s->failure.median_ci_high, Signed),
          " vs successes ",
          WithInterval(s->success.median, s->success.median_ci_low, s->success.median_ci_high, Signed));
      // Both medians must meet their intervals.
      const bool meets = Meets(0.103, 0.103, s->failure.median_ci_low, s->failure.median_ci_high) &&
                         Meets(0.012, 0.012, s->success.median_ci_low, s->success.median_ci_high);
      c.verdict = meets ? kConsistent : kNotConsistent;
      c.reason = meets ? "both paper medians lie in their 95% intervals"
                       : "a paper median lies outside its 95% interval";
    }
    rows.push_back(c);
  }
  {
    Claim c = Row("auc_lambda_1", "AUC of lambda_1 for failure (higher lambda_1 -> failure)", "0.993");
    c.paper_value = 0.993;
    const AucStat* a = FindAuc(r, "lambda_1");
    if (a != nullptr) {
      SetMeasured(*a, &c);
      c.measured_text = AucText(*a);
    }
    Judge(0.993, 0.993, a ? a->absent_reason : "", &c);
    rows.push_back(c);
  }
  {
    Claim c = Row("matched_auc_deciles", "lambda_1 AUC with pairs matched within d_T deciles (unsettled)",
                  "0.88-0.90");
    c.paper_value = 0.89;
    const MatchedAuc* m = FindMatched(r, "d_T", "lambda_1");
    if (r.parameters.displacement_bins != 10) {
      NotMeasurable(absl::StrCat("displacement_bins = ", r.parameters.displacement_bins,
                                 "; the claim is for deciles (10)"),
                    &c);
    }
    if (m != nullptr) {
      SetMeasured(m->pooled, &c);
      c.measured_text = AucText(m->pooled);
    }
    Judge(0.88, 0.90, m ? m->pooled.absent_reason : "", &c);
    rows.push_back(c);
  }
  {
    Claim c = Row("auc_within_givens", "lambda_1 AUC with pairs matched within givens, vs the plain AUC",
                  "0.982 within givens vs 0.984 overall");
    c.paper_value = 0.982;
    const MatchedAuc* m = FindMatched(r, "givens", "lambda_1");
    if (m != nullptr) {
      SetMeasured(m->pooled, &c);
      c.measured_text = absl::StrCat(AucText(m->pooled), " vs plain ", AucText(m->plain), " (same sample)");
    }
    Judge(0.982, 0.982, m ? m->pooled.absent_reason : "", &c);
    rows.push_back(c);
  }
  {
    Claim c = Row("early_window", "Early-window AUC (positive class: eventual success) of lambda_1, d_w, h_w",
                  "TRM ~0.5 for all three; HRM 0.69 (eventual successes move more early)");
    const EarlyWindow& e = r.early;
    SetMeasured(e.d_w, &c);
    c.measured_text = absl::StrCat(e.lambda_1.score, " ", AucText(e.lambda_1), ", ", e.d_w.score, " ",
                                   AucText(e.d_w), ", ", e.h_w.score, " ", AucText(e.h_w));
    if (ByFamily(family, 0.5, 0.69, &c)) {
      if (family == "hrm") {
        Judge(0.69, 0.69, e.d_w.absent_reason, &c);
      } else {
        // TRM: ≈ 0.5 for each of the three that is measured (d_w at least).
        Judge(0.5, 0.5, e.d_w.absent_reason, &c);
        for (const AucStat* a : {&e.lambda_1, &e.h_w}) {
          if (c.verdict == kConsistent && !std::isnan(a->ci_low) && !Meets(0.5, 0.5, a->ci_low, a->ci_high)) {
            c.verdict = kNotConsistent;
            c.reason = absl::StrCat("0.5 lies outside the 95% interval of ", a->score);
          }
        }
      }
    }
    rows.push_back(c);
  }
  {
    Claim c = Row("halting", "Halting confidence tracks correctness except for failures that settle confidently",
                  "~0.5% of failures settle with h_T > 0.5");
    c.paper_value = 0.005;
    const Proportion& p = r.halting.failures_settled_confident;
    SetMeasured(p, &c);
    c.measured_text = absl::StrCat(ShareText(p), "; AUC of h_T for success ", AucText(r.halting.auc));
    Judge(0.005, 0.005, std::isnan(r.settling.tau) ? r.settling.absent_reason : "no failures with finite h_T, d_T",
          &c);
    rows.push_back(c);
  }
  if (!population_reason.empty()) {
    for (Claim& c : rows) NotMeasurable(population_reason, &c);
  }
  return rows;
}

}  // namespace rrm::analysis
