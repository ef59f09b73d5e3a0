// Scheduler: requests submitted from many threads get their solo runs' tokens (pruning off and
// paper), streamed text adds up to the result, stop strings cut the text where they begin,
// Cancel and timeouts end a request and return its KV pages, a full queue refuses, Shutdown
// lets running requests finish.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/test_paths.h"
#include "lazyllm/lazyllm.h"

namespace lazyllm {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Model::Load(testing::SampleModel().string());
    ASSERT_TRUE(m.ok()) << m.status();
    model_.emplace(std::move(*m));
    auto e = Engine::Create(*model_, {.threads = 2});
    ASSERT_TRUE(e.ok()) << e.status();
    engine_.emplace(std::move(*e));
  }

  SequenceOptions Seq(const std::string& schedule) const {
    auto p = PruningOptions::Parse(schedule, model_->config().num_layers, 7);
    EXPECT_TRUE(p.ok()) << schedule;
    return {.max_context = 512, .pruning = p.ok() ? *p : PruningOptions()};
  }

  Request Greedy(const std::string& prompt, const std::string& schedule, int n) const {
    Request r;
    r.prompt = model_->tokenizer().Encode(prompt, true).value();
    r.generation.max_new_tokens = n;
    r.generation.sampling.temperature = 0;
    r.sequence = Seq(schedule);
    return r;
  }

  // The request's tokens from Generate on a session of its own.
  std::vector<int32_t> Solo(const Request& r) const {
    auto s = Session::Create(*engine_, {.max_context = r.sequence.max_context, .pruning = r.sequence.pruning});
    EXPECT_TRUE(s.ok());
    auto g = Generate(*s, r.prompt, r.generation);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? g->tokens : std::vector<int32_t>{};
  }

  // Submits and waits for on_done; the streamed pieces go to *streamed.
  Completion Run(Scheduler& s, Request r, std::string* streamed = nullptr) const {
    auto done = std::make_shared<std::promise<Completion>>();
    std::future<Completion> f = done->get_future();
    r.on_done = [done](const Completion& c) { done->set_value(c); };
    if (streamed) r.on_token = [streamed](const TokenEvent& e) { *streamed += e.text; };
    auto id = s.Submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? f.get() : Completion{.status = id.status()};
  }

  std::optional<Model> model_;
  std::optional<Engine> engine_;
};

const char* const kPrompts[] = {"Once upon a time", "The little girl saw a big", "Tom and his dog went to the park.",
                                "One day, a cat", "Lily wanted to play with her ball, but"};

TEST_F(SchedulerTest, ConcurrentSubmittersGetTheirSoloTokens) {
  Scheduler scheduler(*engine_, {.max_batch = 4});
  std::vector<Request> reqs;
  for (int i = 0; i < 12; ++i) reqs.push_back(Greedy(kPrompts[i % 5], i % 2 ? "paper" : "off", 8 + i % 5));
  std::vector<Completion> got(reqs.size());
  std::vector<std::string> streamed(reqs.size());
  std::vector<std::thread> clients;
  for (size_t t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      for (size_t i = t; i < reqs.size(); i += 4) got[i] = Run(scheduler, reqs[i], &streamed[i]);
    });
  for (auto& c : clients) c.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_TRUE(got[i].status.ok()) << got[i].status;
    EXPECT_EQ(got[i].tokens, Solo(reqs[i]));
    EXPECT_EQ(got[i].text, model_->tokenizer().Decode(got[i].tokens));
    EXPECT_EQ(streamed[i], got[i].text) << "the streamed pieces add up to the text";
    EXPECT_EQ(got[i].finish, std::ssize(got[i].tokens) == reqs[i].generation.max_new_tokens ? FinishReason::kLength
                                                                                            : FinishReason::kStop);
    EXPECT_GT(got[i].stats.ttft_ms, 0);
    EXPECT_EQ(got[i].stats.prompt_tokens, std::ssize(reqs[i].prompt));
  }
  EXPECT_EQ(scheduler.state().kv_held_bytes, 0) << "every sequence's pages are back";
}

TEST_F(SchedulerTest, StopStringsCutTheTextWhereTheyBegin) {
  Scheduler scheduler(*engine_);
  const Request base = Greedy("Once upon a time", "off", 40);
  const std::string full = model_->tokenizer().Decode(Solo(base));
  ASSERT_GT(full.size(), 40u);
  // A stop string that first occurs in the middle of the text, spanning tokens.
  const std::string stop = full.substr(full.size() / 2, 5);
  const size_t at = full.find(stop);
  Request r = base;
  r.stop = {"never in this text", stop};
  std::string streamed;
  const Completion c = Run(scheduler, r, &streamed);
  ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(c.finish, FinishReason::kStop);
  EXPECT_EQ(c.text, full.substr(0, at));
  EXPECT_EQ(streamed, c.text) << "nothing of the stop string was streamed";
  EXPECT_LT(c.tokens.size(), 40u);
  // A stop string that never occurs: the whole text, finish length.
  r.stop = {"zzzz"};
  streamed.clear();
  const Completion all = Run(scheduler, r, &streamed);
  EXPECT_EQ(all.text, full);
  EXPECT_EQ(streamed, full);
  EXPECT_EQ(all.finish, FinishReason::kLength);
}

TEST_F(SchedulerTest, CancelEndsARunningRequestAndReturnsItsPages) {
  Scheduler scheduler(*engine_, {.max_batch = 2});
  Request r = Greedy("Once upon a time", "off", 400);
  r.generation.stop_at_eos = false;
  std::promise<void> first;
  std::atomic<int> tokens{0};
  r.on_token = [&](const TokenEvent&) {
    if (tokens++ == 0) first.set_value();
  };
  std::promise<Completion> done;
  r.on_done = [&](const Completion& c) { done.set_value(c); };
  auto id = scheduler.Submit(std::move(r));
  ASSERT_TRUE(id.ok());
  first.get_future().wait();
  EXPECT_TRUE(scheduler.Cancel(*id));
  const Completion c = done.get_future().get();
  EXPECT_EQ(c.finish, FinishReason::kCancelled);
  EXPECT_EQ(c.status.code(), StatusCode::kCancelled);
  EXPECT_LT(c.tokens.size(), 400u);
  scheduler.WaitIdle();
  EXPECT_EQ(scheduler.state().kv_held_bytes, 0);
  EXPECT_FALSE(scheduler.Cancel(*id)) << "it has ended";
  // The scheduler goes on serving.
  const Request next = Greedy("One day, a cat", "off", 6);
  EXPECT_EQ(Run(scheduler, next).tokens, Solo(next));
}

TEST_F(SchedulerTest, TimeoutEndsWithWhatWasGenerated) {
  Scheduler scheduler(*engine_);
  Request r = Greedy("Once upon a time", "off", 100000);
  r.sequence.max_context = 100000;
  r.generation.stop_at_eos = false;
  r.timeout_s = 0.2;
  const Completion c = Run(scheduler, r);
  EXPECT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(c.finish, FinishReason::kTimeout);
  EXPECT_LT(c.tokens.size(), 100000u);
  EXPECT_EQ(c.text, model_->tokenizer().Decode(c.tokens));
}

TEST_F(SchedulerTest, RefusesBadRequestsAndAFullQueue) {
  Scheduler scheduler(*engine_, {.max_batch = 1, .max_queue = 2});
  Request empty = Greedy("x", "off", 4);
  empty.prompt.clear();
  auto bad = scheduler.Submit(empty);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  Request neg = Greedy("x", "off", 4);
  neg.generation.max_new_tokens = -1;
  EXPECT_EQ(scheduler.Submit(neg).status().code(), StatusCode::kInvalidArgument);
  Request empty_stop = Greedy("x", "off", 4);
  empty_stop.stop = {""};
  EXPECT_EQ(scheduler.Submit(empty_stop).status().code(), StatusCode::kInvalidArgument);
  // Three at once into a queue of two: the third is refused, the others run.
  std::vector<Request> three(3, Greedy("Once upon a time", "off", 4));
  const auto ids = scheduler.Submit(three);
  EXPECT_TRUE(ids[0].ok());
  EXPECT_TRUE(ids[1].ok());
  ASSERT_FALSE(ids[2].ok());
  EXPECT_EQ(ids[2].status().code(), StatusCode::kResourceExhausted);
  scheduler.WaitIdle();
  EXPECT_EQ(scheduler.state().queued + scheduler.state().running, 0);
}

TEST_F(SchedulerTest, ShutdownLetsRunningRequestsFinish) {
  auto scheduler = std::make_unique<Scheduler>(*engine_, SchedulerOptions{.max_batch = 2});
  std::mutex mu;
  std::vector<Completion> done;
  std::vector<Request> reqs;
  for (int i = 0; i < 4; ++i) {
    Request r = Greedy(kPrompts[i], "paper", 10);
    r.on_done = [&](const Completion& c) {
      std::lock_guard<std::mutex> lock(mu);
      done.push_back(c);
    };
    reqs.push_back(std::move(r));
  }
  for (const auto& id : scheduler->Submit(reqs)) ASSERT_TRUE(id.ok());
  scheduler->Shutdown(600);
  ASSERT_EQ(done.size(), 4u);
  for (const Completion& c : done) EXPECT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(scheduler->Submit(Greedy("x", "off", 2)).status().code(), StatusCode::kCancelled);
  // With no grace, what runs is cancelled.
  auto quick = std::make_unique<Scheduler>(*engine_);
  Request r = Greedy("Once upon a time", "off", 100000);
  r.sequence.max_context = 100000;
  r.generation.stop_at_eos = false;
  std::promise<Completion> end;
  r.on_done = [&](const Completion& c) { end.set_value(c); };
  ASSERT_TRUE(quick->Submit(std::move(r)).ok());
  quick->Shutdown(0.05);
  EXPECT_EQ(end.get_future().get().finish, FinishReason::kCancelled);
}

// A long prompt admitted beside decoding requests is prefilled in one-layer parts between their
// steps: they keep getting tokens while it prefills, and it gets its solo run's tokens, kept sets
// and revivals.
TEST_F(SchedulerTest, ALongPrefillIsCutByLayersAndOthersKeepDecoding) {
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  auto prompt = model_->tokenizer().Encode(text, true).value();
  prompt.resize(300);
  const int64_t layers = model_->config().num_layers;
  Scheduler scheduler(*engine_, {.max_batch = 8, .step_budget = 300});  // one layer of it per part
  std::atomic<int> decoded{0};
  std::vector<Completion> shorts(3);
  std::vector<std::promise<void>> ended(3);
  std::promise<void> all_started;
  std::vector<Scheduler::Id> ids;
  for (int i = 0; i < 3; ++i) {
    Request r = Greedy(kPrompts[i], "off", 100000);  // until cancelled below
    r.sequence.max_context = 200000;
    r.generation.stop_at_eos = false;
    r.on_token = [&](const TokenEvent&) {
      if (++decoded == 3) all_started.set_value();
    };
    r.on_done = [&, i](const Completion& c) {
      shorts[i] = c;
      ended[i].set_value();
    };
    auto id = scheduler.Submit(std::move(r));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  all_started.get_future().wait();
  Request longer = Greedy("", "paper", 12);
  longer.prompt = prompt;
  std::vector<int> decoded_at_layer;
  longer.generation.on_prefill_layer = [&](int64_t, int64_t) {
    decoded_at_layer.push_back(decoded.load());
    return true;
  };
  const Request solo_request = longer;
  const Completion got = Run(scheduler, longer);
  for (Scheduler::Id id : ids) EXPECT_TRUE(scheduler.Cancel(id)) << "still decoding";
  for (auto& e : ended) e.get_future().wait();
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_EQ(scheduler.state().prefill_parts, layers);
  ASSERT_EQ(std::ssize(decoded_at_layer), layers);
  EXPECT_GT(decoded_at_layer.back(), decoded_at_layer.front()) << "the others decoded while it prefilled";
  // Its solo run.
  auto s = Session::Create(*engine_, {.max_context = 512, .pruning = solo_request.sequence.pruning});
  ASSERT_TRUE(s.ok());
  GenerationOptions g = solo_request.generation;
  g.on_prefill_layer = nullptr;
  auto want = Generate(*s, prompt, g);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(got.tokens, want->tokens);
  EXPECT_EQ(got.stats.pruning.kept_positions, want->stats.pruning.kept_positions);
  EXPECT_EQ(got.stats.pruning.kept_per_layer, want->stats.pruning.kept_per_layer);
  EXPECT_EQ(got.stats.pruning.revived_tokens, want->stats.pruning.revived_tokens);
  EXPECT_LT(got.stats.pruning.prompt_tokens_computed_pct_prefill, 100.0) << "paper pruned it";
  for (const Completion& c : shorts) EXPECT_EQ(c.finish, FinishReason::kCancelled);
}

// Of two prefills cut short, the one with less work left goes first: a short prompt that arrives
// while a long one is prefilled in parts gets its first token before the long one does, and both
// get their solo runs' tokens.
TEST_F(SchedulerTest, AShortPromptOvertakesALongPrefillInParts) {
  const auto text = testing::ReadFile(testing::SourceDir() / "models/stories260K/long_prompt.txt");
  auto prompt = model_->tokenizer().Encode(text, true).value();
  prompt.resize(300);
  Scheduler scheduler(*engine_, {.max_batch = 8, .step_budget = 20});  // both prompts are cut
  std::mutex mu;
  std::vector<std::string> firsts;  // which request got its first token, in order
  auto first_token = [&](const std::string& name) {
    return [&, name, seen = false](const TokenEvent&) mutable {
      if (seen) return;
      seen = true;
      std::lock_guard<std::mutex> lock(mu);
      firsts.push_back(name);
    };
  };
  Request shorter = Greedy(kPrompts[0], "off", 4);
  ASSERT_GT(std::ssize(shorter.prompt) * model_->config().num_layers, 20);
  const Request short_solo = shorter;
  shorter.on_token = first_token("short");
  auto short_done = std::make_shared<std::promise<Completion>>();
  shorter.on_done = [short_done](const Completion& c) { short_done->set_value(c); };
  Request longer = Greedy("", "off", 4);
  longer.prompt = prompt;
  const Request long_solo = longer;
  bool submitted = false;
  longer.generation.on_prefill_layer = [&](int64_t done, int64_t) {
    if (done == 1 && !submitted) {  // after the long prompt's first part
      submitted = true;
      EXPECT_TRUE(scheduler.Submit(std::move(shorter)).ok());
    }
    return true;
  };
  longer.on_token = first_token("long");
  const Completion got_long = Run(scheduler, longer);
  const Completion got_short = short_done->get_future().get();
  ASSERT_TRUE(submitted);
  ASSERT_TRUE(got_long.status.ok() && got_short.status.ok());
  EXPECT_EQ(firsts, (std::vector<std::string>{"short", "long"}));
  EXPECT_EQ(got_short.tokens, Solo(short_solo));
  Request plain = long_solo;
  EXPECT_EQ(got_long.tokens, Solo(plain));
}

}  // namespace
}  // namespace lazyllm
