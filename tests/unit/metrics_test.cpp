// The /metrics exposition: the text format 0.0.4 line by line (HELP and
// TYPE before each family's samples, escaping), every family with the
// figures it is given, and label sets that never hold a channel name.
#include "protocol/metrics.h"

#include <initializer_list>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/counters.h"

namespace notifyd::protocol {
namespace {

struct Family {
  std::string type;
  std::string help;
  std::vector<std::string> samples;  ///< The sample lines, as written.
};

// The family a sample belongs to: a histogram's _bucket, _sum and _count
// samples belong to the histogram's name.
std::string FamilyOf(const std::string& sample_name,
                     const std::map<std::string, Family>& families) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (sample_name.size() > s.size() &&
        sample_name.compare(sample_name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = sample_name.substr(0, sample_name.size() - s.size());
      auto it = families.find(base);
      if (it != families.end() && it->second.type == "histogram") return base;
    }
  }
  return sample_name;
}

// Parses an exposition, failing the test on any line out of the format:
// each family's HELP then TYPE line, then its samples, families not
// interleaved, every sample in a family announced before it.
std::map<std::string, Family> Parse(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+-]+|\+Inf|NaN))");
  std::map<std::string, Family> families;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the last line ends with a line feed";
  std::istringstream in(text);
  std::string line;
  std::string current;       // the family whose samples may come now
  std::string pending_help;  // a HELP waiting for its TYPE
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      EXPECT_TRUE(pending_help.empty()) << line;
      EXPECT_EQ(families.count(m[1]), 0u) << "family announced twice: " << line;
      pending_help = m[1];
      families[m[1]].help = m[2];
      current.clear();
    } else if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(pending_help, m[1]) << "TYPE without its HELP: " << line;
      families[m[1]].type = m[2];
      current = m[1];
      pending_help.clear();
    } else if (std::regex_match(line, m, kSample)) {
      const std::string family = FamilyOf(m[1], families);
      EXPECT_EQ(family, current) << "sample outside its family: " << line;
      families[family].samples.push_back(line);
    } else {
      ADD_FAILURE() << "not in the text format: " << line;
    }
  }
  return families;
}

// The label names used anywhere in `text`.
std::set<std::string> LabelNames(const std::string& text) {
  static const std::regex kLabel(R"([{,]([a-zA-Z_][a-zA-Z0-9_]*)=")");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kLabel);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// Expects each of `lines` as a whole line of `text`.
void ExpectLines(const std::string& text, std::initializer_list<std::string> lines) {
  for (const std::string& line : lines) EXPECT_TRUE(HasLine(text, line)) << line << " in\n" << text;
}

class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest() {
    hub_.connections = 5;
    hub_.channels = 4;
    hub_.connections_total = 11;
    hub_.published_total = 7;
    hub_.delivered_total = 21;
    extra_.echo_connections = 1;
    extra_.sse_streams = 2;
    extra_.version = "1.2.3";
    extra_.history_store = "sqlite";
    extra_.history_file_bytes = 65536;
    extra_.history.channels = 3;
    extra_.history.kept = 9;
    extra_.history.kept_bytes = 900;
    extra_.history.pending = 2;
    extra_.history.store_failures = 1;
    extra_.history.resumes_recovered = 6;
    extra_.history.resumes_not_recovered = 4;
    extra_.history.idempotent_replays = 8;
    extra_.history.commit_durations.Observe(0.003);
    extra_.history.commit_durations.Observe(0.2);
    uint64_t value = 100;
    for (const core::CounterName& name : core::kCounterNames) extra_.counters.*name.value = value++;
    process_.cpu_seconds = 1.5;
    process_.resident_memory_bytes = 12345678;
    process_.virtual_memory_bytes = 98765432;
    process_.open_fds = 17;
    process_.max_fds = 1024;
    process_.start_time_seconds = 1796212765.77;
  }

  std::string Encode() const { return EncodeMetrics(hub_, extra_, process_); }

  core::HubStats hub_;
  StatsExtra extra_;
  ProcessMetrics process_;
};

TEST_F(MetricsTest, EveryLineIsInTheTextFormat) {
  const auto families = Parse(Encode());
  for (const auto& [name, family] : families) {
    EXPECT_FALSE(family.help.empty()) << name;
    EXPECT_FALSE(family.samples.empty()) << name;
  }
}

TEST_F(MetricsTest, EveryFamilyIsThere) {
  const std::map<std::string, std::string> expected = {
      {"notifyd_build_info", "gauge"},
      {"notifyd_connections", "gauge"},
      {"notifyd_subscriber_connections_opened_total", "counter"},
      {"notifyd_channels", "gauge"},
      {"notifyd_publishes_total", "counter"},
      {"notifyd_deliveries_total", "counter"},
      {"notifyd_refusals_total", "counter"},
      {"notifyd_slow_clients_dropped_total", "counter"},
      {"notifyd_resumes_total", "counter"},
      {"notifyd_idempotent_replays_total", "counter"},
      {"notifyd_broker_up", "gauge"},
      {"notifyd_cluster_nodes", "gauge"},
      {"notifyd_cluster_resyncs_total", "counter"},
      {"notifyd_cluster_malformed_entries_total", "counter"},
      {"notifyd_history_store_ok", "gauge"},
      {"notifyd_history_store_failures_total", "counter"},
      {"notifyd_history_channels", "gauge"},
      {"notifyd_history_notifications", "gauge"},
      {"notifyd_history_notifications_bytes", "gauge"},
      {"notifyd_history_pending_notifications", "gauge"},
      {"notifyd_history_file_size_bytes", "gauge"},
      {"notifyd_checkins", "gauge"},
      {"notifyd_history_commit_duration_seconds", "histogram"},
      {"process_cpu_seconds_total", "counter"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_virtual_memory_bytes", "gauge"},
      {"process_open_fds", "gauge"},
      {"process_max_fds", "gauge"},
      {"process_start_time_seconds", "gauge"},
  };
  const auto families = Parse(Encode());
  std::map<std::string, std::string> types;
  for (const auto& [name, family] : families) types[name] = family.type;
  EXPECT_EQ(types, expected);
}

TEST_F(MetricsTest, NamesFollowThePrometheusConventions) {
  for (const auto& [name, family] : Parse(Encode())) {
    EXPECT_TRUE(name.rfind("notifyd_", 0) == 0 || name.rfind("process_", 0) == 0) << name;
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(family.type == "counter", total) << name << ": _total exactly on counters";
  }
}

TEST_F(MetricsTest, LabelsHaveFixedSetsAndNoChannel) {
  const std::string text = Encode();
  EXPECT_EQ(LabelNames(text), (std::set<std::string>{"version", "kind", "reason", "outcome",
                                                     "broker", "store", "state", "le"}));
  EXPECT_EQ(text.find("channel=\""), std::string::npos);
}

TEST_F(MetricsTest, TrafficFigures) {
  // The hub's connections are the /ws sessions and the event streams.
  ExpectLines(Encode(), {
                            R"(notifyd_connections{kind="websocket"} 3)",
                            R"(notifyd_connections{kind="sse"} 2)",
                            R"(notifyd_connections{kind="echo"} 1)",
                            "notifyd_subscriber_connections_opened_total 11",
                            "notifyd_channels 4",
                            "notifyd_publishes_total 7",
                            "notifyd_deliveries_total 21",
                            R"(notifyd_resumes_total{outcome="recovered"} 6)",
                            R"(notifyd_resumes_total{outcome="not_recovered"} 4)",
                            "notifyd_idempotent_replays_total 8",
                            R"(notifyd_build_info{version="1.2.3"} 1)",
                        });
}

TEST_F(MetricsTest, EveryCounterHasItsReasonOrItsFamily) {
  const std::string text = Encode();
  std::set<std::string> reasons;
  for (const core::CounterName& name : core::kCounterNames) {
    const std::string value = std::to_string(extra_.counters.*name.value);
    if (name.reason == nullptr) {
      EXPECT_TRUE(HasLine(text, "notifyd_slow_clients_dropped_total " + value));
      EXPECT_EQ(name.value, &core::Counters::slow_clients_dropped);
      continue;
    }
    EXPECT_TRUE(reasons.insert(name.reason).second) << "reason twice: " << name.reason;
    EXPECT_TRUE(HasLine(
        text, std::string("notifyd_refusals_total{reason=\"") + name.reason + "\"} " + value))
        << name.reason;
  }
  EXPECT_EQ(reasons.size(), std::size(core::kCounterNames) - 1);
}

TEST_F(MetricsTest, HistoryFigures) {
  ExpectLines(Encode(), {
                            R"(notifyd_broker_up{broker="local"} 1)",
                            R"(notifyd_history_store_ok{store="sqlite"} 1)",
                            "notifyd_history_store_failures_total 1",
                            "notifyd_history_channels 3",
                            "notifyd_history_notifications 9",
                            "notifyd_history_notifications_bytes 900",
                            "notifyd_history_pending_notifications 2",
                            "notifyd_history_file_size_bytes 65536",
                        });
  extra_.history_error = "disk full";
  extra_.broker_up = false;
  ExpectLines(Encode(), {
                            R"(notifyd_history_store_ok{store="sqlite"} 0)",
                            R"(notifyd_broker_up{broker="local"} 0)",
                        });
}

TEST_F(MetricsTest, TheHistogramHasCumulativeBucketsSumAndCount) {
  const auto families = Parse(Encode());
  const std::vector<std::string> expected = {
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.0005"} 0)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.001"} 0)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.0025"} 0)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.005"} 1)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.01"} 1)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.025"} 1)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.05"} 1)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.1"} 1)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.25"} 2)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="0.5"} 2)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="1"} 2)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="2.5"} 2)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="5"} 2)",
      R"(notifyd_history_commit_duration_seconds_bucket{le="+Inf"} 2)",
      "notifyd_history_commit_duration_seconds_sum 0.203",
      "notifyd_history_commit_duration_seconds_count 2",
  };
  EXPECT_EQ(families.at("notifyd_history_commit_duration_seconds").samples, expected);
}

TEST_F(MetricsTest, ProcessFigures) {
  // Floats in the shortest text that reads back, %g style, as the Go client writes them.
  ExpectLines(Encode(), {
                            "process_cpu_seconds_total 1.5",
                            "process_resident_memory_bytes 12345678",
                            "process_virtual_memory_bytes 98765432",
                            "process_open_fds 17",
                            "process_max_fds 1024",
                            "process_start_time_seconds 1.79621276577e+09",
                        });
}

TEST_F(MetricsTest, WithoutProcessFiguresThereAreNoProcessFamilies) {
  const std::string text = EncodeMetrics(hub_, extra_, std::nullopt);
  Parse(text);
  EXPECT_EQ(text.find("process_"), std::string::npos);
}

TEST_F(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(EscapeLabelValue("line\nnext"), R"(line\nnext)");
  EXPECT_EQ(EscapeLabelValue("plain 1.0 ü"), "plain 1.0 ü");
  extra_.version = "1.0\"x\\y\nz";
  const std::string text = Encode();
  EXPECT_TRUE(HasLine(text, R"(notifyd_build_info{version="1.0\"x\\y\nz"} 1)")) << text;
  Parse(text);
}

}  // namespace
}  // namespace notifyd::protocol
