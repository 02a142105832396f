// gguf_writer.cpp — GGUF serialisation (little-endian, 64-bit counts) and the
// temporary-file-then-rename dance.
#include "gguf_writer.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "platform/platform.h"

namespace llm4all {

namespace {

[[noreturn]] void io_fail(const std::string &what, const std::string &path) {
    fail(LLM4ALL_ERR_IO, what + " " + path + ": " + std::strerror(errno));
}

size_t scalar_size(GgufType t) {
    switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    default: return 8;
    }
}

} // namespace

GgufWriter::GgufWriter(const std::string &path, uint64_t alignment) : path_(path), alignment_(alignment) {
    // A name unique to this process and call, in the destination's directory so
    // the final rename stays on one file system. O_EXCL never reuses someone's file.
    static std::atomic<unsigned> counter{0};
    temp_ = path + ".partial." + std::to_string(platform::process_id()) + "." + std::to_string(counter++);
    f_ = platform::create_new_file(temp_);
    if (!f_) io_fail("cannot write " + path + ": cannot create its temporary file", temp_);
}

GgufWriter::~GgufWriter() {
    if (f_) std::fclose(f_);
    if (!committed_) platform::remove_file(temp_);
}

void GgufWriter::put(const void *p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) io_fail("cannot write", temp_);
    written_ += n;
}

void GgufWriter::put_string(const std::string &s) {
    put_u64(s.size());
    put(s.data(), s.size());
}

void GgufWriter::put_value(const GgufValue &v) {
    switch (v.type) {
    case GgufType::STRING: put_string(v.str); return;
    case GgufType::ARRAY:
        put_u32(static_cast<uint32_t>(v.elem_type));
        put_u64(v.size());
        v.each([&](size_t, const GgufValue &item) { put_value(item); });
        return;
    case GgufType::BOOL: {
        const uint8_t b = v.b ? 1 : 0;
        put(&b, 1);
        return;
    }
    case GgufType::FLOAT32: {
        const float f = static_cast<float>(v.f64);
        put(&f, 4);
        return;
    }
    case GgufType::FLOAT64: put(&v.f64, 8); return;
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64:
        put(&v.i64, scalar_size(v.type));   // little-endian: the low bytes come first
        return;
    default:
        put(&v.u64, scalar_size(v.type));
        return;
    }
}

void GgufWriter::pad() {
    static const uint8_t zeros[64] = {};
    uint64_t n = (alignment_ - written_ % alignment_) % alignment_;
    while (n > 0) {
        const size_t k = n < sizeof(zeros) ? static_cast<size_t>(n) : sizeof(zeros);
        put(zeros, k);
        n -= k;
    }
}

void GgufWriter::write_header(const std::vector<std::pair<std::string, GgufValue>> &metadata,
                              const std::vector<GgufOutTensor> &tensors) {
    put("GGUF", 4);
    put_u32(3);
    put_u64(tensors.size());
    put_u64(metadata.size());
    for (const auto &kv : metadata) {
        put_string(kv.first);
        put_u32(static_cast<uint32_t>(kv.second.type));
        put_value(kv.second);
    }
    uint64_t offset = 0;
    for (const GgufOutTensor &t : tensors) {
        put_string(t.name);
        put_u32(t.n_dims);
        for (uint32_t d = 0; d < t.n_dims; ++d) put_u64(static_cast<uint64_t>(t.ne[d]));
        put_u32(static_cast<uint32_t>(t.type));
        put_u64(offset);
        offset += (t.size + alignment_ - 1) / alignment_ * alignment_;
        sizes_.push_back(t.size);
    }
    pad();
}

void GgufWriter::write_tensor(const void *data, uint64_t size) {
    if (next_ >= sizes_.size() || sizes_[next_] != size)
        fail(LLM4ALL_ERR_INTERNAL, temp_ + ": tensor " + std::to_string(next_) + " does not match its planned size");
    ++next_;
    put(data, static_cast<size_t>(size));
    pad();
}

void GgufWriter::commit() {
    if (next_ != sizes_.size())
        fail(LLM4ALL_ERR_INTERNAL, temp_ + ": " + std::to_string(sizes_.size() - next_) + " tensors were not written");
    if (std::fflush(f_) != 0 || !platform::sync_file(f_)) io_fail("cannot write", temp_);
    std::FILE *f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) io_fail("cannot write", temp_);
    if (!platform::replace_file(temp_, path_)) io_fail("cannot rename " + temp_ + " to", path_);
    committed_ = true;
}

} // namespace llm4all
