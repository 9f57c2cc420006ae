// Shared helpers for the puzzle tests: a scratch folder per test and running
// Debian's Python with NumPy, so the readers are tested on files NumPy wrote.
#ifndef RRM_TESTS_PUZZLE_TEST_SUPPORT_H_
#define RRM_TESTS_PUZZLE_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace rrm::puzzle::testing {

inline constexpr char kPython[] = "/usr/bin/python3";

// A fresh folder under $TEST_TMPDIR (or /tmp), removed when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/rrm_puzzle_XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

struct PythonRun {
  int exit_code;
  std::string output;  // stdout and stderr, for failure messages
};

// Runs `/usr/bin/python3 <arguments>` in `dir`.
inline PythonRun RunPython(const std::string& dir, const std::string& arguments) {
  const std::string log = dir + "/python.log";
  const std::string command =
      std::string("cd '") + dir + "' && " + kPython + " " + arguments + " > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  return {WEXITSTATUS(status), ReadFile(log)};
}

// Runs a Python program given as text (written to `dir`/snippet.py).
inline PythonRun RunPythonCode(const std::string& dir, const std::string& code) {
  WriteFile(dir + "/snippet.py", "import numpy as np\n" + code);
  return RunPython(dir, "snippet.py");
}

// Runs tests/puzzle/make_dataset.py `arguments` (see its docstring) writing
// the dataset root `out_root`.
inline PythonRun MakeDataset(const std::string& out_root, const std::string& arguments) {
  return RunPython(out_root.substr(0, out_root.rfind('/')), std::string(RRM_SOURCE_DIR) +
                                                                "/tests/puzzle/make_dataset.py '" +
                                                                out_root + "' " + arguments);
}

}  // namespace rrm::puzzle::testing

#endif  // RRM_TESTS_PUZZLE_TEST_SUPPORT_H_
