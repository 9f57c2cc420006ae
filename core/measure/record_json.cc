#include "core/measure/record_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace rrm::measure {
namespace {

void AppendDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);  // shortest round trip
    out->append(buffer, result.ptr);
  }
}

void AppendString(const std::string& value, std::string* out) {
  out->push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out->append(escaped);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

// Writes `"name":` then the value; the leading comma is handled by the caller's order.
class JsonObject {
 public:
  explicit JsonObject(std::string* out) : out_(out) { out_->push_back('{'); }
  ~JsonObject() { out_->push_back('}'); }

  void Key(const char* name) {
    if (!first_) out_->push_back(',');
    first_ = false;
    AppendString(name, out_);
    out_->push_back(':');
  }
  void Int(const char* name, int64_t value) { Key(name); absl::StrAppend(out_, value); }
  void Uint64(const char* name, uint64_t value) {  // proto3 JSON: 64-bit integers are strings
    Key(name);
    absl::StrAppend(out_, "\"", value, "\"");
  }
  void Bool(const char* name, bool value) { Key(name); out_->append(value ? "true" : "false"); }
  void Double(const char* name, double value) { Key(name); AppendDouble(value, out_); }
  void String(const char* name, const std::string& value) { Key(name); AppendString(value, out_); }
  template <typename T, typename AppendOne>
  void Array(const char* name, const std::vector<T>& values, AppendOne append_one) {
    Key(name);
    out_->push_back('[');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out_->push_back(',');
      append_one(values[i]);
    }
    out_->push_back(']');
  }
  void Doubles(const char* name, const std::vector<double>& values) {
    Array(name, values, [this](double v) { AppendDouble(v, out_); });
  }

 private:
  std::string* out_;
  bool first_ = true;
};

void AppendSegment(const SegmentRecord& s, std::string* out) {
  JsonObject o(out);
  o.Int("index", s.index);
  o.Bool("correct", s.correct);
  o.Double("token_accuracy", s.token_accuracy);
  o.Double("halt_confidence", s.halt_confidence);
  o.Double("q_halt_logit", s.q_halt_logit);
  o.Double("q_continue_logit", s.q_continue_logit);
  o.Int("flips", s.flips);
  o.Double("displacement_h", s.displacement_h);
  o.Double("displacement_l", s.displacement_l);
  o.Double("displacement_joint", s.displacement_joint);
  o.Doubles("lyapunov_increments", s.lyapunov_increments);
}

}  // namespace

std::string RecordToJson(const ExampleRecord& r) {
  std::string out;
  {
    JsonObject o(&out);
    o.String("job_id", r.job_id);
    o.Int("example_index", r.example_index);
    o.String("puzzle_id", r.puzzle_id);
    o.Int("restart", r.restart);
    o.String("restart_kind", r.restart_kind);
    o.Uint64("seed", r.seed);
    o.Int("givens", r.givens);
    o.Int("updates_per_segment", r.updates_per_segment);
    o.Array("segments", r.segments, [&out](const SegmentRecord& s) { AppendSegment(s, &out); });
    o.Doubles("lyapunov", r.lyapunov);
    o.Doubles("lyapunov_sd", r.lyapunov_sd);
    o.String("lyapunov_method", r.lyapunov_method);
    o.Bool("correct", r.correct);
    o.Int("first_correct_segment", r.first_correct_segment);
    o.Array("prediction", r.prediction, [&out](int32_t v) { absl::StrAppend(&out, v); });
    o.String("device", r.device);
    o.Double("compute_seconds", r.compute_seconds);
    o.String("error", r.error);
  }
  return out;
}

}  // namespace rrm::measure
