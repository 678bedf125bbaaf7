#include "protocol/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>

#include "core/counters.h"
#include "core/histogram.h"

namespace notifyd::protocol {

namespace {

std::string Num(uint64_t value) { return std::to_string(value); }

// The shortest text that reads back as `value`, in the style of printf's %g
// (0.0005, 1.79621276577e+09), as the Prometheus Go client writes floats.
std::string Num(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  const std::to_chars_result result =
      std::to_chars(text, text + sizeof text, value, std::chars_format::general);
  return std::string(text, result.ptr);
}

// Backslash and line feed escaped, and double quotes too when `quotes`
// (a label value; a HELP text keeps them as they are).
std::string Escape(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

struct Label {
  std::string_view name;
  std::string_view value;
};

// Writes the exposition one family at a time: Family() for its HELP and
// TYPE lines, then Sample() for each of its samples.
class Exposition {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += Escape(help, /*quotes=*/false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void Sample(std::string_view name, std::initializer_list<Label> labels, std::string_view value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const Label& label : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label.name;
        out_ += "=\"";
        out_ += EscapeLabelValue(label.value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  // A family with one sample and no labels.
  void Single(std::string_view name, std::string_view type, std::string_view help,
              std::string_view value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }

  void Histogram(std::string_view name, std::string_view help,
                 const core::DurationHistogram& histogram) {
    Family(name, "histogram", help);
    const std::string base(name);
    const auto& bounds = core::DurationHistogram::kBoundsSeconds;
    for (size_t i = 0; i < bounds.size(); ++i) {
      Sample(base + "_bucket", {{"le", Num(bounds[i])}}, Num(histogram.CumulativeCount(i)));
    }
    Sample(base + "_bucket", {{"le", "+Inf"}}, Num(histogram.count()));
    Sample(base + "_sum", {}, Num(histogram.sum_seconds()));
    Sample(base + "_count", {}, Num(histogram.count()));
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

void WriteTraffic(const core::HubStats& hub, const StatsExtra& extra, Exposition& e) {
  e.Family("notifyd_connections", "gauge",
           "Open client connections by kind: websocket (/ws sessions), sse (event streams), "
           "echo (/ws/echo sessions).");
  // The hub counts every subscriber: /ws sessions and event streams.
  const uint64_t sse = std::min<uint64_t>(extra.sse_streams, hub.connections);
  e.Sample("notifyd_connections", {{"kind", "websocket"}}, Num(hub.connections - sse));
  e.Sample("notifyd_connections", {{"kind", "sse"}}, Num(sse));
  e.Sample("notifyd_connections", {{"kind", "echo"}}, Num(extra.echo_connections));
  e.Single("notifyd_subscriber_connections_opened_total", "counter",
           "Subscribers connected since the start: /ws sessions and event streams.",
           Num(hub.connections_total));
  e.Single("notifyd_channels", "gauge", "Channels with at least one subscriber.",
           Num(hub.channels));
  e.Single("notifyd_publishes_total", "counter",
           "Notifications published, whether or not anyone received them.",
           Num(hub.published_total));
  e.Single("notifyd_deliveries_total", "counter",
           "Notifications queued to subscribers: a publish to N subscribers counts N, and "
           "notifications replayed on a resume count too.",
           Num(hub.delivered_total));

  e.Family("notifyd_refusals_total", "counter",
           "Requests, connections and messages refused, by reason (the limit or rule that "
           "refused them).");
  for (const core::CounterName& name : core::kCounterNames) {
    if (name.reason == nullptr) continue;
    e.Sample("notifyd_refusals_total", {{"reason", name.reason}}, Num(extra.counters.*name.value));
  }
  e.Single("notifyd_slow_clients_dropped_total", "counter",
           "Subscribers closed for not reading: their send queue passed "
           "max_queued_bytes_per_client.",
           Num(extra.counters.slow_clients_dropped));

  const core::BrokerStats& h = extra.history;
  e.Family("notifyd_resumes_total", "counter",
           "Resumes (a subscribe with since, an event stream with Last-Event-ID or since) by "
           "outcome: recovered (the missed notifications were replayed) or not_recovered.");
  e.Sample("notifyd_resumes_total", {{"outcome", "recovered"}}, Num(h.resumes_recovered));
  e.Sample("notifyd_resumes_total", {{"outcome", "not_recovered"}}, Num(h.resumes_not_recovered));
  e.Single("notifyd_idempotent_replays_total", "counter",
           "Publishes answered with the first reply to their Idempotency-Key.",
           Num(h.idempotent_replays));
}

void WriteHistory(const StatsExtra& extra, Exposition& e) {
  const core::BrokerStats& h = extra.history;
  e.Family("notifyd_broker_up", "gauge", "1 while the broker can take publishes, else 0.");
  e.Sample("notifyd_broker_up", {{"broker", extra.broker}}, extra.broker_up ? "1" : "0");
  e.Single("notifyd_cluster_nodes", "gauge", "Nodes alive in the cluster, this one included.",
           Num(extra.cluster_nodes));
  e.Single("notifyd_cluster_resyncs_total", "counter",
           "resync pushes: a followed channel's stream could not be continued gap-free.",
           Num(h.resyncs));
  e.Single("notifyd_cluster_malformed_entries_total", "counter",
           "Notifications in Redis that no notifyd wrote (counted, not delivered).",
           Num(h.malformed_entries));
  for (const StatsExtra::ClusterFigure& figure : extra.cluster_figures) {
    e.Single(figure.metric, figure.counter ? "counter" : "gauge", figure.help, Num(figure.value));
  }
  e.Family("notifyd_history_store_ok", "gauge",
           "1 while the history store writes, 0 while it fails (publishes answer 503).");
  e.Sample("notifyd_history_store_ok", {{"store", extra.history_store}},
           extra.history_error.empty() ? "1" : "0");
  e.Single("notifyd_history_store_failures_total", "counter", "Failed writes of the history store.",
           Num(h.store_failures));
  e.Single("notifyd_history_channels", "gauge",
           "Channels with a stream: a position, and history when it is kept.", Num(h.channels));
  e.Single("notifyd_history_notifications", "gauge", "Notifications kept in history.", Num(h.kept));
  e.Single("notifyd_history_notifications_bytes", "gauge",
           "Size of the kept notifications' JSON text.", Num(h.kept_bytes));
  e.Single("notifyd_history_pending_notifications", "gauge",
           "Publishes waiting for the commit of their transaction (sync = \"commit\").",
           Num(h.pending));
  e.Single("notifyd_history_file_size_bytes", "gauge",
           "Size of the SQLite history file and its write-ahead log; 0 without one.",
           Num(extra.history_file_bytes));
  e.Family("notifyd_checkins", "gauge",
           "Check-ins (POST /api/checkin/{name}) by state: up (on time) or late (past due and "
           "grace, \"late\" published).");
  e.Sample("notifyd_checkins", {{"state", "up"}}, Num(extra.checkins_up));
  e.Sample("notifyd_checkins", {{"state", "late"}}, Num(extra.checkins_late));
  e.Histogram("notifyd_history_commit_duration_seconds",
              "Time from a publish's submission to the history store to the commit of the "
              "transaction holding it.",
              h.commit_durations);
}

// The names and texts of the Prometheus client libraries' process collector.
void WriteProcess(const ProcessMetrics& p, Exposition& e) {
  e.Single("process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.", Num(p.cpu_seconds));
  e.Single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           Num(p.resident_memory_bytes));
  e.Single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
           Num(p.virtual_memory_bytes));
  e.Single("process_open_fds", "gauge", "Number of open file descriptors.", Num(p.open_fds));
  e.Single("process_max_fds", "gauge", "Maximum number of open file descriptors.", Num(p.max_fds));
  e.Single("process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.", Num(p.start_time_seconds));
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) { return Escape(value, /*quotes=*/true); }

std::string EncodeMetrics(const core::HubStats& hub, const StatsExtra& extra,
                          const std::optional<ProcessMetrics>& process) {
  Exposition e;
  e.Family("notifyd_build_info", "gauge", "The version of notifyd, as a label; always 1.");
  e.Sample("notifyd_build_info", {{"version", extra.version}}, "1");
  WriteTraffic(hub, extra, e);
  WriteHistory(extra, e);
  if (process) WriteProcess(*process, e);
  return e.Take();
}

}  // namespace notifyd::protocol
