#include "core/cluster_engine.h"

#include <charconv>

namespace notifyd::core {

namespace {

void AppendField(std::string* out, std::string_view field) {
  *out += std::to_string(field.size());
  *out += ':';
  out->append(field.data(), field.size());
}

/// Reads "<len>:<bytes>" from the front of `*in`.
bool TakeField(std::string_view* in, std::string* field) {
  const size_t colon = in->find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 10) return false;
  size_t len = 0;
  auto [end, ec] = std::from_chars(in->data(), in->data() + colon, len);
  if (ec != std::errc() || end != in->data() + colon) return false;
  in->remove_prefix(colon + 1);
  if (len > in->size()) return false;
  field->assign(in->data(), len);
  in->remove_prefix(len);
  return true;
}

}  // namespace

std::string EncodeEntryPayload(int64_t published_ms, std::string_view title,
                               std::string_view body, std::string_view data_json) {
  std::string out = std::to_string(published_ms);
  out.reserve(out.size() + title.size() + body.size() + data_json.size() + 24);
  out += ' ';
  AppendField(&out, title);
  AppendField(&out, body);
  AppendField(&out, data_json);
  return out;
}

std::optional<EntryContent> DecodeEntryPayload(std::string_view payload) {
  EntryContent content;
  const size_t space = payload.find(' ');
  if (space == std::string_view::npos || space == 0) return std::nullopt;
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + space, content.published_ms);
  if (ec != std::errc() || end != payload.data() + space) return std::nullopt;
  payload.remove_prefix(space + 1);
  if (!TakeField(&payload, &content.title) || !TakeField(&payload, &content.body) ||
      !TakeField(&payload, &content.data_json) || !payload.empty()) {
    return std::nullopt;
  }
  return content;
}

}  // namespace notifyd::core
