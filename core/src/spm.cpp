// spm.cpp — the SentencePiece-style tokenizer of "llama" vocabularies: BPE by
// token score over characters, with byte tokens (<0xXX>) for characters the
// vocabulary lacks, as llama.cpp's llm_tokenizer_spm does.
#include "vocab_impl.h"

#include "unicode.h"

#include <algorithm>
#include <queue>

namespace llm4all {

namespace {

struct Symbol {          // a run of bytes that may still merge
    int prev, next;
    const char *text;
    size_t n;
};

} // namespace

int32_t Vocab::Impl::spm_byte_token(uint8_t b) const {
    static const char *hex = "0123456789ABCDEF";
    const char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    int32_t id = find(std::string_view(buf, 6));
    if (id >= 0) return id;
    const char raw = static_cast<char>(b);
    id = find(std::string_view(&raw, 1));
    return id >= 0 ? id : unk;
}

// SentencePiece BPE: start from single characters and repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring token.
void Vocab::Impl::tokenize_spm(const std::string &text, std::vector<int32_t> &out) const {
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        size_t len = std::min(utf8_len(static_cast<unsigned char>(text[off])), text.size() - off);
        int idx = static_cast<int>(sym.size());
        sym.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, text.data() + off, len});
        off += len;
    }
    struct Bigram {
        int left, right;
        float score;
        size_t size;
    };
    auto worse = [](const Bigram &a, const Bigram &b) {   // max-heap on score, then leftmost
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int l, int r) {
        if (l == -1 || r == -1) return;
        int32_t id = find(std::string_view(sym[l].text, sym[l].n + sym[r].n));
        if (id < 0) return;
        queue.push({l, r, tokens[id].score, sym[l].n + sym[r].n});
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        Bigram b = queue.top();
        queue.pop();
        Symbol &l = sym[b.left], &r = sym[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;   // stale
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }
    if (sym.empty()) return;
    for (int i = 0; i != -1; i = sym[i].next) {
        int32_t id = find(std::string_view(sym[i].text, sym[i].n));
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        // Only single characters can be missing (merges always make tokens):
        // fall back to byte tokens.
        for (size_t j = 0; j < sym[i].n; ++j) {
            int32_t bt = spm_byte_token(static_cast<uint8_t>(sym[i].text[j]));
            if (bt >= 0) out.push_back(bt);
        }
    }
}

} // namespace llm4all
