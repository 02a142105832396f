// bigint.h — Python's unbounded int for the values that do not fit int64
// ({{ 2 ** 100 }}, 20-digit literals, JSON big numbers): sign + base-1e9 limbs,
// with the few operations templates use. Size is capped (k_bigint_max_digits,
// Python's own str() limit) so arithmetic stays cheap.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llm4all::jinja {

constexpr size_t k_bigint_max_digits = 4300;

struct BigInt {
    bool neg = false;
    std::vector<uint32_t> limbs;  // little-endian, base 1e9, no leading zero limbs; empty = 0

    static BigInt from_int(int64_t v);
    // Digits in base 2..36 without sign/prefix/underscores; false if invalid.
    static bool parse(std::string_view digits, int base, bool negative, BigInt &out);
    bool fits_int64() const;
    int64_t to_int64_saturated() const;
    double to_double() const;
    std::string to_string() const;
    bool is_zero() const { return limbs.empty(); }

    static int compare(const BigInt &a, const BigInt &b);
    static BigInt add(const BigInt &a, const BigInt &b);
    static BigInt sub(const BigInt &a, const BigInt &b);
    static BigInt mul(const BigInt &a, const BigInt &b);
    // Python floor division and modulo; b != 0.
    static void divmod(const BigInt &a, const BigInt &b, BigInt &q, BigInt &r);
    static BigInt pow(const BigInt &a, uint64_t e);
};

} // namespace llm4all::jinja
