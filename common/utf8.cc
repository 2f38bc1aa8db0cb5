#include "common/utf8.h"

#include <cstring>

namespace rollcall::common::utf8 {

int32_t DecodeOne(absl::string_view text, std::size_t* pos) {
  const auto byte = [&](std::size_t i) { return static_cast<uint8_t>(text[i]); };
  const std::size_t start = *pos;
  const uint8_t lead = byte(start);
  *pos = start + 1;
  if (lead < 0x80) return lead;

  int length;
  int32_t code_point;
  int32_t min_code_point;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
    min_code_point = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
    min_code_point = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
    min_code_point = 0x10000;
  } else {
    return kInvalid;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
  }
  if (start + length > text.size()) return kInvalid;
  for (int i = 1; i < length; ++i) {
    const uint8_t next = byte(start + i);
    if ((next & 0xC0) != 0x80) return kInvalid;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  if (code_point < min_code_point) return kInvalid;                     // overlong
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return kInvalid;    // surrogate
  if (code_point > 0x10FFFF) return kInvalid;                           // out of range
  *pos = start + length;
  return code_point;
}

bool IsValid(absl::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    // ASCII, by far the common case in Graph's bodies, eight bytes at a time.
    while (pos + 8 <= text.size()) {
      uint64_t word;
      std::memcpy(&word, text.data() + pos, sizeof word);
      if ((word & 0x8080808080808080ULL) != 0) break;
      pos += 8;
    }
    if (pos >= text.size()) break;
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
    } else if (DecodeOne(text, &pos) == kInvalid) {
      return false;
    }
  }
  return true;
}

std::string Truncate(absl::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  // Back over continuation bytes (10xxxxxx) to the start of the sequence the cut falls in.
  while (cut > 0 && (static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

}  // namespace rollcall::common::utf8
