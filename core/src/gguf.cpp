// gguf.cpp — the GGUF reader: parsing, validation, typed metadata access and
// the JSON description. A GGUF file is untrusted input, so every count, length,
// type id, dimension and offset is checked against the bytes actually present
// before anything is allocated or read from it.
#include "gguf.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "error.h"
#include "platform/platform.h"
#include "types.h"

namespace llm4all {

namespace {

constexpr uint32_t kMagic = 0x46554747;   // "GGUF" read as a little-endian uint32
constexpr int kMaxNesting = 8;            // arrays of arrays deeper than this are refused
constexpr uint64_t kDefaultAlignment = 32;
// Each parsed value costs ~100 bytes of memory however few bytes it took in the
// file, so the total is capped far above any real file (a 262k vocabulary with
// scores, types and merges is ~1M values) to keep a small hostile file from
// costing gigabytes.
constexpr uint64_t kMaxMetadataValues = uint64_t(1) << 23;

// Smallest number of file bytes one value of a type can occupy; used to refuse
// counts that could not possibly fit in the bytes left before allocating.
uint64_t min_value_bytes(GgufType t) {
    switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    case GgufType::STRING: return 8;          // length prefix
    case GgufType::ARRAY: return 4 + 8;       // element type + count
    }
    return 1;
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::FLOAT64); }

bool is_integer(GgufType t) {
    switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
        return true;
    default: return false;
    }
}

bool is_float(GgufType t) { return t == GgufType::FLOAT32 || t == GgufType::FLOAT64; }

// Names of ggml tensor types that exist in the format but that this engine
// cannot read; such files are valid, so they get UNSUPPORTED, not BAD_GGUF.
const char *ggml_only_type_name(int32_t id) {
    switch (id) {
    case 16: return "IQ2_XXS"; case 17: return "IQ2_XS"; case 18: return "IQ3_XXS";
    case 19: return "IQ1_S"; case 21: return "IQ3_S"; case 22: return "IQ2_S";
    case 24: return "I8";
    case 25: return "I16"; case 26: return "I32"; case 27: return "I64";
    case 28: return "F64"; case 29: return "IQ1_M"; case 34: return "TQ1_0";
    case 35: return "TQ2_0"; case 39: return "MXFP4";
    default: return nullptr;
    }
}

// Length of the valid UTF-8 sequence at s[i..n), or 0 when it is invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t utf8_seq_len(const unsigned char *s, size_t i, size_t n) {
    unsigned char c = s[i];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return len;
}

bool valid_utf8(const std::string &s) {
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    for (size_t i = 0; i < s.size();) {
        size_t l = utf8_seq_len(p, i, s.size());
        if (l == 0) return false;
        i += l;
    }
    return true;
}

// Shortest decimal that reads back as the same value; NaN/Inf have no JSON form.
std::string json_number(double v, bool single) {
    if (!std::isfinite(v)) return "null";
    char buf[40];
    for (int prec = single ? 6 : 15; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = std::strtod(buf, nullptr);
        if (single ? static_cast<float>(back) == static_cast<float>(v) : back == v) break;
    }
    return buf;
}

} // namespace

const char *gguf_type_name(GgufType type) {
    switch (type) {
    case GgufType::UINT8: return "UINT8";
    case GgufType::INT8: return "INT8";
    case GgufType::UINT16: return "UINT16";
    case GgufType::INT16: return "INT16";
    case GgufType::UINT32: return "UINT32";
    case GgufType::INT32: return "INT32";
    case GgufType::FLOAT32: return "FLOAT32";
    case GgufType::BOOL: return "BOOL";
    case GgufType::STRING: return "STRING";
    case GgufType::ARRAY: return "ARRAY";
    case GgufType::UINT64: return "UINT64";
    case GgufType::INT64: return "INT64";
    case GgufType::FLOAT64: return "FLOAT64";
    }
    return "UNKNOWN";
}

std::string json_escape(const std::string &s) {
    std::string out;
    out.reserve(s.size() + 8);
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    for (size_t i = 0; i < s.size();) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p, i, s.size());
            if (l == 0) {
                out += "\\ufffd";   // keeps the output valid JSON whatever the input bytes
                ++i;
            } else {
                out.append(s, i, l);
                i += l;
            }
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
        ++i;
    }
    return out;
}

void set_u(GgufValue &v, uint64_t x) {
    v.u64 = x;
    v.i64 = x <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? static_cast<int64_t>(x) : 0;
}
void set_i(GgufValue &v, int64_t x) {
    v.i64 = x;
    v.u64 = x >= 0 ? static_cast<uint64_t>(x) : 0;
}

template <class T> T load(const uint8_t *&p) {
    T v;
    std::memcpy(&v, p, sizeof(T));   // unaligned-safe; the format is little-endian
    p += sizeof(T);
    return v;
}

// Reads the file bytes front to back; every read checks the bytes left first.
// The context (which key or tensor is being read) goes into every error.
class GgufParser {
public:
    explicit GgufParser(GgufFile &f) : f_(f), p_(f.base_), n_(f.size_) {}

    void parse() {
        if (n_ < 4) bad("file too small to be GGUF (" + std::to_string(n_) + " bytes)");
        uint32_t magic = u32();
        if (magic != kMagic) bad("not a GGUF file (bad magic)");
        at_ = pos_;
        if (n_ - pos_ < 4) bad("file truncated in the header");
        uint32_t version = u32();
        if (version == 1)
            bad("GGUF version 1 is not supported (only versions 2 and 3; re-convert the model)");
        if (version != 2 && version != 3) {
            if (version == 0x02000000u || version == 0x03000000u)
                bad("big-endian GGUF files are not supported");
            bad("unsupported GGUF version " + std::to_string(version) + " (only 2 and 3)");
        }
        f_.version_ = version;
        at_ = pos_;
        uint64_t n_tensors = u64();
        at_ = pos_;
        uint64_t n_kv = u64();
        // Each kv needs at least a key length, a type and a 1-byte value; each
        // tensor info a name length, n_dims, one dim, a type and an offset.
        constexpr uint64_t kv_min = 8 + 4 + 1, ti_min = 8 + 4 + 8 + 4 + 8;
        uint64_t left = n_ - pos_;
        if (n_kv > left / kv_min) bad("metadata count " + std::to_string(n_kv) + " cannot fit in the file");
        if (n_tensors > left / ti_min)
            bad("tensor count " + std::to_string(n_tensors) + " cannot fit in the file");
        if (n_kv * kv_min + n_tensors * ti_min > left)
            bad("metadata count " + std::to_string(n_kv) + " and tensor count " +
                std::to_string(n_tensors) + " cannot fit in the file");

        f_.kv_.reserve(n_kv);
        for (uint64_t i = 0; i < n_kv; ++i) read_kv(i);

        f_.alignment_ = kDefaultAlignment;
        if (const GgufValue *a = f_.find("general.alignment")) {
            ctx_ = "key 'general.alignment'";
            at_ = align_pos_;
            if (a->type != GgufType::UINT32)
                bad(std::string("alignment must be UINT32, not ") + gguf_type_name(a->type));
            if (a->u64 == 0 || (a->u64 & (a->u64 - 1)) != 0)
                bad("alignment " + std::to_string(a->u64) + " is not a nonzero power of two");
            // Kernels read fp16/f32 fields of blocks in place; below 8 bytes the
            // mapped tensor data could sit at addresses they cannot read safely.
            if (a->u64 < 8)
                bad("alignment " + std::to_string(a->u64) + " is below 8 bytes, which tensor data needs");
            f_.alignment_ = a->u64;
        }

        f_.tensors_.reserve(n_tensors);
        for (uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(i);
        ctx_.clear();

        // The data section starts at the next multiple of the alignment. A file
        // without tensors may end before that padding (vocab-only files do).
        uint64_t a = f_.alignment_;
        uint64_t data = pos_ % a == 0 ? pos_ : pos_ + (a - pos_ % a);
        if (data > n_) {
            if (n_tensors > 0) {
                at_ = pos_;
                bad("file ends before its tensor data section");
            }
            data = n_;
        }
        f_.data_offset_ = data;
        uint64_t room = n_ - data;
        for (const GgufTensorInfo &t : f_.tensors_) {
            ctx_ = "tensor '" + t.name + "'";
            at_ = tensor_pos_[&t - f_.tensors_.data()];
            if (t.offset > room || t.size > room - t.offset)
                bad("data (offset " + std::to_string(t.offset) + ", " + std::to_string(t.size) +
                    " bytes) runs past the end of the file (data section holds " +
                    std::to_string(room) + " bytes)");
        }
    }

private:
    [[noreturn]] void bad(const std::string &what) const {
        std::string m = f_.path_ + ": " + what + " (";
        if (!ctx_.empty()) m += ctx_ + " ";
        m += "at byte offset " + std::to_string(at_) + ")";
        fail(LLM4ALL_ERR_BAD_GGUF, m);
    }

    void need(uint64_t bytes, const char *what) {
        if (n_ - pos_ < bytes) {
            at_ = pos_;
            bad(std::string("file truncated while reading ") + what + " (need " + std::to_string(bytes) +
                " bytes, " + std::to_string(n_ - pos_) + " left)");
        }
    }

    template <class T> T raw(const char *what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p_ + pos_, sizeof(T));   // unaligned-safe; the format is little-endian
        pos_ += sizeof(T);
        return v;
    }
    uint32_t u32(const char *what = "header") { return raw<uint32_t>(what); }
    uint64_t u64(const char *what = "header") { return raw<uint64_t>(what); }

    std::string str(const char *what) {
        uint64_t start = pos_;
        uint64_t len = u64(what);
        if (len > n_ - pos_) {
            at_ = start;
            bad(std::string(what) + " length " + std::to_string(len) + " runs past the end of the file (" +
                std::to_string(n_ - pos_) + " bytes left)");
        }
        std::string s(reinterpret_cast<const char *>(p_ + pos_), static_cast<size_t>(len));
        pos_ += len;
        return s;
    }

    void read_kv(uint64_t index) {
        uint64_t start = pos_;
        at_ = start;
        ctx_ = "metadata entry " + std::to_string(index);
        std::string key = str("key");
        if (!valid_utf8(key)) {
            ctx_ = "key '" + json_escape(key) + "'";
            bad("key is not valid UTF-8");
        }
        ctx_ = "key '" + key + "'";
        if (f_.kv_index_.count(key)) bad("duplicate metadata key");
        at_ = pos_;
        uint32_t type = u32("value type");
        if (!known_value_type(type)) bad("unknown value type id " + std::to_string(type));
        if (key == "general.alignment") align_pos_ = start;
        GgufValue v = value(static_cast<GgufType>(type), 0);
        f_.kv_index_.emplace(key, f_.kv_.size());
        f_.kv_.emplace_back(std::move(key), std::move(v));
    }

    GgufValue value(GgufType t, int depth) {
        GgufValue v;
        v.type = t;
        switch (t) {
        case GgufType::UINT8: set_u(v, raw<uint8_t>("value")); break;
        case GgufType::UINT16: set_u(v, raw<uint16_t>("value")); break;
        case GgufType::UINT32: set_u(v, raw<uint32_t>("value")); break;
        case GgufType::UINT64: set_u(v, raw<uint64_t>("value")); break;
        case GgufType::INT8: set_i(v, raw<int8_t>("value")); break;
        case GgufType::INT16: set_i(v, raw<int16_t>("value")); break;
        case GgufType::INT32: set_i(v, raw<int32_t>("value")); break;
        case GgufType::INT64: set_i(v, raw<int64_t>("value")); break;
        case GgufType::FLOAT32: v.f64 = raw<float>("value"); break;
        case GgufType::FLOAT64: v.f64 = raw<double>("value"); break;
        case GgufType::BOOL: {
            at_ = pos_;
            uint8_t b = raw<uint8_t>("value");
            if (b > 1) bad("bool value " + std::to_string(b) + " is neither 0 nor 1");
            v.b = b != 0;
            v.u64 = b;
            v.i64 = b;
            break;
        }
        case GgufType::STRING: v.str = str("string value"); break;
        case GgufType::ARRAY: {
            if (depth >= kMaxNesting) {
                at_ = pos_;
                bad("arrays nested deeper than " + std::to_string(kMaxNesting) + " levels");
            }
            at_ = pos_;
            uint32_t et = u32("array element type");
            if (!known_value_type(et)) bad("unknown array element type id " + std::to_string(et));
            v.elem_type = static_cast<GgufType>(et);
            at_ = pos_;
            uint64_t count = u64("array length");
            uint64_t left = n_ - pos_;
            if (count > left / min_value_bytes(v.elem_type))
                bad("array length " + std::to_string(count) + " of " + gguf_type_name(v.elem_type) +
                    " cannot fit in the " + std::to_string(left) + " bytes left");
            if (count > kMaxMetadataValues - n_values_)
                bad("metadata holds more than " + std::to_string(kMaxMetadataValues) + " values in all");
            n_values_ += count;
            if (v.elem_type != GgufType::ARRAY) {
                v.packed = p_ + pos_;
                v.n_packed = count;
                skip_elements(v.elem_type, count);
                break;
            }
            v.items.reserve(static_cast<size_t>(count));
            for (uint64_t i = 0; i < count; ++i) v.items.push_back(value(v.elem_type, depth + 1));
            break;
        }
        }
        return v;
    }

    // Validates count packed elements of type t (what value() would check) and steps
    // past them. Fixed-size ones were bounded by the caller's length check.
    void skip_elements(GgufType t, uint64_t count) {
        if (t == GgufType::STRING) {
            for (uint64_t i = 0; i < count; ++i) {
                const uint64_t start = pos_;
                at_ = pos_;
                const uint64_t len = u64("string value");
                if (len > n_ - pos_) {
                    at_ = start;
                    bad("string value length " + std::to_string(len) + " runs past the end of the file (" +
                        std::to_string(n_ - pos_) + " bytes left)");
                }
                pos_ += len;
            }
        } else if (t == GgufType::BOOL) {
            for (uint64_t i = 0; i < count; ++i) {
                at_ = pos_;
                const uint8_t b = raw<uint8_t>("value");
                if (b > 1) bad("bool value " + std::to_string(b) + " is neither 0 nor 1");
            }
        } else {
            need(count * min_value_bytes(t), "value");
            pos_ += count * min_value_bytes(t);
        }
    }


    void read_tensor_info(uint64_t index) {
        at_ = pos_;
        tensor_pos_.push_back(pos_);
        ctx_ = "tensor " + std::to_string(index);
        GgufTensorInfo t;
        t.name = str("tensor name");
        if (!valid_utf8(t.name)) {
            ctx_ = "tensor '" + json_escape(t.name) + "'";
            bad("tensor name is not valid UTF-8");
        }
        ctx_ = "tensor '" + t.name + "'";
        if (f_.tensor_index_.count(t.name)) bad("duplicate tensor name");
        at_ = pos_;
        uint32_t n_dims = u32("tensor dimension count");
        if (n_dims < 1 || n_dims > 4) bad("tensor has " + std::to_string(n_dims) + " dimensions (must be 1 to 4)");
        t.n_dims = n_dims;
        for (uint32_t d = 0; d < n_dims; ++d) {
            at_ = pos_;
            uint64_t dim = u64("tensor dimensions");
            if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                bad("dimension " + std::to_string(d) + " is " +
                    (dim == 0 ? std::string("0") : std::to_string(static_cast<int64_t>(dim))) +
                    " (must be at least 1)");
            t.ne[d] = static_cast<int64_t>(dim);
        }
        // The element count must fit in int64 (and so every byte size below does too).
        int64_t total = 1;
        for (int d = 0; d < 4; ++d) {
            if (t.ne[d] > std::numeric_limits<int64_t>::max() / total) bad("element count overflows int64");
            total *= t.ne[d];
        }
        at_ = pos_;
        uint32_t type = u32("tensor type");
        const TypeInfo *ti = type_info(static_cast<int32_t>(type));
        if (!ti) {
            if (type <= 0x7FFFFFFF) {
                if (const char *nm = ggml_only_type_name(static_cast<int32_t>(type)))
                    fail(LLM4ALL_ERR_UNSUPPORTED, f_.path_ + ": tensor type " + nm + " (id " +
                                                      std::to_string(type) + ") is not supported yet (" +
                                                      ctx_ + ")");
            }
            bad("unknown tensor type id " + std::to_string(type));
        }
        t.type = static_cast<int32_t>(type);
        if (t.ne[0] % ti->block_size != 0)
            bad("row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + ti->name +
                " block size " + std::to_string(ti->block_size));
        // bytes = (total / block) * type_size, checked for overflow.
        uint64_t blocks = static_cast<uint64_t>(total / ti->block_size);
        if (blocks > std::numeric_limits<uint64_t>::max() / ti->type_size) bad("byte size overflows");
        t.size = blocks * ti->type_size;
        at_ = pos_;
        t.offset = u64("tensor offset");
        if (t.offset % f_.alignment_ != 0)
            bad("data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                std::to_string(f_.alignment_));
        f_.tensor_index_.emplace(t.name, f_.tensors_.size());
        f_.tensors_.push_back(std::move(t));
    }

    GgufFile &f_;
    const uint8_t *p_;
    uint64_t n_;
    uint64_t pos_ = 0;
    uint64_t at_ = 0;           // byte offset named in errors
    uint64_t align_pos_ = 0;    // where general.alignment was defined
    uint64_t n_values_ = 0;     // array items parsed so far (see kMaxMetadataValues)
    std::string ctx_;           // "key 'x'" / "tensor 'y'"
    std::vector<uint64_t> tensor_pos_;
};

std::unique_ptr<GgufFile> GgufFile::open(const std::string &path, bool use_mmap) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = path;
    platform::InputFile file;
    if (!file.open(path)) fail(LLM4ALL_ERR_IO, path + ": " + file.reason());
    f->size_ = file.size();
    if (f->size_ == 0) fail(LLM4ALL_ERR_BAD_GGUF, path + ": file is empty (at byte offset 0)");
    if (f->size_ > std::numeric_limits<size_t>::max())
        fail(LLM4ALL_ERR_IO, path + ": file too large for this address space");

    if (use_mmap) {
        f->base_ = file.map();
        if (!f->base_) fail(LLM4ALL_ERR_IO, path + ": " + file.reason());
        f->mapped_ = true;
    } else {
        f->owned_.resize(static_cast<size_t>(f->size_));
        if (!file.read_all(f->owned_.data())) fail(LLM4ALL_ERR_IO, path + ": " + file.reason());
        f->base_ = f->owned_.data();
    }
    GgufParser(*f).parse();
    return f;
}

void GgufFile::advise_sparse_reads(const void *data, uint64_t bytes) const {
    if (mapped_) platform::advise_sparse_reads(data, bytes);
}

GgufFile::~GgufFile() {
    if (mapped_ && base_) platform::unmap_file(base_, size_);
}

void GgufValue::each(const std::function<void(size_t, const GgufValue &)> &fn) const {
    if (!packed) {
        for (size_t i = 0; i < items.size(); ++i) fn(i, items[i]);
        return;
    }
    // The parser validated every element (bounds, bools), so this only decodes.
    GgufValue v;
    v.type = elem_type;
    const uint8_t *p = packed;
    for (uint64_t i = 0; i < n_packed; ++i) {
        switch (elem_type) {
        case GgufType::UINT8: set_u(v, load<uint8_t>(p)); break;
        case GgufType::UINT16: set_u(v, load<uint16_t>(p)); break;
        case GgufType::UINT32: set_u(v, load<uint32_t>(p)); break;
        case GgufType::UINT64: set_u(v, load<uint64_t>(p)); break;
        case GgufType::INT8: set_i(v, load<int8_t>(p)); break;
        case GgufType::INT16: set_i(v, load<int16_t>(p)); break;
        case GgufType::INT32: set_i(v, load<int32_t>(p)); break;
        case GgufType::INT64: set_i(v, load<int64_t>(p)); break;
        case GgufType::FLOAT32: v.f64 = load<float>(p); break;
        case GgufType::FLOAT64: v.f64 = load<double>(p); break;
        case GgufType::BOOL: v.b = load<uint8_t>(p) != 0; v.u64 = v.i64 = v.b; break;
        case GgufType::STRING: {
            const uint64_t len = load<uint64_t>(p);
            v.str.assign(reinterpret_cast<const char *>(p), static_cast<size_t>(len));
            p += len;
            break;
        }
        case GgufType::ARRAY: return;   // never packed
        }
        fn(static_cast<size_t>(i), v);
    }
}

const GgufValue *GgufFile::find(const std::string &key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

namespace {
[[noreturn]] void wrong_type(const GgufFile &f, const std::string &key, const char *want, GgufType got) {
    fail(LLM4ALL_ERR_BAD_GGUF,
         f.path() + ": key '" + key + "' has type " + gguf_type_name(got) + ", expected " + want);
}
[[noreturn]] void missing(const GgufFile &f, const std::string &key) {
    fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": required key '" + key + "' is missing");
}

int64_t int_of(const GgufFile &f, const std::string &key, const GgufValue &v) {
    if (!is_integer(v.type)) wrong_type(f, key, "an integer", v.type);
    if (v.type == GgufType::UINT64 && v.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": key '" + key + "' value " + std::to_string(v.u64) +
                                       " is out of range");
    return v.i64;
}

const GgufValue &array_of(const GgufFile &f, const std::string &key) {
    const GgufValue *v = f.find(key);
    if (!v) missing(f, key);
    if (v->type != GgufType::ARRAY) wrong_type(f, key, "ARRAY", v->type);
    return *v;
}
} // namespace

std::string GgufFile::get_string(const std::string &key) const {
    const GgufValue *v = find(key);
    if (!v) missing(*this, key);
    if (v->type != GgufType::STRING) wrong_type(*this, key, "STRING", v->type);
    return v->str;
}

std::string GgufFile::get_string(const std::string &key, const std::string &fallback) const {
    return find(key) ? get_string(key) : fallback;
}

int64_t GgufFile::get_int(const std::string &key) const {
    const GgufValue *v = find(key);
    if (!v) missing(*this, key);
    return int_of(*this, key, *v);
}

int64_t GgufFile::get_int(const std::string &key, int64_t fallback) const {
    const GgufValue *v = find(key);
    return v ? int_of(*this, key, *v) : fallback;
}

double GgufFile::get_float(const std::string &key, double fallback) const {
    const GgufValue *v = find(key);
    if (!v) return fallback;
    if (is_float(v->type)) return v->f64;
    if (is_integer(v->type))
        return v->type == GgufType::UINT64 ? static_cast<double>(v->u64) : static_cast<double>(v->i64);
    wrong_type(*this, key, "a number", v->type);
}

bool GgufFile::get_bool(const std::string &key, bool fallback) const {
    const GgufValue *v = find(key);
    if (!v) return fallback;
    if (v->type != GgufType::BOOL) wrong_type(*this, key, "BOOL", v->type);
    return v->b;
}

std::vector<std::string> GgufFile::get_string_array(const std::string &key) const {
    const GgufValue &a = array_of(*this, key);
    if (a.elem_type != GgufType::STRING) wrong_type(*this, key, "ARRAY of STRING", a.elem_type);
    std::vector<std::string> out;
    out.reserve(a.size());
    a.each([&](size_t, const GgufValue &v) { out.push_back(v.str); });
    return out;
}

std::vector<float> GgufFile::get_float_array(const std::string &key) const {
    const GgufValue &a = array_of(*this, key);
    if (!is_float(a.elem_type) && !is_integer(a.elem_type))
        wrong_type(*this, key, "ARRAY of numbers", a.elem_type);
    std::vector<float> out;
    out.reserve(a.size());
    a.each([&](size_t, const GgufValue &v) {
        if (is_float(v.type)) out.push_back(static_cast<float>(v.f64));
        else if (v.type == GgufType::UINT64) out.push_back(static_cast<float>(v.u64));
        else out.push_back(static_cast<float>(v.i64));
    });
    return out;
}

std::vector<int32_t> GgufFile::get_int_array(const std::string &key) const {
    const GgufValue &a = array_of(*this, key);
    if (!is_integer(a.elem_type)) wrong_type(*this, key, "ARRAY of integers", a.elem_type);
    std::vector<int32_t> out;
    out.reserve(a.size());
    a.each([&](size_t i, const GgufValue &v) {
        // UINT32 0xFFFFFFFF is the usual "none" marker; keep its bit pattern (-1).
        if (v.type == GgufType::UINT32) {
            out.push_back(static_cast<int32_t>(static_cast<uint32_t>(v.u64)));
            return;
        }
        bool neg_ok = v.type != GgufType::UINT64 ||
                      v.u64 <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
        if (!neg_ok || v.i64 < std::numeric_limits<int32_t>::min() || v.i64 > std::numeric_limits<int32_t>::max())
            fail(LLM4ALL_ERR_BAD_GGUF, path_ + ": key '" + key + "' element " + std::to_string(i) +
                                           " does not fit in int32");
        out.push_back(static_cast<int32_t>(v.i64));
    });
    return out;
}

const GgufTensorInfo *GgufFile::find_tensor(const std::string &name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t *GgufFile::tensor_data(const GgufTensorInfo &info) const {
    // Bounds were validated at open; info must be one of this file's tensors.
    return base_ + data_offset_ + info.offset;
}

namespace {
void value_json(std::string &out, const GgufValue &v, uint64_t max_array) {
    switch (v.type) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64:
        out += std::to_string(v.u64);
        break;
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64:
        out += std::to_string(v.i64);
        break;
    case GgufType::FLOAT32: out += json_number(v.f64, true); break;
    case GgufType::FLOAT64: out += json_number(v.f64, false); break;
    case GgufType::BOOL: out += v.b ? "true" : "false"; break;
    case GgufType::STRING: out += '"' + json_escape(v.str) + '"'; break;
    case GgufType::ARRAY:
        if (max_array != 0 && v.size() > max_array) {
            out += "{\"type\":\"";
            out += gguf_type_name(v.elem_type);
            out += "\",\"length\":" + std::to_string(v.size()) + "}";
            break;
        }
        out += '[';
        v.each([&](size_t i, const GgufValue &x) {
            if (i) out += ',';
            value_json(out, x, max_array);
        });
        out += ']';
        break;
    }
}
} // namespace

std::string GgufFile::to_json(uint64_t max_array) const {
    std::string out = "{\"version\":" + std::to_string(version_) + ",\"alignment\":" + std::to_string(alignment_) +
                      ",\"metadata\":{";
    for (size_t i = 0; i < kv_.size(); ++i) {
        if (i) out += ',';
        out += '"' + json_escape(kv_[i].first) + "\":";
        value_json(out, kv_[i].second, max_array);
    }
    out += "},\"tensors\":[";
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const GgufTensorInfo &t = tensors_[i];
        if (i) out += ',';
        const TypeInfo *ti = type_info(t.type);
        out += "{\"name\":\"" + json_escape(t.name) + "\",\"type\":\"" + (ti ? ti->name : "?") + "\",\"shape\":[";
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            if (d) out += ',';
            out += std::to_string(t.ne[d]);
        }
        out += "],\"offset\":" + std::to_string(t.offset) + ",\"size\":" + std::to_string(t.size) + "}";
    }
    out += "]}";
    return out;
}

} // namespace llm4all
