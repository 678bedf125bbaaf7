// SHA-256 and a constant-time comparison of digests, for checking access
// tokens without leaking through timing how much of a guess was right, or how
// long the real token is: both sides are hashed to 32 bytes first, and the
// digests are compared with no early exit. Standard library only.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace notifyd::core {

/// A SHA-256 digest.
using Digest = std::array<uint8_t, 32>;

/// Feeds `data` with the padding of FIPS 180-4 §5.1.1 (shared by SHA-1 and
/// SHA-256) to `compress`, one 64-byte block at a time.
void HashBlocks(std::string_view data, uint32_t* state,
                void (*compress)(uint32_t* state, const uint8_t* block));

/// SHA-256 (FIPS 180-4) of `data`. Its running time depends only on data.size().
Digest Sha256(std::string_view data);

/// True when `a` equals `b`; always looks at all 32 bytes.
bool DigestsEqual(const Digest& a, const Digest& b);

/// True when `a` equals `b`. Compares their digests, so the time taken depends
/// only on the two lengths (hashing), never on where the texts differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace notifyd::core
