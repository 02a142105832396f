// gguf_writer.h — writes a GGUF file (version 3) in one pass: the header with
// every metadata key and tensor info first, then each tensor's bytes as they
// are produced, so a whole model never has to sit in memory. The file is built
// under a temporary name beside its destination and renamed there only by
// commit(), so a failure never leaves a partial file at the destination.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "gguf.h"

namespace llm4all {

struct GgufOutTensor {
    std::string name;
    uint32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};
    int32_t type = 0;
    uint64_t size = 0;   // bytes of data
};

class GgufWriter {
public:
    // Creates the temporary file (Error(IO) naming path when it cannot).
    GgufWriter(const std::string &path, uint64_t alignment);
    // Removes the temporary file unless commit() succeeded.
    ~GgufWriter();
    GgufWriter(const GgufWriter &) = delete;
    GgufWriter &operator=(const GgufWriter &) = delete;

    // Writes the header; tensor offsets follow from the sizes and the alignment.
    void write_header(const std::vector<std::pair<std::string, GgufValue>> &metadata,
                      const std::vector<GgufOutTensor> &tensors);
    // The next tensor's bytes (exactly its planned size), in header order.
    void write_tensor(const void *data, uint64_t size);
    // Flushes to disk and renames the temporary file to the destination.
    void commit();

    const std::string &temp_path() const { return temp_; }

private:
    void put(const void *p, size_t n);
    void put_u32(uint32_t v) { put(&v, 4); }
    void put_u64(uint64_t v) { put(&v, 8); }
    void put_string(const std::string &s);
    void put_value(const GgufValue &v);
    void pad();

    std::string path_, temp_;
    uint64_t alignment_;
    std::FILE *f_ = nullptr;
    uint64_t written_ = 0;
    std::vector<uint64_t> sizes_;
    size_t next_ = 0;
    bool committed_ = false;
};

} // namespace llm4all
