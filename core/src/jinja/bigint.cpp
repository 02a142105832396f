// bigint.cpp — schoolbook arithmetic on base-1e9 limbs (see bigint.h). Every
// result is checked against the digit cap, so a template cannot make one huge.
#include "bigint.h"

#include <algorithm>
#include <cstdlib>

#include "value.h"

namespace llm4all::jinja {

namespace {
constexpr uint32_t B = 1000000000u;

void trim(BigInt &x) {
    while (!x.limbs.empty() && x.limbs.back() == 0) x.limbs.pop_back();
    if (x.limbs.empty()) x.neg = false;
}
void check_size(const BigInt &x) {
    if (x.limbs.size() * 9 > k_bigint_max_digits + 9) throw_error("integer too large (sandbox limit)");
}
int cmp_mag(const std::vector<uint32_t> &a, const std::vector<uint32_t> &b) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    for (size_t i = a.size(); i-- > 0;)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}
std::vector<uint32_t> add_mag(const std::vector<uint32_t> &a, const std::vector<uint32_t> &b) {
    std::vector<uint32_t> r;
    uint64_t carry = 0;
    for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
        uint64_t s = carry + (i < a.size() ? a[i] : 0) + (i < b.size() ? b[i] : 0);
        r.push_back(static_cast<uint32_t>(s % B));
        carry = s / B;
    }
    return r;
}
std::vector<uint32_t> sub_mag(const std::vector<uint32_t> &a, const std::vector<uint32_t> &b) {  // |a| >= |b|
    std::vector<uint32_t> r(a);
    int64_t borrow = 0;
    for (size_t i = 0; i < r.size(); ++i) {
        int64_t d = static_cast<int64_t>(r[i]) - borrow - (i < b.size() ? b[i] : 0);
        borrow = d < 0;
        if (d < 0) d += B;
        r[i] = static_cast<uint32_t>(d);
    }
    return r;
}
std::vector<uint32_t> mul_small(const std::vector<uint32_t> &a, uint32_t m) {
    std::vector<uint32_t> r;
    uint64_t carry = 0;
    for (size_t i = 0; i < a.size() || carry; ++i) {
        uint64_t p = carry + (i < a.size() ? static_cast<uint64_t>(a[i]) * m : 0);
        r.push_back(static_cast<uint32_t>(p % B));
        carry = p / B;
    }
    while (!r.empty() && r.back() == 0) r.pop_back();
    return r;
}
} // namespace

BigInt BigInt::from_int(int64_t v) {
    BigInt r;
    r.neg = v < 0;
    uint64_t m = v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
    while (m) { r.limbs.push_back(static_cast<uint32_t>(m % B)); m /= B; }
    return r;
}

bool BigInt::parse(std::string_view digits, int base, bool negative, BigInt &out) {
    out = BigInt();
    if (digits.empty()) return false;
    if (base < 2 || base > 36) return false;
    for (char c : digits) {
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'z') ? c - 'a' + 10 : (c >= 'A' && c <= 'Z') ? c - 'A' + 10 : 99;
        if (d >= base) return false;
        // limbs = limbs * base + d in place: no allocation per digit (a 4,300-digit number
        // would otherwise allocate 8,600 vectors).
        uint64_t carry = static_cast<uint64_t>(d);
        for (uint32_t &l : out.limbs) {
            const uint64_t p = static_cast<uint64_t>(l) * static_cast<uint64_t>(base) + carry;
            l = static_cast<uint32_t>(p % B);
            carry = p / B;
        }
        if (carry) out.limbs.push_back(static_cast<uint32_t>(carry));   // carry < base <= 36
        check_size(out);
    }
    out.neg = negative;
    trim(out);
    return true;
}

bool BigInt::fits_int64() const {
    if (limbs.size() > 3) return false;
    BigInt lim = from_int(neg ? INT64_MIN : INT64_MAX);
    return cmp_mag(limbs, lim.limbs) <= 0;
}

int64_t BigInt::to_int64_saturated() const {
    if (!fits_int64()) return neg ? INT64_MIN : INT64_MAX;
    uint64_t m = 0;
    for (size_t i = limbs.size(); i-- > 0;) m = m * B + limbs[i];
    return neg ? static_cast<int64_t>(0 - m) : static_cast<int64_t>(m);
}

std::string BigInt::to_string() const {
    if (limbs.empty()) return "0";
    std::string s = neg ? "-" : "";
    s += std::to_string(limbs.back());
    for (size_t i = limbs.size() - 1; i-- > 0;) {
        std::string part = std::to_string(limbs[i]);
        s.append(9 - part.size(), '0');
        s += part;
    }
    return s;
}

double BigInt::to_double() const { return std::strtod(to_string().c_str(), nullptr); }

int BigInt::compare(const BigInt &a, const BigInt &b) {
    if (a.neg != b.neg) return a.neg ? -1 : 1;
    int c = cmp_mag(a.limbs, b.limbs);
    return a.neg ? -c : c;
}

BigInt BigInt::add(const BigInt &a, const BigInt &b) {
    BigInt r;
    if (a.neg == b.neg) {
        r.limbs = add_mag(a.limbs, b.limbs);
        r.neg = a.neg;
    } else if (cmp_mag(a.limbs, b.limbs) >= 0) {
        r.limbs = sub_mag(a.limbs, b.limbs);
        r.neg = a.neg;
    } else {
        r.limbs = sub_mag(b.limbs, a.limbs);
        r.neg = b.neg;
    }
    trim(r);
    check_size(r);
    return r;
}

BigInt BigInt::sub(const BigInt &a, const BigInt &b) {
    BigInt nb = b;
    if (!nb.is_zero()) nb.neg = !nb.neg;
    return add(a, nb);
}

BigInt BigInt::mul(const BigInt &a, const BigInt &b) {
    BigInt r;
    if (a.is_zero() || b.is_zero()) return r;
    if ((a.limbs.size() + b.limbs.size()) * 9 > k_bigint_max_digits + 18) throw_error("integer too large (sandbox limit)");
    std::vector<uint64_t> acc(a.limbs.size() + b.limbs.size() + 1, 0);
    for (size_t i = 0; i < a.limbs.size(); ++i) {
        uint64_t carry = 0;
        for (size_t j = 0; j < b.limbs.size() || carry; ++j) {
            uint64_t cur = acc[i + j] + carry + (j < b.limbs.size() ? static_cast<uint64_t>(a.limbs[i]) * b.limbs[j] : 0);
            acc[i + j] = cur % B;
            carry = cur / B;
        }
    }
    for (uint64_t v : acc) r.limbs.push_back(static_cast<uint32_t>(v));
    r.neg = a.neg != b.neg;
    trim(r);
    check_size(r);
    return r;
}

void BigInt::divmod(const BigInt &a, const BigInt &b, BigInt &q, BigInt &r) {
    if (b.is_zero()) throw_error("integer division or modulo by zero");
    // magnitude long division, one base-1e9 digit at a time (binary search per digit)
    std::vector<uint32_t> quo(a.limbs.size(), 0);
    std::vector<uint32_t> rem;
    for (size_t i = a.limbs.size(); i-- > 0;) {
        rem.insert(rem.begin(), a.limbs[i]);
        while (!rem.empty() && rem.back() == 0) rem.pop_back();
        uint32_t lo = 0, hi = B - 1;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo + 1) / 2;
            if (cmp_mag(mul_small(b.limbs, mid), rem) <= 0) lo = mid;
            else hi = mid - 1;
        }
        quo[i] = lo;
        if (lo) {
            rem = sub_mag(rem, mul_small(b.limbs, lo));
            while (!rem.empty() && rem.back() == 0) rem.pop_back();
        }
    }
    q = BigInt();
    q.limbs = quo;
    q.neg = a.neg != b.neg;
    trim(q);
    r = BigInt();
    r.limbs = rem;
    r.neg = a.neg;
    trim(r);
    // floor semantics: remainder takes the divisor's sign
    if (!r.is_zero() && r.neg != b.neg) {
        q = sub(q, from_int(1));
        r = add(r, b);
    }
}

BigInt BigInt::pow(const BigInt &a, uint64_t e) {
    BigInt result = from_int(1), base = a;
    while (e) {
        if (e & 1) result = mul(result, base);
        e >>= 1;
        if (e) base = mul(base, base);
    }
    return result;
}

} // namespace llm4all::jinja
