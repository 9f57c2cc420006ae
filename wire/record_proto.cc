#include "wire/record_proto.h"

namespace rrm::wire {

v1::ExampleRecord RecordToProto(const measure::ExampleRecord& r) {
  v1::ExampleRecord p;
  p.set_job_id(r.job_id);
  p.set_model(r.model);
  p.set_model_family(r.model_family);
  p.set_example_index(r.example_index);
  p.set_puzzle_id(r.puzzle_id);
  p.set_restart(r.restart);
  p.set_restart_kind(r.restart_kind);
  p.set_seed(r.seed);
  p.set_givens(r.givens);
  p.set_updates_per_segment(r.updates_per_segment);
  for (const measure::SegmentRecord& s : r.segments) {
    v1::SegmentRecord* q = p.add_segments();
    q->set_index(s.index);
    q->set_correct(s.correct);
    q->set_token_accuracy(s.token_accuracy);
    q->set_halt_confidence(s.halt_confidence);
    q->set_q_halt_logit(s.q_halt_logit);
    q->set_q_continue_logit(s.q_continue_logit);
    q->set_flips(s.flips);
    q->set_displacement_h(s.displacement_h);
    q->set_displacement_l(s.displacement_l);
    q->set_displacement_joint(s.displacement_joint);
    q->mutable_lyapunov_increments()->Add(s.lyapunov_increments.begin(), s.lyapunov_increments.end());
  }
  p.mutable_lyapunov()->Add(r.lyapunov.begin(), r.lyapunov.end());
  p.mutable_lyapunov_sd()->Add(r.lyapunov_sd.begin(), r.lyapunov_sd.end());
  p.set_lyapunov_method(r.lyapunov_method);
  p.mutable_lyapunov_window()->Add(r.lyapunov_window.begin(), r.lyapunov_window.end());
  p.set_lyapunov_window_segments(r.lyapunov_window_segments);
  p.set_lyapunov_iterations(r.lyapunov_iterations);
  p.set_lyapunov_tolerance(r.lyapunov_tolerance);
  p.set_lyapunov_converged(r.lyapunov_converged);
  p.set_correct(r.correct);
  p.set_first_correct_segment(r.first_correct_segment);
  p.mutable_prediction()->Add(r.prediction.begin(), r.prediction.end());
  p.set_device(r.device);
  p.set_compute_seconds(r.compute_seconds);
  p.set_error(r.error);
  for (const measure::EnergyMap& m : r.energy_maps) {
    v1::EnergyMap* q = p.add_energy_maps();
    q->set_method(m.method);
    q->set_directions(m.directions);
    q->set_puzzle_positions(m.puzzle_positions);
    q->mutable_positions()->Add(m.positions.begin(), m.positions.end());
  }
  p.mutable_given_cells()->Add(r.given_cells.begin(), r.given_cells.end());
  p.mutable_wrong_cells()->Add(r.wrong_cells.begin(), r.wrong_cells.end());
  return p;
}

measure::ExampleRecord RecordFromProto(const v1::ExampleRecord& p) {
  measure::ExampleRecord r;
  r.job_id = p.job_id();
  r.model = p.model();
  r.model_family = p.model_family();
  r.example_index = p.example_index();
  r.puzzle_id = p.puzzle_id();
  r.restart = p.restart();
  r.restart_kind = p.restart_kind();
  r.seed = p.seed();
  r.givens = p.givens();
  r.updates_per_segment = p.updates_per_segment();
  r.segments.reserve(p.segments_size());
  for (const v1::SegmentRecord& q : p.segments()) {
    measure::SegmentRecord& s = r.segments.emplace_back();
    s.index = q.index();
    s.correct = q.correct();
    s.token_accuracy = q.token_accuracy();
    s.halt_confidence = q.halt_confidence();
    s.q_halt_logit = q.q_halt_logit();
    s.q_continue_logit = q.q_continue_logit();
    s.flips = q.flips();
    s.displacement_h = q.displacement_h();
    s.displacement_l = q.displacement_l();
    s.displacement_joint = q.displacement_joint();
    s.lyapunov_increments.assign(q.lyapunov_increments().begin(), q.lyapunov_increments().end());
  }
  r.lyapunov.assign(p.lyapunov().begin(), p.lyapunov().end());
  r.lyapunov_sd.assign(p.lyapunov_sd().begin(), p.lyapunov_sd().end());
  r.lyapunov_method = p.lyapunov_method();
  r.lyapunov_window.assign(p.lyapunov_window().begin(), p.lyapunov_window().end());
  r.lyapunov_window_segments = p.lyapunov_window_segments();
  r.lyapunov_iterations = p.lyapunov_iterations();
  r.lyapunov_tolerance = p.lyapunov_tolerance();
  r.lyapunov_converged = p.lyapunov_converged();
  r.correct = p.correct();
  r.first_correct_segment = p.first_correct_segment();
  r.prediction.assign(p.prediction().begin(), p.prediction().end());
  r.device = p.device();
  r.compute_seconds = p.compute_seconds();
  r.error = p.error();
  for (const v1::EnergyMap& q : p.energy_maps()) {
    measure::EnergyMap& m = r.energy_maps.emplace_back();
    m.method = q.method();
    m.directions = q.directions();
    m.puzzle_positions = q.puzzle_positions();
    m.positions.assign(q.positions().begin(), q.positions().end());
  }
  r.given_cells.assign(p.given_cells().begin(), p.given_cells().end());
  r.wrong_cells.assign(p.wrong_cells().begin(), p.wrong_cells().end());
  return r;
}

}  // namespace rrm::wire
