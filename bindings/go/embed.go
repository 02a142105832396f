// embed.go — embeddings: vectors for texts (or token sequences) from an embedding model
// (MiniLM, EmbeddingGemma), through llm4all_embed. Calls on one model may run at once.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
extern bool llm4allGoOnEmbedBatch(int32_t *n_tokens, size_t n, void *user);
*/
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// Pooling of token vectors into one vector per text (EmbedOptions.Pooling).
const (
	PoolingFromFile = C.LLM4ALL_POOLING_FROM_FILE
	PoolingMean     = C.LLM4ALL_POOLING_MEAN
	PoolingCLS      = C.LLM4ALL_POOLING_CLS
	PoolingLast     = C.LLM4ALL_POOLING_LAST
)

// What happens to a text longer than one window (EmbedOptions.LongText).
const (
	LongTextMean     = C.LLM4ALL_LONG_TEXT_MEAN     // overlapping windows, averaged
	LongTextTruncate = C.LLM4ALL_LONG_TEXT_TRUNCATE // only the first window
	LongTextError    = C.LLM4ALL_LONG_TEXT_ERROR    // ErrContextFull
)

// EmbedOptions are llm4all_embed_options. Start from DefaultEmbedOptions().
type EmbedOptions struct {
	NThreads       int    // 0 = every core
	Normalize      bool   // L2-normalise each vector
	Dimensionality int    // 0 = full; 1..dim: the first d values (Matryoshka)
	Prefix         string // literal text put before every text ("" = none)
	Pooling        int    // PoolingFromFile or a pooling value
	LongText       int    // LongTextMean, LongTextTruncate or LongTextError
	NCtx           int    // tokens per window (0 = the model's training context)
	// OnBatch (may be nil) is called before each forward pass with the token counts of that
	// pass and every later one; returning false cancels (ErrCancelled).
	OnBatch func(nTokens []int32) bool
}

// DefaultEmbedOptions returns the C library's defaults.
func DefaultEmbedOptions() EmbedOptions {
	var o C.llm4all_embed_options
	C.llm4all_embed_options_init(&o)
	return EmbedOptions{
		NThreads: int(o.n_threads), Normalize: bool(o.normalize), Dimensionality: int(o.dimensionality),
		Pooling: int(o.pooling), LongText: int(o.long_text), NCtx: int(o.n_ctx),
	}
}

type embedSink struct {
	ctx context.Context
	fn  func([]int32) bool
}

//export llm4allGoOnEmbedBatch
func llm4allGoOnEmbedBatch(nTokens *C.int32_t, n C.size_t, user unsafe.Pointer) C.bool {
	s := (*(*cgo.Handle)(user)).Value().(*embedSink)
	if s.ctx.Err() != nil {
		return false
	}
	if s.fn == nil {
		return true
	}
	counts := append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(nTokens)), int(n))...)
	return C.bool(s.fn(counts))
}

// EmbeddingDim is the length of the vectors Embed returns at full size; 0 for a model
// that is not an embedding model.
func (m *Model) EmbeddingDim() int {
	return m.intFact(func(p *C.llm4all_model) C.int32_t { return C.llm4all_model_embedding_dim(p) })
}

// embedCall fills the options (in C memory, with the batch callback), runs f and returns
// the vectors, cut into one slice per input.
func (m *Model) embedCall(ctx context.Context, opts *EmbedOptions, n int,
	f func(*C.llm4all_model, *C.llm4all_embed_options, **C.float, *C.int32_t) C.llm4all_status) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := m.handle()
	if err != nil {
		return nil, err
	}
	o := (*C.llm4all_embed_options)(C.calloc(1, C.size_t(unsafe.Sizeof(C.llm4all_embed_options{}))))
	defer C.free(unsafe.Pointer(o))
	C.llm4all_embed_options_init(o)
	sink := &embedSink{ctx: ctx}
	if opts != nil {
		o.n_threads = C.int32_t(opts.NThreads)
		o.normalize = C.bool(opts.Normalize)
		o.dimensionality = C.int32_t(opts.Dimensionality)
		if opts.Prefix != "" {
			o.prefix = C.CString(opts.Prefix)
			defer C.free(unsafe.Pointer(o.prefix))
		}
		o.pooling = C.int32_t(opts.Pooling)
		o.long_text = C.int32_t(opts.LongText)
		o.n_ctx = C.int32_t(opts.NCtx)
		sink.fn = opts.OnBatch
	}
	h := cgo.NewHandle(sink)
	defer h.Delete()
	user := C.malloc(C.size_t(unsafe.Sizeof(h)))
	defer C.free(user)
	*(*cgo.Handle)(user) = h
	o.on_batch = C.llm4all_on_embed_batch(C.llm4allGoOnEmbedBatch)
	o.user = user
	var out *C.float
	var dim C.int32_t
	err = call(func() C.llm4all_status { return f(p, o, &out, &dim) })
	runtime.KeepAlive(m)
	if err = cancelled(ctx, err); err != nil {
		return nil, err
	}
	defer C.llm4all_free(unsafe.Pointer(out))
	all := unsafe.Slice((*float32)(unsafe.Pointer(out)), n*int(dim))
	res := make([][]float32, n)
	for i := range res {
		res[i] = append([]float32(nil), all[i*int(dim):(i+1)*int(dim)]...)
	}
	return res, nil
}

// Embed returns one vector per text (many texts per forward pass). Cancelling ctx stops
// the call before its next forward pass. opts nil = the C defaults.
func (m *Model) Embed(ctx context.Context, texts []string, opts *EmbedOptions) ([][]float32, error) {
	v, _, err := m.EmbedCount(ctx, texts, opts)
	return v, err
}

// EmbedCount is Embed that also returns the number of tokens run.
func (m *Model) EmbedCount(ctx context.Context, texts []string, opts *EmbedOptions) ([][]float32, uint64, error) {
	n := len(texts)
	if n == 0 {
		return nil, 0, errorf("Embed: no texts")
	}
	arr := (**C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(arr))
	lens := (*C.size_t)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
	defer C.free(unsafe.Pointer(lens))
	ptrs, ls := unsafe.Slice(arr, n), unsafe.Slice(lens, n)
	for i, t := range texts {
		ptrs[i] = C.CString(t)
		defer C.free(unsafe.Pointer(ptrs[i]))
		ls[i] = C.size_t(len(t))
	}
	var tokens C.uint64_t
	v, err := m.embedCall(ctx, opts, n, func(p *C.llm4all_model, o *C.llm4all_embed_options, out **C.float,
		dim *C.int32_t) C.llm4all_status {
		return C.llm4all_embed(p, arr, lens, C.size_t(n), o, out, dim, &tokens)
	})
	return v, uint64(tokens), err
}

// EmbedTokens embeds sequences already tokenized (special tokens as given).
func (m *Model) EmbedTokens(ctx context.Context, seqs [][]int32, opts *EmbedOptions) ([][]float32, error) {
	n := len(seqs)
	if n == 0 {
		return nil, errorf("EmbedTokens: no sequences")
	}
	arr := (**C.int32_t)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.int32_t)(nil)))))
	defer C.free(unsafe.Pointer(arr))
	lens := (*C.size_t)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
	defer C.free(unsafe.Pointer(lens))
	ptrs, ls := unsafe.Slice(arr, n), unsafe.Slice(lens, n)
	for i, s := range seqs {
		ptrs[i] = cTokens(s)
		defer C.free(unsafe.Pointer(ptrs[i]))
		ls[i] = C.size_t(len(s))
	}
	return m.embedCall(ctx, opts, n, func(p *C.llm4all_model, o *C.llm4all_embed_options, out **C.float,
		dim *C.int32_t) C.llm4all_status {
		return C.llm4all_embed_tokens(p, arr, lens, C.size_t(n), o, out, dim)
	})
}
