// tools/cluster.sh and deploy/haproxy.cfg on loopback: two `lazyllm serve` replicas (-t 1) behind
// HAProxy, 200 non-streamed greedy completions from 8 concurrent clients, and one replica killed
// in the middle (SIGKILL; then SIGTERM). Every request must succeed with its solo `run --temp 0`
// text; both replicas serve before the kill, only the survivor after it. Skipped, with a message,
// where haproxy or curl is missing (tools/setup.sh installs both).
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/shell.h"
#include "common/test_paths.h"

namespace lazyllm {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

using testing::Shell;

// A loopback port nothing listens on now.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

constexpr int kRequests = 200, kClients = 8, kMaxTokens = 24;
const std::array<std::string, 4> kPrompts = {"Once upon a time", "The little dog", "Lily went to the park",
                                             "One day, a big"};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"haproxy", "curl"})
      if (Shell(std::string("command -v ") + tool + " >/dev/null 2>&1").second != 0)
        GTEST_SKIP() << tool << " is not installed (tools/setup.sh installs it)";
    dir_ = std::filesystem::path(::testing::TempDir()) / ("lazyllm_cluster." + std::to_string(getpid()));
    port_ = FreePort();
    for (size_t i = 0; i < kPrompts.size(); ++i) {  // the solo greedy texts
      auto [text, rc] =
          Shell(std::string(LAZYLLM_CLI) + " run -m " + testing::SampleModel().string() + " -p '" + kPrompts[i] +
                "' -n " + std::to_string(kMaxTokens) + " --temp 0 --prune off -c 512 2>/dev/null");
      ASSERT_EQ(rc, 0);
      if (!text.empty() && text.back() == '\n') text.pop_back();
      want_[i] = text;
    }
  }
  void TearDown() override {
    if (up_) Shell(Env() + " " + Script() + " down --port " + std::to_string(port_) + " >/dev/null 2>&1");
    std::filesystem::remove_all(dir_);
  }

  std::string Env() const { return "LAZYLLM=" + std::string(LAZYLLM_CLI) + " LAZYLLM_CLUSTER_DIR=" + dir_.string(); }
  static std::string Script() { return (testing::SourceDir() / "tools/cluster.sh").string(); }
  void Up() {
    const auto [out, rc] =
        Shell(Env() + " " + Script() + " up -m " + testing::SampleModel().string() + " -n 2 -t 1 --port " +
              std::to_string(port_) + " --stats-port " + std::to_string(FreePort()) + " -c 512 2>&1");
    ASSERT_EQ(rc, 0) << out;
    up_ = true;
  }
  // The pid of replica i (1-based), from what cluster.sh recorded.
  pid_t ReplicaPid(int i) const {
    std::ifstream in(dir_ / "pids");
    pid_t pid = -1;
    std::string prog;
    for (int k = 0; k < i && in >> pid >> prog;) ++k;
    return pid;
  }

  struct Result {
    int status = 0;
    std::string replica, text;
    bool started_after_kill = false;
  };
  // kRequests completions from kClients clients; replica 1 gets `signal` once kRequests / 4 have
  // completed.
  std::vector<Result> Load(int signal) {
    std::vector<Result> results(kRequests);
    std::atomic<int> next{0}, done{0};
    std::atomic<bool> killed{false};
    std::mutex kill_mu;
    auto client = [&] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(300, 0);
      for (int i; (i = next++) < kRequests;) {
        Result& r = results[i];
        r.started_after_kill = killed;
        const json body = {{"prompt", kPrompts[i % kPrompts.size()]}, {"max_tokens", kMaxTokens}, {"temperature", 0}};
        auto res = c.Post("/v1/completions", body.dump(), "application/json");
        if (res) {
          r.status = res->status;
          r.replica = res->get_header_value("X-Lazyllm-Replica");
          if (res->status == 200) r.text = json::parse(res->body)["choices"][0]["text"];
        }
        if (++done == kRequests / 4) {
          std::lock_guard<std::mutex> lock(kill_mu);
          kill(ReplicaPid(1), signal);
          killed = true;
        }
      }
    };
    std::vector<std::thread> clients;
    for (int k = 0; k < kClients; ++k) clients.emplace_back(client);
    for (auto& t : clients) t.join();
    EXPECT_TRUE(killed);
    return results;
  }
  // survivor_after: requests that started after the signal were all served by replica 2 (after
  // SIGKILL; a draining replica may still take a request in the moment before it marks itself
  // draining, and finishes it).
  void Check(const std::vector<Result>& results, bool survivor_after) {
    int before_r1 = 0, before_r2 = 0, after = 0;
    for (int i = 0; i < kRequests; ++i) {
      const Result& r = results[i];
      ASSERT_EQ(r.status, 200) << "request " << i << " (replica '" << r.replica << "')";
      EXPECT_EQ(r.text, want_[i % kPrompts.size()]) << "request " << i;
      if (r.started_after_kill) {
        ++after;
        if (survivor_after) {
          EXPECT_EQ(r.replica, "r2") << "request " << i << " started after the kill";
        }
      } else {
        before_r1 += r.replica == "r1";
        before_r2 += r.replica == "r2";
      }
    }
    EXPECT_GT(before_r1, 0) << "replica 1 served nothing before the kill";
    EXPECT_GT(before_r2, 0) << "replica 2 served nothing before the kill";
    EXPECT_GT(after, 0);
  }

  std::filesystem::path dir_;
  int port_ = 0;
  bool up_ = false;
  std::array<std::string, 4> want_;
};

TEST_F(ClusterTest, EveryRequestSucceedsWhenAReplicaIsKilled) {
  ASSERT_NO_FATAL_FAILURE(Up());
  Check(Load(SIGKILL), /*survivor_after=*/true);
}

TEST_F(ClusterTest, EveryRequestSucceedsWhenAReplicaDrains) {
  ASSERT_NO_FATAL_FAILURE(Up());
  Check(Load(SIGTERM), /*survivor_after=*/false);
}

}  // namespace
}  // namespace lazyllm
