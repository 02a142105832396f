// quantize.cpp — whole-file quantization: plan every tensor's type with the
// mix rules, write the header, then stream tensors one at a time (decode to
// f32, encode to the planned type on several threads), and rename at the end.
#include "quantize.h"


#include <algorithm>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "error.h"
#include "float_rows.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "platform/platform.h"
#include "quant/mix.h"
#include "quant/quantize_rows.h"
#include "types.h"

namespace llm4all {

namespace {

const char *type_name(int32_t type) {
    const TypeInfo *ti = type_info(type);
    return ti ? ti->name : "unknown";
}

bool is_quantized(int32_t type) {
    return type != LLM4ALL_TYPE_F32 && type != LLM4ALL_TYPE_F16 && type != LLM4ALL_TYPE_BF16;
}

// Refuses writing over the input, also when both names reach one file
// through links or different spellings.
void check_distinct(const std::string &in_path, const std::string &out_path) {
    // A missing input (GgufFile::open reports it) or no output yet: not the same file.
    if (platform::same_file(in_path, out_path))
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "the output " + out_path + " is the input file " + in_path +
                                               "; choose another output name");
}

int32_t checked_override(int32_t type, const char *what) {
    if (type < 0) return -1;
    if (!type_info(type) || !can_encode(type))
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string(what) + ": cannot write tensors of type " +
                                               (type_info(type) ? type_info(type)->name : std::to_string(type)));
    return type;
}

// Metadata of the output: the input's keys in order, without the split keys
// (the output is one file), then quantization_version and file_type appended
// last, where llama.cpp's writer puts them too.
std::vector<std::pair<std::string, GgufValue>> output_metadata(const GgufFile &in, uint32_t file_type) {
    std::vector<std::pair<std::string, GgufValue>> kv;
    for (const auto &p : in.metadata()) {
        if (p.first == "general.quantization_version" || p.first == "general.file_type" ||
            p.first == "split.no" || p.first == "split.count" || p.first == "split.tensors.count")
            continue;
        kv.push_back(p);
    }
    GgufValue v;
    v.type = GgufType::UINT32;
    v.u64 = 2;   // the block layouts' version (ggml's GGML_QNT_VERSION)
    v.i64 = 2;
    kv.emplace_back("general.quantization_version", v);
    v.u64 = file_type;
    v.i64 = file_type;
    kv.emplace_back("general.file_type", v);
    return kv;
}

// Converts one tensor: rows split into contiguous ranges, one per thread, each
// decoding its rows to f32 and encoding them into its slice of out.
void convert_tensor(const GgufTensorInfo &t, const uint8_t *src, int32_t out_type, int n_threads,
                    std::vector<float> &f32, std::vector<uint8_t> &out) {
    const TypeInfo &in_ti = *type_info(t.type);
    const TypeInfo &out_ti = *type_info(out_type);
    const int64_t n_per_row = t.ne[0];
    const int64_t n_rows = t.ne[1] * t.ne[2] * t.ne[3];
    const size_t in_row = row_bytes(in_ti, n_per_row), out_row = row_bytes(out_ti, n_per_row);
    f32.resize(static_cast<size_t>(t.n_elements()));
    out.resize(out_row * static_cast<size_t>(n_rows));
    if (out.empty()) return;

    // Threads only pay off with enough work each (about 64K values).
    const int64_t by_work = std::max<int64_t>(1, t.n_elements() / 65536);
    const int n = static_cast<int>(std::min<int64_t>({n_threads, by_work, n_rows}));
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
    auto work = [&](int i) {
        try {
            const int64_t r0 = n_rows * i / n, r1 = n_rows * (i + 1) / n;
            float *rows = f32.data() + static_cast<size_t>(r0 * n_per_row);
            RowDecoder dec;
            dec.decode(t.type, src + static_cast<size_t>(r0) * in_row, n_per_row, r1 - r0, rows, t.name.c_str());
            encode_rows(out_type, rows, out.data() + static_cast<size_t>(r0) * out_row, r1 - r0, n_per_row);
        } catch (...) {
            errors[static_cast<size_t>(i)] = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    for (int i = 1; i < n; ++i) pool.emplace_back(work, i);
    work(0);
    for (std::thread &th : pool) th.join();
    for (const std::exception_ptr &e : errors)
        if (e) std::rethrow_exception(e);
}

} // namespace

void quantize_file(const std::string &in_path, const std::string &out_path, const llm4all_quantize_options &options) {
    const quant::Mix *mix = quant::find_mix(options.type);
    if (!mix)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string("unknown quantization type '") + options.type +
                                               "'; the types are " + quant::mix_names());
    if (!quant::can_quantize(mix->base_type))
        fail(LLM4ALL_ERR_UNSUPPORTED, std::string("quantizing to ") + mix->name + " is not available in this build");
    quant::MixOptions mopt;
    mopt.pure = options.pure;
    mopt.output_type = checked_override(options.output_type, "output_type");
    mopt.token_embedding_type = checked_override(options.token_embedding_type, "token_embedding_type");

    check_distinct(in_path, out_path);
    std::unique_ptr<GgufFile> in = GgufFile::open(in_path, true);
    const quant::TypePlan plan(*in, *mix, mopt);

    // Refuse before writing anything: every tensor's decision is known now.
    std::vector<GgufOutTensor> outs;
    uint64_t total_in = 0, done_in = 0;
    for (const quant::TypePlan::Entry &e : plan.entries()) {
        const GgufTensorInfo &t = *e.tensor;
        if (e.type != t.type) {
            if (is_quantized(t.type) && !options.allow_requantize)
                fail(LLM4ALL_ERR_INVALID_ARGUMENT,
                     in_path + ": tensor '" + t.name + "' is already quantized (" + type_name(t.type) +
                         "); quantizing it again to " + type_name(e.type) +
                         " loses more quality than quantizing the original weights; set allow_requantize "
                         "(llm4all quantize --allow-requantize) to do it anyway");
            if (!can_encode(e.type))
                fail(LLM4ALL_ERR_UNSUPPORTED, in_path + ": tensor '" + t.name + "' needs type " + type_name(e.type) +
                                                  ", which this build cannot write");
            // Only a forced output/embedding type can miss this: the rules fall back to a fitting type.
            const int64_t block = type_info(e.type)->block_size;
            if (t.ne[0] % block != 0)
                fail(LLM4ALL_ERR_INVALID_ARGUMENT, in_path + ": tensor '" + t.name + "' has rows of " +
                                                       std::to_string(t.ne[0]) + " values; " + type_name(e.type) +
                                                       " needs a multiple of " + std::to_string(block));
        }
        GgufOutTensor o;
        o.name = t.name;
        o.n_dims = static_cast<uint32_t>(quant::significant_dims(t));
        std::copy(t.ne, t.ne + 4, o.ne);
        o.type = e.type;
        o.size = e.type == t.type ? t.size
                                  : row_bytes(*type_info(e.type), t.ne[0]) * static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3]);
        outs.push_back(o);
        total_in += t.size;
    }

    const int n_threads = options.n_threads > 0 ? options.n_threads
                                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    GgufWriter writer(out_path, in->alignment());
    writer.write_header(output_metadata(*in, mix->file_type), outs);
    std::vector<float> f32;
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < outs.size(); ++i) {
        const GgufTensorInfo &t = *plan.entries()[i].tensor;
        const uint8_t *src = in->tensor_data(t);
        try {
            if (outs[i].type == t.type) {
                writer.write_tensor(src, t.size);
            } else {
                convert_tensor(t, src, outs[i].type, n_threads, f32, buf);
                writer.write_tensor(buf.data(), buf.size());
            }
        } catch (const Error &e) {
            fail(e.status(), out_path + ": tensor '" + t.name + "' (" + type_name(t.type) + " -> " +
                                 type_name(outs[i].type) + "): " + e.what());
        }
        done_in += t.size;
        if (options.on_progress && !options.on_progress(done_in, total_in, t.name.c_str(), options.user))
            fail(LLM4ALL_ERR_CANCELLED, "quantizing " + in_path + " was cancelled; " + out_path + " was not written");
    }
    writer.commit();
}

} // namespace llm4all
