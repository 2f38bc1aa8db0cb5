#pragma once
// UTF-8 checks shared by the JSON mapping (protobuf strings must be UTF-8), request validation
// and the logger.

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

namespace rollcall::common::utf8 {

inline constexpr int32_t kInvalid = -1;

// Decodes the code point starting at text[*pos] and advances *pos past it. On a malformed,
// overlong, surrogate or out-of-range sequence returns kInvalid and advances *pos by one byte.
// Requires *pos < text.size().
int32_t DecodeOne(absl::string_view text, std::size_t* pos);

// True when `text` is entirely well-formed UTF-8 (RFC 3629).
bool IsValid(absl::string_view text);

// `text` cut to at most `max_bytes` bytes, never inside a UTF-8 sequence, with "..." appended
// when anything was cut (the result is then at most max_bytes + 3 bytes). For text an upstream
// sends that goes into errors: it must fit a client's metadata limit, whatever was sent.
std::string Truncate(absl::string_view text, std::size_t max_bytes);

}  // namespace rollcall::common::utf8
