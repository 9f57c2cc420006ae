#include "client/cpp/record_csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rrm {
namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  return std::string(buffer, result.ptr);
}

std::string Text(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string RecordsToCsv(const std::vector<measure::ExampleRecord>& records) {
  size_t T = 0, K = 0, W = 0;
  for (const measure::ExampleRecord& r : records) {
    T = std::max(T, r.segments.size());
    K = std::max({K, r.lyapunov.size(), r.lyapunov_sd.size()});
    W = std::max(W, r.lyapunov_window.size());
    for (const measure::SegmentRecord& s : r.segments) K = std::max(K, s.lyapunov_increments.size());
  }
  using Segment = measure::SegmentRecord;
  const std::vector<std::pair<std::string, std::function<std::string(const Segment&)>>> per_segment = {
      {"correct", [](const Segment& s) { return Bool(s.correct); }},
      {"token_accuracy", [](const Segment& s) { return Number(s.token_accuracy); }},
      {"halt_confidence", [](const Segment& s) { return Number(s.halt_confidence); }},
      {"q_halt_logit", [](const Segment& s) { return Number(s.q_halt_logit); }},
      {"q_continue_logit", [](const Segment& s) { return Number(s.q_continue_logit); }},
      {"flips", [](const Segment& s) { return absl::StrCat(s.flips); }},
      {"displacement_h", [](const Segment& s) { return Number(s.displacement_h); }},
      {"displacement_l", [](const Segment& s) { return Number(s.displacement_l); }},
      {"displacement_joint", [](const Segment& s) { return Number(s.displacement_joint); }},
  };

  std::vector<std::string> header = {"job_id", "model", "model_family", "example_index", "puzzle_id", "restart", "restart_kind", "seed",
                                     "givens", "updates_per_segment", "segments", "correct",
                                     "first_correct_segment", "lyapunov_method", "lyapunov_window_segments",
                                     "lyapunov_iterations", "lyapunov_tolerance", "lyapunov_converged",
                                     "device", "compute_seconds", "error"};
  for (size_t i = 1; i <= K; ++i) header.push_back(absl::StrCat("lyapunov_", i));
  for (size_t i = 1; i <= K; ++i) header.push_back(absl::StrCat("lyapunov_sd_", i));
  for (size_t i = 1; i <= W; ++i) header.push_back(absl::StrCat("lyapunov_window_", i));
  for (const auto& [name, get] : per_segment) {
    for (size_t t = 1; t <= T; ++t) header.push_back(absl::StrCat(name, "_", t));
  }
  for (size_t t = 1; t <= T; ++t) {
    for (size_t i = 1; i <= K; ++i) header.push_back(absl::StrCat("lyapunov_increment_", t, "_", i));
  }
  header.push_back("prediction");

  std::string out = absl::StrJoin(header, ",") + "\n";
  auto padded = [](const std::vector<double>& v, size_t n, std::vector<std::string>* row) {
    for (size_t i = 0; i < n; ++i) row->push_back(i < v.size() ? Number(v[i]) : "");
  };
  for (const measure::ExampleRecord& r : records) {
    std::vector<std::string> row = {Text(r.job_id), Text(r.model), Text(r.model_family), absl::StrCat(r.example_index), Text(r.puzzle_id),
                                    absl::StrCat(r.restart), Text(r.restart_kind), absl::StrCat(r.seed),
                                    absl::StrCat(r.givens), absl::StrCat(r.updates_per_segment),
                                    absl::StrCat(r.segments.size()), Bool(r.correct),
                                    absl::StrCat(r.first_correct_segment), Text(r.lyapunov_method),
                                    absl::StrCat(r.lyapunov_window_segments), absl::StrCat(r.lyapunov_iterations),
                                    Number(r.lyapunov_tolerance), Bool(r.lyapunov_converged), Text(r.device), Number(r.compute_seconds), Text(r.error)};
    padded(r.lyapunov, K, &row);
    padded(r.lyapunov_sd, K, &row);
    padded(r.lyapunov_window, W, &row);
    for (const auto& [name, get] : per_segment) {
      for (size_t t = 0; t < T; ++t) row.push_back(t < r.segments.size() ? get(r.segments[t]) : "");
    }
    for (size_t t = 0; t < T; ++t) {
      static const std::vector<double> kNone;
      padded(t < r.segments.size() ? r.segments[t].lyapunov_increments : kNone, K, &row);
    }
    row.push_back(absl::StrJoin(r.prediction, " "));
    absl::StrAppend(&out, absl::StrJoin(row, ","), "\n");
  }
  return out;
}

}  // namespace rrm
