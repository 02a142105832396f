// json_check.h — a strict little JSON validator for tests: the engine promises
// that every JSON it returns is valid (control characters escaped, UTF-8 valid,
// no NaN/Inf), whatever bytes the input file held.
#pragma once

#include <cstddef>
#include <string>

namespace json_check {

class Validator {
public:
    explicit Validator(const std::string &s) : s_(s) {}

    // True when the whole text is exactly one valid JSON value.
    bool ok() {
        ws();
        if (!value(0)) return false;
        ws();
        return i_ == s_.size();
    }
    size_t where() const { return i_; }

private:
    bool value(int depth) {
        if (depth > 256 || i_ >= s_.size()) return false;
        char c = s_[i_];
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        if (c == '"') return string();
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        return word("true") || word("false") || word("null");
    }
    bool object(int depth) {
        ++i_;
        ws();
        if (peek('}')) return ++i_, true;
        for (;;) {
            ws();
            if (!peek('"') || !string()) return false;
            ws();
            if (!peek(':')) return false;
            ++i_;
            ws();
            if (!value(depth + 1)) return false;
            ws();
            if (peek('}')) return ++i_, true;
            if (!peek(',')) return false;
            ++i_;
        }
    }
    bool array(int depth) {
        ++i_;
        ws();
        if (peek(']')) return ++i_, true;
        for (;;) {
            ws();
            if (!value(depth + 1)) return false;
            ws();
            if (peek(']')) return ++i_, true;
            if (!peek(',')) return false;
            ++i_;
        }
    }
    bool string() {
        ++i_;
        while (i_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') return ++i_, true;
            if (c < 0x20) return false;
            if (c == '\\') {
                if (++i_ >= s_.size()) return false;
                char e = s_[i_];
                if (e == 'u') {
                    for (int k = 1; k <= 4; ++k)
                        if (i_ + k >= s_.size() || !isxdigit(static_cast<unsigned char>(s_[i_ + k]))) return false;
                    i_ += 5;
                    continue;
                }
                if (std::string("\"\\/bfnrt").find(e) == std::string::npos) return false;
                ++i_;
                continue;
            }
            if (c < 0x80) { ++i_; continue; }
            size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            if (len == 0 || c > 0xF4 || i_ + len > s_.size()) return false;
            unsigned cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
            for (size_t k = 1; k < len; ++k) {
                unsigned char d = static_cast<unsigned char>(s_[i_ + k]);
                if ((d & 0xC0) != 0x80) return false;
                cp = (cp << 6) | (d & 0x3F);
            }
            if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
                return false;
            i_ += len;
        }
        return false;
    }
    bool number() {
        size_t start = i_;
        if (peek('-')) ++i_;
        if (peek('0')) ++i_;
        else if (!digits()) return false;
        if (peek('.')) {
            ++i_;
            if (!digits()) return false;
        }
        if (peek('e') || peek('E')) {
            ++i_;
            if (peek('+') || peek('-')) ++i_;
            if (!digits()) return false;
        }
        return i_ > start;
    }
    bool digits() {
        size_t start = i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        return i_ > start;
    }
    bool word(const char *w) {
        std::string ws_(w);
        if (s_.compare(i_, ws_.size(), ws_) != 0) return false;
        i_ += ws_.size();
        return true;
    }
    bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
    }
    static bool isxdigit(unsigned char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    const std::string &s_;
    size_t i_ = 0;
};

inline bool valid(const std::string &s) { return Validator(s).ok(); }

} // namespace json_check
