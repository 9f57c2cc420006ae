// Readers for upstream dataset folders and for Sudoku / Maze text.
//
// Every reader collects token rows into plain vectors first and builds the
// tensors once at the end, so validation errors can name the line or row
// that caused them and LibTorch is only touched inside RunTorch.
#include "core/puzzle/puzzle_set.h"

#include <algorithm>
#include <type_traits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/common/json.h"
#include "core/common/status.h"
#include "core/puzzle/npy.h"

namespace rrm::puzzle {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSudokuCells = 81;
constexpr int64_t kSudokuVocab = 11;  // pad + blank + digits 1..9
constexpr absl::string_view kMazeCharset = "# SGo";
constexpr int64_t kMazeVocab = 6;  // pad + the 5 characters of kMazeCharset

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::error_code error;
  if (!fs::exists(path, error)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  if (fs::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file"));
  }
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  std::ostringstream contents;
  contents << stream.rdbuf();
  if (stream.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  return contents.str();
}

// ---------------------------------------------------------------------------
// dataset.json: a flat JSON object; any other JSON value in it is parsed and
// ignored, so a future metadata field cannot break reading.

absl::StatusOr<int64_t> RequiredInteger(const JsonValue& root, absl::string_view key,
                                        const std::string& name) {
  const JsonValue* value = root.Find(key);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": missing required key \"", key, "\""));
  }
  if (value->kind == JsonValue::Kind::kNumber && value->integer.has_value()) return *value->integer;
  // pydantic may round-trip an int field through float (81.0); accept exact values.
  if (value->kind == JsonValue::Kind::kNumber && std::isfinite(value->number) &&
      value->number == std::floor(value->number) && std::fabs(value->number) < 9.0e15) {
    return static_cast<int64_t>(value->number);
  }
  return absl::InvalidArgumentError(absl::StrCat(name, ": key \"", key, "\" must be an integer"));
}

absl::StatusOr<DatasetMetadata> ReadDatasetJson(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  JsonOptions options;
  options.allow_nonfinite = true;  // Python's json.dump writes NaN, Infinity, -Infinity
  RRM_ASSIGN_OR_RETURN(const JsonValue root, ParseJson(text, path, options));
  if (root.kind != JsonValue::Kind::kObject) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
  }
  DatasetMetadata metadata;
  RRM_ASSIGN_OR_RETURN(metadata.seq_len, RequiredInteger(root, "seq_len", path));
  RRM_ASSIGN_OR_RETURN(metadata.vocab_size, RequiredInteger(root, "vocab_size", path));
  RRM_ASSIGN_OR_RETURN(metadata.pad_id, RequiredInteger(root, "pad_id", path));
  RRM_ASSIGN_OR_RETURN(metadata.num_puzzle_identifiers,
                       RequiredInteger(root, "num_puzzle_identifiers", path));
  const JsonValue* ignore = root.Find("ignore_label_id");
  if (ignore == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": missing required key \"ignore_label_id\" (null if none)"));
  }
  if (ignore->kind != JsonValue::Kind::kNull) {
    RRM_ASSIGN_OR_RETURN(metadata.ignore_label_id, RequiredInteger(root, "ignore_label_id", path));
  }
  for (auto [key, value] :
       {std::pair{"seq_len", metadata.seq_len}, std::pair{"vocab_size", metadata.vocab_size},
        std::pair{"num_puzzle_identifiers", metadata.num_puzzle_identifiers}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": \"", key, "\" is ", value, ", expected a positive integer"));
    }
  }
  // The arrays are read from the "all" set's files; a dataset listing other
  // sets would be silently truncated, so it is refused instead.
  if (const JsonValue* sets = root.Find("sets"); sets != nullptr) {
    std::vector<std::string> names;
    bool all_strings = sets->kind == JsonValue::Kind::kArray;
    for (const JsonValue& item : sets->items) {
      all_strings = all_strings && item.kind == JsonValue::Kind::kString;
      names.push_back(item.text);
    }
    if (!all_strings) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \"sets\" must be a list of strings"));
    }
    if (names != std::vector<std::string>{"all"}) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \"sets\" is [",
                                                     absl::StrJoin(names, ", "),
                                                     "]; only the single set \"all\" "
                                                     "(files all__*.npy) is supported"));
    }
  }
  return metadata;
}

// ---------------------------------------------------------------------------
// Dataset folder.

std::string ShapeString(const torch::Tensor& tensor) {
  const auto sizes = tensor.sizes();
  if (sizes.size() == 1) return absl::StrCat("(", sizes[0], ",)");
  return absl::StrCat("(", absl::StrJoin(sizes, ", "), ")");
}

absl::StatusOr<fs::path> ResolveSplitFolder(const std::string& path) {
  std::error_code error;
  const fs::path given(path);
  if (!fs::exists(given, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  if (fs::is_regular_file(given, error) && given.filename() == "dataset.json") {
    return given.parent_path();
  }
  if (fs::exists(given / "dataset.json", error)) return given;
  if (fs::exists(given / "test" / "dataset.json", error)) return given / "test";
  std::string message = absl::StrCat(path, ": not an upstream dataset folder: looked for ",
                                     (given / "dataset.json").string(), " and ",
                                     (given / "test" / "dataset.json").string());
  if (fs::exists(given / "train" / "dataset.json", error)) {
    absl::StrAppend(&message, "; found ", (given / "train").string(),
                    " only: pass that folder to read the training split");
  }
  return absl::NotFoundError(message);
}

// Reads an integer array as int64; floating-point content is an error.
absl::StatusOr<torch::Tensor> ReadIntegerNpy(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(torch::Tensor tensor, ReadNpy(path));
  if (torch::isFloatingType(tensor.scalar_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": holds ", c10::toString(tensor.scalar_type()), " values, expected integers"));
  }
  return RunTorch(path,
                  [&]() -> absl::StatusOr<torch::Tensor> { return tensor.to(torch::kInt64); });
}

// The first element outside [low, high) that is none of `allowed`.
struct Offender {
  int64_t flat_index;
  int64_t value;
};

absl::StatusOr<std::optional<Offender>> FirstOutside(const torch::Tensor& values, int64_t low,
                                                     int64_t high,
                                                     const std::vector<int64_t>& allowed,
                                                     const std::string& name) {
  return RunTorch(name, [&]() -> absl::StatusOr<std::optional<Offender>> {
    torch::Tensor outside = values.lt(low).logical_or(values.ge(high));
    for (int64_t value : allowed) outside.logical_and_(values.ne(value));
    torch::Tensor positions = outside.reshape({-1}).nonzero();
    if (positions.size(0) == 0) return std::optional<Offender>();
    const int64_t index = positions[0][0].item<int64_t>();
    return std::optional<Offender>(Offender{index, values.reshape({-1})[index].item<int64_t>()});
  });
}

std::string RowColumn(int64_t flat_index, int64_t columns) {
  return absl::StrCat("row ", flat_index / columns, ", column ", flat_index % columns);
}

PuzzleKind KindFromMetadata(const DatasetMetadata& metadata) {
  if (metadata.seq_len == kSudokuCells && metadata.vocab_size == kSudokuVocab) {
    return PuzzleKind::kSudoku;
  }
  const auto side =
      static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(metadata.seq_len))));
  if (metadata.vocab_size == kMazeVocab && side * side == metadata.seq_len) {
    return PuzzleKind::kMaze;
  }
  return PuzzleKind::kTokens;
}

// upstream puzzle_identifiers hold one entry per puzzle and puzzle_indices the
// example range of each; expand to one identifier per example.
absl::StatusOr<torch::Tensor> IdentifiersPerExample(const torch::Tensor& identifiers,
                                                    int64_t examples, const fs::path& folder,
                                                    const std::string& id_file) {
  if (identifiers.dim() == 1 && identifiers.size(0) == examples) return identifiers;
  const std::string shape_error =
      absl::StrCat(id_file, ": shape ", ShapeString(identifiers), ", expected (", examples,
                   ",) (one per example, or one per puzzle as given by all__puzzle_indices.npy)");
  if (identifiers.dim() != 1) return absl::InvalidArgumentError(shape_error);
  const std::string indices_file = (folder / "all__puzzle_indices.npy").string();
  std::error_code error;
  if (!fs::exists(indices_file, error)) return absl::InvalidArgumentError(shape_error);
  RRM_ASSIGN_OR_RETURN(torch::Tensor indices, ReadIntegerNpy(indices_file));
  const int64_t puzzles = identifiers.size(0);
  if (indices.dim() != 1 || indices.size(0) != puzzles + 1) {
    return absl::InvalidArgumentError(absl::StrCat(indices_file, ": shape ", ShapeString(indices),
                                                   ", expected (", puzzles + 1,
                                                   ",) (puzzles + 1)"));
  }
  return RunTorch(indices_file, [&]() -> absl::StatusOr<torch::Tensor> {
    const int64_t first = indices[0].item<int64_t>();
    const int64_t last = indices[puzzles].item<int64_t>();
    torch::Tensor counts = indices.slice(0, 1) - indices.slice(0, 0, puzzles);
    if (first != 0 || last != examples || counts.lt(0).any().item<bool>()) {
      return absl::InvalidArgumentError(
          absl::StrCat(indices_file, ": puzzle_indices must rise from 0 to ", examples,
                       " (the number of examples); found ", first, " .. ", last));
    }
    return identifiers.repeat_interleave(counts);
  });
}

// ---------------------------------------------------------------------------
// Text formats.

struct Line {
  int number;  // 1-based
  absl::string_view text;
};

// Splits on '\n', dropping a trailing '\r' and a leading UTF-8 byte-order mark.
std::vector<Line> SplitLines(absl::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<Line> lines;
  int number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back({++number, line});
    start = end + 1;
  }
  return lines;
}

bool IsBlank(absl::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return absl::ascii_isspace(c); });
}

std::string ShowChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return absl::StrCat("'", std::string(1, c), "'");
  static constexpr char kHex[] = "0123456789abcdef";
  return absl::StrCat("'\\x", std::string(1, kHex[byte >> 4]), std::string(1, kHex[byte & 15]),
                      "'");
}

std::string At(const std::string& name, int line) { return absl::StrCat(name, ": line ", line); }
std::string At(const std::string& name, int line, int64_t column) {
  return absl::StrCat(name, ": line ", line, ", column ", column);
}

struct CsvField {
  std::string text;
  int64_t column;  // 1-based position of the field's first character in the line
};

// One CSV record on one line: comma-separated, fields optionally in double
// quotes with "" for a literal quote (what Python's csv module writes).
absl::StatusOr<std::vector<CsvField>> SplitCsvLine(const Line& line, const std::string& name) {
  std::vector<CsvField> fields;
  const absl::string_view text = line.text;
  size_t pos = 0;
  while (true) {
    CsvField field;
    if (pos < text.size() && text[pos] == '"') {
      field.column = static_cast<int64_t>(pos) + 2;
      ++pos;
      while (true) {
        if (pos >= text.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(At(name, line.number),
                           ": unterminated quoted field (quoted fields must "
                           "not span lines)"));
        }
        if (text[pos] == '"') {
          if (pos + 1 < text.size() && text[pos + 1] == '"') {
            field.text.push_back('"');
            pos += 2;
            continue;
          }
          ++pos;
          break;
        }
        field.text.push_back(text[pos++]);
      }
      if (pos < text.size() && text[pos] != ',') {
        return absl::InvalidArgumentError(absl::StrCat(At(name, line.number, pos + 1),
                                                       ": unexpected ", ShowChar(text[pos]),
                                                       " after a quoted field"));
      }
    } else {
      field.column = static_cast<int64_t>(pos) + 1;
      const size_t end = std::min(text.find(',', pos), text.size());
      field.text = std::string(text.substr(pos, end - pos));
      pos = end;
    }
    fields.push_back(std::move(field));
    if (pos >= text.size()) break;
    ++pos;  // the comma
  }
  return fields;
}

// Column positions of a CSV header line, if `line` is one: a header names a
// "question" column (upstream: source,question,answer,rating).
struct CsvLayout {
  std::vector<std::string> names;
  int question = -1;
  int answer = -1;
  int source = -1;
};

// A data row's fields, as many as the header names.
absl::StatusOr<std::vector<CsvField>> SplitCsvRow(const Line& line, const CsvLayout& layout,
                                                  const std::string& name) {
  RRM_ASSIGN_OR_RETURN(std::vector<CsvField> fields, SplitCsvLine(line, name));
  if (fields.size() != layout.names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        At(name, line.number), ": expected ", layout.names.size(), " comma-separated fields (",
        absl::StrJoin(layout.names, ","), "), found ", fields.size()));
  }
  return fields;
}

std::optional<CsvLayout> DetectCsvHeader(absl::string_view line) {
  if (line.find(',') == absl::string_view::npos) return std::nullopt;
  CsvLayout layout;
  size_t start = 0;
  while (start <= line.size()) {
    const size_t end = std::min(line.find(',', start), line.size());
    std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(start, end - start)));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
    }
    const int index = static_cast<int>(layout.names.size());
    if (name == "question") layout.question = index;
    if (name == "answer") layout.answer = index;
    if (name == "source") layout.source = index;
    layout.names.push_back(std::move(name));
    start = end + 1;
  }
  if (layout.question < 0) return std::nullopt;
  return layout;
}

// What a text reader accumulates before the tensors are built.
struct Collected {
  std::vector<int64_t> inputs;
  std::vector<int64_t> labels;
  std::vector<std::string> puzzle_ids;
  std::vector<int32_t> givens;
  int first_line_with_solution = 0;
  int first_line_without_solution = 0;

  void NoteSolution(bool present, int line) {
    int& first = present ? first_line_with_solution : first_line_without_solution;
    if (first == 0) first = line;
  }
};

absl::StatusOr<PuzzleSet> BuildSet(PuzzleKind kind, const DatasetMetadata& metadata,
                                   Collected collected, const std::string& name,
                                   absl::string_view what) {
  if (collected.puzzle_ids.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no ", what, " found"));
  }
  if (collected.first_line_with_solution != 0 && collected.first_line_without_solution != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": line ", collected.first_line_with_solution,
                     " has a solution but line ", collected.first_line_without_solution,
                     " does not; either every puzzle in a file has a solution or none does"));
  }
  const bool has_labels = collected.first_line_with_solution != 0;
  const auto count = static_cast<int64_t>(collected.puzzle_ids.size());
  PuzzleSet set;
  set.kind = kind;
  set.metadata = metadata;
  set.puzzle_ids = std::move(collected.puzzle_ids);
  set.givens = std::move(collected.givens);
  RRM_RETURN_IF_ERROR(RunTorch(name, [&]() -> absl::Status {
    auto to_tensor = [&](const std::vector<int64_t>& values) {
      return torch::from_blob(const_cast<int64_t*>(values.data()), {count, metadata.seq_len},
                              torch::kInt64)
          .clone();
    };
    set.inputs = to_tensor(collected.inputs);
    if (has_labels) set.labels = to_tensor(collected.labels);
    set.puzzle_identifiers = torch::zeros({count}, torch::kInt64);
    return absl::OkStatus();
  }));
  return set;
}

DatasetMetadata TextMetadata(int64_t seq_len, int64_t vocab_size) {
  DatasetMetadata metadata;
  metadata.seq_len = seq_len;
  metadata.vocab_size = vocab_size;
  metadata.pad_id = 0;
  metadata.ignore_label_id = std::nullopt;  // text labels cover every cell
  metadata.num_puzzle_identifiers = 1;
  return metadata;
}

// ---- Sudoku ----

// Appends the tokens of one 81-cell Sudoku string that starts at 1-based
// `column` of `line`. Puzzles allow '.' and '0' for blanks; solutions only
// digits 1..9.
absl::Status AppendSudokuCells(absl::string_view cells, bool is_solution, int line, int64_t column,
                               const std::string& name, std::vector<int64_t>& out) {
  const char* role = is_solution ? "solution" : "puzzle";
  for (size_t i = 0; i < cells.size(); ++i) {
    const char c = cells[i];
    const bool digit = c >= '1' && c <= '9';
    const bool blank = c == '.' || c == '0';
    if (!digit && !(blank && !is_solution)) {
      return absl::InvalidArgumentError(absl::StrCat(
          At(name, line, column + static_cast<int64_t>(i)), ": unexpected character ", ShowChar(c),
          " in ", role,
          is_solution ? " (expected a digit 1-9)" : " (expected '.', '0' or a digit 1-9)"));
    }
  }
  if (static_cast<int64_t>(cells.size()) != kSudokuCells) {
    return absl::InvalidArgumentError(absl::StrCat(
        At(name, line), ": ", role, " has ", cells.size(), " characters, expected ", kSudokuCells));
  }
  for (char c : cells) out.push_back(c >= '1' && c <= '9' ? int64_t{c - '0' + 1} : int64_t{1});
  return absl::OkStatus();
}

// A given (non-blank puzzle cell) must equal its solution cell; a mismatch
// usually means swapped columns or an unrelated solution.
absl::Status CheckGivensAgree(const int64_t* puzzle, const int64_t* solution, int line,
                              const std::string& name) {
  for (int64_t cell = 0; cell < kSudokuCells; ++cell) {
    if (puzzle[cell] >= 2 && puzzle[cell] != solution[cell]) {
      return absl::InvalidArgumentError(
          absl::StrCat(At(name, line), ": given ", puzzle[cell] - 1, " at cell r", cell / 9 + 1,
                       "c", cell % 9 + 1, " (cell ", cell + 1,
                       " of 81) disagrees with the solution's ", solution[cell] - 1));
    }
  }
  return absl::OkStatus();
}

int32_t CountGivens(const int64_t* tokens) {
  return static_cast<int32_t>(
      std::count_if(tokens, tokens + kSudokuCells, [](int64_t t) { return t >= 2 && t <= 10; }));
}

// Adds one Sudoku (tokens already appended to inputs / labels) to `collected`.
absl::Status FinishSudoku(Collected& collected, bool has_solution, int line, std::string puzzle_id,
                          const std::string& name) {
  const int64_t* puzzle = collected.inputs.data() + collected.inputs.size() - kSudokuCells;
  if (has_solution) {
    const int64_t* solution = collected.labels.data() + collected.labels.size() - kSudokuCells;
    RRM_RETURN_IF_ERROR(CheckGivensAgree(puzzle, solution, line, name));
  }
  collected.NoteSolution(has_solution, line);
  collected.givens.push_back(CountGivens(puzzle));
  collected.puzzle_ids.push_back(std::move(puzzle_id));
  return absl::OkStatus();
}

absl::Status ParseSudokuCsvRow(const Line& line, const CsvLayout& layout, const std::string& name,
                               Collected& collected) {
  RRM_ASSIGN_OR_RETURN(std::vector<CsvField> fields, SplitCsvRow(line, layout, name));
  const CsvField& question = fields[layout.question];
  RRM_RETURN_IF_ERROR(AppendSudokuCells(question.text, false, line.number, question.column, name,
                                        collected.inputs));
  const bool has_solution = layout.answer >= 0 && !fields[layout.answer].text.empty();
  if (has_solution) {
    const CsvField& answer = fields[layout.answer];
    RRM_RETURN_IF_ERROR(
        AppendSudokuCells(answer.text, true, line.number, answer.column, name, collected.labels));
  }
  std::string id = layout.source >= 0 ? fields[layout.source].text : "";
  if (id.empty()) id = absl::StrCat("line ", line.number);
  return FinishSudoku(collected, has_solution, line.number, std::move(id), name);
}

bool IsSeparator(char c) { return c == ',' || absl::ascii_isspace(c); }

absl::Status ParseSudokuPlainLine(const Line& line, const std::string& name, Collected& collected) {
  const absl::string_view text = line.text;
  size_t start = 0;
  while (start < text.size() && absl::ascii_isspace(text[start])) ++start;
  size_t end = start;
  while (end < text.size() && !IsSeparator(text[end])) ++end;
  RRM_RETURN_IF_ERROR(AppendSudokuCells(text.substr(start, end - start), false, line.number,
                                        static_cast<int64_t>(start) + 1, name, collected.inputs));
  // Optional solution: after one ',' and / or whitespace.
  size_t pos = end;
  while (pos < text.size() && absl::ascii_isspace(text[pos])) ++pos;
  if (pos < text.size() && text[pos] == ',') ++pos;
  while (pos < text.size() && absl::ascii_isspace(text[pos])) ++pos;
  const bool has_solution = pos < text.size();
  if (has_solution) {
    size_t solution_end = pos;
    while (solution_end < text.size() && !IsSeparator(text[solution_end])) ++solution_end;
    RRM_RETURN_IF_ERROR(AppendSudokuCells(text.substr(pos, solution_end - pos), true, line.number,
                                          static_cast<int64_t>(pos) + 1, name, collected.labels));
    size_t rest = solution_end;
    while (rest < text.size() && absl::ascii_isspace(text[rest])) ++rest;
    if (rest < text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          At(name, line.number, rest + 1), ": unexpected ", ShowChar(text[rest]),
          " after the solution (a line holds a puzzle and optionally its solution; use the "
          "source,question,answer,rating CSV layout for more columns)"));
    }
  }
  return FinishSudoku(collected, has_solution, line.number, absl::StrCat("line ", line.number),
                      name);
}

// ---- Maze ----

absl::Status AppendMazeCells(absl::string_view cells, int line, int64_t column,
                             const std::string& name, std::vector<int64_t>& out) {
  for (size_t i = 0; i < cells.size(); ++i) {
    const size_t index = kMazeCharset.find(cells[i]);
    if (index == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(At(name, line, column + static_cast<int64_t>(i)), ": unexpected character ",
                       ShowChar(cells[i]), " in maze (expected one of \"# SGo\")"));
    }
    out.push_back(static_cast<int64_t>(index) + 1);
  }
  return absl::OkStatus();
}

// Walls are fixed: the solution only marks the path, so a wall that appears or
// disappears means the solution belongs to another maze.
absl::Status CheckWallsAgree(const int64_t* question, const int64_t* answer, int64_t side, int line,
                             const std::string& name) {
  constexpr int64_t kWall = 1;  // 1 + index of '#'
  for (int64_t cell = 0; cell < side * side; ++cell) {
    if ((question[cell] == kWall) != (answer[cell] == kWall)) {
      return absl::InvalidArgumentError(
          absl::StrCat(At(name, line), ": solution ", question[cell] == kWall ? "lacks" : "adds",
                       " a wall at row ", cell / side + 1, ", column ", cell % side + 1,
                       " (solutions must keep the question's walls)"));
    }
  }
  return absl::OkStatus();
}

// Fixes the maze side on the first maze and checks every later one against it.
absl::Status CheckMazeSide(int64_t side, std::optional<int64_t>& file_side, int line,
                           const std::string& name) {
  if (!file_side.has_value()) {
    file_side = side;
    return absl::OkStatus();
  }
  if (side == *file_side) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(At(name, line), ": maze is ", side, "x", side, " but the file's first maze is ",
                   *file_side, "x", *file_side, "; all mazes in a file must have one size"));
}

absl::Status ParseMazeCsv(const std::vector<Line>& lines, size_t header_index,
                          const CsvLayout& layout, const std::string& name, Collected& collected,
                          std::optional<int64_t>& side) {
  for (size_t i = header_index + 1; i < lines.size(); ++i) {
    const Line& line = lines[i];
    if (IsBlank(line.text)) continue;
    RRM_ASSIGN_OR_RETURN(std::vector<CsvField> fields, SplitCsvRow(line, layout, name));
    const CsvField& question = fields[layout.question];
    const auto cells = static_cast<int64_t>(question.text.size());
    const auto n = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(cells))));
    if (cells == 0 || n * n != cells) {
      return absl::InvalidArgumentError(
          absl::StrCat(At(name, line.number), ": question has ", cells,
                       " characters, not the n*n of a flattened square maze"));
    }
    RRM_RETURN_IF_ERROR(CheckMazeSide(n, side, line.number, name));
    RRM_RETURN_IF_ERROR(
        AppendMazeCells(question.text, line.number, question.column, name, collected.inputs));
    const bool has_solution = layout.answer >= 0 && !fields[layout.answer].text.empty();
    if (has_solution) {
      const CsvField& answer = fields[layout.answer];
      if (static_cast<int64_t>(answer.text.size()) != cells) {
        return absl::InvalidArgumentError(absl::StrCat(At(name, line.number), ": answer has ",
                                                       answer.text.size(), " characters, question ",
                                                       cells));
      }
      RRM_RETURN_IF_ERROR(
          AppendMazeCells(answer.text, line.number, answer.column, name, collected.labels));
      RRM_RETURN_IF_ERROR(CheckWallsAgree(collected.inputs.data() + collected.inputs.size() - cells,
                                          collected.labels.data() + collected.labels.size() - cells,
                                          n, line.number, name));
    }
    collected.NoteSolution(has_solution, line.number);
    collected.givens.push_back(-1);
    std::string id = layout.source >= 0 ? fields[layout.source].text : "";
    collected.puzzle_ids.push_back(id.empty() ? absl::StrCat("line ", line.number) : std::move(id));
  }
  return absl::OkStatus();
}

struct Grid {
  int first_line;
  std::vector<int64_t> tokens;
  bool is_solution;  // contains a path cell 'o'
};

// One grid: consecutive non-empty lines, all as long as the grid is tall.
absl::StatusOr<Grid> ParseGrid(const std::vector<Line>& lines, size_t begin, size_t end,
                               const std::string& name) {
  Grid grid{lines[begin].number, {}, false};
  const size_t width = lines[begin].text.size();
  for (size_t i = begin; i < end; ++i) {
    const Line& line = lines[i];
    if (line.text.size() != width) {
      return absl::InvalidArgumentError(absl::StrCat(At(name, line.number), ": grid row has ",
                                                     line.text.size(), " characters, expected ",
                                                     width, " like line ", lines[begin].number));
    }
    RRM_RETURN_IF_ERROR(AppendMazeCells(line.text, line.number, 1, name, grid.tokens));
    grid.is_solution = grid.is_solution || line.text.find('o') != absl::string_view::npos;
  }
  const size_t height = end - begin;
  if (height != width) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": lines ", lines[begin].number, "-", lines[end - 1].number, ": grid has ", height,
        " rows of ", width, " characters; a maze must be square"));
  }
  return grid;
}

absl::Status ParseMazeGrids(const std::vector<Line>& lines, const std::string& name,
                            Collected& collected, std::optional<int64_t>& side) {
  // A question grid waiting for a possible solution grid right after it.
  std::optional<Grid> pending;
  auto flush = [&](bool has_solution, int line) {
    collected.NoteSolution(has_solution, line);
    collected.givens.push_back(-1);
    collected.puzzle_ids.push_back(absl::StrCat("line ", line));
  };
  size_t i = 0;
  while (i < lines.size()) {
    if (lines[i].text.empty()) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < lines.size() && !lines[end].text.empty()) ++end;
    RRM_ASSIGN_OR_RETURN(Grid grid, ParseGrid(lines, i, end, name));
    const auto n = static_cast<int64_t>(end - i);
    RRM_RETURN_IF_ERROR(CheckMazeSide(n, side, grid.first_line, name));
    if (grid.is_solution) {
      if (!pending.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(At(name, grid.first_line),
                         ": solution grid (it contains 'o') without a question grid "
                         "before it"));
      }
      RRM_RETURN_IF_ERROR(
          CheckWallsAgree(pending->tokens.data(), grid.tokens.data(), n, grid.first_line, name));
      collected.inputs.insert(collected.inputs.end(), pending->tokens.begin(),
                              pending->tokens.end());
      collected.labels.insert(collected.labels.end(), grid.tokens.begin(), grid.tokens.end());
      flush(true, pending->first_line);
      pending.reset();
    } else {
      if (pending.has_value()) {
        collected.inputs.insert(collected.inputs.end(), pending->tokens.begin(),
                                pending->tokens.end());
        flush(false, pending->first_line);
      }
      pending = std::move(grid);
    }
    i = end;
  }
  if (pending.has_value()) {
    collected.inputs.insert(collected.inputs.end(), pending->tokens.begin(), pending->tokens.end());
    flush(false, pending->first_line);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PuzzleKind> DeclaredKind(const std::string& field, const std::string& name, int64_t seq_len,
                                        int64_t max_token) {
  if (name.empty() || name == "tokens") return PuzzleKind::kTokens;
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(seq_len))));
  if (name == "sudoku") {
    if (seq_len != kSudokuCells || max_token >= kSudokuVocab) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": sudoku expects ", kSudokuCells, " tokens below ",
                                                     kSudokuVocab, ", found ", seq_len, " tokens up to ", max_token));
    }
    return PuzzleKind::kSudoku;
  }
  if (name == "maze") {
    if (side * side != seq_len || max_token >= kMazeVocab) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": maze expects n*n tokens below ", kMazeVocab,
                                                     ", found ", seq_len, " tokens up to ", max_token));
    }
    return PuzzleKind::kMaze;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": expected tokens, sudoku or maze (or empty), found '", name, "'"));
}

const char* KindName(PuzzleKind kind) {
  switch (kind) {
    case PuzzleKind::kSudoku: return "sudoku";
    case PuzzleKind::kMaze: return "maze";
    case PuzzleKind::kTokens: break;
  }
  return "tokens";
}

PuzzleSet PuzzleSet::Slice(int64_t begin, int64_t end) const {
  end = std::clamp<int64_t>(end, 0, size());
  begin = std::clamp<int64_t>(begin, 0, end);
  PuzzleSet slice;
  slice.kind = kind;
  slice.metadata = metadata;
  // Slicing and copying rows of CPU tensors cannot throw.
  auto rows = [&](const torch::Tensor& tensor) {
    return tensor.defined() ? tensor.slice(0, begin, end).clone() : torch::Tensor();
  };
  slice.inputs = rows(inputs);
  slice.labels = rows(labels);
  slice.puzzle_identifiers = rows(puzzle_identifiers);
  auto entries = [&](const auto& values) {
    using Values = std::decay_t<decltype(values)>;
    const int64_t n = static_cast<int64_t>(values.size());
    return Values(values.begin() + std::min(begin, n), values.begin() + std::min(end, n));
  };
  slice.puzzle_ids = entries(puzzle_ids);
  slice.givens = entries(givens);
  return slice;
}

int32_t CountSudokuGivens(const torch::Tensor& row) {
  if (!row.defined() || row.numel() != kSudokuCells) return -1;
  absl::StatusOr<int32_t> count = RunTorch("CountSudokuGivens", [&]() -> absl::StatusOr<int32_t> {
    return static_cast<int32_t>(row.ge(2).logical_and(row.le(10)).sum().item<int64_t>());
  });
  return count.ok() ? *count : -1;
}

absl::StatusOr<PuzzleSet> ReadDatasetFolder(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(fs::path folder, ResolveSplitFolder(path));
  RRM_ASSIGN_OR_RETURN(DatasetMetadata metadata,
                       ReadDatasetJson((folder / "dataset.json").string()));
  const std::string inputs_file = (folder / "all__inputs.npy").string();
  const std::string labels_file = (folder / "all__labels.npy").string();
  const std::string identifiers_file = (folder / "all__puzzle_identifiers.npy").string();

  PuzzleSet set;
  set.kind = KindFromMetadata(metadata);
  set.metadata = metadata;
  RRM_ASSIGN_OR_RETURN(set.inputs, ReadIntegerNpy(inputs_file));
  if (set.inputs.dim() != 2 || set.inputs.size(1) != metadata.seq_len) {
    return absl::InvalidArgumentError(
        absl::StrCat(inputs_file, ": shape ", ShapeString(set.inputs), ", expected (N, ",
                     metadata.seq_len, ") with seq_len ", metadata.seq_len, " from dataset.json"));
  }
  const int64_t examples = set.inputs.size(0);
  const int64_t seq_len = metadata.seq_len;
  RRM_ASSIGN_OR_RETURN(std::optional<Offender> bad_token,
                       FirstOutside(set.inputs, 0, metadata.vocab_size, {}, inputs_file));
  if (bad_token.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(inputs_file, ": token ", bad_token->value, " at ",
                     RowColumn(bad_token->flat_index, seq_len), " outside vocabulary [0, ",
                     metadata.vocab_size, ")"));
  }

  RRM_ASSIGN_OR_RETURN(set.labels, ReadIntegerNpy(labels_file));
  if (!set.labels.sizes().equals(set.inputs.sizes())) {
    return absl::InvalidArgumentError(absl::StrCat(labels_file, ": shape ", ShapeString(set.labels),
                                                   ", expected ", ShapeString(set.inputs),
                                                   " like all__inputs.npy"));
  }
  // Labels already at kIgnoreLabel are not scored upstream either, so they pass.
  const std::optional<int64_t> ignore = metadata.ignore_label_id;
  std::vector<int64_t> not_scored = {kIgnoreLabel};
  if (ignore.has_value()) not_scored.push_back(*ignore);
  RRM_ASSIGN_OR_RETURN(std::optional<Offender> bad_label,
                       FirstOutside(set.labels, 0, metadata.vocab_size, not_scored, labels_file));
  if (bad_label.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_file, ": label ", bad_label->value, " at ",
        RowColumn(bad_label->flat_index, seq_len), " outside vocabulary [0, ", metadata.vocab_size,
        ")", ignore.has_value() ? absl::StrCat(" and not ignore_label_id ", *ignore) : ""));
  }
  if (ignore.has_value()) {
    RRM_RETURN_IF_ERROR(RunTorch(labels_file, [&]() -> absl::Status {
      set.labels.masked_fill_(set.labels.eq(*ignore), kIgnoreLabel);
      return absl::OkStatus();
    }));
  }

  RRM_ASSIGN_OR_RETURN(torch::Tensor identifiers, ReadIntegerNpy(identifiers_file));
  RRM_ASSIGN_OR_RETURN(set.puzzle_identifiers,
                       IdentifiersPerExample(identifiers, examples, folder, identifiers_file));
  RRM_ASSIGN_OR_RETURN(std::optional<Offender> bad_identifier,
                       FirstOutside(set.puzzle_identifiers, 0, metadata.num_puzzle_identifiers, {},
                                    identifiers_file));
  if (bad_identifier.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(identifiers_file, ": puzzle identifier ", bad_identifier->value, " at row ",
                     bad_identifier->flat_index, " outside [0, ", metadata.num_puzzle_identifiers,
                     ") (num_puzzle_identifiers from dataset.json)"));
  }

  set.puzzle_ids.reserve(examples);
  for (int64_t row = 0; row < examples; ++row) set.puzzle_ids.push_back(std::to_string(row));
  set.givens.assign(examples, -1);
  if (set.kind == PuzzleKind::kSudoku && examples > 0) {
    RRM_ASSIGN_OR_RETURN(torch::Tensor counts,
                         RunTorch(inputs_file, [&]() -> absl::StatusOr<torch::Tensor> {
                           return SudokuGivenCells(set.inputs)
                               .sum(1)
                               .to(torch::kInt32)
                               .contiguous();
                         }));
    std::copy_n(counts.data_ptr<int32_t>(), examples, set.givens.begin());
  }
  return set;
}

absl::StatusOr<PuzzleSet> ParseSudokuText(const std::string& text, const std::string& name) {
  const std::vector<Line> lines = SplitLines(text);
  Collected collected;
  std::optional<CsvLayout> layout;
  bool first_content = true;
  for (const Line& line : lines) {
    const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line.text);
    if (stripped.empty() || stripped.front() == '#') continue;
    if (first_content) {
      first_content = false;
      layout = DetectCsvHeader(line.text);
      if (layout.has_value()) continue;
    }
    if (layout.has_value()) {
      RRM_RETURN_IF_ERROR(ParseSudokuCsvRow(line, *layout, name, collected));
    } else {
      RRM_RETURN_IF_ERROR(ParseSudokuPlainLine(line, name, collected));
    }
  }
  return BuildSet(PuzzleKind::kSudoku, TextMetadata(kSudokuCells, kSudokuVocab),
                  std::move(collected), name, "puzzles");
}

absl::StatusOr<PuzzleSet> ReadSudokuFile(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseSudokuText(text, path);
}

absl::StatusOr<PuzzleSet> ParseMazeText(const std::string& text, const std::string& name) {
  const std::vector<Line> lines = SplitLines(text);
  Collected collected;
  std::optional<int64_t> side;
  size_t first = 0;
  while (first < lines.size() && IsBlank(lines[first].text)) ++first;
  std::optional<CsvLayout> layout;
  if (first < lines.size()) layout = DetectCsvHeader(lines[first].text);
  if (layout.has_value()) {
    RRM_RETURN_IF_ERROR(ParseMazeCsv(lines, first, *layout, name, collected, side));
  } else {
    RRM_RETURN_IF_ERROR(ParseMazeGrids(lines, name, collected, side));
  }
  const int64_t n = side.value_or(0);
  return BuildSet(PuzzleKind::kMaze, TextMetadata(n * n, kMazeVocab), std::move(collected), name,
                  "mazes");
}

absl::StatusOr<PuzzleSet> ReadMazeFile(const std::string& path) {
  RRM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseMazeText(text, path);
}

}  // namespace rrm::puzzle
