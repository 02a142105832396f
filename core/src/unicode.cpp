// unicode.cpp — UTF-8 validation/decoding, code point classes (flat lookup
// table built once from the generated ranges) and the GPT-2 byte mapping.
#include "unicode.h"

#include <algorithm>
#include <array>

namespace llm4all {

namespace {

constexpr uint32_t k_max_cp = 0x110000;

// One byte per code point (1.1 MB): the tokenizer asks for every character of
// every input, so an O(1) lookup is worth the memory.
const std::vector<uint8_t> &flag_table() {
    static const std::vector<uint8_t> table = [] {
        std::vector<uint8_t> t(k_max_cp, 0);
        for (size_t i = 0; i < k_unicode_ranges_count; ++i) {
            uint32_t lo = k_unicode_ranges[i].first;
            uint32_t hi = i + 1 < k_unicode_ranges_count ? k_unicode_ranges[i + 1].first : k_max_cp;
            for (uint32_t cp = lo; cp < hi; ++cp) t[cp] = k_unicode_ranges[i].cls;
        }
        for (size_t i = 0; i < k_unicode_whitespace_count; ++i) t[k_unicode_whitespace[i]] |= 8;
        return t;
    }();
    return table;
}

uint32_t lookup_pair(const UnicodePair *table, size_t n, uint32_t cp) {
    const UnicodePair *end = table + n;
    const UnicodePair *it = std::lower_bound(table, end, cp, [](const UnicodePair &p, uint32_t v) { return p.from < v; });
    return it != end && it->from == cp ? it->to : cp;
}

struct Gpt2Map {
    std::array<uint32_t, 256> to_cp{};
    std::vector<int16_t> to_byte;   // indexed by code point < 512
    Gpt2Map() : to_byte(512, -1) {
        // Printable Latin-1 bytes keep their own code point; the rest are
        // moved to 256, 257, ... in byte order (the GPT-2 convention).
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_cp[b] = keep ? static_cast<uint32_t>(b) : next++;
            to_byte[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const Gpt2Map &gpt2_map() {
    static const Gpt2Map m;
    return m;
}

} // namespace

uint8_t unicode_flags(uint32_t cp) {
    return cp < k_max_cp ? flag_table()[cp] : 0;
}

size_t utf8_find_invalid(std::string_view s) {
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) { ++i; continue; }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (i + len > n) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return std::string_view::npos;
}

std::vector<uint32_t> utf8_decode(std::string_view s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = utf8_len(static_cast<unsigned char>(c));
        if (i + len > n) len = 1;   // cannot happen on validated input
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
        out.push_back(cp);
        i += len;
    }
    return out;
}

void utf8_append(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

uint32_t gpt2_byte_to_cp(uint8_t b) { return gpt2_map().to_cp[b]; }

int gpt2_cp_to_byte(uint32_t cp) {
    return cp < 512 ? gpt2_map().to_byte[cp] : -1;
}

uint32_t unicode_tolower(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return lookup_pair(k_unicode_lower, k_unicode_lower_count, cp);
}

uint32_t unicode_nfd_first(uint32_t cp) {
    if (cp < 0xC0) return cp;
    // A Hangul syllable decomposes arithmetically; its first jamo is the leading consonant.
    if (cp >= 0xAC00 && cp <= 0xD7A3) return 0x1100 + (cp - 0xAC00) / 588;
    return lookup_pair(k_unicode_nfd_first, k_unicode_nfd_first_count, cp);
}

} // namespace llm4all
