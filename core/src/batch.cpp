// batch.cpp — building a multi-sequence forward pass and decode_batch: the one
// path by which tokens enter a session's cache (Session::decode, truncate and
// score go through it with a single segment).
#include "batch.h"

#include <algorithm>
#include <string>

#include "error.h"
#include "session.h"

namespace llm4all {

void Batch::clear() {
    segs_.clear();
    tokens_.clear();
    pos_.clear();
    n_out_ = 0;
}

void Batch::add(Session &s, const int32_t *tokens, int32_t n, int32_t n_out) {
    if (&s.model() != &compute_.model())
        fail(LLM4ALL_ERR_INTERNAL, "batch: a segment's session belongs to another model");
    if (n < 1 || n > s.n_batch() || n_out < 0 || n_out > n)
        fail(LLM4ALL_ERR_INTERNAL, "batch: segment of " + std::to_string(n) + " tokens (" + std::to_string(n_out) +
                                       " with logits) does not fit n_batch " + std::to_string(s.n_batch()));
    for (const Segment &g : segs_)
        if (g.session == &s) fail(LLM4ALL_ERR_INTERNAL, "batch: a session appears twice");
    Segment g;
    g.session = &s;
    g.tokens = tokens;
    g.n = n;
    g.n_past = s.n_past();
    g.n_out = n_out;
    g.row = n_tokens();
    g.out_row = n_out_;
    segs_.push_back(g);
    tokens_.insert(tokens_.end(), tokens, tokens + n);
    for (int32_t i = 0; i < n; ++i) pos_.push_back(g.n_past + i);
    n_out_ += n_out;
}

void Batch::check_abort() const {
    for (const Segment &g : segs_) g.session->check_abort();
}

void Batch::run() {
    if (segs_.empty()) return;
    const Model &model = compute_.model();
    // A slide keeps every row that positions before n_past still need, so a pass
    // cut short later leaves each cache usable from its n_past.
    for (const Segment &g : segs_) g.session->kv_->reserve(g.n_past, g.n);
    logits_.resize(size_t(n_out_) * size_t(model.hparams().n_vocab));
    model.arch().forward(*this, logits_.data());
    for (const Segment &g : segs_) g.session->tokens_.insert(g.session->tokens_.end(), g.tokens, g.tokens + g.n);
}

const float *Batch::logits(size_t i) const {
    return logits_.data() + size_t(segs_.at(i).out_row) * size_t(compute_.model().hparams().n_vocab);
}

void decode_batch(const DecodeItem *items, size_t n_items) {
    if (n_items == 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "decode_batch needs at least one item");
    if (!items) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "items is NULL");
    // Everything is checked before the first pass: an error leaves every cache as it was.
    for (size_t i = 0; i < n_items; ++i) {
        const DecodeItem &it = items[i];
        try {
            if (!it.session) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "session is NULL");
            if (&it.session->model() != &items[0].session->model())
                fail(LLM4ALL_ERR_INVALID_ARGUMENT, "its session belongs to another model than item 0's");
            for (size_t j = 0; j < i; ++j)
                if (items[j].session == it.session)
                    fail(LLM4ALL_ERR_INVALID_ARGUMENT, "its session is also item " + std::to_string(j) +
                                                           "'s (each sequence needs its own session)");
            if (it.n == 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "decode needs at least one token");
            it.session->check_tokens(it.tokens, it.n);
            it.session->check_room(it.n);
        } catch (const Error &e) {
            if (n_items == 1) throw;   // the single-session messages stay as decode() has always said
            fail(e.status(), "decode_batch item " + std::to_string(i) + ": " + e.what());
        }
    }
    const int32_t n_vocab = items[0].session->model().hparams().n_vocab;
    for (size_t i = 0; i < n_items; ++i) {
        Session &s = *items[i].session;
        s.logits_rows_ = 0;
        s.logits_.clear();
        if (items[i].all_logits) s.logits_.reserve(items[i].n * size_t(n_vocab));
    }

    Batch &b = items[0].session->batch();
    std::vector<size_t> done(n_items, 0), item_of;
    item_of.reserve(n_items);
    for (;;) {
        b.clear();
        item_of.clear();
        for (size_t i = 0; i < n_items; ++i) {
            const DecodeItem &it = items[i];
            if (done[i] == it.n) continue;
            const int32_t nb = static_cast<int32_t>(std::min<size_t>(it.session->n_batch(), it.n - done[i]));
            // Logits for every position, or for the item's last one only.
            const int32_t n_out = it.all_logits ? nb : done[i] + nb == it.n ? 1 : 0;
            b.add(*it.session, it.tokens + done[i], nb, n_out);
            item_of.push_back(i);
        }
        if (item_of.empty()) break;
        b.check_abort();
        b.run();
        for (size_t k = 0; k < item_of.size(); ++k) {
            const Batch::Segment &g = b.segments()[k];
            const size_t i = item_of[k];
            done[i] += size_t(g.n);
            if (!g.n_out) continue;
            Session &s = *g.session;
            const float *l = b.logits(k);
            if (!items[i].all_logits) s.logits_.clear();
            s.logits_.insert(s.logits_.end(), l, l + size_t(g.n_out) * n_vocab);
            s.logits_rows_ = items[i].all_logits ? s.logits_rows_ + g.n_out : g.n_out;
        }
    }
}

} // namespace llm4all
