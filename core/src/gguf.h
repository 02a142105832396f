// gguf.h — reads and validates GGUF files (versions 2 and 3).
// Every count, length, offset and dimension is checked against the bytes
// actually present before it is used; a bad file throws Error(BAD_GGUF) with a
// message naming the file and the key or tensor at fault. Tensor data stays
// memory-mapped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llm4all {

enum class GgufType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12
};

const char *gguf_type_name(GgufType type);

// One metadata value. Scalars live in the numeric fields (an integer of any
// width is kept in both i64 and u64 when representable), strings in str,
// arrays with elem_type naming their element type: an array of scalars or
// strings read from a file stays in the file's bytes (`packed`, valid while the
// GgufFile is open; a vocabulary is 100k+ entries, and a GgufValue each would
// cost ~100 bytes apiece), nested arrays and arrays built in memory are `items`.
struct GgufValue {
    GgufType type = GgufType::UINT8;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    double f64 = 0.0;
    bool b = false;
    std::string str;
    GgufType elem_type = GgufType::UINT8;
    std::vector<GgufValue> items;
    const uint8_t *packed = nullptr;   // first element's bytes (validated at open)
    uint64_t n_packed = 0;

    uint64_t size() const { return packed ? n_packed : items.size(); }   // array length
    // Calls fn(index, element) for each array element in order.
    void each(const std::function<void(size_t, const GgufValue &)> &fn) const;
};

struct GgufTensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};   // ne[0] innermost
    int32_t type = 0;               // llm4all_type / ggml type id
    uint64_t offset = 0;            // from the start of the data section
    uint64_t size = 0;              // bytes
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
public:
    // Opens, parses and validates path. Throws Error(IO) or Error(BAD_GGUF).
    static std::unique_ptr<GgufFile> open(const std::string &path, bool use_mmap = true);
    ~GgufFile();
    GgufFile(const GgufFile &) = delete;
    GgufFile &operator=(const GgufFile &) = delete;

    const std::string &path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t file_size() const { return size_; }

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>> &metadata() const { return kv_; }
    const GgufValue *find(const std::string &key) const;

    // Typed getters. The one-argument forms throw Error(BAD_GGUF) naming the
    // key when it is missing; all throw when the stored type does not fit.
    std::string get_string(const std::string &key) const;
    std::string get_string(const std::string &key, const std::string &fallback) const;
    int64_t get_int(const std::string &key) const;                   // any integer type
    int64_t get_int(const std::string &key, int64_t fallback) const;
    double get_float(const std::string &key, double fallback) const; // float or integer
    bool get_bool(const std::string &key, bool fallback) const;
    std::vector<std::string> get_string_array(const std::string &key) const;
    std::vector<float> get_float_array(const std::string &key) const;    // float/int elements
    std::vector<int32_t> get_int_array(const std::string &key) const;    // integer elements

    const std::vector<GgufTensorInfo> &tensors() const { return tensors_; }
    const GgufTensorInfo *find_tensor(const std::string &name) const;
    // Start of the tensor's bytes (validated to lie inside the file).
    const uint8_t *tensor_data(const GgufTensorInfo &info) const;
    // Bytes of a mapped file read sparsely (platform::advise_sparse_reads); nothing when read.
    void advise_sparse_reads(const void *data, uint64_t bytes) const;

    // {"version":..,"alignment":..,"metadata":{..},"tensors":[..]}; arrays longer
    // than max_array (0 = no limit) become {"type":..,"length":N}.
    std::string to_json(uint64_t max_array) const;

private:
    GgufFile() = default;
    std::string path_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t size_ = 0;
    const uint8_t *base_ = nullptr;   // whole file (mapped or read)
    uint64_t data_offset_ = 0;        // start of the tensor data section
    bool mapped_ = false;
    std::vector<uint8_t> owned_;      // when not mapped
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
    friend class GgufParser;
};

// JSON string escaping shared by every to_json in the engine.
std::string json_escape(const std::string &s);

} // namespace llm4all
