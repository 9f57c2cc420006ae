// Tests for the .npy reader and writer against files NumPy writes and reads.
#include "core/puzzle/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/puzzle/test_support.h"

namespace rrm::puzzle {
namespace {

using ::rrm::puzzle::testing::PythonRun;
using ::rrm::puzzle::testing::ReadFile;
using ::rrm::puzzle::testing::RunPythonCode;
using ::rrm::puzzle::testing::ScratchDir;
using ::rrm::puzzle::testing::WriteFile;
using ::testing::AllOf;
using ::testing::HasSubstr;

class NpyTest : public ::testing::Test {
 protected:
  // Runs `code` (with numpy imported as np) in the scratch folder.
  void Python(const std::string& code) {
    const PythonRun run = RunPythonCode(scratch_.path(), code);
    ASSERT_EQ(run.exit_code, 0) << run.output;
  }
  std::string Path(const std::string& name) const { return scratch_ / name; }
  absl::Status ReadError(const std::string& name) {
    absl::StatusOr<torch::Tensor> tensor = ReadNpy(Path(name));
    EXPECT_FALSE(tensor.ok()) << name << " was read";
    return tensor.status();
  }

  ScratchDir scratch_;
};

std::vector<double> Values(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

TEST_F(NpyTest, ReadsEveryIntegerDtypeNumpyWrites) {
  Python(R"(
for code in ['u1', 'i1', 'i2', 'u2', 'i4', 'u4', 'i8', 'u8']:
    info = np.iinfo(np.dtype(code))
    high = min(int(info.max), 2**63 - 1)
    arr = np.array([[int(info.min), 0, 1], [2, 3, high]], dtype=np.dtype('<' + code))
    np.save(code + '.npy', arr)
)");
  struct Case {
    std::string code;
    torch::ScalarType dtype;
    int64_t min, max;
  };
  const std::vector<Case> cases = {
      {"u1", torch::kUInt8, 0, 255},
      {"i1", torch::kInt8, -128, 127},
      {"i2", torch::kInt16, -32768, 32767},
      {"u2", torch::kInt32, 0, 65535},
      {"i4", torch::kInt32, std::numeric_limits<int32_t>::min(),
       std::numeric_limits<int32_t>::max()},
      {"u4", torch::kInt64, 0, 4294967295LL},
      {"i8", torch::kInt64, std::numeric_limits<int64_t>::min(),
       std::numeric_limits<int64_t>::max()},
      {"u8", torch::kInt64, 0, std::numeric_limits<int64_t>::max()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    absl::StatusOr<torch::Tensor> tensor = ReadNpy(Path(c.code + ".npy"));
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    EXPECT_EQ(tensor->scalar_type(), c.dtype);
    ASSERT_EQ(tensor->sizes().vec(), (std::vector<int64_t>{2, 3}));
    torch::Tensor wide = tensor->to(torch::kInt64).contiguous();
    const int64_t* v = wide.data_ptr<int64_t>();
    EXPECT_EQ(std::vector<int64_t>(v, v + 6), (std::vector<int64_t>{c.min, 0, 1, 2, 3, c.max}));
  }
}

TEST_F(NpyTest, ReadsFloatAndBoolDtypesNumpyWrites) {
  Python(R"(
np.save('f2.npy', np.array([[-1.5, 0.0], [0.25, 65504.0]], dtype='<f2'))
np.save('f4.npy', np.array([[-1.5, 0.0], [0.1, 3.0e38]], dtype='<f4'))
np.save('f8.npy', np.array([[-1.5, 0.0], [0.1, 1.0e300]], dtype='<f8'))
np.save('b1.npy', np.array([[True, False], [False, True]]))
)");
  absl::StatusOr<torch::Tensor> f2 = ReadNpy(Path("f2.npy"));
  ASSERT_TRUE(f2.ok()) << f2.status();
  EXPECT_EQ(f2->scalar_type(), torch::kHalf);
  EXPECT_EQ(Values(*f2), (std::vector<double>{-1.5, 0.0, 0.25, 65504.0}));

  absl::StatusOr<torch::Tensor> f4 = ReadNpy(Path("f4.npy"));
  ASSERT_TRUE(f4.ok()) << f4.status();
  EXPECT_EQ(f4->scalar_type(), torch::kFloat32);
  EXPECT_EQ(Values(*f4), (std::vector<double>{-1.5, 0.0, static_cast<double>(0.1f),
                                              static_cast<double>(3.0e38f)}));

  absl::StatusOr<torch::Tensor> f8 = ReadNpy(Path("f8.npy"));
  ASSERT_TRUE(f8.ok()) << f8.status();
  EXPECT_EQ(f8->scalar_type(), torch::kFloat64);
  EXPECT_EQ(Values(*f8), (std::vector<double>{-1.5, 0.0, 0.1, 1.0e300}));

  absl::StatusOr<torch::Tensor> b1 = ReadNpy(Path("b1.npy"));
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_EQ(b1->scalar_type(), torch::kBool);
  EXPECT_EQ(Values(*b1), (std::vector<double>{1, 0, 0, 1}));
}

TEST_F(NpyTest, ReadsFormatVersions2And3) {
  Python(R"(
arr = np.arange(12, dtype=np.float32).reshape(3, 4)
for version in [(1, 0), (2, 0), (3, 0)]:
    with open('v%d.npy' % version[0], 'wb') as f:
        np.lib.format.write_array(f, arr, version=version)
)");
  for (const std::string name : {"v1.npy", "v2.npy", "v3.npy"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<torch::Tensor> tensor = ReadNpy(Path(name));
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    EXPECT_TRUE(torch::equal(*tensor, torch::arange(12, torch::kFloat32).reshape({3, 4})));
  }
  absl::StatusOr<NpyHeader> header = ParseNpyHeader(ReadFile(Path("v3.npy")), "v3.npy");
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->major_version, 3);
  EXPECT_EQ(header->descr, "<f4");
  EXPECT_EQ(header->shape, (std::vector<int64_t>{3, 4}));
}

TEST_F(NpyTest, ReadsScalarsEmptyArraysAndHigherRanks) {
  Python(R"(
np.save('scalar.npy', np.float32(3.5))
np.save('empty.npy', np.zeros((0, 4), dtype=np.int32))
np.save('rank4.npy', np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5))
)");
  absl::StatusOr<torch::Tensor> scalar = ReadNpy(Path("scalar.npy"));
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->dim(), 0);
  EXPECT_EQ(scalar->item<float>(), 3.5f);

  absl::StatusOr<torch::Tensor> empty = ReadNpy(Path("empty.npy"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->sizes().vec(), (std::vector<int64_t>{0, 4}));

  absl::StatusOr<torch::Tensor> rank4 = ReadNpy(Path("rank4.npy"));
  ASSERT_TRUE(rank4.ok()) << rank4.status();
  EXPECT_TRUE(torch::equal(*rank4, torch::arange(120, torch::kFloat64).reshape({2, 3, 4, 5})));
}

TEST_F(NpyTest, ReadNpyAsConvertsIntegersAndRefusesToTruncateFloats) {
  Python(R"(
np.save('u1.npy', np.array([0, 7, 255], dtype=np.uint8))
np.save('f4.npy', np.array([0.5, 1.5], dtype=np.float32))
)");
  absl::StatusOr<torch::Tensor> as_long = ReadNpyAs(Path("u1.npy"), torch::kInt64);
  ASSERT_TRUE(as_long.ok()) << as_long.status();
  EXPECT_EQ(as_long->scalar_type(), torch::kInt64);
  EXPECT_EQ(Values(*as_long), (std::vector<double>{0, 7, 255}));

  absl::StatusOr<torch::Tensor> as_double = ReadNpyAs(Path("f4.npy"), torch::kFloat64);
  ASSERT_TRUE(as_double.ok()) << as_double.status();
  EXPECT_EQ(as_double->scalar_type(), torch::kFloat64);
  EXPECT_EQ(Values(*as_double), (std::vector<double>{0.5, 1.5}));

  absl::StatusOr<torch::Tensor> truncated = ReadNpyAs(Path("f4.npy"), torch::kInt64);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(),
              AllOf(HasSubstr("f4.npy"), HasSubstr("expected integers")));

  absl::StatusOr<torch::Tensor> unsupported = ReadNpyAs(Path("u1.npy"), torch::kInt16);
  EXPECT_FALSE(unsupported.ok());
}

TEST_F(NpyTest, RejectsFortranOrder) {
  Python(
      "np.save('fortran.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))\n");
  const absl::Status status = ReadError("fortran.npy");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("fortran.npy"), HasSubstr("Fortran")));
}

TEST_F(NpyTest, RejectsUnsupportedDtypesNamingThem) {
  Python(R"(
np.save('big.npy', np.arange(4, dtype='>f4'))
np.save('complex.npy', np.arange(4, dtype='<c8'))
np.save('text.npy', np.array(['ab', 'cd']))
np.save('record.npy', np.zeros(2, dtype=[('a', '<i4'), ('b', '<f4')]))
np.save('object.npy', np.array([1, 'x'], dtype=object), allow_pickle=True)
)");
  EXPECT_THAT(
      ReadError("big.npy").message(),
      AllOf(HasSubstr("big.npy"), HasSubstr("unsupported dtype '>f4'"), HasSubstr("big-endian")));
  EXPECT_THAT(ReadError("complex.npy").message(), HasSubstr("unsupported dtype '<c8'"));
  EXPECT_THAT(ReadError("text.npy").message(), HasSubstr("unsupported dtype '<U2'"));
  EXPECT_THAT(ReadError("record.npy").message(), HasSubstr("structured"));
  EXPECT_THAT(ReadError("object.npy").message(), HasSubstr("unsupported dtype '|O'"));
}

TEST_F(NpyTest, RejectsUint64AboveInt64Range) {
  Python("np.save('huge.npy', np.array([1, 2**64 - 1], dtype='<u8'))\n");
  EXPECT_THAT(ReadError("huge.npy").message(), AllOf(HasSubstr("huge.npy"), HasSubstr("2^63-1")));
}

TEST_F(NpyTest, RejectsBadMagic) {
  WriteFile(Path("bad.npy"), "PK\x03\x04 this is a zip, not an array");
  const absl::Status status = ReadError("bad.npy");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("bad.npy"), HasSubstr("bad magic")));
  WriteFile(Path("short.npy"), "\x93NUM");
  EXPECT_THAT(ReadError("short.npy").message(), HasSubstr("bad magic"));
}

TEST_F(NpyTest, RejectsTruncatedAndOverlongData) {
  Python("np.save('a.npy', np.arange(6, dtype=np.float32).reshape(2, 3))\n");
  const std::string bytes = ReadFile(Path("a.npy"));
  WriteFile(Path("short.npy"), bytes.substr(0, bytes.size() - 4));
  EXPECT_THAT(ReadError("short.npy").message(),
              AllOf(HasSubstr("short.npy"), HasSubstr("truncated data: expected 24 bytes"),
                    HasSubstr("found 20")));
  WriteFile(Path("long.npy"), bytes + "xyz");
  EXPECT_THAT(ReadError("long.npy").message(), HasSubstr("trailing data: expected 24 bytes"));
  WriteFile(Path("header_only.npy"), bytes.substr(0, 40));
  EXPECT_THAT(ReadError("header_only.npy").message(), HasSubstr("header parse error"));
}

TEST_F(NpyTest, RejectsMalformedHeader) {
  Python("np.save('a.npy', np.arange(6, dtype=np.float32).reshape(2, 3))\n");
  const std::string bytes = ReadFile(Path("a.npy"));
  auto corrupt = [&](const std::string& from, const std::string& to) {
    std::string changed = bytes;
    changed.replace(changed.find(from), from.size(), to);
    return changed;
  };
  WriteFile(Path("no_shape.npy"), corrupt("'shape'", "'shapX'"));
  EXPECT_THAT(
      ReadError("no_shape.npy").message(),
      AllOf(HasSubstr("no_shape.npy: .npy header parse error"), HasSubstr("missing key 'shape'")));
  WriteFile(Path("typo.npy"), corrupt("False", "Flase"));
  EXPECT_THAT(ReadError("typo.npy").message(),
              HasSubstr("header parse error: unexpected character 'F'"));
  WriteFile(Path("version.npy"), corrupt(std::string("\x01\x00", 2), std::string("\x04\x00", 2)));
  EXPECT_THAT(ReadError("version.npy").message(), HasSubstr("unsupported .npy format version 4.0"));
}

TEST_F(NpyTest, ReportsMissingFileAsNotFound) {
  const absl::Status status = ReadError("absent.npy");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("absent.npy"));
}

TEST_F(NpyTest, WrittenFilesLoadInNumpyWithDtypeShapeAndValues) {
  const torch::Tensor f32 = torch::arange(24, torch::kFloat32).reshape({2, 3, 4}) * 0.5 - 3;
  ASSERT_TRUE(WriteNpy(Path("f32.npy"), f32).ok());
  ASSERT_TRUE(WriteNpy(Path("f64.npy"), torch::arange(5, torch::kFloat64) / 3).ok());
  ASSERT_TRUE(
      WriteNpy(Path("f16.npy"), torch::arange(4, torch::kFloat32).to(torch::kHalf) * 0.25).ok());
  ASSERT_TRUE(WriteNpy(Path("i64.npy"), torch::tensor({int64_t{-5}, int64_t{0},
                                                       std::numeric_limits<int64_t>::max()}))
                  .ok());
  ASSERT_TRUE(WriteNpy(Path("i32.npy"), torch::arange(-3, 3, torch::kInt32)).ok());
  ASSERT_TRUE(WriteNpy(Path("i16.npy"), torch::arange(-3, 3, torch::kInt16)).ok());
  ASSERT_TRUE(WriteNpy(Path("i8.npy"), torch::arange(-3, 3, torch::kInt8)).ok());
  ASSERT_TRUE(
      WriteNpy(Path("u8.npy"), torch::arange(250, 256, torch::kInt32).to(torch::kUInt8)).ok());
  ASSERT_TRUE(WriteNpy(Path("bool.npy"), torch::arange(6).remainder(2).eq(0).reshape({3, 2})).ok());
  ASSERT_TRUE(WriteNpy(Path("scalar.npy"), torch::scalar_tensor(2.5, torch::kFloat32)).ok());
  ASSERT_TRUE(WriteNpy(Path("empty.npy"), torch::zeros({0, 3}, torch::kFloat32)).ok());
  // A transposed view is written in its logical (row-major) order.
  ASSERT_TRUE(
      WriteNpy(Path("transposed.npy"), torch::arange(6, torch::kFloat32).reshape({2, 3}).t()).ok());
  Python(R"(
def check(name, dtype, expected):
    arr = np.load(name)
    expected = np.asarray(expected, dtype=dtype)
    assert arr.dtype == np.dtype(dtype), (name, arr.dtype)
    assert arr.shape == expected.shape, (name, arr.shape, expected.shape)
    assert np.array_equal(arr, expected), (name, arr, expected)
    with open(name, 'rb') as f:
        major, minor = np.lib.format.read_magic(f)
        assert (major, minor) == (1, 0), (name, major, minor)
        np.lib.format.read_array_header_1_0(f)
        assert f.tell() % 64 == 0, (name, f.tell())

check('f32.npy', '<f4', np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.5) - np.float32(3))
check('f64.npy', '<f8', np.arange(5, dtype=np.float64) / 3)
check('f16.npy', '<f2', np.arange(4, dtype=np.float16) * np.float16(0.25))
check('i64.npy', '<i8', [-5, 0, 2**63 - 1])
check('i32.npy', '<i4', np.arange(-3, 3))
check('i16.npy', '<i2', np.arange(-3, 3))
check('i8.npy', '|i1', np.arange(-3, 3))
check('u8.npy', '|u1', np.arange(250, 256))
check('bool.npy', '|b1', (np.arange(6) % 2 == 0).reshape(3, 2))
check('scalar.npy', '<f4', 2.5)
check('empty.npy', '<f4', np.zeros((0, 3)))
check('transposed.npy', '<f4', np.arange(6).reshape(2, 3).T)
)");
}

TEST_F(NpyTest, WriterAndReaderRoundTrip) {
  const std::vector<torch::Tensor> tensors = {
      torch::randn({3, 5, 7}),
      torch::randn({4}, torch::kFloat64),
      torch::randint(-1000, 1000, {6, 2}, torch::kInt64),
      torch::randint(0, 256, {9}, torch::kInt32).to(torch::kUInt8),
      torch::rand({2, 2}).gt(0.5),
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string path = Path("t" + std::to_string(i) + ".npy");
    ASSERT_TRUE(WriteNpy(path, tensors[i]).ok());
    absl::StatusOr<torch::Tensor> back = ReadNpy(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->scalar_type(), tensors[i].scalar_type());
    EXPECT_TRUE(torch::equal(*back, tensors[i]));

    absl::StatusOr<std::string> encoded = EncodeNpy(tensors[i]);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(*encoded, ReadFile(path));
    absl::StatusOr<torch::Tensor> parsed = ParseNpy(*encoded, "memory");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(torch::equal(*parsed, tensors[i]));
  }
}

TEST_F(NpyTest, WriterRejectsTypesNumpyLacksNamingThePath) {
  const absl::Status status = WriteNpy(Path("bf16.npy"), torch::ones({2}, torch::kBFloat16));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("bf16.npy"), HasSubstr("BFloat16")));
  EXPECT_FALSE(std::filesystem::exists(Path("bf16.npy")));
  EXPECT_FALSE(WriteNpy(Path("undefined.npy"), torch::Tensor()).ok());
}

TEST_F(NpyTest, WriterReportsUnwritablePath) {
  const absl::Status status = WriteNpy(Path("no/such/dir/x.npy"), torch::ones({2}));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("no/such/dir/x.npy"));
}

TEST_F(NpyTest, ParserSurvivesCorruptedFiles) {
  absl::StatusOr<std::string> valid = EncodeNpy(torch::arange(12, torch::kFloat32).reshape({3, 4}));
  ASSERT_TRUE(valid.ok()) << valid.status();
  std::mt19937 random(7);
  int accepted = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::string bytes = *valid;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      bytes[random() % bytes.size()] = static_cast<char>(random() % 256);
    }
    if (random() % 4 == 0) bytes.resize(random() % bytes.size());
    // Any outcome but a crash is fine; most corruptions must be reported.
    accepted += ParseNpy(bytes, "fuzz").ok() ? 1 : 0;
  }
  EXPECT_LT(accepted, 5000);
}

}  // namespace
}  // namespace rrm::puzzle
