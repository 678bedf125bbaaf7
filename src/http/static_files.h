// The web console's files (web/ in the source tree), built into the binary
// and served at / (index.html) and /<name>: GET and HEAD, with the content
// type by extension, Cache-Control: no-cache and an ETag (so a browser asks
// again every time and gets 304 while the file is unchanged), and headers
// that keep the page to itself: a Content-Security-Policy that allows only
// the page's own files and connections to its own server (no inline script,
// no other origin), nosniff, no referrer, no framing. Socket-free: Api routes
// the paths here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/router.h"

namespace notifyd::http {

/// One file as built into the binary.
struct WebFile {
  std::string_view name;  ///< Its name in web/: "index.html", "console.js", ...
  std::string_view body;  ///< Its bytes.
};

/// The files of web/, by name. Defined in the source the build generates from
/// web/ (cmake/embed_web_files.cmake); the bytes live as long as the program.
const std::vector<WebFile>& BuiltinWebFiles();

class StaticFiles {
 public:
  /// Serves `files`, whose bytes must outlive this object.
  explicit StaticFiles(const std::vector<WebFile>& files);

  /// The URL paths served: "/<name>" for every file, and "/" when there is an
  /// index.html.
  std::vector<std::string> Paths() const;

  /// Answers a GET or HEAD of request.path: 200 with the file, or 304 without
  /// a body when If-None-Match names its ETag (or is "*"); nullopt when no
  /// file has that path.
  std::optional<Response> Serve(const Request& request) const;

  /// The media type of a file, by the extension of `name`
  /// ("text/javascript; charset=utf-8" for "console.js");
  /// application/octet-stream for one it does not know.
  static std::string_view ContentType(std::string_view name);

  /// The ETag of `body`: the first 128 bits of its SHA-256 in hex, quoted.
  static std::string EntityTag(std::string_view body);

 private:
  struct Entry {
    std::string path;  ///< "/console.js"
    std::string_view body;
    std::string_view content_type;
    std::string etag;
  };

  const Entry* Find(std::string_view path) const;

  std::vector<Entry> entries_;
};

}  // namespace notifyd::http
