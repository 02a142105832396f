// batch.h — one forward pass over several sequences at once. Each segment is one
// session's next tokens at its own position with its own KV cache; their rows are
// stacked into one activation matrix so every per-token op (embedding lookup,
// norms, matmuls, RoPE, activations) runs once for all of them, and only the
// attention loops over the segments. The CPU kernels compute a row the same way
// whatever the other rows are, so a sequence's logits do not depend on the batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model.h"

namespace llm4all {

class Session;

class Batch {
public:
    struct Segment {
        Session *session;
        const int32_t *tokens;   // this pass's tokens of the segment (not owned)
        int32_t n;               // how many
        int32_t n_past;          // position of tokens[0]
        int32_t n_out;           // logits wanted for the last n_out of them
        int32_t row;             // first row of the segment in the activations
        int32_t out_row;         // first row of its logits in logits()
    };

    // compute: the session whose backend context, threads and scratch run the pass.
    explicit Batch(Session &compute) : compute_(compute) {}

    void clear();
    // Appends a segment of n tokens (1 <= n <= the session's n_batch) at the
    // session's current end, keeping logits for its last n_out. The session must
    // share the compute session's model and appear once per batch.
    void add(Session &session, const int32_t *tokens, int32_t n, int32_t n_out);
    // Runs the forward pass: makes room in each cache, runs the model, then
    // appends each segment's tokens to its session. If anything throws, no
    // session has taken its tokens (their caches hold rows past n_past only).
    void run();

    // Logits [n_vocab, n_out] of segment i after run().
    const float *logits(size_t i) const;

    // For the architectures.
    Session &compute() const { return compute_; }
    const std::vector<Segment> &segments() const { return segs_; }
    int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
    int32_t n_out() const { return n_out_; }
    const int32_t *tokens() const { return tokens_.data(); }
    const int32_t *positions() const { return pos_.data(); }
    // Throws LLM4ALL_ERR_CANCELLED when any segment's session was asked to stop.
    void check_abort() const;

private:
    Session &compute_;
    std::vector<Segment> segs_;
    std::vector<int32_t> tokens_, pos_;
    std::vector<float> logits_;
    int32_t n_out_ = 0;
};

// One item of decode_batch: as Session::decode(tokens, n, all_logits).
struct DecodeItem {
    Session *session;
    const int32_t *tokens;
    size_t n;
    bool all_logits;
};

// Appends every item's tokens to its session exactly as Session::decode would
// (same logits, bit for bit), in shared forward passes that take up to n_batch
// tokens of each unfinished item, on the first item's session's backend context.
// Every item is checked before anything is decoded: one model, distinct
// sessions, at least one token each, valid ids, room in each context.
void decode_batch(const DecodeItem *items, size_t n_items);

} // namespace llm4all
