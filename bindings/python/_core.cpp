// _core.cpp — the pybind11 module llm4all._core: a thin layer over the public C
// ABI (llm4all.h, through llm4all_raii.hpp) and nothing else, so Python exercises
// the same surface as every other language binding. The friendly API lives in the
// pure-Python package (model.py); this file only converts types, owns handles,
// releases the GIL while the engine works and maps status codes to llm4all.Error.
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "platform.h"   // core/src/platform: the shared library lookup, as the core does it

#include "llm4all_raii.hpp"

namespace py = pybind11;
using llm4all_raii::check;
using llm4all_raii::StatusError;

namespace {

// llm4all.Error (a RuntimeError subclass) and its subclass llm4all.TemplateError
// (status LLM4ALL_ERR_TEMPLATE); created once at import, never freed.
PyObject *g_error_type = nullptr;
PyObject *g_template_error_type = nullptr;

// C strings may carry bytes from a malformed file: never let a decode error
// hide the real one.
py::str to_str(const char *s, size_t n) {
    PyObject *o = PyUnicode_DecodeUTF8(s, static_cast<Py_ssize_t>(n), "replace");
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}
py::str to_str(const std::string &s) { return to_str(s.data(), s.size()); }

// A file path from str, bytes or os.PathLike, encoded like the OS expects
// (surrogate-escaped undecodable bytes round-trip).
std::string fs_path(py::handle obj) {
    PyObject *fs = PyOS_FSPath(obj.ptr());
    if (!fs) throw py::error_already_set();
    py::object fso = py::reinterpret_steal<py::object>(fs);
    if (PyBytes_Check(fs)) return std::string(PyBytes_AS_STRING(fs), PyBytes_GET_SIZE(fs));
    PyObject *b = PyUnicode_EncodeFSDefault(fs);
    if (!b) throw py::error_already_set();
    py::object bo = py::reinterpret_steal<py::object>(b);
    return std::string(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
}

// Text from str (UTF-8 encoded) or bytes (passed through, so the engine's own
// UTF-8 validation reports bad input).
std::string text_arg(py::handle obj) {
    if (PyBytes_Check(obj.ptr()))
        return std::string(PyBytes_AS_STRING(obj.ptr()), PyBytes_GET_SIZE(obj.ptr()));
    if (PyByteArray_Check(obj.ptr()))
        return std::string(PyByteArray_AS_STRING(obj.ptr()), PyByteArray_GET_SIZE(obj.ptr()));
    if (PyUnicode_Check(obj.ptr())) {
        Py_ssize_t n = 0;
        const char *s = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
        if (!s) throw py::error_already_set();
        return std::string(s, static_cast<size_t>(n));
    }
    throw py::type_error("expected str or bytes");
}

// Token ids: ints that fit int32 (the engine then checks them against the vocabulary).
std::vector<int32_t> token_list(py::handle obj) {
    std::vector<int32_t> out;
    for (py::handle h : obj) {
        if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr()))
            throw py::type_error("token ids must be int, not " + std::string(Py_TYPE(h.ptr())->tp_name));
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
        if (overflow || v < INT32_MIN || v > INT32_MAX)
            throw py::value_error("token id " + py::str(h).cast<std::string>() + " is out of range");
        out.push_back(static_cast<int32_t>(v));
    }
    return out;
}

std::string lib_path() {
    return llm4all::platform::library_path_of(reinterpret_cast<const void *>(&llm4all_abi_version));
}

// Runs an engine call on a worker thread while the calling (main) thread waits
// with the GIL released in short slices and runs Python's signal handlers in
// between: Ctrl-C then asks the engine to stop (llm4all_session_abort) and the
// KeyboardInterrupt is raised once the call has returned. Off the main thread
// Python delivers no signals, so the call simply runs there.
template <class F>
void run_interruptible(llm4all_session *session, F &&fn) {
    static PyObject *threading = PyImport_ImportModule("threading");
    if (!threading) throw py::error_already_set();
    py::module_ th = py::reinterpret_borrow<py::module_>(threading);
    if (!th.attr("main_thread")().is(th.attr("current_thread")())) {
        py::gil_scoped_release nogil;
        fn();
        return;
    }
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::exception_ptr error;
    std::thread worker([&] {
        try {
            fn();
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(m);
        done = true;
        cv.notify_all();
    });
    PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
    for (;;) {
        {
            py::gil_scoped_release nogil;
            std::unique_lock<std::mutex> lock(m);
            cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; });
            if (done) break;
        }
        if (!type && PyErr_CheckSignals() != 0) {
            PyErr_Fetch(&type, &value, &tb);   // kept until the engine has stopped
            llm4all_session_abort(session);
        }
    }
    {
        py::gil_scoped_release nogil;
        worker.join();
    }
    if (type) {
        PyErr_Restore(type, value, tb);
        throw py::error_already_set();
    }
    if (error) std::rethrow_exception(error);
}

// Generation options from Python values; stop strings stay owned by `stop_store`.
struct GenerateArgs {
    llm4all_generate_options opt;
    std::vector<std::string> stop_store;
    std::vector<const char *> stop_ptrs;

    GenerateArgs(int32_t max_tokens, float temp, int32_t top_k, float top_p, float min_p, float repeat_penalty,
                 int32_t repeat_last_n, float presence_penalty, float frequency_penalty, uint64_t seed,
                 py::object stop) {
        llm4all_generate_options_init(&opt);
        opt.max_tokens = max_tokens;
        opt.sampling.temp = temp;
        opt.sampling.top_k = top_k;
        opt.sampling.top_p = top_p;
        opt.sampling.min_p = min_p;
        opt.sampling.repeat_penalty = repeat_penalty;
        opt.sampling.repeat_last_n = repeat_last_n;
        opt.sampling.presence_penalty = presence_penalty;
        opt.sampling.frequency_penalty = frequency_penalty;
        opt.sampling.seed = seed;
        if (!stop.is_none()) {
            if (PyUnicode_Check(stop.ptr())) stop_store.push_back(text_arg(stop));
            else for (py::handle h : stop) stop_store.push_back(text_arg(h));
        }
        for (const std::string &x : stop_store) stop_ptrs.push_back(x.c_str());
        opt.stop = stop_ptrs.data();
        opt.n_stop = static_cast<int32_t>(stop_ptrs.size());
    }
};

py::dict generate_defaults() {
    llm4all_generate_options o;
    llm4all_generate_options_init(&o);
    py::dict d;
    d["max_tokens"] = o.max_tokens;
    d["temp"] = o.sampling.temp;
    d["top_k"] = o.sampling.top_k;
    d["top_p"] = o.sampling.top_p;
    d["min_p"] = o.sampling.min_p;
    d["repeat_penalty"] = o.sampling.repeat_penalty;
    d["repeat_last_n"] = o.sampling.repeat_last_n;
    d["presence_penalty"] = o.sampling.presence_penalty;
    d["frequency_penalty"] = o.sampling.frequency_penalty;
    return d;
}

py::dict estimate_memory(py::handle path, int32_t n_ctx, int32_t n_batch, const std::string &kv_type,
                         const std::string &device) {
    std::string p = fs_path(path);
    llm4all_model_options mo;
    llm4all_model_options_init(&mo);
    mo.device = device.c_str();
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.n_ctx = n_ctx;
    so.n_batch = n_batch;
    if (kv_type != "f16" && kv_type != "f32") throw py::value_error("kv_type must be \"f16\" or \"f32\", not \"" + kv_type + "\"");
    so.kv_type = kv_type == "f32" ? LLM4ALL_KV_F32 : LLM4ALL_KV_F16;
    llm4all_memory_estimate e;
    llm4all_memory_estimate_init(&e);
    {
        py::gil_scoped_release nogil;
        check(llm4all_gguf_estimate_memory(p.c_str(), &mo, &so, &e));
    }
    py::dict d;
    d["weights"] = e.weights;
    d["kv_cache"] = e.kv_cache;
    d["compute"] = e.compute;
    d["runtime"] = e.runtime;
    d["total"] = e.total;
    d["n_ctx"] = e.n_ctx;
    d["n_batch"] = e.n_batch;
    d["available"] = e.available;
    d["available_source"] = std::string(e.available_source);
    py::list devices;
    for (int32_t i = 0; i < e.n_devices; ++i) {
        const llm4all_memory_device &v = e.devices[i];
        py::dict x;
        x["name"] = std::string(v.name);
        x["weights"] = v.weights;
        x["kv_cache"] = v.kv_cache;
        x["compute"] = v.compute;
        x["runtime"] = v.runtime;
        x["total"] = v.total;
        devices.append(x);
    }
    d["devices"] = devices;
    return d;
}

class Model {
public:
    // lora: (path, scale) pairs, applied in order (llm4all_model_options.lora).
    Model(py::handle path, const std::string &device, bool use_mmap, const std::vector<std::pair<py::handle, float>> &lora,
          bool skip_memory_check, int32_t n_gpu_layers) {
        std::string p = fs_path(path);
        llm4all_model_options opt;
        llm4all_model_options_init(&opt);
        opt.device = device.c_str();
        opt.n_gpu_layers = n_gpu_layers;
        opt.use_mmap = use_mmap;
        std::vector<std::string> lora_paths;
        std::vector<llm4all_lora_adapter> adapters;
        for (const auto &a : lora) lora_paths.push_back(fs_path(a.first));
        for (size_t i = 0; i < lora.size(); ++i) adapters.push_back({lora_paths[i].c_str(), lora[i].second});
        opt.lora = adapters.empty() ? nullptr : adapters.data();
        opt.n_lora = static_cast<int32_t>(adapters.size());
        opt.skip_memory_check = skip_memory_check;
        llm4all_model *m = nullptr;
        {
            py::gil_scoped_release nogil;
            check(llm4all_model_load(p.c_str(), &opt, &m));
        }
        model_.reset(m);
        path_ = p;
    }

    llm4all_model *get() const { return model_.get(); }

    py::str info_json() const {
        char *out = nullptr;
        check(llm4all_model_info_json(model_.get(), &out));
        return to_str(llm4all_raii::take_string(out));
    }
    int32_t n_vocab() const { return llm4all_model_n_vocab(model_.get()); }
    int32_t n_ctx_train() const { return llm4all_model_n_ctx_train(model_.get()); }
    int32_t bos() const { return llm4all_model_token_bos(model_.get()); }
    int32_t eos() const { return llm4all_model_token_eos(model_.get()); }
    bool is_eog(int32_t tok) const { return llm4all_model_token_is_eog(model_.get(), tok); }

    std::vector<int32_t> tokenize(py::handle text, bool add_special, bool parse_special) const {
        std::string t = text_arg(text);
        int32_t *toks = nullptr;
        size_t n = 0;
        {
            py::gil_scoped_release nogil;
            check(llm4all_tokenize(model_.get(), t.data(), t.size(), add_special, parse_special, &toks, &n));
        }
        llm4all_raii::Buffer<int32_t> owned(toks);
        return std::vector<int32_t>(toks, toks + n);
    }

    py::bytes detokenize(py::handle tokens, bool render_special) const {
        std::vector<int32_t> t = token_list(tokens);
        char *out = nullptr;
        size_t n = 0;
        check(llm4all_detokenize(model_.get(), t.data(), t.size(), render_special, &out, &n));
        std::string s = llm4all_raii::take_string(out, n);
        return py::bytes(s);
    }

    py::bytes token_to_piece(int32_t token, bool render_special) const {
        char *out = nullptr;
        size_t n = 0;
        check(llm4all_token_to_piece(model_.get(), token, render_special, &out, &n));
        return py::bytes(llm4all_raii::take_string(out, n));
    }

    const std::string &path() const { return path_; }

    int32_t embedding_dim() const { return llm4all_model_embedding_dim(model_.get()); }

    // Vectors [n, dim] (float32) and the tokens run, for texts (str or bytes) or,
    // with token lists, for sequences already tokenized (llm4all_embed_tokens).
    py::tuple embed(py::sequence inputs, int32_t n_threads, bool normalize, int32_t dimensionality,
                    py::object prefix, int32_t pooling, int32_t long_text, int32_t n_ctx, py::object on_batch) const {
        llm4all_embed_options opt;
        llm4all_embed_options_init(&opt);
        opt.n_threads = n_threads;
        opt.normalize = normalize;
        opt.dimensionality = dimensionality;
        std::string prefix_s;
        if (!prefix.is_none()) {
            prefix_s = text_arg(prefix);
            if (prefix_s.find('\0') != std::string::npos) throw py::value_error("prefix contains a NUL byte");
            opt.prefix = prefix_s.c_str();
        }
        opt.pooling = pooling;
        opt.long_text = long_text;
        opt.n_ctx = n_ctx;
        BatchState st{on_batch, nullptr};
        if (!on_batch.is_none()) {
            opt.on_batch = &on_batch_trampoline;
            opt.user = &st;
        }
        const size_t n = py::len(inputs);
        bool tokens = n > 0;
        for (size_t i = 0; i < n && tokens; ++i) {
            py::handle item = inputs[i];
            tokens = !PyUnicode_Check(item.ptr()) && !PyBytes_Check(item.ptr());
        }
        float *vec = nullptr;
        int32_t dim = 0;
        uint64_t n_tok = 0;
        llm4all_status rc;
        if (tokens) {
            std::vector<std::vector<int32_t>> seqs(n);
            std::vector<const int32_t *> ptrs(n);
            std::vector<size_t> lens(n);
            for (size_t i = 0; i < n; ++i) {
                seqs[i] = token_list(inputs[i]);
                ptrs[i] = seqs[i].data();
                lens[i] = seqs[i].size();
                n_tok += lens[i];
            }
            py::gil_scoped_release nogil;
            rc = llm4all_embed_tokens(model_.get(), ptrs.data(), lens.data(), n, &opt, &vec, &dim);
        } else {
            std::vector<std::string> texts(n);
            std::vector<const char *> ptrs(n);
            std::vector<size_t> lens(n);
            for (size_t i = 0; i < n; ++i) {
                texts[i] = text_arg(inputs[i]);
                ptrs[i] = texts[i].data();
                lens[i] = texts[i].size();
            }
            py::gil_scoped_release nogil;
            rc = llm4all_embed(model_.get(), ptrs.data(), lens.data(), n, &opt, &vec, &dim, &n_tok);
        }
        llm4all_raii::Buffer<float> owned(vec);
        if (st.error) std::rethrow_exception(st.error);
        check(rc);
        py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(dim)});
        if (n && dim) std::memcpy(out.mutable_data(), vec, n * size_t(dim) * sizeof(float));
        return py::make_tuple(out, n_tok);
    }

private:
    // What llm4all_embed's batch callback needs to reach Python.
    struct BatchState {
        py::object callback;        // callable(list[int]) -> bool (False cancels)
        std::exception_ptr error;   // raised by the callback; re-raised after
    };
    static bool on_batch_trampoline(const int32_t *n_tokens, size_t n, void *user) {
        auto *st = static_cast<BatchState *>(user);
        py::gil_scoped_acquire gil;
        try {
            return py::cast<bool>(st->callback(std::vector<int32_t>(n_tokens, n_tokens + n)));
        } catch (...) {
            st->error = std::current_exception();
            return false;
        }
    }

    llm4all_raii::ModelPtr model_;
    std::string path_;
};

// What the C streaming callback needs to reach Python.
struct StreamState {
    py::object callback;             // None or callable(piece: str, token: int)
    std::exception_ptr error;        // raised by the callback; re-raised after
};

bool on_token_trampoline(const char *piece, int32_t token, void *user) {
    auto *st = static_cast<StreamState *>(user);
    py::gil_scoped_acquire gil;
    try {
        py::object r = st->callback(to_str(piece, std::strlen(piece)), token);
        // None means "go on", so a callback that only prints needs no return.
        return r.is_none() ? true : r.cast<bool>();
    } catch (...) {
        st->error = std::current_exception();
        return false;
    }
}

// What the C quantize progress callback needs to reach Python.
struct ProgressState {
    py::object callback;             // callable(done: int, total: int, tensor: str)
    std::exception_ptr error;        // raised by the callback; re-raised after
};

bool on_progress_trampoline(uint64_t done, uint64_t total, const char *what, void *user) {
    auto *st = static_cast<ProgressState *>(user);
    py::gil_scoped_acquire gil;
    try {
        py::object r = st->callback(done, total, to_str(what, std::strlen(what)));
        return r.is_none() ? true : r.cast<bool>();   // None: go on
    } catch (...) {
        st->error = std::current_exception();
        return false;
    }
}

void quantize(py::handle in_path, py::handle out_path, const std::string &type, int32_t n_threads,
              bool allow_requantize, bool pure, py::object output_type, py::object token_embedding_type,
              py::object progress) {
    std::string in = fs_path(in_path), out = fs_path(out_path);
    llm4all_quantize_options opt;
    llm4all_quantize_options_init(&opt);
    opt.type = type.c_str();
    opt.n_threads = n_threads;
    opt.allow_requantize = allow_requantize;
    opt.pure = pure;
    if (!output_type.is_none()) opt.output_type = output_type.cast<int32_t>();
    if (!token_embedding_type.is_none()) opt.token_embedding_type = token_embedding_type.cast<int32_t>();
    ProgressState st{progress, nullptr};
    if (!progress.is_none()) {
        opt.on_progress = &on_progress_trampoline;
        opt.user = &st;
    }
    llm4all_status status;
    std::string message;
    {
        py::gil_scoped_release nogil;
        status = llm4all_quantize(in.c_str(), out.c_str(), &opt);
        if (status != LLM4ALL_OK) message = llm4all_last_error();
    }
    if (st.error) std::rethrow_exception(st.error); // the callback's own exception wins
    if (status != LLM4ALL_OK) throw StatusError(status, message);
}

class Session {
public:
    Session(Model &model, int32_t n_ctx, int32_t n_batch, int32_t n_threads, const std::string &kv_type) {
        llm4all_session_options opt;
        llm4all_session_options_init(&opt);
        opt.n_ctx = n_ctx;
        opt.n_batch = n_batch;
        opt.n_threads = n_threads;
        if (kv_type == "f16")
            opt.kv_type = LLM4ALL_KV_F16;
        else if (kv_type == "f32")
            opt.kv_type = LLM4ALL_KV_F32;
        else
            throw py::value_error("kv_type must be \"f16\" or \"f32\", not \"" + kv_type + "\"");
        llm4all_session *s = nullptr;
        {
            py::gil_scoped_release nogil;
            check(llm4all_session_new(model.get(), &opt, &s));
        }
        session_.reset(s);
        n_vocab_ = model.n_vocab();
    }

    int32_t n_ctx() const { return llm4all_session_n_ctx(session_.get()); }
    int32_t n_past() const { return llm4all_session_n_past(session_.get()); }

    void set_tokens(py::handle tokens) {
        std::vector<int32_t> t = token_list(tokens);
        run_interruptible(session_.get(), [&] {
            std::lock_guard<std::mutex> lock(mu_);
            check(llm4all_session_set_tokens(session_.get(), t.data(), t.size()));
        });
    }

    void decode(py::handle tokens, bool all_logits) {
        std::vector<int32_t> t = token_list(tokens);
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(llm4all_session_decode(session_.get(), t.data(), t.size(), all_logits));
    }

    py::array_t<float> logits() {
        const float *data = nullptr;
        int32_t rows = 0;
        {
            py::gil_scoped_release nogil;
            std::lock_guard<std::mutex> lock(mu_);
            check(llm4all_session_logits(session_.get(), &data, &rows));
        }
        py::array_t<float> out({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(n_vocab_)});
        if (rows > 0)
            std::memcpy(out.mutable_data(), data, sizeof(float) * static_cast<size_t>(rows) * n_vocab_);
        return out;
    }

    void truncate(int32_t n_keep) {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(llm4all_session_truncate(session_.get(), n_keep));
    }

    py::tuple score(py::handle tokens, size_t first) {
        std::vector<int32_t> t = token_list(tokens);
        if (first < 1 || first > t.size())
            throw py::value_error("score: need 1 <= first <= len(tokens)");
        const size_t n = t.size() - first;
        py::array_t<float> logprobs(static_cast<py::ssize_t>(n));
        py::array_t<int32_t> top1(static_cast<py::ssize_t>(n));
        float *lp = logprobs.mutable_data();
        int32_t *tp = top1.mutable_data();
        run_interruptible(session_.get(), [&] {
            std::lock_guard<std::mutex> lock(mu_);
            check(llm4all_session_score(session_.get(), t.data(), t.size(), first, lp, tp));
        });
        return py::make_tuple(logprobs, top1);
    }

    py::tuple generate(py::handle prompt, int32_t max_tokens, float temp, int32_t top_k, float top_p,
                       float min_p, float repeat_penalty, int32_t repeat_last_n, float presence_penalty,
                       float frequency_penalty, uint64_t seed, bool add_special, bool parse_special, bool stop_at_eog, py::object stop,
                       py::object callback) {
        std::string p = text_arg(prompt);
        GenerateArgs args(max_tokens, temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n, presence_penalty,
                          frequency_penalty, seed, stop);
        args.opt.add_special = add_special;
        args.opt.parse_special = parse_special;
        args.opt.stop_at_eog = stop_at_eog;

        StreamState st{callback, nullptr};
        llm4all_generate_result res{};
        res.size = sizeof(res);
        char *text = nullptr;
        llm4all_status status = LLM4ALL_OK;
        std::string message;
        run_interruptible(session_.get(), [&] {
            std::lock_guard<std::mutex> lock(mu_);
            status = llm4all_session_generate(session_.get(), p.c_str(), &args.opt,
                                              callback.is_none() ? nullptr : &on_token_trampoline, &st,
                                              &text, &res);
            if (status != LLM4ALL_OK) message = llm4all_last_error();
        });
        std::string out = llm4all_raii::take_string(text);
        if (st.error) std::rethrow_exception(st.error); // the callback's own exception wins
        if (status != LLM4ALL_OK) throw StatusError(status, message);

        py::dict stats;
        stats["n_prompt_tokens"] = res.n_prompt_tokens;
        stats["n_prompt_decoded"] = res.n_prompt_decoded;
        stats["n_generated"] = res.n_generated;
        stats["stop_reason"] = llm4all_stop_reason_name(res.stop_reason);
        stats["prompt_ms"] = res.prompt_ms;
        stats["generate_ms"] = res.generate_ms;
        return py::make_tuple(to_str(out), stats);
    }

    // Asks the running call to stop (any thread; see llm4all_session_abort).
    void abort() { llm4all_session_abort(session_.get()); }

    llm4all_session *get() const { return session_.get(); }
    std::mutex &mutex() { return mu_; }

private:
    llm4all_raii::SessionPtr session_;
    int32_t n_vocab_ = 0;
    // One engine call at a time per session: the GIL is released around them,
    // so two Python threads could otherwise race on one KV cache.
    std::mutex mu_;
};

// decode_batch(items): several sessions advance in shared forward passes
// (llm4all_decode_batch). Items are checked here for shape and types; the
// engine checks the rest (models, token ids, context room) before decoding.
void decode_batch(py::handle items) {
    if (!PyList_Check(items.ptr()) && !PyTuple_Check(items.ptr()))
        throw py::type_error("decode_batch: items must be a list of (Session, tokens, all_logits) tuples");
    py::sequence seq = py::reinterpret_borrow<py::sequence>(items);
    const size_t n = seq.size();
    if (n == 0) throw py::value_error("decode_batch: items is empty");
    std::vector<Session *> sessions(n);
    std::vector<std::vector<int32_t>> tokens(n);
    std::vector<llm4all_batch_item> c_items(n);
    std::vector<py::object> keep;
    for (size_t i = 0; i < n; ++i) {
        const std::string where = "decode_batch: item " + std::to_string(i);
        py::handle it = seq[i];
        if (!PyTuple_Check(it.ptr()) || PyTuple_GET_SIZE(it.ptr()) != 3)
            throw py::type_error(where + " must be a tuple (Session, tokens, all_logits)");
        py::tuple t = py::reinterpret_borrow<py::tuple>(it);
        if (!py::isinstance<Session>(t[0]))
            throw py::type_error(where + ": expected a Session, not " + std::string(Py_TYPE(t[0].ptr())->tp_name));
        sessions[i] = &t[0].cast<Session &>();
        keep.push_back(t[0]);   // alive while the GIL is released, whatever happens to items
        try {
            tokens[i] = token_list(t[1]);
        } catch (py::type_error &e) {
            throw py::type_error(where + ": " + e.what());
        } catch (py::value_error &e) {
            throw py::value_error(where + ": " + e.what());
        }
        if (tokens[i].empty()) throw py::value_error(where + ": tokens is empty (at least one token is needed)");
        if (!PyBool_Check(t[2].ptr()))
            throw py::type_error(where + ": all_logits must be a bool, not " + std::string(Py_TYPE(t[2].ptr())->tp_name));
        for (size_t j = 0; j < i; ++j)
            if (sessions[j] == sessions[i])
                throw py::value_error(where + ": its session is also item " + std::to_string(j) +
                                      "'s (each sequence needs its own Session)");
        c_items[i].session = sessions[i]->get();
        c_items[i].tokens = tokens[i].data();
        c_items[i].n_tokens = tokens[i].size();
        c_items[i].all_logits = t[2].ptr() == Py_True;
    }
    // Every session's lock, always in the same (address) order, so two threads
    // batching overlapping sessions cannot deadlock.
    std::vector<std::mutex *> locks;
    for (Session *s : sessions) locks.push_back(&s->mutex());
    std::sort(locks.begin(), locks.end());
    py::gil_scoped_release nogil;
    for (std::mutex *m : locks) m->lock();
    const llm4all_status status = llm4all_decode_batch(c_items.data(), n);
    const std::string message = status == LLM4ALL_OK ? std::string() : llm4all_last_error();
    for (auto it = locks.rbegin(); it != locks.rend(); ++it) (*it)->unlock();
    if (status != LLM4ALL_OK) throw StatusError(status, message);
}

// _core.Sampler: one sequence's sampling chain (llm4all_sampler_*).
class Sampler {
public:
    Sampler(float temp, int32_t top_k, float top_p, float min_p, float repeat_penalty, int32_t repeat_last_n,
            float presence_penalty, float frequency_penalty, py::object seed) {
        llm4all_sampler_options o;
        llm4all_sampler_options_init(&o);
        o.temp = temp;
        o.top_k = top_k;
        o.top_p = top_p;
        o.min_p = min_p;
        o.repeat_penalty = repeat_penalty;
        o.repeat_last_n = repeat_last_n;
        o.presence_penalty = presence_penalty;
        o.frequency_penalty = frequency_penalty;
        o.seed = seed_value(seed);
        llm4all_sampler *s = nullptr;
        check(llm4all_sampler_new(&o, &s));
        sampler_.reset(s);
    }

    int32_t sample(py::handle logits) {
        if (!py::isinstance<py::array_t<float>>(logits))
            throw py::type_error("Sampler.sample: logits must be a float32 numpy array");
        auto a = py::array_t<float, py::array::c_style>::ensure(logits);
        if (!a) throw py::error_already_set();
        if (a.ndim() != 1) throw py::value_error("Sampler.sample: logits must be 1-D (n_vocab,), got " +
                                                 std::to_string(a.ndim()) + " dimensions");
        if (a.shape(0) < 1 || a.shape(0) > INT32_MAX) throw py::value_error("Sampler.sample: logits is empty");
        const float *data = a.data();
        const int32_t n = static_cast<int32_t>(a.shape(0));
        int32_t tok = -1;
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(llm4all_sampler_sample(sampler_.get(), data, n, &tok));
        return tok;
    }

    void accept(py::handle token) {
        std::vector<int32_t> t = token_list(py::make_tuple(token));
        std::lock_guard<std::mutex> lock(mu_);
        check(llm4all_sampler_accept(sampler_.get(), t[0]));
    }

private:
    // None or -1: a fresh random seed (LLM4ALL_SEED_RANDOM); else 0 .. 2^64 - 2.
    static uint64_t seed_value(py::object seed) {
        if (seed.is_none()) return LLM4ALL_SEED_RANDOM;
        if (!PyLong_Check(seed.ptr()) || PyBool_Check(seed.ptr()))
            throw py::type_error("seed must be an int or None, not " + std::string(Py_TYPE(seed.ptr())->tp_name));
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(seed.ptr(), &overflow);
        if (!overflow && v == -1) return LLM4ALL_SEED_RANDOM;
        if (!overflow && v < 0) throw py::value_error("seed must be -1, None or between 0 and 2**64 - 2");
        const unsigned long long u = PyLong_AsUnsignedLongLong(seed.ptr());
        if (PyErr_Occurred() || u == LLM4ALL_SEED_RANDOM) {
            PyErr_Clear();
            throw py::value_error("seed must be -1, None or between 0 and 2**64 - 2");
        }
        return u;
    }

    llm4all_raii::SamplerPtr sampler_;
    std::mutex mu_;   // sample() runs without the GIL
};

struct FreeChat {
    void operator()(llm4all_chat *c) const { llm4all_chat_free(c); }
};

// A chat over a Session (kept alive by pybind11); engine calls take the
// session's lock, so a chat and plain generation on one session never race.
class Chat {
public:
    Chat(Session &session, py::object template_src, py::object system_message, py::object variables_json,
         bool drop_oldest)
        : session_(session) {
        std::string t = template_src.is_none() ? std::string() : text_arg(template_src);
        std::string sys = system_message.is_none() ? std::string() : text_arg(system_message);
        std::string vars = variables_json.is_none() ? std::string() : text_arg(variables_json);
        llm4all_chat_options o;
        llm4all_chat_options_init(&o);
        o.template_src = t.empty() ? nullptr : t.c_str();
        o.system_message = system_message.is_none() ? nullptr : sys.c_str();
        o.variables_json = vars.empty() ? nullptr : vars.c_str();
        o.overflow = drop_oldest ? LLM4ALL_CHAT_DROP_OLDEST : LLM4ALL_CHAT_ERROR;
        llm4all_chat *c = nullptr;
        check(llm4all_chat_new(session.get(), &o, &c));
        chat_.reset(c);
    }

    void add_message(py::handle json) {
        std::string j = text_arg(json);
        check(llm4all_chat_add_message(chat_.get(), j.c_str()));
    }
    void set_messages(py::handle json) {
        std::string j = text_arg(json);
        check(llm4all_chat_set_messages(chat_.get(), j.c_str()));
    }
    py::str messages() const {
        char *out = nullptr;
        check(llm4all_chat_messages(chat_.get(), &out));
        return to_str(llm4all_raii::take_string(out));
    }
    py::str render() const {
        char *out = nullptr;
        check(llm4all_chat_render(chat_.get(), &out));
        return to_str(llm4all_raii::take_string(out));
    }
    void reset() { check(llm4all_chat_reset(chat_.get())); }

    // text None: respond to the conversation as it is; else send it as a user message.
    py::tuple respond(py::object text, int32_t max_tokens, float temp, int32_t top_k, float top_p, float min_p,
                      float repeat_penalty, int32_t repeat_last_n, float presence_penalty, float frequency_penalty,
                      uint64_t seed, py::object stop, py::object callback) {
        std::string t = text.is_none() ? std::string() : text_arg(text);
        GenerateArgs args(max_tokens, temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n, presence_penalty,
                          frequency_penalty, seed, stop);
        StreamState st{callback, nullptr};
        llm4all_chat_stats stats{};
        stats.size = sizeof(stats);
        char *answer = nullptr, *reasoning = nullptr;
        llm4all_status status = LLM4ALL_OK;
        std::string message;
        run_interruptible(session_.get(), [&] {
            std::lock_guard<std::mutex> lock(session_.mutex());
            llm4all_on_token cb = callback.is_none() ? nullptr : &on_token_trampoline;
            status = text.is_none()
                         ? llm4all_chat_respond(chat_.get(), &args.opt, cb, &st, &answer, &reasoning, &stats)
                         : llm4all_chat_send(chat_.get(), t.c_str(), &args.opt, cb, &st, &answer, &reasoning, &stats);
            if (status != LLM4ALL_OK) message = llm4all_last_error();
        });
        std::string a = llm4all_raii::take_string(answer), r = llm4all_raii::take_string(reasoning);
        if (st.error) std::rethrow_exception(st.error);
        if (status != LLM4ALL_OK) throw StatusError(status, message);
        py::dict d;
        d["prompt_tokens"] = stats.prompt_tokens;
        d["reused_tokens"] = stats.reused_tokens;
        d["decoded_tokens"] = stats.decoded_tokens;
        d["generated_tokens"] = stats.generated_tokens;
        d["dropped_messages"] = stats.dropped_messages;
        d["stop_reason"] = llm4all_stop_reason_name(stats.stop_reason);
        d["prompt_ms"] = stats.prompt_ms;
        d["generate_ms"] = stats.generate_ms;
        return py::make_tuple(to_str(a), to_str(r), d);
    }

private:
    Session &session_;
    std::unique_ptr<llm4all_chat, FreeChat> chat_;
};

} // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "Low-level binding of the llm4all C ABI (use the llm4all package instead).";

    g_error_type = PyErr_NewExceptionWithDoc(
        "llm4all.Error",
        "An llm4all engine call failed. Attributes: status (int, < 0), status_name (str).",
        PyExc_RuntimeError, nullptr);
    if (!g_error_type) throw py::error_already_set();
    m.attr("Error") = py::reinterpret_borrow<py::object>(g_error_type);
    g_template_error_type = PyErr_NewExceptionWithDoc(
        "llm4all.TemplateError", "A chat template failed to parse or render, or hit a sandbox limit.",
        g_error_type, nullptr);
    if (!g_template_error_type) throw py::error_already_set();
    m.attr("TemplateError") = py::reinterpret_borrow<py::object>(g_template_error_type);

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const StatusError &e) {
            PyObject *type = e.status() == LLM4ALL_ERR_TEMPLATE ? g_template_error_type : g_error_type;
            py::object inst = py::reinterpret_borrow<py::object>(type)(to_str(e.what(), std::strlen(e.what())));
            inst.attr("status") = e.status();
            inst.attr("status_name") = e.status_name();
            PyErr_SetObject(type, inst.ptr());
        }
    });

    m.attr("ABI_VERSION") = LLM4ALL_ABI_VERSION;
    m.attr("SEED_RANDOM") = py::int_(static_cast<unsigned long long>(LLM4ALL_SEED_RANDOM));
    llm4all_generate_options gd;   // the C ABI's defaults, the one place they live
    llm4all_generate_options_init(&gd);
    m.def("generate_defaults", &generate_defaults, "Sampling/generation defaults of the C ABI (dict).");
    m.def("abi_version", &llm4all_abi_version, "ABI version of the loaded library.");
    m.def("version", [] { return std::string(llm4all_version()); }, "Version of the loaded library.");
    m.def("lib_path", &lib_path, "File system path of the loaded core library.");
    m.def("status_name", [](int32_t s) { return std::string(llm4all_status_name(s)); }, py::arg("status"));
    m.def("devices_json", [] {
        char *out = nullptr;
        check(llm4all_devices_json(&out));
        return to_str(llm4all_raii::take_string(out));
    }, "JSON list of backend plugins and their devices.");
    m.def("gguf_describe", [](py::handle path, uint64_t max_array) {
        std::string p = fs_path(path);
        char *out = nullptr;
        {
            py::gil_scoped_release nogil;
            check(llm4all_gguf_describe(p.c_str(), max_array, &out));
        }
        return to_str(llm4all_raii::take_string(out));
    }, py::arg("path"), py::arg("max_array") = 64, "Validate a GGUF file and describe it as JSON.");
    m.def("estimate_memory", &estimate_memory, py::arg("path"), py::arg("n_ctx") = 0, py::arg("n_batch") = 0,
          py::arg("kv_type") = "f16", py::arg("device") = "auto",
          "Memory estimate of loading path and a session at n_ctx (llm4all_gguf_estimate_memory) as a dict: "
          "weights, kv_cache, compute, runtime, total (bytes), n_ctx, n_batch, available, available_source, devices.");
    m.def("gguf_check_model", [](py::handle path) {
        std::string p = fs_path(path);
        py::gil_scoped_release nogil;
        check(llm4all_gguf_check_model(p.c_str()));
    }, py::arg("path"),
          "Check from the header alone that a GGUF file is a loadable model (architecture supported, "
          "hyper-parameters sane and agreeing with the tensors); raises llm4all.Error naming the bad key.");
    m.def("quantize_rows", [](int32_t type, py::array_t<float, py::array::c_style> values) {
        if (values.ndim() != 2) throw py::value_error("values must be a 2-D float32 array (rows, n_per_row)");
        const int64_t rows = values.shape(0), n = values.shape(1);
        size_t row = 0, written = 0;
        check(llm4all_quantize_rows(type, nullptr, 1, n, nullptr, 0, &row)); // validates type and n
        py::array_t<uint8_t> out({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(row)});
        {
            py::gil_scoped_release nogil;
            check(llm4all_quantize_rows(type, values.data(), rows, n, out.mutable_data(), row * size_t(rows),
                                        &written));
        }
        return out;
    }, py::arg("type"), py::arg("values"),
       "Quantize float32 rows to a GGUF type id (bytes identical to llama.cpp's quantizer); uint8 (rows, row bytes).");
    m.def("gguf_read_tensor", [](py::handle path, const std::string &name) {
        std::string p = fs_path(path);
        float *values = nullptr;
        uint64_t count = 0;
        {
            py::gil_scoped_release nogil;
            check(llm4all_gguf_read_tensor_f32(p.c_str(), name.c_str(), &values, &count));
        }
        // The array takes the library's buffer; the capsule frees it with llm4all_free.
        py::capsule owner(values, [](void *ptr) { llm4all_free(ptr); });
        return py::array_t<float>({static_cast<py::ssize_t>(count)}, {sizeof(float)}, values, owner);
    }, py::arg("path"), py::arg("name"), "Read one tensor dequantized to float32 (flat, file order).");
    m.def("render_chat_template", [](py::handle template_src, py::handle context_json) {
        std::string t = text_arg(template_src), c = text_arg(context_json);
        char *out = nullptr;
        size_t n = 0;
        {
            py::gil_scoped_release nogil;
            check(llm4all_chat_template_render(t.c_str(), c.c_str(), &out, &n));
        }
        return to_str(llm4all_raii::take_string(out, n));
    }, py::arg("template"), py::arg("context_json"),
       "Render a Jinja chat template with variables given as a JSON object (llm4all.h).");
    m.def("quantize", &quantize, py::arg("in_path"), py::arg("out_path"), py::arg("type"), py::arg("n_threads") = 0,
          py::arg("allow_requantize") = false, py::arg("pure") = false, py::arg("output_type") = py::none(),
          py::arg("token_embedding_type") = py::none(), py::arg("progress") = py::none(),
          "Quantize a GGUF file to a llama.cpp mix (type ids for the overrides; progress(done, total, tensor) "
          "returning False cancels).");

    py::class_<Model>(m, "Model")
        .def(py::init<py::handle, const std::string &, bool, const std::vector<std::pair<py::handle, float>> &, bool,
                      int32_t>(),
             py::arg("path"), py::arg("device") = "auto", py::arg("use_mmap") = true,
             py::arg("lora") = std::vector<std::pair<py::handle, float>>(), py::arg("skip_memory_check") = false,
             py::arg("n_gpu_layers") = -1)
        .def("info_json", &Model::info_json)
        .def_property_readonly("path", &Model::path)
        .def_property_readonly("n_vocab", &Model::n_vocab)
        .def_property_readonly("n_ctx_train", &Model::n_ctx_train)
        .def_property_readonly("bos", &Model::bos)
        .def_property_readonly("eos", &Model::eos)
        .def("is_eog", &Model::is_eog, py::arg("token"))
        .def("tokenize", &Model::tokenize, py::arg("text"), py::arg("add_special") = true,
             py::arg("parse_special") = false)
        .def("detokenize", &Model::detokenize, py::arg("tokens"), py::arg("render_special") = false)
        .def("token_to_piece", &Model::token_to_piece, py::arg("token"), py::arg("render_special") = false)
        .def_property_readonly("embedding_dim", &Model::embedding_dim)
        .def("embed", &Model::embed, py::arg("inputs"), py::arg("n_threads") = 0, py::arg("normalize") = true,
             py::arg("dimensionality") = 0, py::arg("prefix") = py::none(), py::arg("pooling") = -1,
             py::arg("long_text") = 0, py::arg("n_ctx") = 0, py::arg("on_batch") = py::none(),
             "Embeds texts (str/bytes) or token lists: (float32 array [n, dim], tokens run).");

    py::class_<Session>(m, "Session")
        .def(py::init<Model &, int32_t, int32_t, int32_t, const std::string &>(), py::arg("model"),
             py::arg("n_ctx") = 0, py::arg("n_batch") = 512, py::arg("n_threads") = 0, py::arg("kv_type") = "f16",
             py::keep_alive<1, 2>()) // the C session must not outlive its model
        .def_property_readonly("n_ctx", &Session::n_ctx)
        .def_property_readonly("n_past", &Session::n_past)
        .def("set_tokens", &Session::set_tokens, py::arg("tokens"))
        .def("decode", &Session::decode, py::arg("tokens"), py::arg("all_logits") = false)
        .def("logits", &Session::logits)
        .def("truncate", &Session::truncate, py::arg("n_keep"))
        .def("score", &Session::score, py::arg("tokens"), py::arg("first") = 1)
        .def("abort", &Session::abort, "Ask the running call to stop (any thread).")
        .def("generate", &Session::generate, py::arg("prompt"), py::arg("max_tokens") = gd.max_tokens,
             py::arg("temp") = gd.sampling.temp, py::arg("top_k") = gd.sampling.top_k,
             py::arg("top_p") = gd.sampling.top_p, py::arg("min_p") = gd.sampling.min_p,
             py::arg("repeat_penalty") = gd.sampling.repeat_penalty,
             py::arg("repeat_last_n") = gd.sampling.repeat_last_n,
             py::arg("presence_penalty") = gd.sampling.presence_penalty,
             py::arg("frequency_penalty") = gd.sampling.frequency_penalty, py::arg("seed") = LLM4ALL_SEED_RANDOM,
             py::arg("add_special") = true, py::arg("parse_special") = true, py::arg("stop_at_eog") = true,
             py::arg("stop") = py::none(), py::arg("callback") = py::none());

    m.def("decode_batch", &decode_batch, py::arg("items"),
          "Advance several sessions of one model in shared forward passes: items is a list of "
          "(Session, tokens, all_logits); each session's logits() then hold its result, bit-identical "
          "to Session.decode (llm4all_decode_batch).");

    py::class_<Sampler>(m, "Sampler")
        .def(py::init<float, int32_t, float, float, float, int32_t, float, float, py::object>(),
             py::arg("temp") = gd.sampling.temp, py::arg("top_k") = gd.sampling.top_k,
             py::arg("top_p") = gd.sampling.top_p, py::arg("min_p") = gd.sampling.min_p,
             py::arg("repeat_penalty") = gd.sampling.repeat_penalty,
             py::arg("repeat_last_n") = gd.sampling.repeat_last_n,
             py::arg("presence_penalty") = gd.sampling.presence_penalty,
             py::arg("frequency_penalty") = gd.sampling.frequency_penalty, py::arg("seed") = py::none())
        .def("sample", &Sampler::sample, py::arg("logits"),
             "Pick a token from float32 logits [n_vocab] (-inf = never; all -inf or NaN raise llm4all.Error). "
             "Does not accept it.")
        .def("accept", &Sampler::accept, py::arg("token"), "Add a token to the penalty window.");

    py::class_<Chat>(m, "Chat")
        .def(py::init<Session &, py::object, py::object, py::object, bool>(), py::arg("session"),
             py::arg("template") = py::none(), py::arg("system_message") = py::none(),
             py::arg("variables_json") = py::none(), py::arg("drop_oldest") = true,
             py::keep_alive<1, 2>()) // the C chat must not outlive its session
        .def("add_message", &Chat::add_message, py::arg("message_json"))
        .def("set_messages", &Chat::set_messages, py::arg("messages_json"))
        .def("messages", &Chat::messages)
        .def("render", &Chat::render)
        .def("reset", &Chat::reset)
        .def("respond", &Chat::respond, py::arg("text") = py::none(), py::arg("max_tokens") = gd.max_tokens,
             py::arg("temp") = gd.sampling.temp, py::arg("top_k") = gd.sampling.top_k,
             py::arg("top_p") = gd.sampling.top_p, py::arg("min_p") = gd.sampling.min_p,
             py::arg("repeat_penalty") = gd.sampling.repeat_penalty,
             py::arg("repeat_last_n") = gd.sampling.repeat_last_n,
             py::arg("presence_penalty") = gd.sampling.presence_penalty,
             py::arg("frequency_penalty") = gd.sampling.frequency_penalty, py::arg("seed") = LLM4ALL_SEED_RANDOM,
             py::arg("stop") = py::none(), py::arg("callback") = py::none());
}
