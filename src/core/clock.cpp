#include "core/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace notifyd::core {

int64_t SystemClock::WallMillis() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t SystemClock::MonotonicMillis() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

int64_t SystemClock::MonotonicMicros() const {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

namespace {

// Writes `value` as `width` decimal digits, zero-padded.
char* PutDigits(char* p, int value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

}  // namespace

void AppendIso8601(std::string& out, int64_t wall_millis) {
  // Floor division so that times before 1970 still get a 0..999 millisecond part.
  int64_t secs = wall_millis / 1000;
  int64_t millis = wall_millis % 1000;
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  // Days since 1970-01-01 to the proleptic Gregorian civil date: Howard
  // Hinnant's civil_from_days (eras of 400 years, years starting in March).
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;                                      // [0, 146096]
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  int64_t day = doy - (153 * mp + 2) / 5 + 1;                           // [1, 31]
  int64_t month = mp < 10 ? mp + 3 : mp - 9;                            // [1, 12]
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[64];
  if (year < 0 || year > 9999) {
    // Beyond four digits: as printf writes them (the wall clock never is).
    int n = std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                          static_cast<long long>(year), static_cast<int>(month),
                          static_cast<int>(day), static_cast<int>(rem / 3600),
                          static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60),
                          static_cast<int>(millis));
    out.append(buf, static_cast<size_t>(n));
    return;
  }
  char* p = PutDigits(buf, static_cast<int>(year), 4);
  *p++ = '-';
  p = PutDigits(p, static_cast<int>(month), 2);
  *p++ = '-';
  p = PutDigits(p, static_cast<int>(day), 2);
  *p++ = 'T';
  p = PutDigits(p, static_cast<int>(rem / 3600), 2);
  *p++ = ':';
  p = PutDigits(p, static_cast<int>(rem / 60 % 60), 2);
  *p++ = ':';
  p = PutDigits(p, static_cast<int>(rem % 60), 2);
  *p++ = '.';
  p = PutDigits(p, static_cast<int>(millis), 3);
  *p++ = 'Z';
  out.append(buf, static_cast<size_t>(p - buf));
}

std::string FormatIso8601(int64_t wall_millis) {
  std::string out;
  AppendIso8601(out, wall_millis);
  return out;
}

}  // namespace notifyd::core
