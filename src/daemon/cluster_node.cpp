#include "daemon/cluster_node.h"

#include <chrono>
#include <memory>
#include <utility>

#include <asio/post.hpp>

#include <spdlog/spdlog.h>

namespace notifyd::daemon {

namespace {

cluster::RedisOptions ConnectionOptions(const config::Config& config) {
  cluster::RedisOptions options;
  std::string error;
  std::optional<cluster::RedisEndpoint> endpoint =
      cluster::RedisEndpoint::Parse(config.cluster_redis, &error);
  if (endpoint) options.endpoint = *endpoint;
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.cluster_timeout_s * 1000));
  options.connect_timeout = timeout;
  options.command_timeout = timeout;
  return options;
}

cluster::RedisEngineOptions EngineOptions(const config::Config& config) {
  cluster::RedisEngineOptions options;
  options.prefix = config.cluster_prefix;
  options.history_size = config.history_size;
  options.history_ttl_ms = static_cast<int64_t>(config.history_ttl_s * 1000);
  options.command_timeout_ms = static_cast<int64_t>(config.cluster_timeout_s * 1000);
  return options;
}

}  // namespace

ClusterNode::ClusterNode(asio::io_context& io, const config::Config& config,
                         const core::Clock& clock, const core::Hub& hub)
    : address_(config.cluster_redis),
      prefix_(config.cluster_prefix),
      history_size_(config.history_size),
      history_ttl_s_(config.history_ttl_s),
      io_(io),
      tick_timer_(io),
      leave_timer_(io) {
  // The connections report to the engine, which needs them to exist first:
  // their events reach it through this object, once it is there.
  cluster::CommandEvents command_events;
  command_events.on_up = [this] {
    spdlog::info("cluster: connected to Redis at {}", address_);
    engine_->OnCommandsUp();
  };
  command_events.on_down = [this](const std::string& why) {
    spdlog::warn("cluster: Redis at {} unavailable: {}; publishes answer 503 until it is back",
                 address_, why);
    engine_->OnCommandsDown(why);
  };
  cluster::PubSubEvents pubsub_events;
  pubsub_events.on_up = [this] { engine_->OnPubSubUp(); };
  pubsub_events.on_down = [this](const std::string& why) {
    spdlog::warn("cluster: the Redis subscription was lost: {}; subscribing again", why);
    engine_->OnPubSubDown(why);
  };
  pubsub_events.on_subscribed = [this](const std::string& channel) {
    engine_->OnPubSubSubscribed(channel);
  };
  pubsub_events.on_message = [this](const std::string& channel, const std::string& message) {
    engine_->OnPubSubMessage(channel, message);
  };
  const cluster::RedisOptions options = ConnectionOptions(config);
  commands_ = std::make_unique<cluster::RedisCommandConnection>(io, options,
                                                                std::move(command_events));
  pubsub_ =
      std::make_unique<cluster::RedisPubSubConnection>(io, options, std::move(pubsub_events));
  engine_ = std::make_unique<cluster::RedisEngine>(EngineOptions(config), *commands_, *pubsub_,
                                                   clock, ids_);
  engine_->SetSubscriberCounts([&hub] { return hub.ChannelCounts(); });
}

ClusterNode::~ClusterNode() { Close(); }

void ClusterNode::Start() {
  spdlog::info("cluster: node {} of the cluster \"{}\" in Redis at {}; history in Redis, {} "
               "per channel for {}s",
               engine_->node_id(), prefix_, address_, history_size_, history_ttl_s_);
  commands_->Start();
  pubsub_->Start();
  ScheduleTick();
}

void ClusterNode::Stop(std::function<void()> done) {
  if (stopped_) {
    if (done) asio::post(io_, std::move(done));
    return;
  }
  stopped_ = true;
  tick_timer_.cancel();
  // Whichever comes first: Redis has this node off its list, or the wait is
  // over (the other nodes then count it until its entry expires, 10 s).
  auto finished = std::make_shared<bool>(false);
  auto finish = [this, finished, done = std::move(done)] {
    if (*finished) return;
    *finished = true;
    leave_timer_.cancel();
    // Not from inside the engine's reply callback: the connections close after it.
    asio::post(io_, [this, done] {
      Close();
      if (done) done();
    });
  };
  engine_->Stop(finish);
  leave_timer_.expires_after(kLeaveMs);
  leave_timer_.async_wait([finish](const asio::error_code& ec) {
    if (!ec) finish();
  });
}

void ClusterNode::Close() {
  if (closed_) return;
  closed_ = true;
  tick_timer_.cancel();
  leave_timer_.cancel();
  if (!stopped_) {
    stopped_ = true;
    engine_->Stop();
  }
  pubsub_->Stop();
  commands_->Stop();
}

void ClusterNode::ScheduleTick() {
  tick_timer_.expires_after(std::chrono::milliseconds(cluster::RedisEngine::kTickMs));
  tick_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopped_) return;
    engine_->Tick();
    ScheduleTick();
  });
}

void ClusterNode::Fill(protocol::StatsExtra* extra) const {
  extra->broker = "redis";
  extra->redis = address_;
  extra->broker_up = engine_->up() && pubsub_->up();
  extra->broker_error = engine_->down_reason();
  extra->cluster_nodes = engine_->nodes();
  const cluster::RedisEngineStats s = engine_->stats();
  using Figure = protocol::StatsExtra::ClusterFigure;
  extra->cluster_figures = {
      Figure{"attachedChannels", "notifyd_cluster_followed_channels", false,
             "Channels this node follows in Redis (those with local subscribers).",
             s.attached_channels},
      Figure{"repairs", "notifyd_cluster_repairs_total", true,
             "Holes in a followed channel filled from its Redis stream.", s.repairs},
      Figure{"probesFailed", "notifyd_cluster_probes_failed_total", true,
             "Redis subscriptions made anew because the liveness probe did not come back.",
             s.probes_failed},
      Figure{"pubsubReconnects", "notifyd_cluster_pubsub_reconnects_total", true,
             "Times the Redis subscription came up again after a loss.", s.pubsub_reconnects},
      Figure{"publishesFailed", "notifyd_cluster_publishes_failed_total", true,
             "Publishes Redis did not take (503).", s.publishes_failed},
      Figure{"readsFailed", "notifyd_cluster_reads_failed_total", true,
             "Reads of a Redis stream that failed (and were tried again).", s.reads_failed},
  };
}

}  // namespace notifyd::daemon
