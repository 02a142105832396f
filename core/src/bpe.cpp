// bpe.cpp — the byte-level BPE tokenizer of "gpt2" vocabularies: the merge
// table from tokenizer.ggml.merges, and words from the pre-tokenizer merged by
// lowest merge rank, as llama.cpp's llm_tokenizer_bpe does.
#include "vocab_impl.h"

#include "error.h"
#include "unicode.h"

#include <algorithm>

namespace llm4all {

namespace {

struct Symbol {          // a run of bytes that may still merge
    int prev, next;
    const char *text;
    size_t n;
};

} // namespace

void Vocab::Impl::load_merges(const GgufFile &f) {
    if (!f.find("tokenizer.ggml.merges")) fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": missing key tokenizer.ggml.merges");
    std::vector<std::string> merges = f.get_string_array("tokenizer.ggml.merges");
    merge_keys.reserve(merges.size());
    for (std::string &m : merges) {
        // The two parts are separated by the first space after the first byte.
        size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos) {
            merge_keys.emplace_back();   // keeps ranks aligned; never matched
            continue;
        }
        m[sp] = '\0';
        merge_keys.push_back(std::move(m));
    }
    merge_rank.reserve(merge_keys.size());
    for (size_t i = 0; i < merge_keys.size(); ++i) {
        if (!merge_keys[i].empty()) merge_rank.emplace(merge_keys[i], static_cast<int32_t>(i));   // first rank wins
    }
}

int32_t Vocab::Impl::bpe_rank(const char *l, size_t ln, const char *r, size_t rn, std::string &buf) const {
    buf.assign(l, ln);
    buf += '\0';
    buf.append(r, rn);
    auto it = merge_rank.find(buf);
    return it == merge_rank.end() ? -1 : it->second;
}

// Byte-level BPE: pre-tokenize into words, map bytes to GPT-2's printable code
// points, then merge adjacent pairs by lowest merge rank within each word.
void Vocab::Impl::tokenize_bpe(std::string_view text, std::vector<int32_t> &out) const {
    std::vector<uint32_t> cps = utf8_decode(text);
    std::vector<size_t> lens;
    pretok->split(cps, lens);

    struct Bigram {
        int left, right;
        int32_t rank;
        size_t ln, rn;
    };
    auto worse = [](const Bigram &a, const Bigram &b) {   // min-heap on rank, then leftmost
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    };
    std::string word, key, raw;
    std::vector<Symbol> sym;
    std::vector<Bigram> heap;
    // Natural text repeats its words: remember each word's tokens for this call.
    std::unordered_map<std::string, std::vector<int32_t>> seen;
    size_t cp_pos = 0;
    for (size_t wl : lens) {
        raw.clear();
        for (size_t k = 0; k < wl; ++k) utf8_append(raw, cps[cp_pos + k]);
        cp_pos += wl;
        auto hit = seen.find(raw);
        if (hit != seen.end()) {
            out.insert(out.end(), hit->second.begin(), hit->second.end());
            continue;
        }
        const size_t out_start = out.size();
        word.clear();
        for (unsigned char b : raw) utf8_append(word, gpt2_byte_to_cp(b));

        sym.clear();
        if (ignore_merges && find(word) >= 0) {
            sym.push_back({-1, -1, word.data(), word.size()});
        } else {
            for (size_t off = 0; off < word.size();) {
                size_t len = std::min(utf8_len(static_cast<unsigned char>(word[off])), word.size() - off);
                int idx = static_cast<int>(sym.size());
                sym.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, word.data() + off, len});
                off += len;
            }
        }
        heap.clear();
        auto try_add = [&](int l, int r) {
            if (l == -1 || r == -1) return;
            int32_t rank = bpe_rank(sym[l].text, sym[l].n, sym[r].text, sym[r].n, key);
            if (rank < 0) return;
            heap.push_back({l, r, rank, sym[l].n, sym[r].n});
            std::push_heap(heap.begin(), heap.end(), worse);
        };
        for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), worse);
            Bigram b = heap.back();
            heap.pop_back();
            Symbol &l = sym[b.left], &r = sym[b.right];
            // Symbols only grow, from fixed starts: equal sizes mean equal text.
            if (l.n != b.ln || r.n != b.rn) continue;
            l.n += r.n;
            r.n = 0;
            l.next = r.next;
            if (r.next >= 0) sym[r.next].prev = b.left;
            try_add(l.prev, b.left);
            try_add(b.left, l.next);
        }
        for (const Symbol &s : sym) {
            if (s.n == 0) continue;
            int32_t id = find(std::string_view(s.text, s.n));
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            // No such token: llama.cpp tries each byte of the mapped text alone.
            for (size_t j = 0; j < s.n; ++j) {
                int32_t bt = find(std::string_view(s.text + j, 1));
                if (bt >= 0) out.push_back(bt);
            }
        }
        if (seen.size() < 65536) seen.emplace(raw, std::vector<int32_t>(out.begin() + out_start, out.end()));
    }
}

} // namespace llm4all
