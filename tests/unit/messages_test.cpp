#include "protocol/messages.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "core/clock.h"
#include "core/utf8.h"
#include "protocol/json.h"
#include "support/json_helpers.h"

namespace notifyd::protocol {
namespace {

using testing_support::json::At;
using testing_support::json::BoolAt;
using testing_support::json::DoubleAt;
using testing_support::json::Has;
using testing_support::json::IntAt;
using testing_support::json::Keys;
using testing_support::json::Names;
using testing_support::json::ParseJsonText;
using testing_support::json::SizeAt;
using testing_support::json::Sorted;
using testing_support::json::StrAt;
using testing_support::json::UintAt;

// --- helpers ----------------------------------------------------------------------

Request ParseOk(std::string_view frame) {
  ParseResult result = ParseRequest(frame);
  if (const auto* error = std::get_if<ProtocolError>(&result)) {
    ADD_FAILURE() << "rejected: " << frame << "\n  " << ErrorCodeName(error->code) << ": "
                  << error->message;
    return Request{};
  }
  return std::get<Request>(result);
}

ProtocolError ParseFails(std::string_view frame) {
  ParseResult result = ParseRequest(frame);
  if (std::holds_alternative<Request>(result)) {
    ADD_FAILURE() << "accepted: " << frame.substr(0, 200);
    return ProtocolError{};
  }
  return std::get<ProtocolError>(result);
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Expects `frame` to be rejected with `code` and a message starting with `prefix`.
void ExpectError(std::string_view frame, ErrorCode code, std::string_view prefix) {
  const ProtocolError error = ParseFails(frame);
  EXPECT_STREQ(ErrorCodeName(error.code), ErrorCodeName(code)) << frame.substr(0, 200);
  EXPECT_TRUE(StartsWith(error.message, prefix))
      << frame.substr(0, 200) << "\n  message: " << error.message;
}

bool IsIsoMillis(const std::string& text) {
  static const std::regex iso(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  return std::regex_match(text, iso);
}

// --- ParseRequest: every request type ------------------------------------------------

TEST(ParseRequestTest, Subscribe) {
  const Request r = ParseOk(R"({"type":"subscribe","channel":"news"})");
  EXPECT_EQ(r.type, RequestType::kSubscribe);
  EXPECT_EQ(r.channel, "news");
  EXPECT_EQ(r.id_json, "");
}

TEST(ParseRequestTest, Unsubscribe) {
  const Request r = ParseOk(R"({"type":"unsubscribe","channel":"a@b:c.d-e_f"})");
  EXPECT_EQ(r.type, RequestType::kUnsubscribe);
  EXPECT_EQ(r.channel, "a@b:c.d-e_f");
}

TEST(ParseRequestTest, SetName) {
  const Request r = ParseOk(R"({"type":"set_name","name":"Alice \u00e9"})");
  EXPECT_EQ(r.type, RequestType::kSetName);
  EXPECT_EQ(r.name, "Alice \xC3\xA9");
}

TEST(ParseRequestTest, ListSubscriptionsPingPong) {
  EXPECT_EQ(ParseOk(R"({"type":"list_subscriptions"})").type, RequestType::kListSubscriptions);
  EXPECT_EQ(ParseOk(R"({"type":"ping"})").type, RequestType::kPing);
  EXPECT_EQ(ParseOk(R"({"type":"pong"})").type, RequestType::kPong);
}

TEST(ParseRequestTest, IgnoresUnknownFieldsAndWhitespace) {
  const Request r = ParseOk(
      " \n{ \"extra\" : [1, {}], \"type\" : \"subscribe\", "
      "\"channel\" : \"news\" }\t");
  EXPECT_EQ(r.type, RequestType::kSubscribe);
  EXPECT_EQ(r.channel, "news");
}

TEST(ParseRequestTest, AcceptsSurrogatePairEscape) {
  EXPECT_EQ(ParseOk(R"({"type":"set_name","name":"\ud83d\ude00"})").name, "\xF0\x9F\x98\x80");
}

TEST(ParseRequestTest, AcceptsModerateNesting) {
  std::string frame = R"({"type":"ping","x":)";
  frame += std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_EQ(ParseOk(frame).type, RequestType::kPing);
}

// --- ParseRequest: id ------------------------------------------------------------------

TEST(ParseRequestTest, EchoesStringId) {
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":"req-1"})").id_json, R"("req-1")");
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":"a\"b"})").id_json, R"("a\"b")");
}

TEST(ParseRequestTest, EchoesNumberId) {
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":7})").id_json, "7");
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":-3})").id_json, "-3");
  const std::string fractional = ParseOk(R"({"type":"ping","id":1.5})").id_json;
  EXPECT_DOUBLE_EQ(DoubleAt(ParseJsonText(fractional), ""), 1.5);
}

TEST(ParseRequestTest, EchoesNumberIdByteForByte) {
  for (const char* id : {
           "123456789012345678901234567890",  // beyond uint64 and a double's precision
           "9007199254740993",                // 2^53 + 1
           "-0", "0", "1.50", "0.1", "-3.25e-7", "1E+2", "1e400", "-1e400", "1e-400",
           "2.5E-0400",
       }) {
    const std::string frame = std::string(R"({"type":"ping","id":)") + id + "}";
    EXPECT_EQ(ParseOk(frame).id_json, id) << frame;
  }
}

TEST(ParseRequestTest, EchoesAHugeIntegerId) {
  const std::string id = "-" + std::string(400, '9');
  EXPECT_EQ(ParseOk(R"({"id":)" + id + R"(,"type":"ping"})").id_json, id);
}

TEST(ParseRequestTest, NumberIdEchoWithoutSurroundingSpace) {
  EXPECT_EQ(ParseOk("{ \"type\" : \"ping\" , \"id\" :\t 1.50 \n}").id_json, "1.50");
  EXPECT_EQ(ParseOk(R"({"id":7,"type":"ping"})").id_json, "7");
}

TEST(ParseRequestTest, OnlyTheTopLevelIdIsEchoed) {
  EXPECT_EQ(ParseOk(R"({"type":"ping","x":{"id":5}})").id_json, "");
  EXPECT_EQ(ParseOk(R"({"x":{"id":5},"type":"ping","id":"s"})").id_json, R"("s")");
  EXPECT_EQ(ParseOk(R"({"x":[{"id":5}],"type":"ping","id":1e400})").id_json, "1e400");
  EXPECT_EQ(ParseOk(R"({"x":{"id":"n"},"type":"ping","id":6})").id_json, "6");
}

TEST(ParseRequestTest, TheFirstOfDuplicateIdsIsEchoed) {
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":1.0,"id":"b"})").id_json, "1.0");
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":"a","id":2.0})").id_json, R"("a")");
}

TEST(ParseRequestTest, StringIdIsReEncoded) {
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":"\u0041\/"})").id_json, R"("A/")");
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":"1e400"})").id_json, R"("1e400")");
  EXPECT_EQ(ParseOk(R"({"type":"ping","id":"\u00e9\n"})").id_json, "\"\xC3\xA9\\n\"");
}

TEST(ParseRequestTest, HugeNumbersElsewhereAreAccepted) {
  const Request r = ParseOk(R"({"type":"subscribe","channel":"news","n":1e400,"m":[-1e999]})");
  EXPECT_EQ(r.channel, "news");
  EXPECT_EQ(r.id_json, "");
}

TEST(ParseRequestTest, AHugeNumberIsStillNotAString) {
  ExpectError(R"({"type":"subscribe","channel":1e400})", ErrorCode::kInvalidMessage,
              "Invalid message format");
  ExpectError(R"({"type":1e400,"id":2})", ErrorCode::kInvalidMessage, "Invalid message format");
}

TEST(ParseRequestTest, MalformedNumbersAreStillInvalidJson) {
  for (const char* frame : {
           R"({"type":"ping","id":01})",
           R"({"type":"ping","id":1.})",
           R"({"type":"ping","id":-})",
           R"({"type":"ping","id":1e400x})",
           R"({"type":"ping","id":1e400.5})",
           R"({"type":"ping","id":1e400e1})",
           R"({"type":"ping","id":+1})",
           R"({"type":"ping","id":1e400)",
       }) {
    ExpectError(frame, ErrorCode::kInvalidJson, "Invalid message format");
  }
}

TEST(ParseRequestTest, NullIdIsInvalidMessage) {
  const ProtocolError error = ParseFails(R"({"type":"ping","id":null})");
  EXPECT_EQ(error.code, ErrorCode::kInvalidMessage);
  EXPECT_EQ(error.id_json, "");
}

TEST(ParseRequestTest, ReplyCarriesTheIdAsSent) {
  const Request r = ParseOk(R"({"type":"subscribe","channel":"news","id":123456789012345678901234567890})");
  Subscribed sub;
  sub.channel = r.channel;
  sub.subscriber_count = 1;
  sub.epoch = "AbCdEfGh1234";
  EXPECT_EQ(EncodeSubscribed(sub, r.id_json),
            R"({"type":"subscribed","channel":"news","subscriberCount":1,)"
            R"("epoch":"AbCdEfGh1234","seq":0,"id":123456789012345678901234567890})");
  const ProtocolError e = ParseFails(R"({"type":"nope","id":-0})");
  EXPECT_NE(EncodeError(e).find(R"("id":-0})"), std::string::npos) << EncodeError(e);
}

TEST(ParseRequestTest, ErrorsCarryTheId) {
  EXPECT_EQ(ParseFails(R"({"type":"subscribe","id":"s1"})").id_json, R"("s1")");
  EXPECT_EQ(ParseFails(R"({"type":"set_name","id":9})").id_json, "9");
  EXPECT_EQ(ParseFails(R"({"type":"nope","id":9})").id_json, "9");
  EXPECT_EQ(ParseFails(R"({"type":"subscribe","channel":"a b","id":1})").id_json, "1");
  EXPECT_EQ(ParseFails(R"({"type":5,"id":1})").id_json, "1");
}

TEST(ParseRequestTest, ErrorsWithoutIdHaveNoId) {
  EXPECT_EQ(ParseFails(R"({"type":"subscribe"})").id_json, "");
  EXPECT_EQ(ParseFails("not json").id_json, "");
}

// --- ParseRequest: the Errors table ------------------------------------------------------

TEST(ParseRequestTest, InvalidJson) {
  for (const char* frame : {"not json", "{", R"({"type":)", "", "{'type':'ping'}",
                            R"({"type":"ping",})", "{type:\"ping\"}"}) {
    ExpectError(frame, ErrorCode::kInvalidJson, "Invalid message format");
  }
}

TEST(ParseRequestTest, NonObjectTopLevelIsInvalidMessage) {
  for (const char* frame : {"[]", R"([{"type":"ping"}])", "42", R"("ping")", "true", "null"}) {
    ExpectError(frame, ErrorCode::kInvalidMessage, "Invalid message format");
  }
}

TEST(ParseRequestTest, WrongFieldTypesAreInvalidMessage) {
  for (const char* frame : {
           R"({"type":"subscribe","channel":5})",
           R"({"type":"unsubscribe","channel":["news"]})",
           R"({"type":"set_name","name":true})",
           R"({"type":5})",
           R"({"type":["ping"]})",
           R"({"type":"ping","id":{}})",
           R"({"type":"ping","id":[1]})",
           R"({"type":"ping","id":true})",
       }) {
    ExpectError(frame, ErrorCode::kInvalidMessage, "Invalid message format");
  }
}

TEST(ParseRequestTest, MissingOrNullTypeIsUnknownType) {
  ExpectError("{}", ErrorCode::kUnknownType, "Unknown message type:");
  ExpectError(R"({"channel":"news"})", ErrorCode::kUnknownType, "Unknown message type:");
  ExpectError(R"({"type":null})", ErrorCode::kUnknownType, "Unknown message type:");
}

TEST(ParseRequestTest, UnknownTypeNamesTheType) {
  const ProtocolError error = ParseFails(R"({"type":"x"})");
  EXPECT_EQ(error.code, ErrorCode::kUnknownType);
  EXPECT_EQ(error.message, "Unknown message type: x");
  EXPECT_EQ(ParseFails(R"({"type":""})").code, ErrorCode::kUnknownType);
  EXPECT_EQ(ParseFails(R"({"type":"PING"})").code, ErrorCode::kUnknownType);
  EXPECT_EQ(ParseFails(R"({"type":"ping "})").code, ErrorCode::kUnknownType);
}

TEST(ParseRequestTest, LongUnknownTypeIsTruncated) {
  const std::string type(10000, 'x');
  const ProtocolError error = ParseFails(R"({"type":")" + type + R"("})");
  EXPECT_EQ(error.code, ErrorCode::kUnknownType);
  EXPECT_TRUE(StartsWith(error.message, "Unknown message type: xxxx")) << error.message;
  EXPECT_LT(error.message.size(), 200u);
}

TEST(ParseRequestTest, TruncationKeepsUtf8Whole) {
  std::string type;
  for (int i = 0; i < 200; ++i) type += "\xE2\x82\xAC";  // €, three bytes each
  for (const std::string& prefix : {std::string(), std::string("a"), std::string("ab")}) {
    const ProtocolError error = ParseFails(R"({"type":")" + prefix + type + R"("})");
    EXPECT_LT(error.message.size(), 200u);
    EXPECT_TRUE(core::IsValidUtf8(error.message)) << error.message;
  }
}

TEST(ParseRequestTest, MissingOrEmptyChannelIsChannelRequired) {
  for (const char* frame : {R"({"type":"subscribe"})", R"({"type":"subscribe","channel":""})",
                            R"({"type":"subscribe","channel":null})", R"({"type":"unsubscribe"})",
                            R"({"type":"unsubscribe","channel":""})"}) {
    ExpectError(frame, ErrorCode::kChannelRequired, "Channel name required");
  }
}

TEST(ParseRequestTest, BadChannelNameIsInvalidChannel) {
  const std::string too_long(129, 'a');
  for (const std::string& frame : {
           std::string(R"({"type":"subscribe","channel":"a b"})"),
           std::string(R"({"type":"subscribe","channel":"a/b"})"),
           std::string(R"({"type":"subscribe","channel":"caf\u00e9"})"),
           std::string(R"({"type":"unsubscribe","channel":"#x"})"),
           R"({"type":"subscribe","channel":")" + too_long + R"("})",
       }) {
    ExpectError(frame, ErrorCode::kInvalidChannel, "Invalid channel name");
  }
  EXPECT_EQ(ParseOk(R"({"type":"subscribe","channel":")" + std::string(128, 'a') + R"("})")
                .channel.size(),
            128u);
}

TEST(ParseRequestTest, NulEscapeInChannelIsInvalidChannel) {
  ExpectError(R"({"type":"subscribe","channel":"a\u0000b"})", ErrorCode::kInvalidChannel,
              "Invalid channel name");
  ExpectError(R"({"type":"subscribe","channel":"\u0000"})", ErrorCode::kInvalidChannel,
              "Invalid channel name");
}

TEST(ParseRequestTest, MissingOrEmptyNameIsNameRequired) {
  for (const char* frame : {R"({"type":"set_name"})", R"({"type":"set_name","name":""})",
                            R"({"type":"set_name","name":null})"}) {
    ExpectError(frame, ErrorCode::kNameRequired, "Name required");
  }
}

TEST(ParseRequestTest, BinaryFrameErrorIsInvalidMessage) {
  const ProtocolError error = BinaryFrameError();
  EXPECT_EQ(error.code, ErrorCode::kInvalidMessage);
  EXPECT_TRUE(StartsWith(error.message, "Invalid message format"));
  EXPECT_EQ(error.id_json, "");
}

TEST(ErrorCodeNameTest, NamesEveryCode) {
  const std::map<ErrorCode, std::string> expected = {
      {ErrorCode::kInvalidJson, "invalid_json"},
      {ErrorCode::kInvalidMessage, "invalid_message"},
      {ErrorCode::kUnknownType, "unknown_type"},
      {ErrorCode::kChannelRequired, "channel_required"},
      {ErrorCode::kInvalidChannel, "invalid_channel"},
      {ErrorCode::kNameRequired, "name_required"},
      {ErrorCode::kLimitExceeded, "limit_exceeded"},
  };
  for (const auto& [code, name] : expected) EXPECT_EQ(ErrorCodeName(code), name);
}

// --- ParseRequest: hostile input ---------------------------------------------------------

TEST(ParseRequestHostileTest, DeepArrayNestingIsRejected) {
  const std::string frame(1000000, '[');
  const ProtocolError error = ParseFails(frame);
  EXPECT_EQ(error.code, ErrorCode::kInvalidJson);
  EXPECT_TRUE(StartsWith(error.message, "Invalid message format"));
}

TEST(ParseRequestHostileTest, DeepBalancedNestingIsRejected) {
  const std::string frame = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(ParseFails(frame).code, ErrorCode::kUnknownType);
}

TEST(ParseRequestHostileTest, DeepObjectNestingIsRejected) {
  std::string frame;
  frame.reserve(6 * 200000 + 200000);
  for (int i = 0; i < 200000; ++i) frame += R"({"a":)";
  frame += "1";
  frame += std::string(200000, '}');
  EXPECT_EQ(ParseFails(frame).code, ErrorCode::kInvalidJson);
}

TEST(ParseRequestHostileTest, InvalidUtf8IsInvalidJson) {
  ExpectError("{\"type\":\"ping\",\"x\":\"\xFF\"}", ErrorCode::kInvalidJson,
              "Invalid message format");
  ExpectError("{\"type\":\"set_name\",\"name\":\"\xC0\xAF\"}", ErrorCode::kInvalidJson,
              "Invalid message format");
  ExpectError("{\"type\":\"set_name\",\"name\":\"\xED\xA0\x80\"}", ErrorCode::kInvalidJson,
              "Invalid message format");
  ExpectError("\xFF", ErrorCode::kInvalidJson, "Invalid message format");
}

TEST(ParseRequestHostileTest, LoneSurrogateEscapesAreInvalidJson) {
  for (const char* frame :
       {R"({"type":"set_name","name":"\uD800"})", R"({"type":"set_name","name":"\uDC00"})",
        R"({"type":"set_name","name":"a\uDFFFb"})", R"({"type":"set_name","name":"\uD800x"})",
        R"({"type":"ping","\uDC00":1})"}) {
    ExpectError(frame, ErrorCode::kInvalidJson, "Invalid message format");
  }
}

TEST(ParseRequestHostileTest, TrailingGarbageIsInvalidJson) {
  for (const char* frame : {"{} x", R"({"type":"ping"} x)", R"({"type":"ping"}{"type":"ping"})",
                            R"({"type":"ping"}])"}) {
    ExpectError(frame, ErrorCode::kInvalidJson, "Invalid message format");
  }
}

// RapidJSON takes a NUL byte for the end of the input: what follows must not be ignored.
TEST(ParseRequestHostileTest, NulByteAfterObjectIsRejected) {
  const std::string frame("{\"type\":\"ping\"}\0garbage", 23);
  ASSERT_EQ(frame.size(), 23u);
  EXPECT_EQ(ParseFails(frame).code, ErrorCode::kInvalidJson);
}

TEST(ParseRequestHostileTest, NulEscapeInNameIsKept) {
  EXPECT_EQ(ParseOk(R"({"type":"set_name","name":"a\u0000b"})").name, std::string("a\0b", 3));
}

// --- server -> client encoders ------------------------------------------------------------

TEST(EncodeTest, Welcome) {
  const auto doc = ParseJsonText(EncodeWelcome("0f8e2c3a-1b2c-4d5e-8f90-123456789abc"));
  EXPECT_EQ(Keys(doc), Sorted({"type", "clientId", "message"}));
  EXPECT_EQ(StrAt(doc, "/type"), "welcome");
  EXPECT_EQ(StrAt(doc, "/clientId"), "0f8e2c3a-1b2c-4d5e-8f90-123456789abc");
  EXPECT_EQ(StrAt(doc, "/message"), "Connected to notification server");
}

Subscribed NewsSubscribed(size_t count) {
  Subscribed s;
  s.channel = "news";
  s.subscriber_count = count;
  s.epoch = "AbCdEfGh1234";
  s.seq = 7;
  return s;
}

TEST(EncodeTest, Subscribed) {
  const auto doc = ParseJsonText(EncodeSubscribed(NewsSubscribed(3), ""));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "subscriberCount", "epoch", "seq"}));
  EXPECT_EQ(StrAt(doc, "/type"), "subscribed");
  EXPECT_EQ(StrAt(doc, "/channel"), "news");
  ASSERT_TRUE(At(doc, "/subscriberCount").IsUint64());
  EXPECT_EQ(UintAt(doc, "/subscriberCount"), 3u);
  EXPECT_EQ(StrAt(doc, "/epoch"), "AbCdEfGh1234");
  EXPECT_EQ(UintAt(doc, "/seq"), 7u);
}

TEST(EncodeTest, SubscribedWithSinceCarriesTheDecision) {
  Subscribed s = NewsSubscribed(1);
  s.with_since = true;
  s.recovered = true;
  s.missed = 4;
  const auto doc = ParseJsonText(EncodeSubscribed(s, ""));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "subscriberCount", "epoch", "seq", "recovered",
                               "missed"}));
  EXPECT_TRUE(BoolAt(doc, "/recovered"));
  EXPECT_EQ(UintAt(doc, "/missed"), 4u);
}

TEST(EncodeTest, Resync) {
  const auto doc = ParseJsonText(EncodeResync("news", "AbCdEfGh1234", 9, "gap"));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "epoch", "seq", "reason"}));
  EXPECT_EQ(StrAt(doc, "/type"), "resync");
  EXPECT_EQ(UintAt(doc, "/seq"), 9u);
  EXPECT_EQ(StrAt(doc, "/reason"), "gap");
}

TEST(EncodeTest, SubscribedWithStringId) {
  const auto doc = ParseJsonText(EncodeSubscribed(NewsSubscribed(1), R"("r1")"));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "subscriberCount", "epoch", "seq", "id"}));
  EXPECT_EQ(StrAt(doc, "/id"), "r1");
}

TEST(EncodeTest, SubscribedWithNumberId) {
  const auto doc = ParseJsonText(EncodeSubscribed(NewsSubscribed(1), "42"));
  ASSERT_TRUE(At(doc, "/id").IsInt());
  EXPECT_EQ(IntAt(doc, "/id"), 42);
}

TEST(EncodeTest, Unsubscribed) {
  const auto doc = ParseJsonText(EncodeUnsubscribed("news", ""));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel"}));
  EXPECT_EQ(StrAt(doc, "/type"), "unsubscribed");
  EXPECT_EQ(StrAt(doc, "/channel"), "news");
  EXPECT_EQ(Keys(ParseJsonText(EncodeUnsubscribed("news", "5"))),
            Sorted({"type", "channel", "id"}));
}

TEST(EncodeTest, NameSetEscapesTheName) {
  const std::string name = "He said \"hi\"\\ \n\t\x01 \xC3\xA9";
  const std::string text = EncodeNameSet(name, "");
  const auto doc = ParseJsonText(text);
  EXPECT_EQ(Keys(doc), Sorted({"type", "name"}));
  EXPECT_EQ(StrAt(doc, "/type"), "name_set");
  EXPECT_EQ(StrAt(doc, "/name"), name);
  EXPECT_EQ(StrAt(ParseJsonText(EncodeNameSet("x", R"("n")")), "/id"), "n");
}

TEST(EncodeTest, NameSetKeepsNulCharacter) {
  const std::string name("a\0b", 3);
  EXPECT_EQ(StrAt(ParseJsonText(EncodeNameSet(name, "")), "/name"), name);
}

TEST(EncodeTest, Subscriptions) {
  const auto doc = ParseJsonText(EncodeSubscriptions({"b", "a"}, ""));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channels"}));
  EXPECT_EQ(StrAt(doc, "/type"), "subscriptions");
  ASSERT_TRUE(At(doc, "/channels").IsArray());
  ASSERT_EQ(SizeAt(doc, "/channels"), 2u);
  EXPECT_EQ(StrAt(doc, "/channels/0"), "b");
  EXPECT_EQ(StrAt(doc, "/channels/1"), "a");
}

TEST(EncodeTest, EmptySubscriptionsIsEmptyArray) {
  const auto doc = ParseJsonText(EncodeSubscriptions({}, "1"));
  ASSERT_TRUE(At(doc, "/channels").IsArray());
  EXPECT_EQ(SizeAt(doc, "/channels"), 0u);
  EXPECT_EQ(IntAt(doc, "/id"), 1);
}

TEST(EncodeTest, PongHasIntegerTimestamp) {
  const auto doc = ParseJsonText(EncodePong(1795633649123, ""));
  EXPECT_EQ(Keys(doc), Sorted({"type", "timestamp"}));
  EXPECT_EQ(StrAt(doc, "/type"), "pong");
  ASSERT_TRUE(At(doc, "/timestamp").IsInt64());
  EXPECT_FALSE(At(doc, "/timestamp").IsDouble());
  EXPECT_EQ(IntAt(doc, "/timestamp"), 1795633649123);
  EXPECT_EQ(StrAt(ParseJsonText(EncodePong(1, R"("p")")), "/id"), "p");
}

TEST(EncodeTest, HeartbeatIsPingWithTimestamp) {
  const auto doc = ParseJsonText(EncodeHeartbeat(1795633649123));
  EXPECT_EQ(Keys(doc), Sorted({"type", "timestamp"}));
  EXPECT_EQ(StrAt(doc, "/type"), "ping");
  ASSERT_TRUE(At(doc, "/timestamp").IsInt64());
  EXPECT_FALSE(At(doc, "/timestamp").IsDouble());
  EXPECT_EQ(IntAt(doc, "/timestamp"), 1795633649123);
}

TEST(EncodeTest, ErrorWithoutId) {
  const auto doc = ParseJsonText(
      EncodeError(ProtocolError{ErrorCode::kChannelRequired, "Channel name required", ""}));
  EXPECT_EQ(Keys(doc), Sorted({"type", "error", "code"}));
  EXPECT_EQ(StrAt(doc, "/type"), "error");
  EXPECT_EQ(StrAt(doc, "/error"), "Channel name required");
  EXPECT_EQ(StrAt(doc, "/code"), "channel_required");
}

TEST(EncodeTest, ErrorWithId) {
  const auto doc =
      ParseJsonText(EncodeError(ProtocolError{ErrorCode::kNameRequired, "Name required", "17"}));
  EXPECT_EQ(Keys(doc), Sorted({"type", "error", "code", "id"}));
  EXPECT_EQ(StrAt(doc, "/code"), "name_required");
  EXPECT_EQ(IntAt(doc, "/id"), 17);
}

TEST(EncodeTest, ErrorFromParsedFrameRoundTrips) {
  const ProtocolError error = ParseFails(R"({"type":"a\"b\n","id":"q\"1"})");
  const auto doc = ParseJsonText(EncodeError(error));
  EXPECT_EQ(StrAt(doc, "/code"), "unknown_type");
  EXPECT_EQ(StrAt(doc, "/error"), "Unknown message type: a\"b\n");
  EXPECT_EQ(StrAt(doc, "/id"), "q\"1");
}

TEST(EncodeTest, ServerShutdown) {
  const auto doc = ParseJsonText(EncodeServerShutdown());
  EXPECT_EQ(Keys(doc), Sorted({"type", "message"}));
  EXPECT_EQ(StrAt(doc, "/type"), "server_shutdown");
  EXPECT_EQ(StrAt(doc, "/message"), "Server is shutting down");
}

// --- JsonNotificationEncoder --------------------------------------------------------------

core::Notification SampleNotification() {
  core::Notification n;
  n.channel = "news";
  n.id = "AbCdEfGh1234:1";
  n.seq = 1;
  n.epoch = "AbCdEfGh1234";
  n.timestamp_ms = 1795633649123;
  n.title = "Hello";
  n.body = "World";
  return n;
}

TEST(JsonNotificationEncoderTest, HasTheContractFields) {
  const auto doc = ParseJsonText(JsonNotificationEncoder().Encode(SampleNotification()));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "id", "seq", "epoch", "timestamp", "title", "body"}));
  EXPECT_EQ(StrAt(doc, "/type"), "notification");
  EXPECT_EQ(UintAt(doc, "/seq"), 1u);
  EXPECT_EQ(StrAt(doc, "/epoch"), "AbCdEfGh1234");
  EXPECT_EQ(StrAt(doc, "/channel"), "news");
  EXPECT_EQ(StrAt(doc, "/id"), "AbCdEfGh1234:1");
  EXPECT_EQ(StrAt(doc, "/timestamp"), "2026-11-25T19:07:29.123Z");
  EXPECT_TRUE(IsIsoMillis(StrAt(doc, "/timestamp")));
  EXPECT_EQ(StrAt(doc, "/title"), "Hello");
  EXPECT_EQ(StrAt(doc, "/body"), "World");
}

TEST(JsonNotificationEncoderTest, TimestampAlwaysHasMillis) {
  core::Notification n = SampleNotification();
  n.timestamp_ms = 1795633649000;
  EXPECT_EQ(StrAt(ParseJsonText(JsonNotificationEncoder().Encode(n)), "/timestamp"),
            "2026-11-25T19:07:29.000Z");
}

TEST(JsonNotificationEncoderTest, IncludesDataWhenGiven) {
  core::Notification n = SampleNotification();
  n.data_json = R"({"k":1,"nested":{"a":[true,null]}})";
  const auto doc = ParseJsonText(JsonNotificationEncoder().Encode(n));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "id", "seq", "epoch", "timestamp", "title", "body", "data"}));
  ASSERT_TRUE(At(doc, "/data").IsObject());
  EXPECT_EQ(IntAt(doc, "/data/k"), 1);
  EXPECT_TRUE(BoolAt(doc, "/data/nested/a/0"));
}

TEST(JsonNotificationEncoderTest, EmptyDataIsAnEmptyObject) {
  core::Notification n = SampleNotification();
  n.data_json = "{}";
  const auto doc = ParseJsonText(JsonNotificationEncoder().Encode(n));
  ASSERT_TRUE(Has(doc, "/data"));
  EXPECT_TRUE(At(doc, "/data").IsObject());
}

TEST(JsonNotificationEncoderTest, EscapesQuotesAndControlCharacters) {
  core::Notification n = SampleNotification();
  n.title = "say \"hi\" \\ </script>";
  n.body = std::string("line1\nline2\r\t\x01\x1f\x7f end") + std::string(1, '\0') + "x";
  const std::string text = JsonNotificationEncoder().Encode(n);
  for (char c : text) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << text;
  const auto doc = ParseJsonText(text);
  EXPECT_EQ(StrAt(doc, "/title"), n.title);
  EXPECT_EQ(StrAt(doc, "/body"), n.body);
}

TEST(JsonNotificationEncoderTest, KeepsUnicode) {
  core::Notification n = SampleNotification();
  n.title = "caf\xC3\xA9 \xF0\x9F\x98\x80";
  const std::string text = JsonNotificationEncoder().Encode(n);
  EXPECT_TRUE(core::IsValidUtf8(text));
  EXPECT_EQ(StrAt(ParseJsonText(text), "/title"), n.title);
}

// The hand-built encoders against the JsonWriter they replaced, byte for byte:
// strings of every kind (control bytes, quotes, backslashes, U+2028, 4-byte
// sequences, and bytes that are not UTF-8, which both turn into U+FFFD).
std::string RandomText(std::mt19937& random) {
  static const std::vector<std::string> pieces = {
      "a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\b", "\f", std::string(1, '\0'),
      "\x01", "\x1f", "\x7f", "caf\xC3\xA9", "\xE2\x80\xA8", "\xF0\x9F\x98\x80", "\xFF",
      "\xC3", "\xED\xA0\x80", "\xC0\xAF", "\x80", "</script>", "longer plain ascii run"};
  std::string text;
  int n = static_cast<int>(random() % 12);
  for (int i = 0; i < n; ++i) text += pieces[random() % pieces.size()];
  return text;
}

std::string WriterNotification(const core::Notification& n) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  WriteMember(w, "type", "notification");
  WriteMember(w, "channel", n.channel);
  WriteMember(w, "id", n.id);
  w.Key("seq");
  w.Uint64(n.seq);
  WriteMember(w, "epoch", n.epoch);
  WriteMember(w, "timestamp", core::FormatIso8601(n.timestamp_ms));
  WriteMember(w, "title", n.title);
  WriteMember(w, "body", n.body);
  if (!n.data_json.empty()) {
    w.Key("data");
    w.RawValue(n.data_json.data(), n.data_json.size(), rapidjson::kObjectType);
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string WriterPublishResponse(std::string_view channel, size_t delivered, std::string_view id,
                                  uint64_t seq, std::string_view epoch,
                                  std::optional<uint64_t> nodes) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("success");
  w.Bool(true);
  WriteMember(w, "channel", channel);
  w.Key("delivered");
  w.Uint64(delivered);
  WriteMember(w, "id", id);
  w.Key("seq");
  w.Uint64(seq);
  WriteMember(w, "epoch", epoch);
  if (nodes) {
    w.Key("nodes");
    w.Uint64(*nodes);
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

TEST(JsonNotificationEncoderTest, SameBytesAsTheJsonWriter) {
  std::mt19937 random(7);
  for (int i = 0; i < 20000; ++i) {
    core::Notification n = SampleNotification();
    n.title = RandomText(random);
    n.body = RandomText(random);
    n.seq = (uint64_t{random()} << 32) | random();
    n.timestamp_ms = static_cast<int64_t>(random()) * 1000 + static_cast<int64_t>(random() % 1000);
    if (i % 3 == 0) n.data_json = R"({"k":"v\u0001","n":[1,2.5,null]})";
    std::string text = JsonNotificationEncoder().Encode(n);
    ASSERT_EQ(text, WriterNotification(n)) << i;
    ASSERT_TRUE(core::IsValidUtf8(text)) << i;
  }
}

TEST(HttpEncodeTest, PublishResponseSameBytesAsTheJsonWriter) {
  std::mt19937 random(11);
  for (int i = 0; i < 5000; ++i) {
    std::string channel = RandomText(random), id = RandomText(random), epoch = RandomText(random);
    size_t delivered = random();
    uint64_t seq = (uint64_t{random()} << 32) | random();
    std::optional<uint64_t> nodes;
    if (i % 2 == 0) nodes = random() % 5;
    ASSERT_EQ(EncodePublishResponse(channel, delivered, id, seq, epoch, nodes),
              WriterPublishResponse(channel, delivered, id, seq, epoch, nodes))
        << i;
  }
  EXPECT_EQ(EncodePublishResponse("c", 0, "E:1", 18446744073709551615u, "E", std::nullopt),
            R"({"success":true,"channel":"c","delivered":0,"id":"E:1","seq":18446744073709551615,"epoch":"E"})");
}

TEST(AppendJsonStringTest, EscapesAsTheWriter) {
  std::string out = "x";
  AppendJsonString(out, std::string("a\"b\\c\x01\x1f\x7f\n", 9) + std::string(1, '\0'));
  EXPECT_EQ(out, "x\"a\\\"b\\\\c\\u0001\\u001F\x7f\\n\\u0000\"");
  out.clear();
  AppendJsonString(out, "ok\xFF\xC3\xA9");
  EXPECT_EQ(out, "\"ok\xEF\xBF\xBD\xC3\xA9\"");
}

// --- ParsePublishJson ------------------------------------------------------------------

PublishParse ParsePublish(std::string_view body, PublishRequest* out = nullptr) {
  PublishRequest request;
  std::string details;
  const PublishParse result = ParsePublishJson(body, &request, &details);
  if (result != PublishParse::kOk) {
    EXPECT_FALSE(details.empty()) << body;
  }
  if (out != nullptr) *out = request;
  return result;
}

TEST(ParsePublishJsonTest, AllFields) {
  PublishRequest req;
  ASSERT_EQ(ParsePublish(R"({"title":"T","body":"B","data":{"x":[1,2]}})", &req),
            PublishParse::kOk);
  EXPECT_EQ(req.title, "T");
  EXPECT_EQ(req.body, "B");
  const auto data = ParseJsonText(req.data_json);
  ASSERT_TRUE(data.IsObject());
  EXPECT_EQ(IntAt(data, "/x/1"), 2);
}

TEST(ParsePublishJsonTest, EmptyObjectGetsDefaults) {
  PublishRequest req;
  req.title = "stale";
  req.body = "stale";
  req.data_json = "{}";
  ASSERT_EQ(ParsePublish("{}", &req), PublishParse::kOk);
  EXPECT_EQ(req.title, "Notification");
  EXPECT_EQ(req.body, "");
  EXPECT_EQ(req.data_json, "");
}

TEST(ParsePublishJsonTest, NullFieldsAreAbsent) {
  PublishRequest req;
  ASSERT_EQ(ParsePublish(R"({"title":null,"body":null,"data":null})", &req), PublishParse::kOk);
  EXPECT_EQ(req.title, "Notification");
  EXPECT_EQ(req.body, "");
  EXPECT_EQ(req.data_json, "");
}

TEST(ParsePublishJsonTest, NotJson) {
  EXPECT_EQ(ParsePublish("backup finished"), PublishParse::kNotJson);
  EXPECT_EQ(ParsePublish(""), PublishParse::kNotJson);
  EXPECT_EQ(ParsePublish("{\"title\":"), PublishParse::kNotJson);
  EXPECT_EQ(ParsePublish("{} trailing"), PublishParse::kNotJson);
  EXPECT_EQ(ParsePublish("{\"title\":\"\xFF\"}"), PublishParse::kNotJson);
  EXPECT_EQ(ParsePublish(R"({"title":"\uDC00"})"), PublishParse::kNotJson);
}

TEST(ParsePublishJsonTest, NulByteAfterObjectIsNotJson) {
  EXPECT_EQ(ParsePublish(std::string("{}\0z", 4)), PublishParse::kNotJson);
}

TEST(ParsePublishJsonTest, NotObject) {
  EXPECT_EQ(ParsePublish("[1]"), PublishParse::kNotObject);
  EXPECT_EQ(ParsePublish(R"("x")"), PublishParse::kNotObject);
  EXPECT_EQ(ParsePublish("42"), PublishParse::kNotObject);
  EXPECT_EQ(ParsePublish("null"), PublishParse::kNotObject);
}

TEST(ParsePublishJsonTest, BadFieldTypes) {
  EXPECT_EQ(ParsePublish(R"({"title":5})"), PublishParse::kBadField);
  EXPECT_EQ(ParsePublish(R"({"body":[]})"), PublishParse::kBadField);
  EXPECT_EQ(ParsePublish(R"({"data":"x"})"), PublishParse::kBadField);
  EXPECT_EQ(ParsePublish(R"({"data":[1]})"), PublishParse::kBadField);
  EXPECT_EQ(ParsePublish(R"({"title":{"a":1}})"), PublishParse::kBadField);
}

TEST(ParsePublishJsonTest, DetailsNameTheField) {
  PublishRequest req;
  std::string details;
  ASSERT_EQ(ParsePublishJson(R"({"body":[]})", &req, &details), PublishParse::kBadField);
  EXPECT_NE(details.find("body"), std::string::npos) << details;
}

TEST(ParsePublishJsonTest, DeepDataIsRejected) {
  std::string body = R"({"data":)";
  for (int i = 0; i < 100000; ++i) body += R"({"a":)";
  body += "1" + std::string(100001, '}');
  EXPECT_EQ(ParsePublish(body), PublishParse::kNotJson);
}

// --- HTTP encoders ----------------------------------------------------------------------

TEST(HttpEncodeTest, ErrorWithoutDetails) {
  const auto doc = ParseJsonText(EncodeHttpError("Not found"));
  EXPECT_EQ(Keys(doc), Names{"error"});
  EXPECT_EQ(StrAt(doc, "/error"), "Not found");
}

TEST(HttpEncodeTest, ErrorWithDetails) {
  const auto doc = ParseJsonText(EncodeHttpError("Invalid request body", "title \"must\" be"));
  EXPECT_EQ(Keys(doc), Sorted({"error", "details"}));
  EXPECT_EQ(StrAt(doc, "/error"), "Invalid request body");
  EXPECT_EQ(StrAt(doc, "/details"), "title \"must\" be");
}

TEST(HttpEncodeTest, InvalidUtf8BecomesReplacementCharacter) {
  const std::string text = EncodeHttpError("Not found", "no such path: /a\xFF");
  EXPECT_TRUE(core::IsValidUtf8(text)) << text;
  EXPECT_EQ(StrAt(ParseJsonText(text), "/details"), "no such path: /a\xEF\xBF\xBD");
}

TEST(HttpEncodeTest, PublishResponse) {
  const auto doc =
      ParseJsonText(EncodePublishResponse("news", 3, "AbCdEfGh1234:5", 5, "AbCdEfGh1234"));
  EXPECT_EQ(Keys(doc), Sorted({"success", "channel", "delivered", "id", "seq", "epoch"}));
  EXPECT_EQ(UintAt(doc, "/seq"), 5u);
  EXPECT_EQ(StrAt(doc, "/epoch"), "AbCdEfGh1234");
  ASSERT_TRUE(At(doc, "/success").IsBool());
  EXPECT_TRUE(BoolAt(doc, "/success"));
  EXPECT_EQ(StrAt(doc, "/channel"), "news");
  ASSERT_TRUE(At(doc, "/delivered").IsUint());
  EXPECT_EQ(UintAt(doc, "/delivered"), 3u);
  EXPECT_EQ(StrAt(doc, "/id"), "AbCdEfGh1234:5");
}

TEST(HttpEncodeTest, Channels) {
  const auto doc = ParseJsonText(EncodeChannels({{"alerts", 1}, {"news", 2}}));
  EXPECT_EQ(Keys(doc), Sorted({"channels", "total"}));
  ASSERT_TRUE(At(doc, "/channels").IsArray());
  ASSERT_EQ(SizeAt(doc, "/channels"), 2u);
  EXPECT_EQ(Keys(At(doc, "/channels/0")), Sorted({"name", "subscribers"}));
  EXPECT_EQ(StrAt(doc, "/channels/0/name"), "alerts");
  EXPECT_EQ(UintAt(doc, "/channels/0/subscribers"), 1u);
  EXPECT_EQ(StrAt(doc, "/channels/1/name"), "news");
  EXPECT_EQ(UintAt(doc, "/channels/1/subscribers"), 2u);
  EXPECT_EQ(UintAt(doc, "/total"), 2u);
}

TEST(HttpEncodeTest, NoChannels) {
  const auto doc = ParseJsonText(EncodeChannels({}));
  EXPECT_EQ(SizeAt(doc, "/channels"), 0u);
  EXPECT_EQ(UintAt(doc, "/total"), 0u);
}

TEST(HttpEncodeTest, ClientsWithAndWithoutName) {
  std::map<core::ClientHandle, core::ClientInfo> clients;
  core::ClientInfo& anon = clients[1];
  anon.handle = 1;
  anon.id = "id-1";
  anon.connected_at_ms = 0;
  core::ClientInfo& named = clients[2];
  named.handle = 2;
  named.id = "id-2";
  named.name = "Bob \"B\"";
  named.connected_at_ms = 1795633649123;
  named.subscriptions = {"news", "alerts"};

  const auto doc = ParseJsonText(EncodeClients(clients));
  EXPECT_EQ(Keys(doc), Sorted({"clients", "total"}));
  EXPECT_EQ(UintAt(doc, "/total"), 2u);
  ASSERT_EQ(SizeAt(doc, "/clients"), 2u);
  const auto& first = At(doc, "/clients/0");
  EXPECT_EQ(Keys(first), Sorted({"id", "name", "connectedAt", "subscriptions"}));
  EXPECT_EQ(StrAt(first, "/id"), "id-1");
  EXPECT_TRUE(At(first, "/name").IsNull());
  EXPECT_EQ(StrAt(first, "/connectedAt"), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(SizeAt(first, "/subscriptions"), 0u);
  const auto& second = At(doc, "/clients/1");
  EXPECT_EQ(StrAt(second, "/name"), "Bob \"B\"");
  EXPECT_EQ(StrAt(second, "/connectedAt"), "2026-11-25T19:07:29.123Z");
  ASSERT_EQ(SizeAt(second, "/subscriptions"), 2u);
  EXPECT_EQ(StrAt(second, "/subscriptions/0"), "news");
  EXPECT_EQ(StrAt(second, "/subscriptions/1"), "alerts");
}

TEST(HttpEncodeTest, Stats) {
  core::HubStats stats;
  stats.connections = 4;
  stats.channels = 2;
  stats.connections_total = 9;
  stats.published_total = 5;
  stats.delivered_total = 7;
  StatsExtra extra;
  extra.now_ms = 1795633649123;
  extra.uptime_s = 12.5;
  extra.version = "0.1.0";
  const auto doc = ParseJsonText(EncodeStats(stats, extra));
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(UintAt(doc, "/connections"), 4u);
  EXPECT_EQ(UintAt(doc, "/channels"), 2u);
  EXPECT_EQ(StrAt(doc, "/timestamp"), "2026-11-25T19:07:29.123Z");
}

}  // namespace
}  // namespace notifyd::protocol

namespace notifyd::protocol {
namespace {

TEST(CheckinJsonTest, ParsesTheOptionalSettings) {
  core::Checkins::Update u;
  std::string details;
  ASSERT_TRUE(ParseCheckinJson(R"({"every":60,"grace":0,"channel":"ops"})", &u, &details));
  EXPECT_EQ(u.every_s, 60);
  EXPECT_EQ(u.grace_s, 0);
  EXPECT_EQ(u.channel, "ops");
  core::Checkins::Update none;
  ASSERT_TRUE(ParseCheckinJson("{}", &none, &details));
  EXPECT_FALSE(none.every_s || none.grace_s || none.channel);
}

TEST(CheckinJsonTest, RefusesWhatIsNotASetting) {
  for (const char* body : {"[]", "x", R"({"every":0})", R"({"every":31536001})",
                           R"({"every":"60"})", R"({"every":1.5})", R"({"grace":-1})",
                           R"({"channel":5})", R"({"channel":"b d"})"}) {
    core::Checkins::Update u;
    std::string details;
    EXPECT_FALSE(ParseCheckinJson(body, &u, &details)) << body;
    EXPECT_FALSE(details.empty()) << body;
  }
}

TEST(CheckinJsonTest, EncodesTheContractFields) {
  const core::StoredCheckin c{"backup", "ops", 60, 5, 1795633649123, true};
  const auto doc = testing_support::json::ParseJsonText(EncodeCheckin(c));
  EXPECT_EQ(testing_support::json::Keys(doc),
            testing_support::json::Sorted(
                {"name", "channel", "every", "grace", "state", "last", "due"}));
  EXPECT_EQ(testing_support::json::StrAt(doc, "/state"), "late");
  EXPECT_EQ(testing_support::json::StrAt(doc, "/last"), "2026-11-25T19:07:29.123Z");
  EXPECT_EQ(testing_support::json::StrAt(doc, "/due"), "2026-11-25T19:08:29.123Z");
  const auto list = testing_support::json::ParseJsonText(EncodeCheckins({c, c}));
  EXPECT_EQ(testing_support::json::UintAt(list, "/total"), 2u);
}

}  // namespace
}  // namespace notifyd::protocol
