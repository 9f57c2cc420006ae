// Reads checkpoints written by real torch.save (tests/reference/
// make_checkpoint_cases.py, run once per suite with Debian's torch) and checks
// every tensor exactly, then checks each failure mode's error.
#include "core/checkpoint/state_dict.h"

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

namespace ckpt = ::rrm::checkpoint;
using ::rrm::checkpoint::ReadSafetensors;
using ::rrm::checkpoint::ReadSafetensorsBytes;
using ::rrm::checkpoint::ReadStateDict;
using ::rrm::checkpoint::ReadTorchZip;
using ::rrm::checkpoint::ReadTorchZipBytes;
using ::rrm::checkpoint::StripWrapperPrefixes;
using ::testing::HasSubstr;

// One line of expected/manifest.txt and its values.
struct ExpectedTensor {
  std::string key;
  std::string dtype;  // torch's name without "torch.", e.g. "bfloat16"
  std::vector<int64_t> shape;
  std::string float64_bytes;  // contiguous little-endian float64 values
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string DtypeName(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return c10::toString(dtype);
  }
}

// A safetensors file: 8-byte little-endian header length, header, data.
std::string Safetensors(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  uint64_t size = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  return bytes + header + data;
}

class StateDict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/rrm_checkpoint_cases_XXXXXX";
    if (mkdtemp(pattern) == nullptr) return;
    dir_ = new std::string(pattern);
    const std::string command =
        "/usr/bin/python3 " RRM_SOURCE_DIR "/tests/reference/make_checkpoint_cases.py " + *dir_;
    if (std::system(command.c_str()) != 0) return;
    expected_ = new std::vector<ExpectedTensor>;
    std::ifstream manifest(*dir_ + "/expected/manifest.txt");
    std::string file, key, dtype, shape;
    while (manifest >> file >> key >> dtype >> shape) {
      ExpectedTensor tensor{key, dtype, {}, ReadFile(*dir_ + "/expected/" + file)};
      std::stringstream dims(shape == "-" ? "" : shape);
      for (std::string dim; std::getline(dims, dim, ',');) tensor.shape.push_back(std::stoll(dim));
      expected_->push_back(std::move(tensor));
    }
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    delete expected_;
    dir_ = nullptr;
    expected_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(expected_, nullptr)
        << "tests/reference/make_checkpoint_cases.py failed (needs /usr/bin/python3 with torch)";
    ASSERT_FALSE(expected_->empty());
  }

  static std::string Case(const std::string& name) { return *dir_ + "/" + name; }

  // Every expected tensor is present with its dtype, shape and exact values.
  static void ExpectMatchesReference(const ckpt::StateDict& state_dict) {
    EXPECT_EQ(state_dict.size(), expected_->size());
    for (const ExpectedTensor& expected : *expected_) {
      SCOPED_TRACE(expected.key);
      auto it = state_dict.find(expected.key);
      ASSERT_NE(it, state_dict.end());
      const torch::Tensor& tensor = it->second;
      EXPECT_EQ(DtypeName(tensor.scalar_type()), expected.dtype);
      EXPECT_EQ(tensor.sizes().vec(), expected.shape);
      const torch::Tensor values = tensor.to(torch::kFloat64).contiguous();
      ASSERT_EQ(static_cast<size_t>(values.nbytes()), expected.float64_bytes.size());
      EXPECT_EQ(std::memcmp(values.data_ptr(), expected.float64_bytes.data(), values.nbytes()), 0);
    }
  }

  static std::string* dir_;
  static std::vector<ExpectedTensor>* expected_;
};

std::string* StateDict::dir_ = nullptr;
std::vector<ExpectedTensor>* StateDict::expected_ = nullptr;

TEST_F(StateDict, ReadsOrderedDictWithMetadata) {
  absl::StatusOr<ckpt::StateDict> state_dict = ReadTorchZip(Case("step_7"));
  ASSERT_TRUE(state_dict.ok()) << state_dict.status();
  ExpectMatchesReference(*state_dict);
}

TEST_F(StateDict, FindsDataWhateverTheRootFolderIsCalled) {
  for (const char* name : {"archive.pt", "rezipped.pt"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<ckpt::StateDict> state_dict = ReadTorchZip(Case(name));
    ASSERT_TRUE(state_dict.ok()) << state_dict.status();
    ExpectMatchesReference(*state_dict);
  }
}

TEST_F(StateDict, ReadsPickleProtocol4) {
  absl::StatusOr<ckpt::StateDict> state_dict = ReadTorchZip(Case("protocol4.pt"));
  ASSERT_TRUE(state_dict.ok()) << state_dict.status();
  ExpectMatchesReference(*state_dict);
}

TEST_F(StateDict, ReadsSafetensors) {
  absl::StatusOr<ckpt::StateDict> state_dict = ReadSafetensors(Case("model.safetensors"));
  ASSERT_TRUE(state_dict.ok()) << state_dict.status();
  ExpectMatchesReference(*state_dict);
}

TEST_F(StateDict, ReadStateDictDispatchesOnContentNotName) {
  for (const char* name : {"step_7", "model.safetensors"}) {
    SCOPED_TRACE(name);
    const std::string renamed = Case(std::string("renamed_") + name);
    std::filesystem::copy_file(Case(name), renamed);
    absl::StatusOr<ckpt::StateDict> state_dict = ReadStateDict(renamed);
    ASSERT_TRUE(state_dict.ok()) << state_dict.status();
    ExpectMatchesReference(*state_dict);
  }
}

TEST_F(StateDict, KeepsSharedStoragesAndViewsConsistent) {
  absl::StatusOr<ckpt::StateDict> state_dict = ReadTorchZip(Case("step_7"));
  ASSERT_TRUE(state_dict.ok()) << state_dict.status();
  const std::string inner = "_orig_mod.model.inner.";
  const torch::Tensor base = state_dict->at(inner + "base");
  // Tied weights and the offset view come back over one storage, as saved.
  EXPECT_TRUE(state_dict->at(inner + "tail").equal(base.slice(0, 5)));
  EXPECT_EQ(state_dict->at(inner + "tail").data_ptr(), base.slice(0, 5).data_ptr());
  EXPECT_EQ(state_dict->at(inner + "lm_head.weight").data_ptr(),
            state_dict->at(inner + "embed_tokens.weight").data_ptr());
  // The transposed buffer keeps its strides.
  EXPECT_EQ(state_dict->at(inner + "transposed").strides().vec(), (std::vector<int64_t>{1, 5}));
}

TEST_F(StateDict, ReadsParametersPickledViaRebuildParameter) {
  absl::StatusOr<ckpt::StateDict> state_dict = ReadTorchZip(Case("parameter.pt"));
  ASSERT_TRUE(state_dict.ok()) << state_dict.status();
  EXPECT_TRUE(state_dict->at("p").equal(torch::tensor({1.5f, -2.0f})));
}

TEST_F(StateDict, MissingFileIsNotFound) {
  const std::string path = Case("no_such_step");
  for (const absl::Status& status : {ReadTorchZip(path).status(), ReadSafetensors(path).status(),
                                     ReadStateDict(path).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_THAT(status.message(), HasSubstr(path));
  }
}

TEST_F(StateDict, DirectoryIsRejected) {
  const absl::Status status = ReadStateDict(*dir_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is a directory"));
}

TEST_F(StateDict, EmptyFileIsRejected) {
  const std::string path = Case("empty");
  WriteFile(path, "");
  for (const absl::Status& status : {ReadTorchZip(path).status(), ReadStateDict(path).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr(path + ": "));
    EXPECT_THAT(status.message(), HasSubstr("empty"));
  }
  EXPECT_THAT(ReadSafetensors(path).status().message(), HasSubstr("too short"));
}

TEST_F(StateDict, NotAZipNamesItsFirstBytes) {
  const absl::Status status = ReadTorchZipBytes("hello world", "step_10").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "step_10: not a zip archive (first bytes 0x68 0x65 0x6c 0x6c)");
  const std::string path = Case("garbage");
  WriteFile(path, "hello world, this is not a checkpoint");
  EXPECT_THAT(ReadStateDict(path).status().message(),
              HasSubstr("neither a torch.save zip archive nor a safetensors file"));
}

TEST_F(StateDict, ZipWithoutDataPklIsNotACheckpoint) {
  // The 22-byte end record of a zip archive with no entries.
  const std::string empty_zip = std::string("PK\x05\x06") + std::string(18, '\0');
  const absl::Status status = ReadTorchZipBytes(empty_zip, "empty.zip").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "empty.zip: no <root>/data.pkl entry; not a torch.save archive");
}

TEST_F(StateDict, LegacyFormatGetsAHint) {
  const absl::Status status = ReadStateDict(Case("legacy.pt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("legacy torch.save format"));
}

TEST_F(StateDict, EveryTruncationIsAnError) {
  const std::string bytes = ReadFile(Case("step_7"));
  for (size_t size = 0; size < bytes.size(); ++size) {
    const absl::Status status =
        ReadTorchZipBytes(std::string_view(bytes.data(), size), "step_7").status();
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << size << ": " << status;
    ASSERT_THAT(status.message(), HasSubstr("step_7: ")) << size;
  }
  EXPECT_THAT(ReadTorchZipBytes(std::string_view(bytes.data(), bytes.size() / 2), "step_7")
                  .status()
                  .message(),
              HasSubstr("truncated"));
}

TEST_F(StateDict, EverySafetensorsTruncationIsAnError) {
  const std::string bytes = ReadFile(Case("model.safetensors"));
  for (size_t size = 0; size < bytes.size(); ++size) {
    const absl::Status status =
        ReadSafetensorsBytes(std::string_view(bytes.data(), size), "model").status();
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << size << ": " << status;
  }
}

// A cheap deterministic fuzz: any single corrupted byte gives a result or an
// error, never a crash (run under ASan by the fuzzer build for more).
TEST_F(StateDict, CorruptingAnyByteNeverCrashes) {
  for (const char* name : {"step_7", "model.safetensors"}) {
    std::string bytes = ReadFile(Case(name));
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (unsigned char flip : {0x01, 0x80, 0xff}) {
        bytes[i] ^= flip;
        (void)ReadTorchZipBytes(bytes, name);
        (void)ReadSafetensorsBytes(bytes, name);
        bytes[i] ^= flip;
      }
    }
  }
}

TEST_F(StateDict, ChecksumMismatchIsAnError) {
  std::string bytes = ReadFile(Case("step_7"));
  const size_t pickle = bytes.find(
      "\x80\x02"
      "ccollections");
  ASSERT_NE(pickle, std::string::npos);
  bytes[pickle + 2] = 'X';
  const absl::Status status = ReadTorchZipBytes(bytes, "step_7").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("step_7: entry 'step_7/data.pkl' is corrupt: CRC-32"));
}

TEST_F(StateDict, CompressedEntryIsRejected) {
  const absl::Status status = ReadTorchZip(Case("deflated.pt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is compressed (method 8)"));
}

TEST_F(StateDict, UnknownPickleOpcodeIsNamed) {
  const std::string path = Case("bad_opcode.pt");
  const absl::Status status = ReadTorchZip(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), path + ": data.pkl: unknown pickle opcode 0xff at byte 2");
}

TEST_F(StateDict, UnsupportedStorageTypeNamesTheTensor) {
  const absl::Status status = ReadTorchZip(Case("complex.pt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("tensor 'z': unsupported storage type torch.ComplexFloatStorage"));
}

TEST_F(StateDict, ViewBeyondItsStorageIsAnError) {
  const absl::Status status = ReadTorchZip(Case("out_of_range.pt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tensor 'w': view (offset 0, size [9], stride [1]) "
                                          "reaches element 8 of a storage of 4 elements"));
}

TEST_F(StateDict, NonTensorValueNamesTheKey) {
  const absl::Status status = ReadTorchZip(Case("non_tensor.pt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("value of key 'step' is a int, not a tensor"));
}

TEST_F(StateDict, BigEndianArchiveIsRejected) {
  const absl::Status status = ReadTorchZip(Case("big_endian.pt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("byte order 'big' is not supported"));
}

TEST_F(StateDict, SafetensorsBadHeaderIsAnError) {
  const absl::Status status = ReadSafetensorsBytes(Safetensors("{\"w\": [1,", ""), "st").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("st: safetensors header: invalid JSON at byte 9: unexpected end of input"));
  EXPECT_THAT(ReadSafetensorsBytes(Safetensors("[]", ""), "st").status().message(),
              HasSubstr("not a JSON object"));
  EXPECT_THAT(ReadSafetensorsBytes(Safetensors("{}", "").substr(0, 9), "st").status().message(),
              HasSubstr("st: truncated: safetensors header of 2 bytes beyond file size 9"));
}

TEST_F(StateDict, SafetensorsOffsetsOutOfRangeAreAnError) {
  const std::string header = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  const absl::Status status = ReadSafetensorsBytes(Safetensors(header, "1234"), "st").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("st: tensor 'w': data_offsets [0, 8] out of range of the 4-byte data"));
  const std::string short_tensor =
      R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})";
  EXPECT_THAT(ReadSafetensorsBytes(Safetensors(short_tensor, "12345678"), "st").status().message(),
              HasSubstr("hold 8 bytes, not 3 x F32"));
  const std::string overlap = R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                  "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})";
  EXPECT_THAT(ReadSafetensorsBytes(Safetensors(overlap, "12345678"), "st").status().message(),
              HasSubstr("tensors 'a' and 'b' overlap"));
}

TEST_F(StateDict, SafetensorsUnsupportedDtypeIsAnError) {
  const std::string header = R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})";
  const absl::Status status = ReadSafetensorsBytes(Safetensors(header, "x"), "st").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("st: tensor 'w': unsupported dtype 'F8_E4M3'"));
}

TEST_F(StateDict, SafetensorsReadsEscapedNamesAndMetadata) {
  const std::string header = R"({"__metadata__": {"format": "pt"},
                                 "a\u00e9\"b": {"dtype": "BOOL", "shape": [],
                                                 "data_offsets": [0, 1]}})";
  absl::StatusOr<ckpt::StateDict> state_dict =
      ReadSafetensorsBytes(Safetensors(header, std::string(1, '\1')), "st");
  ASSERT_TRUE(state_dict.ok()) << state_dict.status();
  EXPECT_TRUE(state_dict->at("a\xc3\xa9\"b").item<bool>());
}

TEST(StripWrapperPrefixes, StripsCompileAndLossHeadWrappers) {
  ckpt::StateDict state_dict = {
      {"_orig_mod.model.inner.L_level.layers.0.mlp.down_proj.weight", torch::zeros({1})},
      {"model.inner.q_head.bias", torch::zeros({1})},
      {"_orig_mod.inner.embed_tokens.weight", torch::zeros({1})},
      {"inner.lm_head.weight", torch::zeros({1})},
  };
  absl::StatusOr<ckpt::StateDict> stripped = StripWrapperPrefixes(state_dict);
  ASSERT_TRUE(stripped.ok()) << stripped.status();
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : *stripped) keys.push_back(key);
  EXPECT_THAT(keys, ::testing::ElementsAre("inner.L_level.layers.0.mlp.down_proj.weight",
                                           "inner.embed_tokens.weight", "inner.lm_head.weight",
                                           "inner.q_head.bias"));
}

TEST(StripWrapperPrefixes, CollisionIsAnError) {
  ckpt::StateDict state_dict = {{"_orig_mod.model.inner.w", torch::zeros({1})},
                                {"inner.w", torch::zeros({1})}};
  const absl::Status status = StripWrapperPrefixes(state_dict).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("both become 'inner.w'"));
}

}  // namespace
