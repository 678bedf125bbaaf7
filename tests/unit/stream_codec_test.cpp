// The Part 2 wire fields of notifyd-cli's sub, tail and history
// (src/cli/stream_codec.h), against the frames of PROTOCOL.md Part 2.
#include "cli/stream_codec.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

StreamMessage Decode(const std::string& text) {
  StreamMessage message;
  std::string error;
  EXPECT_TRUE(DecodeStreamMessage(text, &message, &error)) << text << ": " << error;
  return message;
}

HistoryPage DecodePage(const std::string& text) {
  HistoryPage page;
  std::string error;
  EXPECT_TRUE(DecodeHistoryPage(text, &page, &error)) << text << ": " << error;
  return page;
}

std::string PageError(const std::string& text) {
  HistoryPage page;
  std::string error;
  EXPECT_FALSE(DecodeHistoryPage(text, &page, &error)) << text;
  return error;
}

TEST(StreamCodecTest, EncodesSubscribeWithAndWithoutSince) {
  EXPECT_EQ(EncodeSubscribe("news", std::nullopt),
            R"({"type":"subscribe","channel":"news","id":"news"})");
  EXPECT_EQ(EncodeSubscribe("news", core::Position{"abcdefgh", 12}),
            R"({"type":"subscribe","channel":"news","id":"news",)"
            R"("since":{"epoch":"abcdefgh","seq":12}})");
  EXPECT_EQ(EncodeSubscribe("news", core::Position{"abcdefgh", 0}),
            R"({"type":"subscribe","channel":"news","id":"news",)"
            R"("since":{"epoch":"abcdefgh","seq":0}})");
  EXPECT_EQ(EncodeSubscribe("bad\xFF", std::nullopt), std::nullopt);
}

TEST(StreamCodecTest, DecodesANotificationAndKeepsItCompact) {
  StreamMessage m = Decode(
      "{ \"type\": \"notification\", \"channel\": \"news\", \"id\": \"abcdefgh:3\",\n"
      "  \"seq\": 3, \"epoch\": \"abcdefgh\", \"timestamp\": \"2026-11-25T19:07:29.123Z\",\n"
      "  \"title\": \"T\", \"body\": \"line 1\\nline 2\", \"data\": {\"k\": [1, \"x\"]} }");
  EXPECT_EQ(m.type, "notification");
  EXPECT_EQ(m.channel, "news");
  EXPECT_EQ(m.epoch, "abcdefgh");
  EXPECT_EQ(m.seq, 3u);
  EXPECT_EQ(m.timestamp, "2026-11-25T19:07:29.123Z");
  EXPECT_EQ(m.title, "T");
  EXPECT_EQ(m.body, "line 1\nline 2");
  EXPECT_EQ(m.data, R"({"k":[1,"x"]})");
  EXPECT_EQ(m.compact, R"({"type":"notification","channel":"news","id":"abcdefgh:3","seq":3,)"
                       R"("epoch":"abcdefgh","timestamp":"2026-11-25T19:07:29.123Z","title":"T",)"
                       R"("body":"line 1\nline 2","data":{"k":[1,"x"]}})");
  EXPECT_EQ(m.compact.find('\n'), std::string::npos);
}

TEST(StreamCodecTest, DecodesSubscribedResyncAndErrors) {
  StreamMessage m =
      Decode(R"({"type":"subscribed","channel":"news","subscriberCount":1,"epoch":"abcdefgh",)"
             R"("seq":9,"recovered":true,"missed":2,"id":"news"})");
  EXPECT_EQ(m.seq, 9u);
  EXPECT_EQ(m.recovered, true);
  EXPECT_EQ(m.missed, 2u);
  EXPECT_EQ(m.request_id, "news");
  m = Decode(R"({"type":"resync","channel":"news","epoch":"ijklmnop","seq":4,"reason":"gap"})");
  EXPECT_EQ(m.reason, "gap");
  EXPECT_EQ(m.epoch, "ijklmnop");
  m = Decode(R"({"type":"error","error":"Invalid channel name","code":"invalid_channel","id":7})");
  EXPECT_EQ(m.error, "Invalid channel name");
  EXPECT_EQ(m.code, "invalid_channel");
  EXPECT_EQ(m.request_id, std::nullopt);  // a number is not one of our ids
}

TEST(StreamCodecTest, WrongTypesLeaveFieldsUnset) {
  StreamMessage m = Decode(
      R"({"type":"notification","seq":-1,"epoch":5,"recovered":"yes","missed":1.5,"data":null})");
  EXPECT_EQ(m.seq, std::nullopt);
  EXPECT_EQ(m.epoch, std::nullopt);
  EXPECT_EQ(m.recovered, std::nullopt);
  EXPECT_EQ(m.missed, std::nullopt);
  EXPECT_EQ(m.data, "");
  EXPECT_EQ(Decode(R"({"seq":18446744073709551615})").seq, 18446744073709551615u);
}

TEST(StreamCodecTest, RefusesWhatIsNotAJsonObject) {
  StreamMessage m;
  std::string error;
  EXPECT_FALSE(DecodeStreamMessage("[1]", &m, &error));
  EXPECT_EQ(error, "not a JSON object");
  EXPECT_FALSE(DecodeStreamMessage("{\"a\":1} x", &m, &error));
  EXPECT_FALSE(DecodeStreamMessage("{\"a\":\"\xFF\"}", &m, &error));
  EXPECT_FALSE(
      DecodeStreamMessage(std::string(100000, '[') + std::string(100000, ']'), &m, &error));
}

TEST(StreamCodecTest, DecodesAHistoryPage) {
  HistoryPage page =
      DecodePage(R"({"channel":"news","epoch":"abcdefgh","seq":7,"recovered":false,"more":true,)"
                 R"("messages":[{"type":"notification","channel":"news","id":"abcdefgh:5","seq":5,)"
                 R"("epoch":"abcdefgh","title":"a", "body":"b"},)"
                 R"({"type":"notification","seq":6,"epoch":"abcdefgh"}]})");
  EXPECT_EQ(page.epoch, "abcdefgh");
  EXPECT_EQ(page.seq, 7u);
  EXPECT_FALSE(page.recovered);
  EXPECT_TRUE(page.more);
  ASSERT_EQ(page.messages.size(), 2u);
  EXPECT_EQ(page.messages[0].json,
            R"({"type":"notification","channel":"news","id":"abcdefgh:5","seq":5,)"
            R"("epoch":"abcdefgh","title":"a","body":"b"})");
  EXPECT_EQ(page.messages[0].seq, 5u);
  EXPECT_EQ(page.messages[1].epoch, "abcdefgh");
  EXPECT_EQ(page.messages[1].seq, 6u);
  EXPECT_TRUE(DecodePage(R"({"epoch":"abcdefgh","seq":0,"recovered":true,"more":false,)"
                         R"("messages":[]})")
                  .messages.empty());
}

TEST(StreamCodecTest, RefusesAnythingElseAsAHistoryPage) {
  EXPECT_EQ(PageError("[]"), "not a JSON object");
  EXPECT_NE(PageError(R"({"error":"Not found"})").find("not a history page"), std::string::npos);
  EXPECT_NE(PageError(R"({"epoch":"abcdefgh","seq":0,"recovered":true,"more":false,)"
                      R"("messages":{}})")
                .find("not a history page"),
            std::string::npos);
  EXPECT_EQ(PageError(R"({"epoch":"abcdefgh","seq":0,"recovered":true,"more":false,)"
                      R"("messages":[1]})"),
            "a history message is not a JSON object");
}

}  // namespace
}  // namespace notifyd::cli
