// The client side of the wire contract: what notifyd-cli sends and how it
// reads what the server sends (src/protocol/client_codec.h).
#include "protocol/client_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace notifyd::protocol {
namespace {

ServerMessage Decode(const std::string& text) {
  ServerMessage message;
  std::string error;
  EXPECT_TRUE(DecodeServerMessage(text, &message, &error)) << text << ": " << error;
  return message;
}

// --- client requests ---------------------------------------------------------

TEST(ClientCodecTest, EncodesSubscribe) {
  EXPECT_EQ(EncodeClientSubscribe("news"), R"({"type":"subscribe","channel":"news"})");
}

TEST(ClientCodecTest, EncodesUnsubscribe) {
  EXPECT_EQ(EncodeClientUnsubscribe("news"), R"({"type":"unsubscribe","channel":"news"})");
}

TEST(ClientCodecTest, EncodesSetName) {
  EXPECT_EQ(EncodeClientSetName("Alice"), R"({"type":"set_name","name":"Alice"})");
}

TEST(ClientCodecTest, EncodesRequestsWithoutFields) {
  EXPECT_EQ(EncodeClientListSubscriptions(), R"({"type":"list_subscriptions"})");
  EXPECT_EQ(EncodeClientPing(), R"({"type":"ping"})");
  EXPECT_EQ(EncodeClientPong(), R"({"type":"pong"})");
}

TEST(ClientCodecTest, EscapesQuotesAndControlCharacters) {
  std::optional<std::string> frame = EncodeClientSetName("a\"b\\c\n\x01");
  ASSERT_TRUE(frame);
  EXPECT_EQ(*frame, R"({"type":"set_name","name":"a\"b\\c\n\u0001"})");
  EXPECT_EQ(Decode(*frame).name, "a\"b\\c\n\x01");
}

TEST(ClientCodecTest, KeepsUtf8AndEmbeddedNul) {
  std::string name("Jürgen \xF0\x9F\x94\x94 a\0b", 16);
  std::optional<std::string> frame = EncodeClientSetName(name);
  ASSERT_TRUE(frame);
  EXPECT_EQ(Decode(*frame).name, name);
}

TEST(ClientCodecTest, RefusesTextThatIsNotUtf8) {
  EXPECT_FALSE(EncodeClientSubscribe("bad\xFF"));
  EXPECT_FALSE(EncodeClientUnsubscribe("\xC0\xAF"));
  EXPECT_FALSE(EncodeClientSetName("\xED\xA0\x80"));  // a UTF-16 surrogate
}

// --- publish body -------------------------------------------------------------

TEST(ClientCodecTest, EncodesPublishBodyWithEveryField) {
  std::string body;
  std::string error;
  ClientPublishRequest request{"Breaking", "Big news!", R"({"url": "https://x", "n": [1, 2.5]})"};
  ASSERT_TRUE(EncodeClientPublishBody(request, &body, &error)) << error;
  EXPECT_EQ(body,
            R"({"title":"Breaking","body":"Big news!","data":{"url":"https://x","n":[1,2.5]}})");
}

TEST(ClientCodecTest, PublishBodyOmitsUnsetTitleAndData) {
  std::string body;
  std::string error;
  ASSERT_TRUE(
      EncodeClientPublishBody(ClientPublishRequest{std::nullopt, "", std::nullopt}, &body, &error));
  EXPECT_EQ(body, R"({"body":""})");
}

TEST(ClientCodecTest, PublishBodyRefusesDataThatIsNotAnObject) {
  for (const char* data : {"[1,2]", "\"text\"", "42", "null", "true"}) {
    std::string body;
    std::string error;
    EXPECT_FALSE(
        EncodeClientPublishBody(ClientPublishRequest{std::nullopt, "b", data}, &body, &error))
        << data;
    EXPECT_EQ(error, "data is not a JSON object") << data;
  }
}

TEST(ClientCodecTest, PublishBodyRefusesInvalidJsonData) {
  for (const char* data : {"", "{", "{\"a\":}", "{} x", "{'a':1}", "{\"a\":1,}"}) {
    std::string body;
    std::string error;
    EXPECT_FALSE(
        EncodeClientPublishBody(ClientPublishRequest{std::nullopt, "b", data}, &body, &error))
        << data;
    EXPECT_EQ(error.rfind("data is not valid JSON: ", 0), 0u) << error;
  }
}

TEST(ClientCodecTest, PublishBodyRefusesInvalidUtf8) {
  std::string body;
  std::string error;
  EXPECT_FALSE(
      EncodeClientPublishBody(ClientPublishRequest{"t\xFF", "b", std::nullopt}, &body, &error));
  EXPECT_EQ(error, "title is not valid UTF-8");
  EXPECT_FALSE(EncodeClientPublishBody(ClientPublishRequest{std::nullopt, "b\xFF", std::nullopt},
                                       &body, &error));
  EXPECT_EQ(error, "body is not valid UTF-8");
  EXPECT_FALSE(EncodeClientPublishBody(ClientPublishRequest{std::nullopt, "b", "{\"k\":\"\xFF\"}"},
                                       &body, &error));
  EXPECT_EQ(error.rfind("data is not valid JSON", 0), 0u) << error;
}

TEST(ClientCodecTest, ValidateJsonObject) {
  std::string error;
  EXPECT_TRUE(ValidateJsonObject(R"({"a":{"b":[1,{"c":null}]}})", &error)) << error;
  EXPECT_TRUE(ValidateJsonObject(" {} ", &error)) << error;
  EXPECT_FALSE(ValidateJsonObject("[]", &error));
  EXPECT_EQ(error, "not a JSON object");
  EXPECT_FALSE(ValidateJsonObject("{\"a\":1", &error));
  EXPECT_EQ(error.rfind("not valid JSON: ", 0), 0u) << error;
  EXPECT_NE(error.find("offset"), std::string::npos) << error;
}

TEST(ClientCodecTest, RefusesDeepNestingWithoutCrashing) {
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string error;
  EXPECT_FALSE(ValidateJsonObject(deep, &error));
  EXPECT_NE(error.find("nesting deeper than"), std::string::npos) << error;

  std::string nested = "{\"a\":" + std::string(10, '[') + std::string(10, ']') + "}";
  EXPECT_TRUE(ValidateJsonObject(nested, &error)) << error;
}

// --- publish response ---------------------------------------------------------

TEST(ClientCodecTest, DecodesPublishSuccess) {
  ClientPublishResponse response;
  std::string error;
  ASSERT_TRUE(DecodeClientPublishResponse(
      R"({"success":true,"channel":"news","delivered":2,"id":"x-1"})", &response, &error));
  EXPECT_TRUE(response.success);
  EXPECT_EQ(response.delivered, 2);
}

TEST(ClientCodecTest, DecodesPublishFailure) {
  ClientPublishResponse response;
  std::string error;
  ASSERT_TRUE(
      DecodeClientPublishResponse(R"({"error":"Invalid channel name"})", &response, &error));
  EXPECT_FALSE(response.success);
  EXPECT_EQ(response.error, "Invalid channel name");
  EXPECT_FALSE(response.delivered);
}

TEST(ClientCodecTest, PublishSuccessMustBeTheBooleanTrue) {
  for (const char* text : {R"({"success":"true"})", R"({"success":1})", R"({"success":false})",
                           R"({"success":null,"delivered":"2","error":7})"}) {
    ClientPublishResponse response;
    std::string error;
    ASSERT_TRUE(DecodeClientPublishResponse(text, &response, &error)) << text;
    EXPECT_FALSE(response.success) << text;
    EXPECT_FALSE(response.delivered) << text;
    EXPECT_EQ(response.error, "") << text;
  }
  ClientPublishResponse response;
  std::string error;
  EXPECT_FALSE(DecodeClientPublishResponse("OK", &response, &error));
  EXPECT_FALSE(DecodeClientPublishResponse("[true]", &response, &error));
}

// --- server messages ------------------------------------------------------------

TEST(ClientCodecTest, DecodesWelcome) {
  ServerMessage m = Decode(
      R"({"type":"welcome","clientId":"0b1c","message":"Connected to notification server"})");
  EXPECT_EQ(m.type, "welcome");
  EXPECT_EQ(m.client_id, "0b1c");
  EXPECT_EQ(m.message, "Connected to notification server");
}

TEST(ClientCodecTest, DecodesSubscribedAndUnsubscribed) {
  ServerMessage m = Decode(R"({"type":"subscribed","channel":"news","subscriberCount":2})");
  EXPECT_EQ(m.type, "subscribed");
  EXPECT_EQ(m.channel, "news");
  EXPECT_EQ(m.subscriber_count, 2);
  m = Decode(R"({"type":"unsubscribed","channel":"news","id":7})");
  EXPECT_EQ(m.type, "unsubscribed");
  EXPECT_EQ(m.channel, "news");
  EXPECT_FALSE(m.subscriber_count);
}

TEST(ClientCodecTest, DecodesNameSet) {
  ServerMessage m = Decode(R"({"type":"name_set","name":"Alice"})");
  EXPECT_EQ(m.type, "name_set");
  EXPECT_EQ(m.name, "Alice");
}

TEST(ClientCodecTest, DecodesNotificationWithData) {
  ServerMessage m = Decode(
      R"({"type":"notification","channel":"news","timestamp":"2026-11-25T19:07:29.123Z",)"
      R"("title":"Breaking","body":"Big news!","data":{ "k" : [1, "two"], "n": null },"id":"a-1"})");
  EXPECT_EQ(m.type, "notification");
  EXPECT_EQ(m.channel, "news");
  EXPECT_EQ(m.title, "Breaking");
  EXPECT_EQ(m.body, "Big news!");
  EXPECT_EQ(m.data, R"({"k":[1,"two"],"n":null})");
}

TEST(ClientCodecTest, NotificationWithoutDataOrWithNullData) {
  EXPECT_EQ(Decode(R"({"type":"notification","channel":"c","title":"t","body":""})").data, "");
  EXPECT_EQ(Decode(R"({"type":"notification","data":null})").data, "");
  EXPECT_EQ(Decode(R"({"type":"notification","data":"s"})").data, "\"s\"");
}

TEST(ClientCodecTest, DecodesSubscriptions) {
  ServerMessage m = Decode(R"({"type":"subscriptions","channels":["news","sports"]})");
  EXPECT_EQ(m.type, "subscriptions");
  ASSERT_TRUE(m.channels);
  EXPECT_EQ(*m.channels, (std::vector<std::string>{"news", "sports"}));
  m = Decode(R"({"type":"subscriptions","channels":[]})");
  ASSERT_TRUE(m.channels);
  EXPECT_TRUE(m.channels->empty());
}

TEST(ClientCodecTest, DecodesPongPingErrorAndShutdown) {
  EXPECT_EQ(Decode(R"({"type":"pong","timestamp":1764097649123})").type, "pong");
  EXPECT_EQ(Decode(R"({"type":"ping","timestamp":1764097649123})").type, "ping");
  ServerMessage m =
      Decode(R"({"type":"error","error":"Unknown message type: x","code":"unknown_type"})");
  EXPECT_EQ(m.type, "error");
  EXPECT_EQ(m.error, "Unknown message type: x");
  EXPECT_EQ(m.code, "unknown_type");
  m = Decode(R"({"type":"server_shutdown","message":"Server is shutting down"})");
  EXPECT_EQ(m.type, "server_shutdown");
  EXPECT_EQ(m.message, "Server is shutting down");
}

TEST(ClientCodecTest, KeepsTheRawTextOfEveryMessage) {
  const std::string text = R"({"type":"brand_new","x": 1})";
  ServerMessage m = Decode(text);
  EXPECT_EQ(m.type, "brand_new");
  EXPECT_EQ(m.raw, text);
}

TEST(ClientCodecTest, WrongTypesLeaveFieldsUnset) {
  ServerMessage m = Decode(
      R"({"type":"subscribed","channel":5,"subscriberCount":"2","clientId":[],"name":{},)"
      R"("title":true,"body":null,"channels":["a",1],"error":1.5,"message":false,"code":[]})");
  EXPECT_EQ(m.type, "subscribed");
  EXPECT_FALSE(m.channel);
  EXPECT_FALSE(m.subscriber_count);
  EXPECT_FALSE(m.client_id);
  EXPECT_FALSE(m.name);
  EXPECT_FALSE(m.title);
  EXPECT_FALSE(m.body);
  EXPECT_FALSE(m.channels);
  EXPECT_FALSE(m.error);
  EXPECT_FALSE(m.message);
  EXPECT_FALSE(m.code);
}

TEST(ClientCodecTest, FractionalOrHugeCountsAreUnset) {
  EXPECT_FALSE(Decode(R"({"type":"subscribed","subscriberCount":2.5})").subscriber_count);
  EXPECT_FALSE(Decode(R"({"type":"subscribed","subscriberCount":1e30})").subscriber_count);
  EXPECT_FALSE(
      Decode(R"({"type":"subscribed","subscriberCount":18446744073709551615})").subscriber_count);
}

TEST(ClientCodecTest, TypeThatIsNotAStringIsEmpty) {
  EXPECT_EQ(Decode(R"({"type":7})").type, "");
  EXPECT_EQ(Decode(R"({"channel":"news"})").type, "");
}

TEST(ClientCodecTest, RefusesTextThatIsNotAJsonObject) {
  for (const std::string text :
       {"", "not json", "[1,2]", "\"welcome\"", "{\"type\":\"x\"} trailing", "{\"type\":\"x\""}) {
    ServerMessage m;
    std::string error;
    EXPECT_FALSE(DecodeServerMessage(text, &m, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
    EXPECT_EQ(m.raw, text);
  }
}

TEST(ClientCodecTest, RefusesInvalidUtf8AndDeepNesting) {
  ServerMessage m;
  std::string error;
  EXPECT_FALSE(DecodeServerMessage("{\"type\":\"error\",\"error\":\"\xFF\"}", &m, &error));
  EXPECT_FALSE(DecodeServerMessage(R"({"type":"error","error":"\uDC00"})", &m, &error));
  std::string deep = "{\"data\":" + std::string(1000000, '[');
  EXPECT_FALSE(DecodeServerMessage(deep, &m, &error));
}

TEST(ClientCodecTest, DecodeResetsEarlierFields) {
  ServerMessage m = Decode(R"({"type":"name_set","name":"Alice"})");
  std::string error;
  ASSERT_TRUE(DecodeServerMessage(R"({"type":"pong"})", &m, &error));
  EXPECT_FALSE(m.name);
}

TEST(ClientCodecTest, RequestsRoundTripThroughTheDecoder) {
  ServerMessage m = Decode(*EncodeClientSubscribe("news:eu@x"));
  EXPECT_EQ(m.type, "subscribe");
  EXPECT_EQ(m.channel, "news:eu@x");
  EXPECT_EQ(Decode(*EncodeClientUnsubscribe("news")).type, "unsubscribe");
  EXPECT_EQ(Decode(EncodeClientListSubscriptions()).type, "list_subscriptions");
}

}  // namespace
}  // namespace notifyd::protocol
