#include "wire/analysis_proto.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/analysis/report_format.h"

namespace rrm::wire {

absl::StatusOr<analysis::AnalysisParameters> AnalysisParametersFromProto(const v1::AnalysisParameters& p) {
  analysis::AnalysisParameters out;
  if (p.has_tau()) {
    if (!std::isfinite(p.tau()) || p.tau() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters.tau: expected a finite number >= 0, found ", p.tau()));
    }
    out.tau = p.tau();
  }
  if (p.early_window() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.early_window: expected >= 1 (0 = 4), found ", p.early_window()));
  }
  if (p.early_window() > 0) out.early_window = p.early_window();
  if (p.has_bootstrap()) {
    if (p.bootstrap() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters.bootstrap: expected >= 0 replicates, found ", p.bootstrap()));
    }
    out.bootstrap = p.bootstrap();
  }
  out.seed = p.seed();
  if (p.displacement_bins() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.displacement_bins: expected >= 1 (0 = 10), found ", p.displacement_bins()));
  }
  if (p.displacement_bins() > 0) out.displacement_bins = p.displacement_bins();
  if (!p.lyapunov_method().empty()) {
    if (p.lyapunov_method() != "qr" && p.lyapunov_method() != "propagator") {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters.lyapunov_method: expected \"qr\", \"propagator\" or empty, found \"", p.lyapunov_method(), "\""));
    }
    out.lyapunov_method = p.lyapunov_method();
  }
  if (p.restarts() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.restarts: expected >= 1 (0 = the most available), found ", p.restarts()));
  }
  if (p.restarts() > 0) out.restarts = p.restarts();
  return out;
}

v1::AnalyzeResponse ReportToProto(const analysis::Report& report) {
  v1::AnalyzeResponse response;
  response.set_report_json(analysis::ReportToJson(report));
  response.set_table(analysis::FormatReportTable(report));
  response.set_records(report.counts.records);
  response.set_population(report.counts.population);
  response.set_successes(report.counts.successes);
  response.set_failures(report.counts.failures);
  response.set_errors(report.counts.errors);
  response.set_accuracy(report.counts.accuracy.share);
  response.set_tau(report.settling.tau);
  response.set_tau_source(report.settling.tau_source);
  response.set_success_settled(report.settling.success_settled);
  response.set_success_unsettled(report.settling.success_unsettled);
  response.set_failure_settled(report.settling.failure_settled);
  response.set_failure_unsettled(report.settling.failure_unsettled);
  for (const analysis::AucStat& a : report.aucs) {
    v1::AucSummary* out = response.add_aucs();
    out->set_score(a.score);
    out->set_positive_class(a.positive_class);
    out->set_auc(a.auc_folded);
    out->set_auc_raw(a.auc_raw);
    out->set_ci_low(a.ci_low);
    out->set_ci_high(a.ci_high);
    out->set_direction(a.direction);
    out->set_n_positive(a.n_positive);
    out->set_n_negative(a.n_negative);
    out->set_absent_reason(a.absent_reason);
  }
  for (const analysis::Claim& c : report.claims) {
    v1::AnalyzeResponse::Claim* out = response.add_claims();
    out->set_id(c.id);
    out->set_measured(c.measured);
    out->set_ci_low(c.ci_low);
    out->set_ci_high(c.ci_high);
    out->set_verdict(c.verdict);
    out->set_paper_value(c.paper_value);
    out->set_reason(c.reason);
  }
  return response;
}

}  // namespace rrm::wire
