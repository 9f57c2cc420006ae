#include "core/measure/record_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/common/json.h"
#include "core/common/json_text.h"
#include "core/common/status.h"

namespace rrm::measure {
namespace {

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

void AppendEnergyMap(const EnergyMap& m, std::string* out) {
  JsonObject o(out);
  o.String("method", m.method);
  o.Int("directions", m.directions);
  o.Int("puzzle_positions", m.puzzle_positions);
  o.Doubles("positions", m.positions);
}

void AppendInt(int32_t v, std::string* out) { absl::StrAppend(out, v); }

}  // namespace

std::string RecordToJson(const ExampleRecord& r) {
  std::string out;
  {
    JsonObject o(&out);
    o.String("job_id", r.job_id);
    o.String("model", r.model);
    o.String("model_family", r.model_family);
    o.Int("example_index", r.example_index);
    o.String("puzzle_id", r.puzzle_id);
    o.Int("restart", r.restart);
    o.String("restart_kind", r.restart_kind);
    o.Uint64("seed", r.seed);
    o.Int("givens", r.givens);
    o.Int("updates_per_segment", r.updates_per_segment);
    o.Array("segments", r.segments, AppendSegment);
    o.Doubles("lyapunov", r.lyapunov);
    o.Doubles("lyapunov_sd", r.lyapunov_sd);
    o.String("lyapunov_method", r.lyapunov_method);
    o.Doubles("lyapunov_window", r.lyapunov_window);
    o.Int("lyapunov_window_segments", r.lyapunov_window_segments);
    o.Int("lyapunov_iterations", r.lyapunov_iterations);
    o.Double("lyapunov_tolerance", r.lyapunov_tolerance);
    o.Bool("lyapunov_converged", r.lyapunov_converged);
    o.Bool("correct", r.correct);
    o.Int("first_correct_segment", r.first_correct_segment);
    o.Array("prediction", r.prediction, AppendInt);
    o.String("device", r.device);
    o.Double("compute_seconds", r.compute_seconds);
    o.String("error", r.error);
    // Empty unless energy maps are on (MeasureOptions::energy_map_directions).
    o.Array("energy_maps", r.energy_maps, AppendEnergyMap);
    o.Array("given_cells", r.given_cells, AppendInt);
    o.Array("wrong_cells", r.wrong_cells, AppendInt);
  }
  return out;
}

// ---------------------------------------------------------------- reading
//
// The shared strict JSON parser (core/common/json.h) into a tree, then the
// proto3 JSON mapping onto the struct with errors that name the field path.

namespace {

using Kind = JsonValue::Kind;

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "a boolean";
    case Kind::kNumber: return "a number";
    case Kind::kString: return "a string";
    case Kind::kArray: return "an array";
    case Kind::kObject: return "an object";
  }
  return "?";
}

absl::Status FieldError(const std::string& field, absl::string_view expected, const JsonValue& found) {
  const bool is_string = found.kind == Kind::kString;
  const std::string shown = found.kind == Kind::kNumber || is_string
                                ? absl::StrCat(" ", is_string ? "\"" : "", found.text, is_string ? "\"" : "")
                                : "";
  return absl::InvalidArgumentError(
      absl::StrCat("field \"", field, "\": expected ", expected, ", found ", KindName(found.kind), shown));
}

bool IsIntegerLiteral(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = (s[0] == '-' ? 1 : 0); i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return s.size() > (s[0] == '-' ? 1u : 0u);
}

// proto3 JSON: integers arrive as numbers or decimal strings; a number with a
// fraction or exponent is accepted when its value is integral (as protobuf does).
absl::StatusOr<int64_t> ReadInteger(const std::string& field, const JsonValue& v, int64_t lo, int64_t hi,
                                    absl::string_view type) {
  if (v.kind != Kind::kNumber && v.kind != Kind::kString) {
    return FieldError(field, absl::StrCat(type, " (number or string)"), v);
  }
  const std::string& s = v.text;
  if (IsIntegerLiteral(s)) {
    int64_t value = 0;
    auto result = std::from_chars(s.data(), s.data() + s.size(), value);
    if (result.ec == std::errc() && result.ptr == s.data() + s.size() && value >= lo && value <= hi) return value;
    return FieldError(field, absl::StrCat(type, " in [", lo, ", ", hi, "]"), v);
  }
  if (v.kind == Kind::kNumber) {
    const double d = v.number;
    if (std::floor(d) == d && d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) {
      return static_cast<int64_t>(d);
    }
  }
  return FieldError(field, absl::StrCat("an integral ", type, " in [", lo, ", ", hi, "]"), v);
}

absl::StatusOr<uint64_t> ReadUint64(const std::string& field, const JsonValue& v) {
  if ((v.kind == Kind::kNumber || v.kind == Kind::kString) && IsIntegerLiteral(v.text) &&
      v.text[0] != '-') {
    uint64_t value = 0;
    auto result = std::from_chars(v.text.data(), v.text.data() + v.text.size(), value);
    if (result.ec == std::errc() && result.ptr == v.text.data() + v.text.size()) return value;
  }
  return FieldError(field, "a uint64 (decimal number or string)", v);
}

absl::StatusOr<double> ReadDouble(const std::string& field, const JsonValue& v) {
  if (v.kind == Kind::kString) {
    if (v.text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (v.text == "Infinity") return std::numeric_limits<double>::infinity();
    if (v.text == "-Infinity") return -std::numeric_limits<double>::infinity();
    // proto3 JSON also accepts a number written as a string; check it is one.
    absl::StatusOr<JsonValue> inner = ParseJson(v.text, field);
    if (!inner.ok() || inner->kind != Kind::kNumber) {
      return FieldError(field, "a double (number, \"NaN\", \"Infinity\" or \"-Infinity\")", v);
    }
    return ReadDouble(field, *inner);
  }
  if (v.kind != Kind::kNumber) {
    return FieldError(field, "a double (number, \"NaN\", \"Infinity\" or \"-Infinity\")", v);
  }
  // The parser rounds correctly, so shortest round-trip text reads back
  // bit-exact. Underflow to a subnormal or zero is accepted (as protobuf
  // does); overflow (to infinity: no special literals here) is not.
  if (!std::isfinite(v.number)) return FieldError(field, "a double within range", v);
  return v.number;
}

absl::StatusOr<bool> ReadBool(const std::string& field, const JsonValue& v) {
  if (v.kind != Kind::kBool) return FieldError(field, "true or false", v);
  return v.boolean;
}

absl::StatusOr<std::string> ReadString(const std::string& field, const JsonValue& v) {
  if (v.kind != Kind::kString) return FieldError(field, "a string", v);
  return v.text;
}

// Visits the members of an object: checks unknown and repeated names (proto
// names and their lowerCamelCase JSON names both accepted), skips nulls
// (proto3: null means the default), and hands each to `assign`.
template <typename AssignFn>
absl::Status ForEachField(const std::string& where, const JsonValue& object,
                          const std::vector<const char*>& known, AssignFn assign) {
  if (object.kind != Kind::kObject) {
    return FieldError(where.empty() ? "(record)" : where, "an object", object);
  }
  std::set<std::string> seen;
  for (const auto& [raw_name, value] : object.members) {
    std::string name;  // lowerCamelCase → snake_case
    for (char c : raw_name) {
      if (c >= 'A' && c <= 'Z') {
        name.push_back('_');
        name.push_back(static_cast<char>(c - 'A' + 'a'));
      } else {
        name.push_back(c);
      }
    }
    const std::string path = where.empty() ? raw_name : absl::StrCat(where, ".", raw_name);
    if (std::find_if(known.begin(), known.end(), [&name](const char* k) { return name == k; }) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field \"", path, "\""));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("field \"", path, "\" appears twice"));
    }
    if (value.kind == Kind::kNull) continue;
    RRM_RETURN_IF_ERROR(assign(name, path, value));
  }
  return absl::OkStatus();
}

template <typename T, typename ReadOne>
absl::Status ReadArray(const std::string& field, const JsonValue& v, std::vector<T>* out, ReadOne read_one) {
  if (v.kind != Kind::kArray) return FieldError(field, "an array", v);
  out->clear();
  for (size_t i = 0; i < v.items.size(); ++i) {
    RRM_ASSIGN_OR_RETURN(T item, read_one(absl::StrCat(field, "[", i, "]"), v.items[i]));
    out->push_back(std::move(item));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> ReadInt32(const std::string& field, const JsonValue& v) {
  RRM_ASSIGN_OR_RETURN(int64_t value, ReadInteger(field, v, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max(), "int32"));
  return static_cast<int32_t>(value);
}

#define RRM_READ_INTO_(target, expr) \
  do {                               \
    auto rrm_value_ = (expr);        \
    if (!rrm_value_.ok()) return rrm_value_.status(); \
    target = std::move(rrm_value_).value();          \
  } while (0)

absl::StatusOr<SegmentRecord> ReadSegment(const std::string& where, const JsonValue& v) {
  SegmentRecord s;
  static const std::vector<const char*> kFields = {
      "index", "correct", "token_accuracy", "halt_confidence", "q_halt_logit", "q_continue_logit", "flips",
      "displacement_h", "displacement_l", "displacement_joint", "lyapunov_increments"};
  RRM_RETURN_IF_ERROR(ForEachField(where, v, kFields, [&s](const std::string& name, const std::string& path,
                                                            const JsonValue& value) -> absl::Status {
    if (name == "index") RRM_READ_INTO_(s.index, ReadInt32(path, value));
    if (name == "correct") RRM_READ_INTO_(s.correct, ReadBool(path, value));
    if (name == "token_accuracy") RRM_READ_INTO_(s.token_accuracy, ReadDouble(path, value));
    if (name == "halt_confidence") RRM_READ_INTO_(s.halt_confidence, ReadDouble(path, value));
    if (name == "q_halt_logit") RRM_READ_INTO_(s.q_halt_logit, ReadDouble(path, value));
    if (name == "q_continue_logit") RRM_READ_INTO_(s.q_continue_logit, ReadDouble(path, value));
    if (name == "flips") RRM_READ_INTO_(s.flips, ReadInt32(path, value));
    if (name == "displacement_h") RRM_READ_INTO_(s.displacement_h, ReadDouble(path, value));
    if (name == "displacement_l") RRM_READ_INTO_(s.displacement_l, ReadDouble(path, value));
    if (name == "displacement_joint") RRM_READ_INTO_(s.displacement_joint, ReadDouble(path, value));
    if (name == "lyapunov_increments") return ReadArray(path, value, &s.lyapunov_increments, ReadDouble);
    return absl::OkStatus();
  }));
  return s;
}

absl::StatusOr<EnergyMap> ReadEnergyMap(const std::string& where, const JsonValue& v) {
  EnergyMap m;
  static const std::vector<const char*> kFields = {"method", "directions", "puzzle_positions", "positions"};
  RRM_RETURN_IF_ERROR(ForEachField(where, v, kFields, [&m](const std::string& name, const std::string& path,
                                                            const JsonValue& value) -> absl::Status {
    if (name == "method") RRM_READ_INTO_(m.method, ReadString(path, value));
    if (name == "directions") RRM_READ_INTO_(m.directions, ReadInt32(path, value));
    if (name == "puzzle_positions") RRM_READ_INTO_(m.puzzle_positions, ReadInt32(path, value));
    if (name == "positions") return ReadArray(path, value, &m.positions, ReadDouble);
    return absl::OkStatus();
  }));
  return m;
}

}  // namespace

absl::StatusOr<ExampleRecord> RecordFromJson(absl::string_view line) {
  RRM_ASSIGN_OR_RETURN(const JsonValue root, ParseJson(line, ""));
  // proto3 semantics: an absent field takes the proto default (0, "", false,
  // empty), not record.h's in-struct defaults, exactly as protobuf would parse it.
  ExampleRecord r;
  r.restart_kind.clear();
  r.givens = 0;
  static const std::vector<const char*> kFields = {
      "job_id", "model", "model_family", "example_index", "puzzle_id", "restart", "restart_kind", "seed", "givens",
      "updates_per_segment", "segments", "lyapunov", "lyapunov_sd", "lyapunov_method",
      "lyapunov_window", "lyapunov_window_segments", "lyapunov_iterations", "lyapunov_tolerance",
      "lyapunov_converged", "correct",
      "first_correct_segment", "prediction", "device", "compute_seconds", "error", "energy_maps", "given_cells",
      "wrong_cells"};
  RRM_RETURN_IF_ERROR(ForEachField("", root, kFields, [&r](const std::string& name, const std::string& path,
                                                           const JsonValue& value) -> absl::Status {
    if (name == "job_id") RRM_READ_INTO_(r.job_id, ReadString(path, value));
    if (name == "model") RRM_READ_INTO_(r.model, ReadString(path, value));
    if (name == "model_family") RRM_READ_INTO_(r.model_family, ReadString(path, value));
    if (name == "example_index") RRM_READ_INTO_(r.example_index, ReadInt32(path, value));
    if (name == "puzzle_id") RRM_READ_INTO_(r.puzzle_id, ReadString(path, value));
    if (name == "restart") RRM_READ_INTO_(r.restart, ReadInt32(path, value));
    if (name == "restart_kind") RRM_READ_INTO_(r.restart_kind, ReadString(path, value));
    if (name == "seed") RRM_READ_INTO_(r.seed, ReadUint64(path, value));
    if (name == "givens") RRM_READ_INTO_(r.givens, ReadInt32(path, value));
    if (name == "updates_per_segment") RRM_READ_INTO_(r.updates_per_segment, ReadInt32(path, value));
    if (name == "segments") return ReadArray(path, value, &r.segments, ReadSegment);
    if (name == "lyapunov") return ReadArray(path, value, &r.lyapunov, ReadDouble);
    if (name == "lyapunov_sd") return ReadArray(path, value, &r.lyapunov_sd, ReadDouble);
    if (name == "lyapunov_method") RRM_READ_INTO_(r.lyapunov_method, ReadString(path, value));
    if (name == "lyapunov_window") return ReadArray(path, value, &r.lyapunov_window, ReadDouble);
    if (name == "lyapunov_window_segments") RRM_READ_INTO_(r.lyapunov_window_segments, ReadInt32(path, value));
    if (name == "lyapunov_iterations") RRM_READ_INTO_(r.lyapunov_iterations, ReadInt32(path, value));
    if (name == "lyapunov_tolerance") RRM_READ_INTO_(r.lyapunov_tolerance, ReadDouble(path, value));
    if (name == "lyapunov_converged") RRM_READ_INTO_(r.lyapunov_converged, ReadBool(path, value));
    if (name == "correct") RRM_READ_INTO_(r.correct, ReadBool(path, value));
    if (name == "first_correct_segment") RRM_READ_INTO_(r.first_correct_segment, ReadInt32(path, value));
    if (name == "prediction") return ReadArray(path, value, &r.prediction, ReadInt32);
    if (name == "device") RRM_READ_INTO_(r.device, ReadString(path, value));
    if (name == "compute_seconds") RRM_READ_INTO_(r.compute_seconds, ReadDouble(path, value));
    if (name == "error") RRM_READ_INTO_(r.error, ReadString(path, value));
    if (name == "energy_maps") return ReadArray(path, value, &r.energy_maps, ReadEnergyMap);
    if (name == "given_cells") return ReadArray(path, value, &r.given_cells, ReadInt32);
    if (name == "wrong_cells") return ReadArray(path, value, &r.wrong_cells, ReadInt32);
    return absl::OkStatus();
  }));
  return r;
}

absl::StatusOr<std::vector<ExampleRecord>> ReadRecordsJsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open records file ", path));
  std::vector<ExampleRecord> records;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines carry no record
    absl::StatusOr<ExampleRecord> record = RecordFromJson(line);
    if (!record.ok()) {
      return absl::Status(record.status().code(),
                          absl::StrCat(path, ":", number, ": ", record.status().message()));
    }
    records.push_back(*std::move(record));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error after line ", number));
  return records;
}

}  // namespace rrm::measure
