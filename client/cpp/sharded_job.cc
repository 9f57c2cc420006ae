#include "client/cpp/sharded_job.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace rrm {
namespace {

// "host:port" or "[v6]:port" -> (host, port); false without a port.
bool SplitHostPort(absl::string_view address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == address.size()) return false;
  *host = std::string(absl::StripSuffix(absl::StripPrefix(address.substr(0, colon), "["), "]"));
  *port = std::string(address.substr(colon + 1));
  return true;
}

absl::StatusOr<std::vector<Target>> ResolveAll(absl::string_view entry) {
  std::string host, port;
  if (!SplitHostPort(entry, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("target: expected all:HOST:PORT, found \"all:", entry, "\""));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return absl::NotFoundError(absl::StrCat("target all:", entry, ": cannot resolve ", host, ": ", gai_strerror(error)));
  }
  std::set<std::string> addresses;  // sorted and unique: the same order on every call
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof(text), nullptr, 0, NI_NUMERICHOST) != 0) continue;
    addresses.insert(a->ai_family == AF_INET6 ? absl::StrCat("[", text, "]:", port) : absl::StrCat(text, ":", port));
  }
  ::freeaddrinfo(found);
  std::vector<Target> targets;
  for (const std::string& address : addresses) targets.push_back({address, host});
  if (targets.empty()) return absl::NotFoundError(absl::StrCat("target all:", entry, ": no address found"));
  return targets;
}

// Blocks [begin, end) of n items over `parts` parts, sizes differing by at most one.
std::vector<std::pair<int64_t, int64_t>> Blocks(int64_t n, int parts) {
  const int64_t count = std::min<int64_t>(parts, n);
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (int64_t i = 0; i < count; ++i) blocks.emplace_back(n * i / count, n * (i + 1) / count);
  return blocks;
}

template <typename Repeated>
Repeated Range(const Repeated& all, int64_t begin, int64_t end) {
  Repeated part;
  if (all.empty()) return part;  // optional per-puzzle fields stay absent
  for (int64_t i = begin; i < end; ++i) *part.Add() = all[static_cast<int>(i)];
  return part;
}

v1::TextPuzzles TextRange(const v1::TextPuzzles& all, int64_t begin, int64_t end) {
  v1::TextPuzzles part;
  *part.mutable_puzzles() = Range(all.puzzles(), begin, end);
  *part.mutable_solutions() = Range(all.solutions(), begin, end);
  *part.mutable_ids() = Range(all.ids(), begin, end);
  return part;
}

// The state of a study from its parts' states.
v1::JobState Combined(const std::vector<v1::Job>& jobs) {
  auto any = [&](v1::JobState s) {
    return std::any_of(jobs.begin(), jobs.end(), [s](const v1::Job& j) { return j.state() == s; });
  };
  auto all_finished =
      std::all_of(jobs.begin(), jobs.end(), [](const v1::Job& j) { return IsFinished(j.state()); });
  if (all_finished) {
    if (any(v1::JOB_STATE_FAILED)) return v1::JOB_STATE_FAILED;
    if (any(v1::JOB_STATE_CANCELLED)) return v1::JOB_STATE_CANCELLED;
    return v1::JOB_STATE_SUCCEEDED;
  }
  if (any(v1::JOB_STATE_RUNNING) || any(v1::JOB_STATE_SUCCEEDED)) return v1::JOB_STATE_RUNNING;
  return v1::JOB_STATE_QUEUED;
}

}  // namespace

absl::StatusOr<std::vector<Target>> ExpandTargets(absl::string_view spec) {
  std::vector<Target> targets;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("target: expected HOST:PORT entries, found an empty one in \"",
                                                     spec, "\""));
    }
    if (absl::ConsumePrefix(&entry, "all:")) {
      absl::StatusOr<std::vector<Target>> resolved = ResolveAll(entry);
      if (!resolved.ok()) return resolved.status();
      targets.insert(targets.end(), resolved->begin(), resolved->end());
    } else {
      targets.push_back({std::string(entry), ""});
    }
  }
  return targets;
}

ClientOptions WithTarget(const ClientOptions& options, const Target& target) {
  ClientOptions one = options;
  one.target = target.address;
  one.tls_server_name = target.tls_name;
  return one;
}

bool IsShardedJobId(absl::string_view id) { return absl::StrContains(id, '/'); }

absl::StatusOr<std::vector<v1::PuzzleInput>> SplitPuzzles(const v1::PuzzleInput& input, int parts) {
  if (parts < 1) return absl::InvalidArgumentError(absl::StrCat("parts: expected >= 1, found ", parts));
  const int64_t first = input.first_example_index();
  std::vector<v1::PuzzleInput> split;
  auto block = [&](int64_t begin) {
    v1::PuzzleInput part;
    part.set_first_example_index(first + begin);
    return part;
  };
  switch (input.source_case()) {
    case v1::PuzzleInput::kTokens:
      for (auto [begin, end] : Blocks(input.tokens().puzzles_size(), parts)) {
        v1::PuzzleInput part = block(begin);
        *part.mutable_tokens()->mutable_puzzles() = Range(input.tokens().puzzles(), begin, end);
        part.mutable_tokens()->set_kind(input.tokens().kind());
        split.push_back(std::move(part));
      }
      break;
    case v1::PuzzleInput::kSudoku:
    case v1::PuzzleInput::kMaze: {
      const bool sudoku = input.source_case() == v1::PuzzleInput::kSudoku;
      const v1::TextPuzzles& text = sudoku ? input.sudoku() : input.maze();
      const int n = text.puzzles_size();
      for (const auto& [name, size] : {std::make_pair("solutions", text.solutions_size()),
                                       std::make_pair("ids", text.ids_size())}) {
        if (size != 0 && size != n) {
          return absl::InvalidArgumentError(absl::StrCat("puzzles.", sudoku ? "sudoku." : "maze.", name,
                                                         ": expected 0 or ", n, " (one per puzzle), found ", size));
        }
      }
      for (auto [begin, end] : Blocks(text.puzzles_size(), parts)) {
        v1::PuzzleInput part = block(begin);
        *(sudoku ? part.mutable_sudoku() : part.mutable_maze()) = TextRange(text, begin, end);
        split.push_back(std::move(part));
      }
      break;
    }
    case v1::PuzzleInput::kDatasetPath:
      if (input.limit() <= 0 && parts > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "puzzles.limit: a dataset on the servers is split over ", parts,
            " servers by index range, which needs the number of examples to measure; expected > 0, found ",
            input.limit()));
      }
      for (auto [begin, end] : Blocks(input.limit() > 0 ? input.limit() : 1, parts)) {
        v1::PuzzleInput part = block(begin);
        part.set_dataset_path(input.dataset_path());
        part.set_limit(input.limit() > 0 ? end - begin : 0);
        split.push_back(std::move(part));
      }
      break;
    default:
      return absl::InvalidArgumentError("puzzles: expected one of tokens, sudoku, maze or dataset_path, found none");
  }
  if (split.empty()) return absl::InvalidArgumentError("puzzles: expected at least one puzzle, found 0");
  return split;
}

absl::StatusOr<ShardedJob> ShardedJob::Submit(const ClientOptions& options, const std::vector<Target>& targets,
                                              const v1::SubmitJobRequest& request) {
  if (targets.empty()) return absl::InvalidArgumentError("target: expected at least one server, found none");
  absl::StatusOr<std::vector<v1::PuzzleInput>> blocks = SplitPuzzles(request.puzzles(), targets.size());
  if (!blocks.ok()) return blocks.status();
  ShardedJob job;
  for (size_t i = 0; i < blocks->size(); ++i) {
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(WithTarget(options, targets[i]));
    v1::SubmitJobRequest part = request;
    *part.mutable_puzzles() = (*blocks)[i];
    if (!request.idempotency_key().empty()) {
      part.set_idempotency_key(absl::StrCat(request.idempotency_key(), "#", i, "/", blocks->size()));
    }
    absl::StatusOr<v1::SubmitJobResponse> submitted =
        client.ok() ? (*client)->Submit(part) : absl::StatusOr<v1::SubmitJobResponse>(client.status());
    if (!submitted.ok()) {
      for (Part& done : job.parts_) (void)done.client->CancelJob(done.job_id);  // no half-submitted study
      return absl::Status(submitted.status().code(), absl::StrCat("server ", targets[i].address, " (part ", i + 1,
                                                                  " of ", blocks->size(), "): ",
                                                                  submitted.status().message()));
    }
    job.parts_.push_back({*std::move(client), submitted->job_id()});
  }
  return job;
}

absl::StatusOr<ShardedJob> ShardedJob::Open(const ClientOptions& options, absl::string_view id) {
  ShardedJob job;
  for (absl::string_view entry : absl::StrSplit(id, ',')) {
    const size_t slash = entry.rfind('/');
    if (slash == absl::string_view::npos || slash == 0 || slash + 1 == entry.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("job: expected TARGET/JOB_ID entries joined by ',', found \"", entry, "\" in \"", id, "\""));
    }
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(WithTarget(options, {std::string(entry.substr(0, slash)), ""}));
    if (!client.ok()) return client.status();
    job.parts_.push_back({*std::move(client), std::string(entry.substr(slash + 1))});
  }
  return job;
}

std::string ShardedJob::id() const {
  return absl::StrJoin(parts_, ",", [](std::string* out, const Part& p) {
    absl::StrAppend(out, p.client->options().target, "/", p.job_id);
  });
}

absl::StatusOr<std::vector<v1::Job>> ShardedJob::Parts() {
  std::vector<v1::Job> jobs;
  for (Part& part : parts_) {
    absl::StatusOr<v1::Job> job = part.client->GetJob(part.job_id);
    if (!job.ok()) {
      return absl::Status(job.status().code(), absl::StrCat("server ", part.client->options().target, ": ",
                                                            job.status().message()));
    }
    jobs.push_back(*std::move(job));
  }
  return jobs;
}

absl::StatusOr<v1::Job> ShardedJob::Get() {
  absl::StatusOr<std::vector<v1::Job>> parts = Parts();
  if (!parts.ok()) return parts.status();
  return Sum(*parts);
}

v1::Job ShardedJob::Sum(const std::vector<v1::Job>& parts) const {
  v1::Job sum = parts.front();  // model, options, owner, restarts: the same on every part
  sum.set_job_id(id());
  sum.set_state(Combined(parts));
  sum.clear_errors();
  sum.clear_error();
  int64_t examples = 0, total = 0, stored = 0, failed = 0;
  double compute = 0, started = 0, finished = 0;
  std::vector<std::string> errors;
  for (const v1::Job& j : parts) {
    examples += j.examples();
    total += j.total_records();
    stored += j.records_stored();
    failed += j.records_failed();
    compute += j.compute_seconds();
    if (j.started_unix() > 0) started = started == 0 ? j.started_unix() : std::min(started, j.started_unix());
    finished = std::max(finished, j.finished_unix());
    if (!j.error().empty()) errors.push_back(j.job_id() + ": " + j.error());
    for (const std::string& e : j.errors()) sum.add_errors(e);
  }
  sum.set_examples(examples);
  sum.set_total_records(total);
  sum.set_records_stored(stored);
  sum.set_records_failed(failed);
  sum.set_compute_seconds(compute);
  sum.set_started_unix(started);
  sum.set_finished_unix(IsFinished(sum.state()) ? finished : 0);
  sum.set_error(absl::StrJoin(errors, "; "));
  return sum;
}

absl::StatusOr<v1::Job> ShardedJob::Cancel() {
  for (Part& part : parts_) {
    absl::StatusOr<v1::Job> job = part.client->CancelJob(part.job_id);
    if (!job.ok()) return job.status();
  }
  return Get();
}

absl::StatusOr<v1::Job> ShardedJob::Wait(const std::function<void(const v1::Job&)>& on_progress,
                                         absl::Duration poll) {
  return WaitUntilFinished(parts_.front().client->options(), [this] { return Get(); }, on_progress, poll);
}

absl::Status ShardedJob::StreamRecords(const std::function<absl::Status(const v1::ExampleRecord&)>& on_record) {
  absl::Mutex mu;
  absl::Status first_error;  // guarded by mu
  std::vector<std::thread> threads;
  for (Part& part : parts_) {
    threads.emplace_back([&, client = part.client.get(), job_id = part.job_id] {
      absl::Status status = client->StreamRecords(job_id, 0, [&](const v1::ExampleRecord& record) {
        absl::MutexLock lock(&mu);
        if (!first_error.ok()) return absl::CancelledError("another part failed");  // stop this stream too
        return on_record(record);
      });
      absl::MutexLock lock(&mu);
      if (!status.ok() && first_error.ok()) {
        first_error = absl::Status(status.code(), absl::StrCat("server ", client->options().target, ": ",
                                                               status.message()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return first_error;
}

absl::StatusOr<v1::AnalyzeResponse> ShardedJob::Analyze(const v1::AnalysisParameters& parameters) {
  absl::StatusOr<v1::Job> job = Get();  // the state before the records, as the Analyze RPC does
  if (!job.ok()) return job.status();
  std::vector<v1::ExampleRecord> records;
  if (!IsFinished(job->state())) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id(), ": expected a finished job to analyse, found ",
                                                      v1::JobState_Name(job->state()), " (",
                                                      job->records_stored(), " of ", job->total_records(),
                                                      " records stored)"));
  }
  absl::Status status = StreamRecords([&](const v1::ExampleRecord& r) {
    records.push_back(r);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  absl::StatusOr<v1::AnalyzeResponse> response = parts_.front().client->AnalyzeRecords(parameters, records);
  if (!response.ok()) return response.status();
  response->set_job_id(id());
  response->set_job_state(job->state());
  return response;
}

}  // namespace rrm
