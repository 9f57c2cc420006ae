// Builders for synthetic ExampleRecords whose analysis is known in advance.
#ifndef RRM_TESTS_ANALYSIS_SYNTHETIC_RECORDS_H_
#define RRM_TESTS_ANALYSIS_SYNTHETIC_RECORDS_H_

#include <limits>
#include <string>
#include <vector>

#include "core/measure/record.h"

namespace rrm::analysis::testing {

// One trajectory: per-segment joint displacement d_t, halting confidence h_t,
// correct_t and the first Lyapunov increment ℓ_{t,1} (all of length T; empty
// vectors mean zeros / false / no increments).
struct Trajectory {
  std::vector<double> d;
  std::vector<double> h;
  std::vector<bool> correct_at;
  std::vector<double> increments;
};

inline measure::ExampleRecord MakeRecord(int example_index, bool correct, const Trajectory& t,
                                         std::vector<double> lyapunov = {}, int restart = 0) {
  measure::ExampleRecord r;
  r.example_index = example_index;
  r.restart = restart;
  r.correct = correct;
  r.lyapunov = std::move(lyapunov);
  if (!r.lyapunov.empty()) {
    r.lyapunov_sd.assign(r.lyapunov.size(), 0.0);
    r.lyapunov_method = "qr";
  }
  const size_t T = t.d.size();
  for (size_t i = 0; i < T; ++i) {
    measure::SegmentRecord s;
    s.index = static_cast<int32_t>(i + 1);
    s.displacement_joint = t.d[i];
    s.halt_confidence = i < t.h.size() ? t.h[i] : 0.0;
    s.correct = i < t.correct_at.size() ? bool(t.correct_at[i]) : (i + 1 == T && correct);
    if (i < t.increments.size()) s.lyapunov_increments = {t.increments[i]};
    r.segments.push_back(s);
    if (s.correct && r.first_correct_segment == 0) r.first_correct_segment = s.index;
  }
  return r;
}

// Every record from one model (SPEC §5 population rule).
inline void SetModel(std::vector<measure::ExampleRecord>* records, const std::string& model,
                     const std::string& family) {
  for (measure::ExampleRecord& r : *records) {
    r.model = model;
    r.model_family = family;
  }
}

// A puzzle measured without labels: token_accuracy NaN at every segment and
// correct false (core/measure/trajectory.cc), which is not a failure.
inline measure::ExampleRecord Unlabelled(measure::ExampleRecord r) {
  r.correct = false;
  r.first_correct_segment = 0;
  for (measure::SegmentRecord& s : r.segments) {
    s.token_accuracy = std::numeric_limits<double>::quiet_NaN();
    s.correct = false;
  }
  return r;
}

// The final segment's halting logits (q_halt, q_continue).
inline void SetFinalLogits(measure::ExampleRecord* r, double q_halt, double q_continue) {
  r->segments.back().q_halt_logit = q_halt;
  r->segments.back().q_continue_logit = q_continue;
}

}  // namespace rrm::analysis::testing

#endif  // RRM_TESTS_ANALYSIS_SYNTHETIC_RECORDS_H_
