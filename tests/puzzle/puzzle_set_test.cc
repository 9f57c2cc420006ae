// Tests for the puzzle readers on datasets written by NumPy exactly like the
// upstream builders (tests/puzzle/make_dataset.py) and on Sudoku / Maze text.
#include "core/puzzle/puzzle_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/puzzle/test_support.h"

namespace rrm::puzzle {
namespace {

using ::rrm::puzzle::testing::MakeDataset;
using ::rrm::puzzle::testing::PythonRun;
using ::rrm::puzzle::testing::ScratchDir;
using ::rrm::puzzle::testing::WriteFile;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPuzzle[] =
    "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
constexpr char kSolution[] =
    "534678912672195348198342567859761423426853791713924856961537284287419635345286179";

std::vector<int64_t> Row(const torch::Tensor& tensor, int64_t row) {
  torch::Tensor values = tensor[row].to(torch::kInt64).contiguous();
  return std::vector<int64_t>(values.data_ptr<int64_t>(),
                              values.data_ptr<int64_t>() + values.numel());
}

std::vector<int64_t> SudokuTokens(const std::string& cells) {
  std::vector<int64_t> tokens;
  for (char c : cells) tokens.push_back(c >= '1' && c <= '9' ? c - '0' + 1 : 1);
  return tokens;
}

std::vector<int64_t> MazeTokens(const std::string& cells) {
  std::vector<int64_t> tokens;
  for (char c : cells) tokens.push_back(static_cast<int64_t>(std::string("# SGo").find(c)) + 1);
  return tokens;
}

std::string Repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// A dataset root made by make_dataset.py in a scratch folder.
class DatasetTest : public ::testing::Test {
 protected:
  std::string Make(const std::string& arguments) {
    const std::string root = scratch_ / "data";
    const PythonRun run = MakeDataset(root, arguments);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return root;
  }
  // Reads the test split of a dataset made with `arguments`; expects an error.
  absl::Status ErrorFor(const std::string& arguments) {
    absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(Make(arguments) + "/test");
    EXPECT_FALSE(set.ok()) << "expected an error for " << arguments;
    return set.status();
  }

  ScratchDir scratch_;
};

// ----------------------------------------------------------------------------
// Dataset folders.

TEST_F(DatasetTest, ReadsUpstreamSudokuSplit) {
  const std::string root = Make("--kind sudoku");
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(root + "/test");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, PuzzleKind::kSudoku);
  EXPECT_EQ(set->size(), 3);
  EXPECT_EQ(set->metadata.seq_len, 81);
  EXPECT_EQ(set->metadata.vocab_size, 11);
  EXPECT_EQ(set->metadata.pad_id, 0);
  EXPECT_EQ(set->metadata.ignore_label_id, 0);
  EXPECT_EQ(set->metadata.num_puzzle_identifiers, 1);
  EXPECT_EQ(set->inputs.scalar_type(), torch::kInt64);
  EXPECT_EQ(set->labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(set->puzzle_identifiers.scalar_type(), torch::kInt64);
  EXPECT_EQ(Row(set->inputs, 0), SudokuTokens(kPuzzle));
  EXPECT_EQ(Row(set->labels, 0), SudokuTokens(kSolution));
  EXPECT_EQ(Row(set->inputs, 2), SudokuTokens(kSolution));
  EXPECT_TRUE(set->puzzle_identifiers.eq(0).all().item<bool>());
  EXPECT_THAT(set->puzzle_ids, ElementsAre("0", "1", "2"));
  EXPECT_THAT(set->givens, ElementsAre(30, 9, 81));
}

TEST_F(DatasetTest, ReadsTestSplitFromDatasetRoot) {
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(Make("--kind sudoku"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 3);  // the train split holds 1 puzzle
}

TEST_F(DatasetTest, ReadsTrainSplitWhenGivenItsFolder) {
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(Make("--kind sudoku") + "/train");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 1);
}

TEST_F(DatasetTest, AcceptsPathOfDatasetJson) {
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(Make("--kind sudoku") + "/test/dataset.json");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 3);
}

TEST_F(DatasetTest, RejectsRootWithOnlyTrainSplitNamingWhatItLookedFor) {
  const std::string root = Make("--kind sudoku --splits train");
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(root);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(set.status().message(),
              AllOf(HasSubstr(root + "/dataset.json"), HasSubstr(root + "/test/dataset.json"),
                    HasSubstr(root + "/train")));
}

TEST_F(DatasetTest, RejectsMissingFolder) {
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(scratch_ / "nowhere");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(set.status().message(), HasSubstr("nowhere"));
}

TEST_F(DatasetTest, ReplacesIgnoreLabelIdByIgnoreLabel) {
  absl::StatusOr<PuzzleSet> set =
      ReadDatasetFolder(Make("--kind sudoku --ignore-label 0 --pad-labels"));
  ASSERT_TRUE(set.ok()) << set.status();
  std::vector<int64_t> expected = SudokuTokens(kSolution);
  expected[0] = expected[1] = expected[2] = kIgnoreLabel;
  EXPECT_EQ(Row(set->labels, 0), expected);
  EXPECT_EQ(Row(set->labels, 1), SudokuTokens(kSolution));
  // Inputs are never touched by the label convention.
  EXPECT_EQ(Row(set->inputs, 0), SudokuTokens(kPuzzle));
}

TEST_F(DatasetTest, KeepsPadLabelsWhenIgnoreLabelIdIsNull) {
  absl::StatusOr<PuzzleSet> set =
      ReadDatasetFolder(Make("--kind sudoku --ignore-label null --pad-labels"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_FALSE(set->metadata.ignore_label_id.has_value());
  std::vector<int64_t> expected = SudokuTokens(kSolution);
  expected[0] = expected[1] = expected[2] = 0;
  EXPECT_EQ(Row(set->labels, 0), expected);
}

TEST_F(DatasetTest, ReadsUpstreamMazeSplit) {
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(Make("--kind maze"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, PuzzleKind::kMaze);
  EXPECT_EQ(set->metadata.seq_len, 25);
  EXPECT_EQ(set->metadata.vocab_size, 6);
  EXPECT_EQ(Row(set->inputs, 0), MazeTokens("######S  ## # ##  G######"));
  EXPECT_EQ(Row(set->labels, 1), MazeTokens("######S#G##o#o##ooo######"));
  EXPECT_THAT(set->givens, ElementsAre(-1, -1));
}

TEST_F(DatasetTest, TextReadersAgreeWithDatasetReaderOnTheSamePuzzles) {
  for (const std::string kind : {"sudoku", "maze"}) {
    SCOPED_TRACE(kind);
    const std::string root = Make("--kind " + kind);
    absl::StatusOr<PuzzleSet> folder = ReadDatasetFolder(root);
    absl::StatusOr<PuzzleSet> text = kind == "sudoku" ? ReadSudokuFile(root + "/source.csv")
                                                      : ReadMazeFile(root + "/source.csv");
    ASSERT_TRUE(folder.ok()) << folder.status();
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(text->kind, folder->kind);
    EXPECT_EQ(text->metadata.seq_len, folder->metadata.seq_len);
    EXPECT_EQ(text->metadata.vocab_size, folder->metadata.vocab_size);
    EXPECT_TRUE(torch::equal(text->inputs, folder->inputs));
    EXPECT_TRUE(torch::equal(text->labels, folder->labels));
    EXPECT_TRUE(torch::equal(text->puzzle_identifiers, folder->puzzle_identifiers));
    EXPECT_EQ(text->givens, folder->givens);
    EXPECT_EQ(text->puzzle_ids[0], "src0");
  }
}

TEST_F(DatasetTest, ExpandsPerPuzzleIdentifiersThroughPuzzleIndices) {
  absl::StatusOr<PuzzleSet> set =
      ReadDatasetFolder(Make("--kind sudoku --corrupt identifiers_per_puzzle"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(Row(set->puzzle_identifiers.unsqueeze(0), 0), (std::vector<int64_t>{0, 0, 1}));
}

TEST_F(DatasetTest, RejectsMissingInputsFile) {
  const absl::Status status = ErrorFor("--corrupt missing_inputs");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("test/all__inputs.npy"));
}

TEST_F(DatasetTest, RejectsMissingLabelsFile) {
  const absl::Status status = ErrorFor("--corrupt missing_labels");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("test/all__labels.npy"));
}

TEST_F(DatasetTest, RejectsFloatInputs) {
  const absl::Status status = ErrorFor("--corrupt inputs_float");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("test/all__inputs.npy"), HasSubstr("expected integers")));
}

TEST_F(DatasetTest, RejectsUnsupportedInputsDtype) {
  const absl::Status status = ErrorFor("--corrupt inputs_big_endian");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("test/all__inputs.npy"), HasSubstr("'>i4'")));
}

TEST_F(DatasetTest, RejectsInputsWithWrongSequenceLength) {
  const absl::Status status = ErrorFor("--corrupt inputs_wrong_seq_len");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("test/all__inputs.npy"), HasSubstr("shape (3, 80)"),
                                      HasSubstr("expected (N, 81)")));
}

TEST_F(DatasetTest, RejectsLabelsWhoseShapeDiffersFromInputs) {
  const absl::Status status = ErrorFor("--corrupt labels_short");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("test/all__labels.npy"), HasSubstr("shape (2, 81)"),
                                      HasSubstr("expected (3, 81)")));
}

TEST_F(DatasetTest, RejectsTokenOutsideVocabulary) {
  const absl::Status status = ErrorFor("--corrupt token_out_of_range");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      status.message(),
      HasSubstr("test/all__inputs.npy: token 12 at row 1, column 40 outside vocabulary [0, 11)"));
}

TEST_F(DatasetTest, RejectsLabelOutsideVocabulary) {
  const absl::Status status = ErrorFor("--corrupt label_out_of_range");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      status.message(),
      HasSubstr("test/all__labels.npy: label 11 at row 2, column 5 outside vocabulary [0, 11)"));
}

TEST_F(DatasetTest, RejectsPuzzleIdentifierOutOfRange) {
  const absl::Status status = ErrorFor("--corrupt identifier_out_of_range");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("test/all__puzzle_identifiers.npy"),
                                      HasSubstr("puzzle identifier 1 at row 2 outside [0, 1)")));
}

TEST_F(DatasetTest, RejectsMetadataWithoutRequiredKey) {
  const absl::Status status = ErrorFor("--corrupt missing_key");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("test/dataset.json"), HasSubstr("\"seq_len\"")));
}

TEST_F(DatasetTest, RejectsDatasetListingSetsOtherThanAll) {
  const absl::Status status = ErrorFor("--corrupt other_sets");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("dataset.json"), HasSubstr("[all, extra]")));
}

TEST_F(DatasetTest, RejectsMalformedDatasetJson) {
  const std::string root = Make("--kind sudoku");
  WriteFile(root + "/test/dataset.json", "{\"seq_len\": 81,");
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(root);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(),
              HasSubstr("test/dataset.json: invalid JSON at byte 15: unexpected end of input"));
}

TEST_F(DatasetTest, AcceptsPythonFloatSpecialsInDatasetJson) {
  // json.dump writes NaN / Infinity / -Infinity for float fields; pydantic may
  // write an int field as 81.0.
  const std::string root = Make("--kind sudoku");
  WriteFile(root + "/test/dataset.json",
            R"({"seq_len": 81.0, "vocab_size": 11, "pad_id": 0, "ignore_label_id": 0,
                "num_puzzle_identifiers": 1, "mean_puzzle_examples": NaN,
                "bounds": [-Infinity, Infinity], "sets": ["all"]})");
  absl::StatusOr<PuzzleSet> set = ReadDatasetFolder(root);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->metadata.seq_len, 81);

  WriteFile(root + "/test/dataset.json", R"({"seq_len": 99999999999999999999})");
  EXPECT_THAT(ReadDatasetFolder(root).status().message(),
              HasSubstr("test/dataset.json: key \"seq_len\" must be an integer"));
  WriteFile(root + "/test/dataset.json", R"({"seq_len": NaN})");
  EXPECT_THAT(ReadDatasetFolder(root).status().message(),
              HasSubstr("test/dataset.json: key \"seq_len\" must be an integer"));
}

// ----------------------------------------------------------------------------
// Sudoku text.

TEST(SudokuText, ParsesUpstreamSourceCsv) {
  const std::string text = std::string("source,question,answer,rating\n") + "abc," + kPuzzle + "," +
                           kSolution + ",12\n" + "," + kSolution + "," + kSolution + ",0\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "s.csv");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, PuzzleKind::kSudoku);
  EXPECT_EQ(set->metadata.seq_len, 81);
  EXPECT_EQ(set->metadata.vocab_size, 11);
  EXPECT_FALSE(set->metadata.ignore_label_id.has_value());
  EXPECT_EQ(set->metadata.num_puzzle_identifiers, 1);
  ASSERT_TRUE(set->has_labels());
  EXPECT_EQ(Row(set->inputs, 0), SudokuTokens(kPuzzle));
  EXPECT_EQ(Row(set->labels, 0), SudokuTokens(kSolution));
  EXPECT_TRUE(set->puzzle_identifiers.eq(0).all().item<bool>());
  // An empty source column falls back to the line number.
  EXPECT_THAT(set->puzzle_ids, ElementsAre("abc", "line 3"));
  EXPECT_THAT(set->givens, ElementsAre(30, 81));
}

TEST(SudokuText, ParsesPlainLinesWithoutSolutions) {
  std::string zeros_for_blanks(kPuzzle);
  for (char& c : zeros_for_blanks) c = c == '.' ? '0' : c;
  const std::string text =
      std::string("# a comment\n\n") + kPuzzle + "\n   \n" + zeros_for_blanks + "\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "plain.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_FALSE(set->has_labels());
  EXPECT_EQ(Row(set->inputs, 0), SudokuTokens(kPuzzle));
  EXPECT_EQ(Row(set->inputs, 1), SudokuTokens(kPuzzle));
  EXPECT_THAT(set->puzzle_ids, ElementsAre("line 3", "line 5"));
  EXPECT_THAT(set->givens, ElementsAre(30, 30));
}

TEST(SudokuText, ParsesPlainLinesWithCommaOrWhitespaceSeparatedSolutions) {
  const std::string text = std::string("\xEF\xBB\xBF") + kPuzzle + "," + kSolution + "\r\n" +
                           kPuzzle + " \t" + kSolution + "  \r\n" + kPuzzle + " , " + kSolution +
                           "\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "pairs.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 3);
  ASSERT_TRUE(set->has_labels());
  for (int64_t row = 0; row < 3; ++row) EXPECT_EQ(Row(set->labels, row), SudokuTokens(kSolution));
}

TEST(SudokuText, RejectsMalformedCsvLineWithItsLineNumber) {
  const std::string text = std::string("source,question,answer,rating\n") + "a," + kPuzzle + "," +
                           kSolution + ",1\n" + "b," + kPuzzle + "," + kSolution + "\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "s.csv");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(), HasSubstr("s.csv: line 3: expected 4 comma-separated fields "
                                                "(source,question,answer,rating), found 3"));
}

TEST(SudokuText, RejectsLineOfWrongLength) {
  const std::string text = std::string(kPuzzle) + "\n" + std::string(kPuzzle).substr(1) + "\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "p.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("p.txt: line 2: puzzle has 80 characters, expected 81"));
}

TEST(SudokuText, RejectsBadCharacterNamingLineAndColumn) {
  std::string bad(kPuzzle);
  bad[4] = 'x';
  absl::StatusOr<PuzzleSet> set =
      ParseSudokuText(std::string(kPuzzle) + "\n" + bad + "\n", "p.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(),
              HasSubstr("p.txt: line 2, column 5: unexpected character 'x' in puzzle"));
}

TEST(SudokuText, RejectsBadCharacterInCsvAnswerAtItsColumnInTheLine) {
  std::string answer(kSolution);
  answer[0] = '.';
  const std::string text =
      std::string("source,question,answer,rating\nab,") + kPuzzle + "," + answer + ",1\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "s.csv");
  ASSERT_FALSE(set.ok());
  // "ab," (3) + 81 + "," puts the answer's first character at column 86.
  EXPECT_THAT(
      set.status().message(),
      HasSubstr(
          "s.csv: line 2, column 86: unexpected character '.' in solution (expected a digit 1-9)"));
}

TEST(SudokuText, RejectsTextAfterTheSolution) {
  absl::StatusOr<PuzzleSet> set =
      ParseSudokuText(std::string(kPuzzle) + "," + kSolution + ",7\n", "p.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("p.txt: line 1, column 164: unexpected ','"));
}

TEST(SudokuText, RejectsMixOfPuzzlesWithAndWithoutSolutions) {
  const std::string text = std::string(kPuzzle) + " " + kSolution + "\n" + kPuzzle + "\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "p.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(),
              HasSubstr("p.txt: line 1 has a solution but line 2 does not"));
}

TEST(SudokuText, RejectsGivenThatDisagreesWithTheSolution) {
  std::string swapped(kSolution);
  std::swap(swapped[0], swapped[1]);  // still digits, but r1c1 is now 3 while the given says 5
  const std::string text =
      std::string(kPuzzle) + "," + kSolution + "\n" + kPuzzle + "," + swapped + "\n";
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "p.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(
      set.status().message(),
      HasSubstr(
          "p.txt: line 2: given 5 at cell r1c1 (cell 1 of 81) disagrees with the solution's 3"));
}

TEST(SudokuText, RejectsTextWithoutPuzzles) {
  absl::StatusOr<PuzzleSet> set = ParseSudokuText("# nothing\n\n", "empty.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("empty.txt: no puzzles found"));
  set = ParseSudokuText("source,question,answer,rating\n", "header_only.csv");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("no puzzles found"));
}

TEST(SudokuText, ReadsFileAndNamesItInErrors) {
  ScratchDir scratch;
  const std::string good = scratch / "good.txt";
  WriteFile(good, std::string(kPuzzle) + "\n");
  absl::StatusOr<PuzzleSet> set = ReadSudokuFile(good);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 1);

  const std::string bad = scratch / "bad.txt";
  WriteFile(bad, "12\n");
  set = ReadSudokuFile(bad);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr(bad + ": line 1"));

  set = ReadSudokuFile(scratch / "missing.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(set.status().message(), HasSubstr("missing.txt"));
}

// ----------------------------------------------------------------------------
// Maze text.

constexpr char kMazeGrid[] =
    "#####\n"
    "#S  #\n"
    "# # #\n"
    "#  G#\n"
    "#####\n";
constexpr char kMazeSolutionGrid[] =
    "#####\n"
    "#Soo#\n"
    "# #o#\n"
    "#  G#\n"
    "#####\n";

TEST(MazeText, ParsesGridsWithSolutions) {
  const std::string text = std::string(kMazeGrid) + "\n" + kMazeSolutionGrid + "\n\n" + kMazeGrid +
                           "\n" + kMazeSolutionGrid;
  absl::StatusOr<PuzzleSet> set = ParseMazeText(text, "m.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, PuzzleKind::kMaze);
  EXPECT_EQ(set->metadata.seq_len, 25);
  EXPECT_EQ(set->metadata.vocab_size, 6);
  ASSERT_EQ(set->size(), 2);
  ASSERT_TRUE(set->has_labels());
  EXPECT_EQ(Row(set->inputs, 0), MazeTokens("######S  ## # ##  G######"));
  EXPECT_EQ(Row(set->labels, 1), MazeTokens("######Soo## #o##  G######"));
  EXPECT_THAT(set->puzzle_ids, ElementsAre("line 1", "line 14"));
  EXPECT_THAT(set->givens, ElementsAre(-1, -1));
}

TEST(MazeText, ParsesGridsWithoutSolutions) {
  absl::StatusOr<PuzzleSet> set = ParseMazeText(std::string(kMazeGrid) + "\n" + kMazeGrid, "m.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 2);
  EXPECT_FALSE(set->has_labels());
}

TEST(MazeText, ParsesUpstreamSourceCsv) {
  const std::string text =
      "source,question,answer,rating\n"
      "m0,######S  ## # ##  G######,######Soo## #o##  G######,3\n";
  absl::StatusOr<PuzzleSet> set = ParseMazeText(text, "m.csv");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->metadata.seq_len, 25);
  EXPECT_EQ(Row(set->labels, 0), MazeTokens("######Soo## #o##  G######"));
  EXPECT_THAT(set->puzzle_ids, ElementsAre("m0"));
}

TEST(MazeText, RejectsMazesOfDifferentSizes) {
  const std::string small = "###\n#SG\n###\n";
  absl::StatusOr<PuzzleSet> set = ParseMazeText(std::string(kMazeGrid) + "\n" + small, "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.txt: line 7: maze is 3x3 but the file's first maze is 5x5"));

  set = ParseMazeText(
      "source,question,answer,rating\na,######S  ## # ##  G######,,0\nb,####SG###,,0\n", "m.csv");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.csv: line 3: maze is 3x3 but the file's first maze is 5x5"));
}

TEST(MazeText, RejectsNonSquareAndRaggedGrids) {
  absl::StatusOr<PuzzleSet> set = ParseMazeText("#####\n#S G#\n#####\n", "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.txt: lines 1-3: grid has 3 rows of 5 characters"));

  set = ParseMazeText("#####\n#S G#\n####\n#   #\n#####\n", "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.txt: line 3: grid row has 4 characters, expected 5"));

  set = ParseMazeText("source,question,answer,rating\na,#S G#,,0\n", "m.csv");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("m.csv: line 2: question has 5 characters"));
}

TEST(MazeText, RejectsBadCharacterNamingLineAndColumn) {
  absl::StatusOr<PuzzleSet> set = ParseMazeText("###\n#SX\n###\n", "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.txt: line 2, column 3: unexpected character 'X' in maze"));
}

TEST(MazeText, RejectsSolutionGridWithoutQuestion) {
  absl::StatusOr<PuzzleSet> set = ParseMazeText(kMazeSolutionGrid, "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("m.txt: line 1: solution grid"));
}

TEST(MazeText, RejectsSolutionThatMovesAWall) {
  std::string solution(kMazeSolutionGrid);
  solution[solution.find("# #o#") + 2] = 'o';  // the inner wall at row 3, column 3 became path
  absl::StatusOr<PuzzleSet> set = ParseMazeText(std::string(kMazeGrid) + "\n" + solution, "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.txt: line 7: solution lacks a wall at row 3, column 3"));
}

TEST(MazeText, RejectsMixOfMazesWithAndWithoutSolutions) {
  const std::string text = std::string(kMazeGrid) + "\n" + kMazeSolutionGrid + "\n" + kMazeGrid;
  absl::StatusOr<PuzzleSet> set = ParseMazeText(text, "m.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              HasSubstr("m.txt: line 1 has a solution but line 13 does not"));
}

TEST(MazeText, ReadsFileAndReportsMissingFile) {
  ScratchDir scratch;
  WriteFile(scratch / "maze.txt", kMazeGrid);
  absl::StatusOr<PuzzleSet> set = ReadMazeFile(scratch / "maze.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 1);
  set = ReadMazeFile(scratch / "none.txt");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
}

// ----------------------------------------------------------------------------
// Givens and Head.

TEST(CountSudokuGivens, CountsDigitTokens) {
  auto tokens = [](const std::string& cells) {
    std::vector<int64_t> values = SudokuTokens(cells);
    return torch::tensor(values, torch::kInt64);
  };
  EXPECT_EQ(CountSudokuGivens(tokens(kPuzzle)), 30);
  EXPECT_EQ(CountSudokuGivens(tokens(kSolution)), 81);
  EXPECT_EQ(CountSudokuGivens(tokens(std::string(81, '.'))), 0);
  EXPECT_EQ(CountSudokuGivens(tokens(std::string(kPuzzle).substr(0, 80))), -1);
  EXPECT_EQ(CountSudokuGivens(torch::Tensor()), -1);
  // Pad (0) and blank (1) are not givens.
  EXPECT_EQ(CountSudokuGivens(torch::zeros({81}, torch::kInt64)), 0);
}

TEST(PuzzleSetHead, KeepsFirstExamplesAsIndependentCopy) {
  const std::string text = std::string(kPuzzle) + " " + kSolution + "\n" +
                           Repeat(std::string(kSolution) + " " + kSolution + "\n", 2);
  absl::StatusOr<PuzzleSet> set = ParseSudokuText(text, "p.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  const PuzzleSet head = set->Head(2);
  EXPECT_EQ(head.size(), 2);
  EXPECT_EQ(head.labels.size(0), 2);
  EXPECT_EQ(head.puzzle_identifiers.size(0), 2);
  EXPECT_THAT(head.puzzle_ids, ElementsAre("line 1", "line 2"));
  EXPECT_THAT(head.givens, ElementsAre(30, 81));
  head.inputs.fill_(0);
  EXPECT_EQ(Row(set->inputs, 0), SudokuTokens(kPuzzle));
  EXPECT_EQ(set->Head(0).size(), 3);
  EXPECT_EQ(set->Head(10).size(), 3);
}

TEST(TextReaders, SurviveCorruptedText) {
  const std::string sudoku = std::string("source,question,answer,rating\na,") + kPuzzle + "," +
                             kSolution + ",1\n" + kPuzzle + "\n";
  const std::string maze = std::string(kMazeGrid) + "\n" + kMazeSolutionGrid;
  const std::string alphabet = "0123456789.,# SGo\n\r\"x";
  std::mt19937 random(11);
  for (int trial = 0; trial < 3000; ++trial) {
    for (const std::string* original : {&sudoku, &maze}) {
      std::string text = *original;
      const int edits = 1 + static_cast<int>(random() % 3);
      for (int e = 0; e < edits; ++e) {
        text[random() % text.size()] = alphabet[random() % alphabet.size()];
      }
      // Any outcome but a crash is fine; a parsed set must be self-consistent.
      for (const absl::StatusOr<PuzzleSet>& set :
           {ParseSudokuText(text, "fuzz"), ParseMazeText(text, "fuzz")}) {
        if (!set.ok()) continue;
        EXPECT_EQ(static_cast<int64_t>(set->puzzle_ids.size()), set->size());
        EXPECT_EQ(static_cast<int64_t>(set->givens.size()), set->size());
        EXPECT_EQ(set->inputs.size(1), set->metadata.seq_len);
      }
    }
  }
}

}  // namespace
}  // namespace rrm::puzzle
