// JSON assertions shared by the unit tests: parse a reply or body and read
// the value at a JSON Pointer, failing the test (never aborting) when the
// text is not JSON or the value is missing or of another type.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

namespace notifyd::testing_support::json {

using Names = std::vector<std::string>;

inline rapidjson::Document ParseJsonText(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << text;
  return doc;
}

// The value at JSON Pointer `path` ("/channels/0/name"; "" is the root), or a
// null value and a test failure when there is none. Never asserts, so a wrong
// shape fails the test instead of aborting the binary in RapidJSON.
inline const rapidjson::Value& At(const rapidjson::Value& root, const char* path) {
  static const rapidjson::Value kNull;
  const rapidjson::Value* v = rapidjson::Pointer(path).Get(root);
  if (v == nullptr) {
    ADD_FAILURE() << "no value at \"" << path << "\"";
    return kNull;
  }
  return *v;
}

inline bool Has(const rapidjson::Value& root, const char* path) {
  return rapidjson::Pointer(path).Get(root) != nullptr;
}

inline std::string StrAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsString()) {
    ADD_FAILURE() << "not a string at \"" << path << "\"";
    return "";
  }
  return std::string(v.GetString(), v.GetStringLength());
}

inline uint64_t UintAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsUint64()) {
    ADD_FAILURE() << "not an unsigned integer at \"" << path << "\"";
    return 0;
  }
  return v.GetUint64();
}

inline int64_t IntAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsInt64()) {
    ADD_FAILURE() << "not an integer at \"" << path << "\"";
    return 0;
  }
  return v.GetInt64();
}

inline double DoubleAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsNumber()) {
    ADD_FAILURE() << "not a number at \"" << path << "\"";
    return 0;
  }
  return v.GetDouble();
}

inline bool BoolAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsBool()) {
    ADD_FAILURE() << "not a boolean at \"" << path << "\"";
    return false;
  }
  return v.GetBool();
}

inline size_t SizeAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsArray()) {
    ADD_FAILURE() << "not an array at \"" << path << "\"";
    return 0;
  }
  return v.Size();
}

/// The member names of an object, sorted (duplicates kept).
inline Names Keys(const rapidjson::Value& object) {
  Names names;
  if (!object.IsObject()) return names;
  for (const auto& m : object.GetObject()) names.emplace_back(m.name.GetString());
  std::sort(names.begin(), names.end());
  return names;
}

inline Names Sorted(Names names) {
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace notifyd::testing_support::json
