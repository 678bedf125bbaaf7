// The Redis engine without Redis: fakes of the command and pub/sub
// connections record what the engine sends and let the test answer, in any
// order, and a FakeClock drives the periodic jobs. The Lua scripts themselves
// run against a real redis-server in tests/integration/test_redis_scripts.py.
#include "cluster/redis_engine.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "cluster/redis_scripts.h"
#include "core/history.h"
#include "support/fakes.h"
#include "support/redis_replies.h"

namespace notifyd::cluster {
namespace {

using core::EngineAck;
using core::EngineSnapshot;
using testing_support::FakeClock;
using namespace testing_support::redis_replies;  // NOLINT: Int, Str, Error, Array

// --- replies ------------------------------------------------------------------------

/// read.lua's answer; entries are seqs with payload "p<seq>".
RedisReply ReadReply(const std::string& epoch, long long top, long long first_kept,
                     std::vector<long long> seqs) {
  std::vector<RedisReply> flat;
  for (long long seq : seqs) {
    flat.push_back(Int(seq));
    flat.push_back(Str("p" + std::to_string(seq)));
  }
  return Array({Str(epoch), Int(top), Int(first_kept), Array(std::move(flat))});
}

std::string Message(uint64_t seq, const std::string& epoch) {
  return std::to_string(seq) + ":" + epoch + ":p" + std::to_string(seq);
}

// --- fakes --------------------------------------------------------------------------------

/// One command or script the engine sent, with its callback.
struct Call {
  std::string name;  ///< The script's name, or the command (argv[0]).
  std::vector<std::string> argv;
  std::vector<std::string> keys;
  std::vector<std::string> args;
  CommandDone done;
};

std::string ScriptName(const RedisScript& script) {
  if (&script == &scripts::Publish()) return "publish";
  if (&script == &scripts::Read()) return "read";
  if (&script == &scripts::RecordDelivered()) return "delivered";
  if (&script == &scripts::Tops()) return "tops";
  if (&script == &scripts::Heartbeat()) return "heartbeat";
  return "?";
}

class FakeCommands final : public RedisCommands {
 public:
  bool up() const override { return true; }
  void Command(std::vector<std::string> argv, CommandDone done) override {
    calls.push_back(Call{argv.at(0), std::move(argv), {}, {}, std::move(done)});
  }
  void Eval(const RedisScript& script, std::vector<std::string> keys, std::vector<std::string> args,
            CommandDone done) override {
    calls.push_back(
        Call{ScriptName(script), {}, std::move(keys), std::move(args), std::move(done)});
  }

  size_t Count(const std::string& name) const {
    size_t n = 0;
    for (const Call& call : calls) n += call.name == name;
    return n;
  }
  /// Removes and returns the oldest call named `name` (the test fails without one).
  Call Take(const std::string& name) {
    for (auto it = calls.begin(); it != calls.end(); ++it) {
      if (it->name != name) continue;
      Call call = std::move(*it);
      calls.erase(it);
      return call;
    }
    ADD_FAILURE() << "no " << name << " call";
    return Call{name, {}, {}, {}, [](RedisFailure, const RedisReply&) {}};
  }
  /// Answers the oldest call named `name` with `reply`.
  void Answer(const std::string& name, const RedisReply& reply) {
    Take(name).done(RedisFailure::kNone, reply);
  }

  std::vector<Call> calls;
};

class FakePubSub final : public RedisPubSub {
 public:
  bool up() const override { return true; }
  void Subscribe(const std::vector<std::string>& channels) override {
    subscribed.insert(subscribed.end(), channels.begin(), channels.end());
  }
  void Unsubscribe(const std::vector<std::string>& channels) override {
    unsubscribed.insert(unsubscribed.end(), channels.begin(), channels.end());
  }
  void Reset(std::string why) override { resets.push_back(std::move(why)); }

  std::vector<std::string> subscribed;
  std::vector<std::string> unsubscribed;
  std::vector<std::string> resets;
};

/// Writes down what the engine reports, one line per event.
class RecordingEvents final : public core::EngineEvents {
 public:
  void OnSynced(const std::string& channel, EngineSnapshot snapshot) override {
    std::string line = "synced " + channel + " " + snapshot.epoch + " top " +
                       std::to_string(snapshot.top) + " first " +
                       std::to_string(snapshot.first_kept) + " [";
    for (const core::EngineEntry& entry : snapshot.entries) {
      line += (line.back() == '[' ? "" : " ") + std::to_string(entry.seq) + "=" + entry.payload;
    }
    log.push_back(line + "]");
  }
  void OnEntry(const std::string& channel, uint64_t seq, const std::string& payload) override {
    log.push_back("entry " + channel + " " + std::to_string(seq) + "=" + payload);
  }
  void OnEngineState(bool up, const std::string& why) override {
    log.push_back(std::string(up ? "up" : "down") + (why.empty() ? "" : " " + why));
  }

  /// The events since the last call.
  std::vector<std::string> Take() { return std::exchange(log, {}); }

  std::vector<std::string> log;
};

// --- the fixture ------------------------------------------------------------------------------

constexpr char kEpoch[] = "EpochOne0001";
constexpr char kOtherEpoch[] = "EpochTwo0002";

class RedisEngineTest : public ::testing::Test {
 protected:
  static RedisEngineOptions Options() {
    RedisEngineOptions options;
    options.prefix = "t";
    options.node_id = "node1";
    options.history_size = 3;
    options.read_page = 2;
    options.max_held = 5;
    return options;
  }

  RedisEngineTest() : ids_(7), engine_(Options(), commands_, pubsub_, clock_, ids_) {
    engine_.SetEvents(&events_);
  }

  /// Both connections up, the probe channel subscribed, the heartbeat answered.
  void Connect() {
    engine_.OnCommandsUp();
    engine_.OnPubSubUp();
    engine_.OnPubSubSubscribed("t:node:node1");
    commands_.Answer("heartbeat", Array({Int(1)}));
    events_.Take();
    pubsub_.subscribed.clear();
  }

  /// Attaches `channel`, acknowledges its SUBSCRIBE and answers the snapshot
  /// read with top 5 and entries 3..5 of kEpoch.
  void AttachSynced(const std::string& channel = "news") {
    engine_.Attach(channel, "Candidate001");
    engine_.OnPubSubSubscribed("t:{" + channel + "}:p");
    commands_.Answer("read", ReadReply(kEpoch, 5, 3, {3, 4, 5}));
    events_.Take();
  }

  void Deliver(const std::string& channel, const std::string& message) {
    engine_.OnPubSubMessage("t:{" + channel + "}:p", message);
  }

  FakeClock clock_;
  core::IdSource ids_;
  FakeCommands commands_;
  FakePubSub pubsub_;
  RecordingEvents events_;
  RedisEngine engine_;
};

using Lines = std::vector<std::string>;

// --- attach and the first snapshot ---------------------------------------------------------

TEST_F(RedisEngineTest, AttachSubscribesAndReadsTheSnapshotOnlyAfterTheAcknowledgement) {
  Connect();
  engine_.Attach("news", "Candidate001");
  EXPECT_EQ(pubsub_.subscribed, Lines{"t:{news}:p"});
  EXPECT_EQ(commands_.Count("read"), 0u);

  engine_.OnPubSubSubscribed("t:{news}:p");
  Call read = commands_.Take("read");
  EXPECT_EQ(read.keys, (Lines{"t:{news}:m", "t:{news}:x"}));
  EXPECT_EQ(read.args, (Lines{"Candidate001", "0", "3", "tail", "2592000000"}));
  read.done(RedisFailure::kNone, ReadReply(kEpoch, 5, 3, {3, 4, 5}));
  EXPECT_EQ(events_.Take(), Lines{"synced news EpochOne0001 top 5 first 3 [3=p3 4=p4 5=p5]"});

  Deliver("news", Message(6, kEpoch));
  EXPECT_EQ(events_.Take(), Lines{"entry news 6=p6"});
  EXPECT_EQ(engine_.stats().attached_channels, 1u);
  EXPECT_EQ(engine_.stats().resyncs, 0u);
}

TEST_F(RedisEngineTest, RepeatedAttachIsHarmless) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.Attach("news", "Candidate002");
  EXPECT_EQ(pubsub_.subscribed, Lines{"t:{news}:p"});
}

TEST_F(RedisEngineTest, AttachWhilePubSubIsDownSubscribesWhenItComesUp) {
  engine_.OnCommandsUp();
  engine_.Attach("news", "Candidate001");
  EXPECT_TRUE(pubsub_.subscribed.empty());
  engine_.OnPubSubUp();
  EXPECT_EQ(pubsub_.subscribed, (Lines{"t:node:node1", "t:{news}:p"}));
  engine_.OnPubSubSubscribed("t:{news}:p");
  EXPECT_EQ(commands_.Take("read").args.at(0), "Candidate001");
}

TEST_F(RedisEngineTest, AttachWhileCommandsAreDownReadsWhenTheyComeBack) {
  engine_.OnPubSubUp();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  EXPECT_EQ(commands_.Count("read"), 0u);  // Nothing sent into a connection that is down.
  engine_.OnCommandsUp();
  commands_.Answer("read", ReadReply(kEpoch, 0, 0, {}));
  EXPECT_EQ(events_.Take().back(), "synced news EpochOne0001 top 0 first 0 []");
}

TEST_F(RedisEngineTest, MessagesBeforeTheSnapshotAreHeldAndMergedWithoutDuplicates) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  // Published around the read: 4 and 5 are in the snapshot, 6 and 7 after it.
  for (uint64_t seq : {4, 5, 7, 6}) Deliver("news", Message(seq, kEpoch));
  EXPECT_TRUE(events_.Take().empty());
  commands_.Answer("read", ReadReply(kEpoch, 5, 3, {3, 4, 5}));
  EXPECT_EQ(events_.Take(), (Lines{"synced news EpochOne0001 top 5 first 3 [3=p3 4=p4 5=p5]",
                                   "entry news 6=p6", "entry news 7=p7"}));
}

TEST_F(RedisEngineTest, TheFirstSnapshotUsesAttachsCandidateAndLaterReadsFreshOnes) {
  Connect();
  AttachSynced();
  Deliver("news", Message(1, kOtherEpoch));  // Another epoch: a new snapshot.
  const std::string candidate = commands_.Take("read").args.at(0);
  EXPECT_NE(candidate, "Candidate001");
  EXPECT_TRUE(core::IsValidEpoch(candidate));
}

// --- the live path ----------------------------------------------------------------------------

TEST_F(RedisEngineTest, DuplicatesAndOldMessagesAreDropped) {
  Connect();
  AttachSynced();
  for (uint64_t seq : {5, 6, 6, 4, 7, 7}) Deliver("news", Message(seq, kEpoch));
  EXPECT_EQ(events_.Take(), (Lines{"entry news 6=p6", "entry news 7=p7"}));
  EXPECT_EQ(commands_.Count("read"), 0u);
}

TEST_F(RedisEngineTest, AHoleIsRepairedFromTheStreamAndEverythingDeliveredInOrder) {
  Connect();
  AttachSynced();
  Deliver("news", Message(8, kEpoch));
  Call read = commands_.Take("read");
  EXPECT_EQ(read.args.at(1), "5");
  EXPECT_EQ(read.args.at(2), "2");  // read_page
  EXPECT_EQ(read.args.at(3), "after");
  Deliver("news", Message(9, kEpoch));
  EXPECT_TRUE(events_.Take().empty());

  // One page (6, 7), which the held 8 and 9 continue.
  read.done(RedisFailure::kNone, ReadReply(kEpoch, 9, 7, {6, 7}));
  EXPECT_EQ(events_.Take(),
            (Lines{"entry news 6=p6", "entry news 7=p7", "entry news 8=p8", "entry news 9=p9"}));
  EXPECT_EQ(commands_.Count("read"), 0u);
  EXPECT_EQ(engine_.stats().repairs, 1u);
  EXPECT_EQ(engine_.stats().resyncs, 0u);

  Deliver("news", Message(10, kEpoch));
  EXPECT_EQ(events_.Take(), Lines{"entry news 10=p10"});
}

TEST_F(RedisEngineTest, ALongHoleIsReadPageByPage) {
  Connect();
  AttachSynced();
  Deliver("news", Message(10, kEpoch));
  commands_.Answer("read", ReadReply(kEpoch, 10, 6, {6, 7}));
  EXPECT_EQ(events_.Take(), (Lines{"entry news 6=p6", "entry news 7=p7"}));
  Call next = commands_.Take("read");
  EXPECT_EQ(next.args.at(1), "7");
  next.done(RedisFailure::kNone, ReadReply(kEpoch, 10, 6, {8, 9}));
  EXPECT_EQ(events_.Take(), (Lines{"entry news 8=p8", "entry news 9=p9", "entry news 10=p10"}));
  EXPECT_EQ(commands_.Count("read"), 0u);
  EXPECT_EQ(engine_.stats().repairs, 2u);
}

TEST_F(RedisEngineTest, AHoleNoLongerInTheStreamGivesANewSnapshot) {
  Connect();
  AttachSynced();
  Deliver("news", Message(9, kEpoch));
  // 6 was trimmed: the stream keeps 7..9.
  commands_.Answer("read", ReadReply(kEpoch, 9, 7, {7, 8}));
  EXPECT_TRUE(events_.Take().empty());
  Call snapshot = commands_.Take("read");
  EXPECT_EQ(snapshot.args.at(3), "tail");
  snapshot.done(RedisFailure::kNone, ReadReply(kEpoch, 9, 7, {7, 8, 9}));
  EXPECT_EQ(events_.Take(), Lines{"synced news EpochOne0001 top 9 first 7 [7=p7 8=p8 9=p9]"});
  EXPECT_EQ(engine_.stats().resyncs, 1u);
  Deliver("news", Message(9, kEpoch));  // Held before the snapshot; now a duplicate.
  Deliver("news", Message(10, kEpoch));
  EXPECT_EQ(events_.Take(), Lines{"entry news 10=p10"});
}

TEST_F(RedisEngineTest, AnExpiredStreamGivesANewSnapshot) {
  Connect();
  AttachSynced();
  Deliver("news", Message(7, kEpoch));
  commands_.Answer("read", ReadReply(kEpoch, 7, 0, {}));  // Nothing kept after 5.
  EXPECT_EQ(commands_.Take("read").args.at(3), "tail");
}

TEST_F(RedisEngineTest, AnotherEpochGivesANewSnapshot) {
  Connect();
  AttachSynced();
  Deliver("news", Message(1, kOtherEpoch));
  EXPECT_TRUE(events_.Take().empty());
  Deliver("news", Message(2, kOtherEpoch));  // Published after the read was sent: held.
  commands_.Answer("read", ReadReply(kOtherEpoch, 1, 1, {1}));
  EXPECT_EQ(events_.Take(),
            (Lines{"synced news EpochTwo0002 top 1 first 1 [1=p1]", "entry news 2=p2"}));
  EXPECT_EQ(engine_.stats().resyncs, 1u);
}

TEST_F(RedisEngineTest, ARepairThatFindsAnotherEpochGivesANewSnapshot) {
  Connect();
  AttachSynced();
  Deliver("news", Message(8, kEpoch));
  commands_.Answer("read", ReadReply(kOtherEpoch, 0, 0, {}));
  Call snapshot = commands_.Take("read");
  EXPECT_EQ(snapshot.args.at(3), "tail");
  snapshot.done(RedisFailure::kNone, ReadReply(kOtherEpoch, 0, 0, {}));
  EXPECT_EQ(events_.Take(), Lines{"synced news EpochTwo0002 top 0 first 0 []"});
}

TEST_F(RedisEngineTest, HoldingTooMuchDropsItAndTakesANewSnapshot) {
  Connect();
  AttachSynced();
  Deliver("news", Message(7, kEpoch));  // A hole: a catch-up read is out...
  for (uint64_t seq = 8; seq <= 12; ++seq) Deliver("news", Message(seq, kEpoch));  // ...and 6 held.
  commands_.Answer("read", ReadReply(kEpoch, 12, 10, {10, 11}));  // Voided: ignored.
  EXPECT_TRUE(events_.Take().empty());
  Call snapshot = commands_.Take("read");
  EXPECT_EQ(snapshot.args.at(3), "tail");
  EXPECT_EQ(commands_.Count("read"), 0u);
  snapshot.done(RedisFailure::kNone, ReadReply(kEpoch, 12, 10, {10, 11, 12}));
  EXPECT_EQ(events_.Take(),
            Lines{"synced news EpochOne0001 top 12 first 10 [10=p10 11=p11 12=p12]"});
}

TEST_F(RedisEngineTest, ASnapshotKeepsOnlyTheRunThatEndsAtItsTop) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  commands_.Answer("read", ReadReply(kEpoch, 9, 3, {3, 4, 8, 9}));
  EXPECT_EQ(events_.Take(), Lines{"synced news EpochOne0001 top 9 first 8 [8=p8 9=p9]"});
}

// --- pub/sub lost and back ------------------------------------------------------------------

TEST_F(RedisEngineTest, APubSubReconnectResubscribesAndCatchesUpWithoutAGap) {
  Connect();
  AttachSynced();
  pubsub_.subscribed.clear();
  engine_.OnPubSubDown("connection reset by peer");
  EXPECT_EQ(events_.Take(), Lines{"down Redis pub/sub connection: connection reset by peer"});
  EXPECT_TRUE(engine_.up());  // Publishes still go.

  engine_.OnPubSubUp();
  EXPECT_EQ(events_.Take(), Lines{"up"});
  EXPECT_EQ(pubsub_.subscribed, (Lines{"t:node:node1", "t:{news}:p"}));
  EXPECT_EQ(commands_.Count("read"), 0u);
  engine_.OnPubSubSubscribed("t:{news}:p");
  Call read = commands_.Take("read");
  EXPECT_EQ(read.args.at(1), "5");
  EXPECT_EQ(read.args.at(3), "after");
  Deliver("news", Message(8, kEpoch));
  read.done(RedisFailure::kNone, ReadReply(kEpoch, 7, 5, {6, 7}));
  EXPECT_EQ(events_.Take(), (Lines{"entry news 6=p6", "entry news 7=p7", "entry news 8=p8"}));
  EXPECT_EQ(engine_.stats().pubsub_reconnects, 1u);
  EXPECT_EQ(engine_.stats().resyncs, 0u);
}

TEST_F(RedisEngineTest, ACatchUpWithNothingHeldReadsOnToTheTop) {
  Connect();
  AttachSynced();
  engine_.OnPubSubDown("EOF");
  engine_.OnPubSubUp();
  engine_.OnPubSubSubscribed("t:{news}:p");
  commands_.Answer("read", ReadReply(kEpoch, 9, 7, {6, 7}));
  commands_.Answer("read", ReadReply(kEpoch, 9, 7, {8, 9}));
  EXPECT_EQ(commands_.Count("read"), 0u);
  EXPECT_EQ(events_.Take(), (Lines{"down Redis pub/sub connection: EOF", "up", "entry news 6=p6",
                                   "entry news 7=p7", "entry news 8=p8", "entry news 9=p9"}));
}

TEST_F(RedisEngineTest, APubSubReconnectAfterRedisLostItsDataGivesANewSnapshot) {
  Connect();
  AttachSynced();
  engine_.OnPubSubDown("EOF");
  engine_.OnPubSubUp();
  engine_.OnPubSubSubscribed("t:{news}:p");
  commands_.Answer("read", ReadReply(kOtherEpoch, 0, 0, {}));
  commands_.Answer("read", ReadReply(kOtherEpoch, 0, 0, {}));
  EXPECT_EQ(events_.Take().back(), "synced news EpochTwo0002 top 0 first 0 []");
}

TEST_F(RedisEngineTest, APubSubDropDuringTheSnapshotReadIsFollowedByACatchUp) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  Call snapshot = commands_.Take("read");
  engine_.OnPubSubDown("EOF");
  engine_.OnPubSubUp();
  engine_.OnPubSubSubscribed("t:{news}:p");
  EXPECT_EQ(commands_.Count("read"), 0u);  // One read at a time.
  events_.Take();
  snapshot.done(RedisFailure::kNone, ReadReply(kEpoch, 5, 3, {3, 4, 5}));
  Call catch_up = commands_.Take("read");
  EXPECT_EQ(catch_up.args.at(3), "after");
  catch_up.done(RedisFailure::kNone, ReadReply(kEpoch, 6, 4, {6}));
  EXPECT_EQ(events_.Take(),
            (Lines{"synced news EpochOne0001 top 5 first 3 [3=p3 4=p4 5=p5]", "entry news 6=p6"}));
}

TEST_F(RedisEngineTest, OnlyTheLastOfSeveralSubscribesIsTakenAsTheSubscription) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.Detach("news");
  engine_.Attach("news", "Candidate002");
  EXPECT_EQ(pubsub_.unsubscribed, Lines{"t:{news}:p"});
  engine_.OnPubSubSubscribed("t:{news}:p");  // The first SUBSCRIBE's: UNSUBSCRIBE follows.
  EXPECT_EQ(commands_.Count("read"), 0u);
  engine_.OnPubSubSubscribed("t:{news}:p");
  EXPECT_EQ(commands_.Take("read").args.at(0), "Candidate002");
}

// --- detach ----------------------------------------------------------------------------------

TEST_F(RedisEngineTest, DetachUnsubscribesAndForgetsTheChannel) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  engine_.Detach("news");
  EXPECT_EQ(pubsub_.unsubscribed, Lines{"t:{news}:p"});
  commands_.Answer("read", ReadReply(kEpoch, 5, 3, {3, 4, 5}));  // Too late: ignored.
  Deliver("news", Message(6, kEpoch));
  EXPECT_TRUE(events_.Take().empty());
  EXPECT_EQ(engine_.stats().attached_channels, 0u);
}

TEST_F(RedisEngineTest, AReadForAnEarlierAttachIsIgnored) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  Call old = commands_.Take("read");
  engine_.Detach("news");
  engine_.Attach("news", "Candidate002");
  engine_.OnPubSubSubscribed("t:{news}:p");
  old.done(RedisFailure::kNone, ReadReply(kEpoch, 5, 3, {3, 4, 5}));
  EXPECT_TRUE(events_.Take().empty());
  commands_.Answer("read", ReadReply(kEpoch, 6, 4, {4, 5, 6}));
  EXPECT_EQ(events_.Take(), Lines{"synced news EpochOne0001 top 6 first 4 [4=p4 5=p5 6=p6]"});
}

// --- liveness -------------------------------------------------------------------------------

TEST_F(RedisEngineTest, AProbeThatDoesNotComeBackResetsThePubSubConnection) {
  Connect();
  engine_.Tick();
  Call probe = commands_.Take("PUBLISH");
  EXPECT_EQ(probe.argv, (Lines{"PUBLISH", "t:node:node1", "1"}));
  probe.done(RedisFailure::kNone, Int(1));
  for (int i = 0; i < 5; ++i) {  // 5 s: newer probes, none back, not yet judged.
    clock_.Advance(1000);
    engine_.Tick();
  }
  EXPECT_TRUE(pubsub_.resets.empty());
  clock_.Advance(1000);
  engine_.Tick();
  EXPECT_EQ(pubsub_.resets, Lines{"no liveness probe came back in 6 s"});
  EXPECT_EQ(engine_.stats().probes_failed, 1u);
}

TEST_F(RedisEngineTest, ProbesThatComeBackKeepThePubSubConnection) {
  Connect();
  for (int i = 0; i < 20; ++i) {
    engine_.Tick();
    while (commands_.Count("PUBLISH") > 0) {
      Call probe = commands_.Take("PUBLISH");
      probe.done(RedisFailure::kNone, Int(1));
      engine_.OnPubSubMessage("t:node:node1", probe.argv.at(2));
    }
    clock_.Advance(1000);
  }
  EXPECT_TRUE(pubsub_.resets.empty());
}

TEST_F(RedisEngineTest, AProbeBackBeforeRedisAnswersThePublishCounts) {
  Connect();
  engine_.Tick();
  Call probe = commands_.Take("PUBLISH");
  engine_.OnPubSubMessage("t:node:node1", "1");
  probe.done(RedisFailure::kNone, Int(1));
  clock_.Advance(7000);
  engine_.Tick();
  EXPECT_TRUE(pubsub_.resets.empty());
}

TEST_F(RedisEngineTest, AProbeTheCommandConnectionFailedToSendIsNotHeldAgainstPubSub) {
  Connect();
  engine_.Tick();
  commands_.Take("PUBLISH").done(RedisFailure::kTimeout, RedisReply());
  clock_.Advance(7000);
  engine_.Tick();
  EXPECT_TRUE(pubsub_.resets.empty());
}

TEST_F(RedisEngineTest, NoProbeBeforeTheProbeChannelIsSubscribed) {
  engine_.OnCommandsUp();
  engine_.OnPubSubUp();
  engine_.Tick();
  EXPECT_EQ(commands_.Count("PUBLISH"), 0u);
  engine_.OnPubSubSubscribed("t:node:node1");
  engine_.Tick();
  EXPECT_EQ(commands_.Count("PUBLISH"), 1u);
}

TEST_F(RedisEngineTest, TheTopCheckRepairsAChannelThatStaysBehind) {
  Connect();
  AttachSynced();
  clock_.Advance(10000);
  engine_.Tick();
  Call tops = commands_.Take("tops");
  EXPECT_EQ(tops.keys, Lines{"t:{news}:m"});
  tops.done(RedisFailure::kNone, Array({Str(kEpoch), Int(6)}));
  EXPECT_EQ(commands_.Count("read"), 0u);  // 6 may be on its way.

  clock_.Advance(10000);
  engine_.Tick();
  commands_.Answer("tops", Array({Str(kEpoch), Int(6)}));
  Call read = commands_.Take("read");
  EXPECT_EQ(read.args.at(1), "5");
  read.done(RedisFailure::kNone, ReadReply(kEpoch, 6, 4, {6}));
  EXPECT_EQ(events_.Take(), Lines{"entry news 6=p6"});
}

TEST_F(RedisEngineTest, TheTopCheckLeavesAChannelThatCaughtUpAlone) {
  Connect();
  AttachSynced();
  clock_.Advance(10000);
  engine_.Tick();
  commands_.Answer("tops", Array({Str(kEpoch), Int(6)}));
  Deliver("news", Message(6, kEpoch));
  clock_.Advance(10000);
  engine_.Tick();
  commands_.Answer("tops", Array({Str(kEpoch), Int(6)}));
  EXPECT_EQ(commands_.Count("read"), 0u);
}

TEST_F(RedisEngineTest, TheTopCheckFindingTheSeqGoneBackTakesANewSnapshot) {
  Connect();
  AttachSynced();
  clock_.Advance(10000);
  engine_.Tick();
  commands_.Answer("tops", Array({Str(kEpoch), Int(1)}));  // Same epoch, top 1 < 5.
  EXPECT_EQ(commands_.Take("read").args.at(3), "tail");
}

TEST_F(RedisEngineTest, TheTopCheckIsNotFooledByMessagesThatOvertakeItsAnswer) {
  Connect();
  AttachSynced();
  clock_.Advance(10000);
  engine_.Tick();
  Call tops = commands_.Take("tops");
  // Published after the script ran, delivered before its answer.
  Deliver("news", Message(6, kEpoch));
  Deliver("news", Message(7, kEpoch));
  tops.done(RedisFailure::kNone, Array({Str(kEpoch), Int(5)}));
  EXPECT_EQ(commands_.Count("read"), 0u);
  EXPECT_EQ(events_.Take(), (Lines{"entry news 6=p6", "entry news 7=p7"}));
  EXPECT_EQ(engine_.stats().resyncs, 0u);
}

TEST_F(RedisEngineTest, TheTopCheckFindingTheMetaGoneTakesANewSnapshot) {
  Connect();
  AttachSynced();
  clock_.Advance(10000);
  engine_.Tick();
  commands_.Answer("tops", Array({Str(""), Int(0)}));
  EXPECT_EQ(commands_.Take("read").args.at(3), "tail");
}

// --- commands -------------------------------------------------------------------------------

TEST_F(RedisEngineTest, APublishSendsOneScriptAndReportsItsAck) {
  Connect();
  std::optional<EngineAck> ack;
  engine_.Publish("news", "Candidate001", "payload", "key-1", 300000,
                  [&](const EngineAck& a) { ack = a; });
  Call call = commands_.Take("publish");
  EXPECT_EQ(call.keys, (Lines{"t:{news}:m", "t:{news}:x", "t:{news}:i:key-1"}));
  EXPECT_EQ(call.args, (Lines{"Candidate001", "payload", "3", "86400000", "2592000000",
                              "t:{news}:p", "300000"}));
  EXPECT_FALSE(ack);  // Never from inside the call.
  call.done(RedisFailure::kNone, Array({Int(7), Str(kEpoch), Int(0), Int(0), Int(2)}));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->ok);
  EXPECT_EQ(ack->seq, 7u);
  EXPECT_EQ(ack->epoch, kEpoch);
  EXPECT_FALSE(ack->replayed);
  EXPECT_EQ(ack->nodes, 2u);
}

TEST_F(RedisEngineTest, OwnPublishIsDeliveredOnItsAckWhenNextAndItsEchoIsADuplicate) {
  Connect();
  AttachSynced();  // top 5
  std::vector<std::string> order;
  engine_.Publish("news", "Candidate001", "p6", "", 0, [&](const EngineAck& a) {
    order.push_back("ack " + std::to_string(a.seq));
  });
  commands_.Answer("publish", Array({Int(6), Str(kEpoch), Int(0), Int(0), Int(1)}));
  EXPECT_EQ(events_.Take(), Lines{"entry news 6=p6"});  // before its ack is reported
  EXPECT_EQ(order, Lines{"ack 6"});
  Deliver("news", Message(6, kEpoch));  // the echo
  EXPECT_TRUE(events_.Take().empty());

  // Not next (another node's 7 has not come yet): it waits for pub/sub.
  engine_.Publish("news", "Candidate001", "p8", "", 0, [](const EngineAck&) {});
  commands_.Answer("publish", Array({Int(8), Str(kEpoch), Int(0), Int(0), Int(1)}));
  EXPECT_TRUE(events_.Take().empty());
  EXPECT_EQ(commands_.Count("read"), 0u);
  Deliver("news", Message(7, kEpoch));
  Deliver("news", Message(8, kEpoch));
  EXPECT_EQ(events_.Take(), (Lines{"entry news 7=p7", "entry news 8=p8"}));
}

TEST_F(RedisEngineTest, APublishWithoutAKeyHasNoIdempotencyKey) {
  Connect();
  engine_.Publish("news", "Candidate001", "payload", "", 300000, [](const EngineAck&) {});
  EXPECT_EQ(commands_.Take("publish").keys.size(), 2u);
}

TEST_F(RedisEngineTest, ARepeatedKeyIsAnsweredWithTheFirstAck) {
  Connect();
  std::optional<EngineAck> ack;
  engine_.Publish("news", "Candidate001", "payload", "key-1", 300000,
                  [&](const EngineAck& a) { ack = a; });
  commands_.Answer("publish", Array({Int(7), Str(kEpoch), Int(1), Int(12), Int(0)}));
  ASSERT_TRUE(ack && ack->ok);
  EXPECT_TRUE(ack->replayed);
  EXPECT_EQ(ack->seq, 7u);
  EXPECT_EQ(ack->delivered, 12u);

  engine_.RecordDelivered("news", "key-1", 12);
  Call record = commands_.Take("delivered");
  EXPECT_EQ(record.keys, Lines{"t:{news}:i:key-1"});
  EXPECT_EQ(record.args, Lines{"12"});
}

TEST_F(RedisEngineTest, FailedPublishesAreAnsweredWithWhy) {
  Connect();
  std::vector<std::string> errors;
  auto publish = [&] {
    engine_.Publish("news", "Candidate001", "payload", "", 0,
                    [&](const EngineAck& ack) { errors.push_back(ack.ok ? "ok" : ack.error); });
  };
  publish();
  commands_.Take("publish").done(RedisFailure::kTimeout, RedisReply());
  publish();
  commands_.Take("publish").done(RedisFailure::kDisconnected, RedisReply());
  publish();
  commands_.Answer("publish", Error("OOM command not allowed when used memory > 'maxmemory'."));
  publish();
  commands_.Answer("publish", Array({Int(1)}));
  EXPECT_EQ(errors, (Lines{"Redis did not answer within 1000 ms", "connection to Redis lost",
                           "OOM command not allowed when used memory > 'maxmemory'.",
                           "unexpected reply from Redis to the publish script"}));
  EXPECT_EQ(engine_.stats().publishes_failed, 4u);
}

TEST_F(RedisEngineTest, TheCommandConnectionDecidesUpAndBothDecideTheState) {
  EXPECT_FALSE(engine_.up());
  engine_.OnCommandsUp();
  EXPECT_TRUE(engine_.up());
  EXPECT_EQ(engine_.down_reason(), "");
  engine_.OnPubSubUp();
  engine_.OnCommandsDown("connect: Connection refused");
  EXPECT_FALSE(engine_.up());
  EXPECT_EQ(engine_.down_reason(), "Redis command connection: connect: Connection refused");
  EXPECT_EQ(events_.Take(), (Lines{"down Redis pub/sub connection: not connected yet", "up",
                                   "down Redis command connection: connect: Connection refused"}));
  engine_.OnCommandsDown("connect: Connection refused");  // The same again: not repeated.
  EXPECT_TRUE(events_.Take().empty());
}

TEST_F(RedisEngineTest, AFailedReadIsTriedAgainWhenTheConnectionIsBack) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  commands_.Take("read").done(RedisFailure::kDisconnected, RedisReply());
  engine_.OnCommandsDown("EOF");
  EXPECT_EQ(commands_.Count("read"), 0u);
  engine_.OnCommandsUp();
  commands_.Answer("read", ReadReply(kEpoch, 5, 3, {3, 4, 5}));
  EXPECT_EQ(events_.Take().back(), "synced news EpochOne0001 top 5 first 3 [3=p3 4=p4 5=p5]");
  EXPECT_EQ(engine_.stats().reads_failed, 1u);
}

TEST_F(RedisEngineTest, AReadRedisRefusesIsTriedAgainByTick) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  commands_.Answer("read", Error("OOM command not allowed when used memory > 'maxmemory'."));
  clock_.Advance(1000);
  engine_.Tick();
  EXPECT_EQ(commands_.Count("read"), 1u);
}

TEST_F(RedisEngineTest, ReadPassesSinceAndLimitAndReportsTheStream) {
  Connect();
  std::optional<EngineSnapshot> got;
  engine_.Read("news", "Candidate001", 4, 50,
               [&](bool ok, const EngineSnapshot& snapshot, const std::string&) {
                 if (ok) got = snapshot;
               });
  Call read = commands_.Take("read");
  EXPECT_EQ(read.args, (Lines{"Candidate001", "4", "50", "after", "2592000000"}));
  read.done(RedisFailure::kNone, ReadReply(kEpoch, 6, 3, {5, 6}));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->epoch, kEpoch);
  EXPECT_EQ(got->top, 6u);
  EXPECT_EQ(got->first_kept, 3u);
  ASSERT_EQ(got->entries.size(), 2u);
  EXPECT_EQ(got->entries[1].payload, "p6");

  std::string error;
  engine_.Read("news", "Candidate001", 0, 50,
               [&](bool ok, const EngineSnapshot&, const std::string& e) { error = ok ? "" : e; });
  commands_.Take("read").done(RedisFailure::kTimeout, RedisReply());
  EXPECT_EQ(error, "Redis did not answer within 1000 ms");
}

// --- nodes ------------------------------------------------------------------------------------

TEST_F(RedisEngineTest, TheHeartbeatReportsNodesAndTheirSubscribers) {
  engine_.SetSubscriberCounts([] {
    return std::vector<std::pair<std::string, size_t>>{{"news", 3}, {"idle", 0}};
  });
  EXPECT_EQ(engine_.nodes(), 0u);
  engine_.OnCommandsUp();
  Call beat = commands_.Take("heartbeat");
  EXPECT_EQ(beat.keys, (Lines{"t:nodes", "t:counts:node1"}));
  EXPECT_EQ(beat.args, (Lines{"node1", "10000", "t:counts:", "news", "3"}));
  beat.done(RedisFailure::kNone,
            Array({Int(3), Str("node2"), Array({Str("news"), Str("4"), Str("other"), Str("1")}),
                   Str("node3"), Array({Str("news"), Str("2")})}));
  EXPECT_EQ(engine_.nodes(), 3u);
  EXPECT_EQ(engine_.RemoteSubscribers("news"), 6u);
  EXPECT_EQ(engine_.RemoteSubscribers("other"), 1u);
  EXPECT_EQ(engine_.RemoteSubscribers("idle"), 0u);

  engine_.Tick();  // Not due yet.
  EXPECT_EQ(commands_.Count("heartbeat"), 0u);
  clock_.Advance(2000);
  engine_.Tick();
  commands_.Answer("heartbeat", Array({Int(1)}));
  EXPECT_EQ(engine_.nodes(), 1u);
  EXPECT_EQ(engine_.RemoteSubscribers("news"), 0u);

  engine_.OnCommandsDown("EOF");
  EXPECT_EQ(engine_.nodes(), 0u);  // Unknown.
}

TEST_F(RedisEngineTest, StopLeavesTheNodeListAndSendsNothingMore) {
  Connect();
  engine_.Attach("news", "Candidate001");
  engine_.OnPubSubSubscribed("t:{news}:p");
  Call read = commands_.Take("read");
  bool stopped = false;
  engine_.Stop([&] { stopped = true; });
  EXPECT_EQ(commands_.Take("ZREM").argv, (Lines{"ZREM", "t:nodes", "node1"}));
  Call del = commands_.Take("DEL");
  EXPECT_EQ(del.argv, (Lines{"DEL", "t:counts:node1"}));
  EXPECT_FALSE(stopped);
  del.done(RedisFailure::kNone, Int(1));
  EXPECT_TRUE(stopped);
  // The connections going down fail what was out; nothing is sent again.
  read.done(RedisFailure::kDisconnected, RedisReply());
  clock_.Advance(20000);
  engine_.Tick();
  EXPECT_TRUE(commands_.calls.empty());
}

TEST_F(RedisEngineTest, RepliesAfterTheEngineIsGoneAreIgnored) {
  FakeCommands commands;
  FakePubSub pubsub;
  bool called = false;
  {
    RedisEngine engine(Options(), commands, pubsub, clock_, ids_);
    engine.OnCommandsUp();
    engine.Publish("news", "Candidate001", "p", "", 0, [&](const EngineAck&) { called = true; });
  }
  for (Call& call : commands.calls) call.done(RedisFailure::kDisconnected, RedisReply());
  EXPECT_FALSE(called);
}

TEST_F(RedisEngineTest, ARandomNodeIdWhenNoneIsGiven) {
  RedisEngineOptions options = Options();
  options.node_id.clear();
  RedisEngine engine(options, commands_, pubsub_, clock_, ids_);
  EXPECT_EQ(engine.node_id().size(), 12u);
  EXPECT_EQ(engine.ProbeChannel(), "t:node:" + engine.node_id());
}

}  // namespace
}  // namespace notifyd::cluster
