// The files of notifyd-cli's spool (src/cli/spool_record.h): what they hold,
// how they are named, how a damaged one is told from a good one.
#include "cli/spool_record.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/server_address.h"

namespace notifyd::cli {
namespace {

SpoolRecord Sample() {
  SpoolRecord record;
  record.url = "http://127.0.0.1:8080";
  record.channel = "cron";
  record.title = "backup failed (exit 1)";
  record.body = "line 1\nline \"2\" \xC3\xA9";
  record.data = R"({"exit":1,"nested":{"a":[1,2.5,null,true]}})";
  record.idempotency_key = "0123456789abcdef0123456789abcdef";
  record.created = "2026-11-25T02:30:01.123Z";
  record.attempts = 3;
  record.last_error = "cannot connect to 127.0.0.1:8080: Connection refused";
  return record;
}

void ExpectSame(const SpoolRecord& a, const SpoolRecord& b) {
  EXPECT_EQ(a.url, b.url);
  EXPECT_EQ(a.channel, b.channel);
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.last_error, b.last_error);
}

std::string DecodeError(const std::string& text) {
  SpoolRecord record;
  std::string error;
  EXPECT_FALSE(DecodeSpoolRecord(text, &record, &error)) << text;
  return error;
}

// Sample() encoded, with `from` replaced by `to`.
std::string Edited(const std::string& from, const std::string& to) {
  std::string text = *EncodeSpoolRecord(Sample());
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(SpoolRecordTest, RoundTrip) {
  std::optional<std::string> text = EncodeSpoolRecord(Sample());
  ASSERT_TRUE(text);
  EXPECT_EQ(text->back(), '\n');
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 1);
  SpoolRecord decoded;
  std::string error;
  ASSERT_TRUE(DecodeSpoolRecord(*text, &decoded, &error)) << error;
  ExpectSame(decoded, Sample());
}

TEST(SpoolRecordTest, OptionalMembersMayBeAbsent) {
  SpoolRecord record = Sample();
  record.title.reset();
  record.data.reset();
  record.last_error.reset();
  record.body = "";
  std::string text = *EncodeSpoolRecord(record);
  EXPECT_EQ(text.find("title"), std::string::npos);
  SpoolRecord decoded;
  std::string error;
  ASSERT_TRUE(DecodeSpoolRecord(text, &decoded, &error)) << error;
  ExpectSame(decoded, record);
}

TEST(SpoolRecordTest, UnknownMembersAreIgnored) {
  SpoolRecord decoded;
  std::string error;
  EXPECT_TRUE(
      DecodeSpoolRecord(Edited("{\"format\":1,", "{\"format\":1,\"later\":[1],"), &decoded, &error))
      << error;
}

TEST(SpoolRecordTest, DataThatIsNotAnObjectCannotBeEncoded) {
  SpoolRecord record = Sample();
  record.data = "[1,2]";
  EXPECT_FALSE(EncodeSpoolRecord(record));
  record.data = "{bad";
  EXPECT_FALSE(EncodeSpoolRecord(record));
}

TEST(SpoolRecordTest, ACutShortFileIsCorruptAtEveryLength) {
  std::string text = *EncodeSpoolRecord(Sample());
  std::string whole = text.substr(0, text.size() - 1);  // without the newline: still whole
  for (size_t length = 0; length < whole.size(); ++length) {
    SpoolRecord record;
    std::string error;
    EXPECT_FALSE(DecodeSpoolRecord(whole.substr(0, length), &record, &error)) << length;
  }
}

TEST(SpoolRecordTest, DamageIsNamed) {
  EXPECT_EQ(DecodeError(""), "not valid JSON (The document is empty. at offset 0)");
  EXPECT_EQ(DecodeError("[1]"), "not a JSON object");
  EXPECT_EQ(DecodeError(std::string("{\"format\":1\0}", 13)),
            "not valid JSON (NUL byte at offset 11)");
  EXPECT_EQ(DecodeError(Edited("\"format\":1", "\"format\":2")), "format 2 is not 1");
  EXPECT_EQ(DecodeError(Edited("\"format\":1", "\"format\":\"1\"")), "no valid \"format\"");
  EXPECT_EQ(DecodeError(Edited("\"channel\":\"cron\"", "\"channel\":7")), "no valid \"channel\"");
  EXPECT_EQ(DecodeError(Edited("\"attempts\":3", "\"attempts\":-1")), "no valid \"attempts\"");
  EXPECT_EQ(DecodeError(Edited("\"body\":", "\"bodx\":")), "no valid \"body\"");
  EXPECT_EQ(DecodeError(Edited("\"title\":\"backup failed (exit 1)\"", "\"title\":null")),
            "\"title\" is not a string");
  EXPECT_EQ(DecodeError(Edited("\"data\":{", "\"data\":[{")).substr(0, 14), "not valid JSON");
  EXPECT_EQ(DecodeError(Edited("\"channel\":\"cron\"", "\"channel\":\"a/b\"")),
            "\"channel\" is not a channel name");
  EXPECT_EQ(DecodeError(Edited("\"idempotency_key\":\"0", "\"idempotency_key\":\" 0")),
            "\"idempotency_key\" is not a valid key");
  EXPECT_EQ(DecodeError(Edited("http://127.0.0.1:8080", "ftp://x")).substr(0, 17),
            "\"url\" is unusable");
  EXPECT_EQ(DecodeError(Edited("line 1", "line \xFF")),
            "not valid JSON (invalid UTF-8 in a string)");
}

TEST(SpoolRecordTest, NamesSortByTime) {
  EXPECT_EQ(SpoolFileName(1764037801123456, 0xdeadbeef), "1764037801123456-deadbeef.json");
  EXPECT_EQ(SpoolFileName(5, 1), "0000000000000005-00000001.json");
  std::vector<std::string> names = {SpoolFileName(1000000, 0xffffffff), SpoolFileName(999999, 0),
                                    SpoolFileName(1000001, 0)};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{SpoolFileName(999999, 0), SpoolFileName(1000000, 0xffffffff),
                                      SpoolFileName(1000001, 0)}));
}

TEST(SpoolRecordTest, OnlyItsOwnNamesAreRecords) {
  EXPECT_TRUE(IsSpoolFileName(SpoolFileName(1764037801123456, 0xdeadbeef)));
  for (const char* name : {".tmp-1764037801123456-deadbeef.json", "1764037801123456-deadbeef.jso",
                           "1764037801123456-DEADBEEF.json", "176403780112345x-deadbeef.json",
                           "1764037801123456_deadbeef.json", ".lock", "failed", "corrupt", "",
                           "1764037801123456-deadbeef.json~"}) {
    EXPECT_FALSE(IsSpoolFileName(name)) << name;
  }
}

TEST(SpoolRecordTest, OneSpellingPerServer) {
  HttpTarget a;
  HttpTarget b;
  std::string error;
  ASSERT_TRUE(ParseBaseUrl("http://LocalHost", &a, &error));
  ASSERT_TRUE(ParseBaseUrl("http://localhost:80/", &b, &error));
  EXPECT_EQ(CanonicalBaseUrl(a), "http://localhost:80");
  EXPECT_EQ(CanonicalBaseUrl(a), CanonicalBaseUrl(b));
  ASSERT_TRUE(ParseBaseUrl("http://[::1]:8080/notify/", &a, &error));
  EXPECT_EQ(CanonicalBaseUrl(a), "http://[::1]:8080/notify");
}

}  // namespace
}  // namespace notifyd::cli
