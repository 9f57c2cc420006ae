// The checkpoint writer against both readers: ours (ReadTorchZip) and
// Debian's python3-torch (torch.load), round trip C++ -> Python -> C++.
#include "core/checkpoint/state_dict_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/checkpoint/state_dict.h"
#include "tests/puzzle/test_support.h"

namespace rrm::checkpoint {
namespace {

using ::rrm::puzzle::testing::RunPythonCode;
using ::rrm::puzzle::testing::ScratchDir;
using ::testing::HasSubstr;

NamedTensors SampleTensors() {
  torch::manual_seed(3);
  NamedTensors t;
  t.emplace_back("_orig_mod.model.inner.H_init", torch::randn({8}));
  t.emplace_back("_orig_mod.model.inner.embed_tokens.embedding_weight", torch::randn({11, 8}));
  t.emplace_back("_orig_mod.model.inner.q_head.bias", torch::full({2}, -5.0));
  t.emplace_back("_orig_mod.model.inner.L_level.layers.0.mlp.down_proj.weight", torch::randn({300, 250}));
  t.emplace_back("transposed", torch::randn({4, 3}).t());
  t.emplace_back("bf16", torch::randn({5}).to(torch::kBFloat16));
  t.emplace_back("f16", torch::randn({3}).to(torch::kFloat16));
  t.emplace_back("f64", torch::randn({2, 2}, torch::kFloat64));
  t.emplace_back("i64", torch::tensor(std::vector<int64_t>{-1, 0, int64_t{1} << 40}));
  t.emplace_back("i32", torch::tensor(std::vector<int32_t>{-7, 7}));
  t.emplace_back("u8", torch::tensor(std::vector<int64_t>{0, 255}).to(torch::kUInt8));
  t.emplace_back("flags", torch::tensor(std::vector<int64_t>{1, 0, 1}).to(torch::kBool));
  t.emplace_back("scalar", torch::tensor(2.5));
  t.emplace_back("empty", torch::zeros({0, 5}));
  return t;
}

void ExpectSame(const NamedTensors& expected, const StateDict& found) {
  ASSERT_EQ(found.size(), expected.size());
  for (const auto& [key, tensor] : expected) {
    SCOPED_TRACE(key);
    auto it = found.find(key);
    ASSERT_NE(it, found.end());
    EXPECT_EQ(it->second.scalar_type(), tensor.scalar_type());
    EXPECT_EQ(it->second.sizes(), tensor.sizes());
    EXPECT_TRUE(torch::equal(it->second, tensor));
  }
}

TEST(StateDictWriter, ReadsBackEqual) {
  ScratchDir scratch;
  const NamedTensors tensors = SampleTensors();
  ASSERT_TRUE(WriteTorchZip(scratch / "step_7", tensors).ok());
  absl::StatusOr<StateDict> read = ReadStateDict(scratch / "step_7");
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSame(tensors, *read);
}

TEST(StateDictWriter, TorchLoadReadsItAndPythonResaveReadsBackEqual) {
  ScratchDir scratch;
  const NamedTensors tensors = SampleTensors();
  ASSERT_TRUE(WriteTorchZip(scratch / "step_7", tensors).ok());
  std::string keys;
  for (const auto& [key, tensor] : tensors) keys += "'" + key + "', ";
  const auto run = RunPythonCode(scratch.path(), R"(
import collections, zipfile, torch
names = zipfile.ZipFile('step_7').namelist()
assert names[0] == 'step_7/data.pkl' and names[-1] == 'step_7/version', names
sd = torch.load('step_7')
assert type(sd) is collections.OrderedDict, type(sd)
assert list(sd.keys()) == [)" + keys + R"(], list(sd.keys())
meta = sd._metadata
assert list(meta.keys())[:4] == ['', '_orig_mod', '_orig_mod.model', '_orig_mod.model.inner'], list(meta)
assert all(v == {'version': 1} for v in meta.values())
assert sd['bf16'].dtype == torch.bfloat16 and sd['flags'].dtype == torch.bool
assert sd['i64'].tolist() == [-1, 0, 1 << 40]
assert sd['scalar'].dim() == 0 and sd['scalar'].item() == 2.5
assert sd['transposed'].shape == (3, 4)
# Re-save with torch itself: the C++ reader then checks every value survived torch.load.
torch.save(sd, 'resaved')
)");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  absl::StatusOr<StateDict> resaved = ReadStateDict(scratch / "resaved");
  ASSERT_TRUE(resaved.ok()) << resaved.status();
  ExpectSame(tensors, *resaved);
}

TEST(StateDictWriter, RejectsDuplicateKeysAndUnsupportedDtypes) {
  NamedTensors duplicate = {{"a", torch::zeros({1})}, {"a", torch::zeros({1})}};
  EXPECT_THAT(std::string(EncodeTorchZip(duplicate, "x").status().message()), HasSubstr("duplicate"));
  NamedTensors complex = {{"c", torch::zeros({1}, torch::kComplexFloat)}};
  EXPECT_THAT(std::string(EncodeTorchZip(complex, "x").status().message()), HasSubstr("tensor 'c'"));
}

}  // namespace
}  // namespace rrm::checkpoint
