#include "http/static_files.h"

#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.h"
#include "core/broker.h"
#include "core/hub.h"
#include "http/api.h"
#include "protocol/messages.h"
#include "support/fakes.h"

namespace notifyd::http {
namespace {

Request Get(std::string path, std::string if_none_match = "") {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.peer_address = "192.0.2.7";  // not loopback: the files are for anyone
  r.host = "console.example:8080";
  if (!if_none_match.empty()) r.headers.emplace_back("If-None-Match", std::move(if_none_match));
  return r;
}

const std::vector<WebFile> kFiles = {
    {"index.html", "<!doctype html><p>hi</p>"},
    {"app.js", "export const x = 1;\n"},
    {"style.css", "p { color: red }"},
};

TEST(StaticFilesTest, ContentTypesByExtension) {
  EXPECT_EQ(StaticFiles::ContentType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentType("console.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentType("console.css"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentType("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(StaticFiles::ContentType("shot.png"), "image/png");
  EXPECT_EQ(StaticFiles::ContentType("notes"), "application/octet-stream");
  EXPECT_EQ(StaticFiles::ContentType("a.jsx"), "application/octet-stream");
}

TEST(StaticFilesTest, EntityTagIsTheStartOfTheSha256) {
  EXPECT_EQ(StaticFiles::EntityTag("abc"), "\"ba7816bf8f01cfea414140de5dae2223\"");
  EXPECT_NE(StaticFiles::EntityTag("abc"), StaticFiles::EntityTag("abd"));
}

TEST(StaticFilesTest, PathsAreEachFileAndTheIndexAtSlash) {
  const std::vector<std::string> paths = StaticFiles(kFiles).Paths();
  EXPECT_EQ(paths, (std::vector<std::string>{"/index.html", "/", "/app.js", "/style.css"}));
  const std::vector<WebFile> no_index = {{"app.js", "1"}};
  EXPECT_EQ(StaticFiles(no_index).Paths(), std::vector<std::string>{"/app.js"});
}

TEST(StaticFilesTest, ServesTheFileWithItsTypeTagAndSecurityHeaders) {
  const StaticFiles files(kFiles);
  const std::optional<Response> r = files.Serve(Get("/app.js"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "export const x = 1;\n");
  EXPECT_EQ(r->Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r->Header("ETag"), StaticFiles::EntityTag("export const x = 1;\n"));
  EXPECT_EQ(r->Header("Cache-Control"), "no-cache");
  EXPECT_EQ(r->Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r->Header("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r->Header("X-Frame-Options"), "DENY");
  const std::string csp(r->Header("Content-Security-Policy"));
  EXPECT_EQ(csp.rfind("default-src 'self';", 0), 0u) << csp;
  EXPECT_NE(csp.find("connect-src 'self' ws: wss:;"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;

  const std::optional<Response> index = files.Serve(Get("/"));
  ASSERT_TRUE(index);
  EXPECT_EQ(index->body, "<!doctype html><p>hi</p>");
  EXPECT_EQ(index->Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->Header("ETag"), files.Serve(Get("/index.html"))->Header("ETag"));
}

TEST(StaticFilesTest, IfNoneMatchWithTheTagIs304WithoutABody) {
  const StaticFiles files(kFiles);
  const std::string tag = StaticFiles::EntityTag("p { color: red }");
  for (const std::string& header :
       {tag, "W/" + tag, "\"other\", " + tag, " \"x\" ,W/" + tag + " ", std::string("*")}) {
    SCOPED_TRACE(header);
    const std::optional<Response> r = files.Serve(Get("/style.css", header));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(r->Header("ETag"), tag);
    EXPECT_EQ(r->Header("Cache-Control"), "no-cache");
    EXPECT_EQ(r->Header("Content-Type"), "");
  }
  for (const std::string& header :
       {std::string("\"other\""), StaticFiles::EntityTag("p { color: blue }"),
        tag.substr(1, tag.size() - 2)}) {
    SCOPED_TRACE(header);
    EXPECT_EQ(files.Serve(Get("/style.css", header))->status, 200);
  }
}

TEST(StaticFilesTest, UnknownPathIsNotServed) {
  const StaticFiles files(kFiles);
  for (const char* path : {"/nope", "/app.js/", "/APP.JS", "app.js", "/index", "//", ""}) {
    EXPECT_FALSE(files.Serve(Get(path))) << path;
  }
}

// --- the files built into the binary ---------------------------------------------

std::string ReadSourceFile(const std::string& name) {
  std::ifstream in(std::string(NOTIFYD_SOURCE_DIR) + "/web/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(StaticFilesTest, BuiltinFilesAreWebExactly) {
  std::vector<std::string> names;
  for (const WebFile& file : BuiltinWebFiles()) {
    names.emplace_back(file.name);
    EXPECT_EQ(file.body, ReadSourceFile(std::string(file.name))) << file.name;
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"console.css", "console.js", "favicon.svg", "index.html"}));
}

// What the Content-Security-Policy allows: scripts and styles only from the
// server's own files, and nothing fetched from anywhere else.
TEST(StaticFilesTest, BuiltinPageKeepsToItsOwnFiles) {
  std::string index;
  for (const WebFile& file : BuiltinWebFiles()) {
    if (file.name == "index.html") index = std::string(file.body);
    // The only absolute URL is the SVG namespace, which is a name, not a request.
    std::string text(file.body);
    const std::string svg_namespace = "http://www.w3.org/2000/svg";
    for (size_t at; (at = text.find(svg_namespace)) != std::string::npos;) {
      text.erase(at, svg_namespace.size());
    }
    EXPECT_FALSE(std::regex_search(text, std::regex("(https?|wss?)://|[\"'(=]\\s*//[A-Za-z0-9]")))
        << file.name << " names another site";
  }
  EXPECT_NE(index.find(R"(<script type="module" src="console.js"></script>)"), std::string::npos);
  EXPECT_FALSE(std::regex_search(index, std::regex("<script(?![^>]*\\bsrc=)"))) << "inline script";
  EXPECT_FALSE(std::regex_search(index, std::regex("\\sstyle=|<style|\\son[a-z]+=")))
      << "inline style or event handler";
}

// Api serves them at / and /<name> to anyone, GET and HEAD only; other paths
// stay 404.
TEST(StaticFilesTest, ApiServesTheConsoleWithoutAccessRules) {
  testing_support::FakeClock clock;
  protocol::JsonNotificationEncoder encoder;
  core::Hub hub{clock, core::IdSource(3)};
  core::Broker broker{hub, clock, encoder, core::IdSource(5)};
  core::Counters counters;
  Api api{hub, broker, clock, counters, nullptr};
  config::Config config;
  config.admin_tokens = {{"admin-token-0123456789", "", {}}};
  config.subscribe_token = {"subscribe-token-0123456789", "", {}};
  api.Configure(config);

  for (const char* path : {"/", "/index.html", "/console.js", "/console.css", "/favicon.svg"}) {
    SCOPED_TRACE(path);
    Request get = Get(path);
    const Response r = api.Handle(get);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.body.empty());
    EXPECT_EQ(r.Header("X-Frame-Options"), "DENY");
    get.method = "HEAD";  // the transport drops the body
    EXPECT_EQ(api.Handle(get).status, 200);
    get.method = "POST";
    EXPECT_EQ(api.Handle(get).status, 405);
    get.method = "GET";
    get.headers.emplace_back("If-None-Match", std::string(r.Header("ETag")));
    EXPECT_EQ(api.Handle(get).status, 304);
  }
  EXPECT_EQ(api.Handle(Get("/index.htm")).status, 404);
  EXPECT_EQ(api.Handle(Get("/web/console.js")).status, 404);
  EXPECT_EQ(counters.auth_failures, 0u);
}

}  // namespace
}  // namespace notifyd::http

namespace notifyd::http {
namespace {

// Found by fuzz_http: the router matches an empty path to "/", which names
// no file; the answer is a 404, not a file that is not there.
TEST(StaticFilesApiTest, AnEmptyPathIsNotTheIndex) {
  testing_support::FakeClock clock;
  protocol::JsonNotificationEncoder encoder;
  core::Hub hub{clock, core::IdSource(1)};
  core::Broker broker{hub, clock, encoder, core::IdSource(2)};
  core::Counters counters;
  Api api{hub, broker, clock, counters, nullptr};
  api.Configure(config::Config{});
  Request r;
  r.method = "GET";
  r.path = "";
  r.query = "ws";
  r.peer_address = "127.0.0.1";
  EXPECT_EQ(api.Handle(r).status, 404);
}

}  // namespace
}  // namespace notifyd::http
