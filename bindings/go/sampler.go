// sampler.go — Sampler (the core's sampling chain on its own) and DecodeBatch (one decode
// step for several sessions in shared forward passes), for callers that run the decode
// loop themselves, e.g. to serve several sequences at once.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// Sampler picks tokens from logits with the same chain as Generate. Not for concurrent use.
type Sampler struct {
	mu  sync.Mutex
	ptr *C.llm4all_sampler
}

// NewSampler creates a sampler; opts nil = the C defaults.
func NewSampler(opts *SamplerOptions) (*Sampler, error) {
	var o C.llm4all_sampler_options
	C.llm4all_sampler_options_init(&o)
	if opts != nil {
		opts.fill(&o)
	}
	var ptr *C.llm4all_sampler
	if err := call(func() C.llm4all_status { return C.llm4all_sampler_new(&o, &ptr) }); err != nil {
		return nil, err
	}
	s := &Sampler{ptr: ptr}
	runtime.SetFinalizer(s, func(s *Sampler) { s.Close() })
	return s, nil
}

// Close frees the sampler. Closing twice is a no-op.
func (s *Sampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.llm4all_sampler_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// Sample picks a token from one row of logits (-Inf entries are never chosen). It does
// not accept the token: call Accept for the penalty window.
func (s *Sampler) Sample(logits []float32) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return 0, ErrClosed
	}
	if len(logits) == 0 {
		return 0, errorf("Sample: no logits")
	}
	var tok C.int32_t
	// A []float32 holds no Go pointers, so C may read it during the call.
	err := call(func() C.llm4all_status {
		return C.llm4all_sampler_sample(s.ptr, (*C.float)(unsafe.Pointer(&logits[0])), C.int32_t(len(logits)), &tok)
	})
	return int32(tok), err
}

// Accept adds a token to the penalty window.
func (s *Sampler) Accept(token int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return ErrClosed
	}
	return call(func() C.llm4all_status { return C.llm4all_sampler_accept(s.ptr, C.int32_t(token)) })
}

// BatchItem is one sequence's part of a DecodeBatch step.
type BatchItem struct {
	Session   *Session
	Tokens    []int32 // appended to that session's cache (at least one)
	AllLogits bool
}

// DecodeBatch appends every item's tokens to its session as Session.Decode would (the
// same logits), in shared forward passes. Items need distinct sessions of one model.
// Cancelling ctx aborts the step (completed passes stay in the caches).
func DecodeBatch(ctx context.Context, items []BatchItem) error {
	if len(items) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Hold every session for the whole step, in a fixed order so that two concurrent
	// DecodeBatch calls over the same sessions cannot deadlock.
	order := make([]*Session, 0, len(items))
	for _, it := range items {
		order = append(order, it.Session)
	}
	sortSessions(order)
	for i, s := range order {
		if i > 0 && s == order[i-1] {
			return errorf("DecodeBatch: the same session appears twice")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ptr == nil {
			return ErrClosed
		}
	}
	n := len(items)
	arr := (*C.llm4all_batch_item)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.llm4all_batch_item{}))))
	defer C.free(unsafe.Pointer(arr))
	citems := unsafe.Slice(arr, n)
	for i, it := range items {
		ct := cTokens(it.Tokens)
		defer C.free(unsafe.Pointer(ct))
		citems[i].session = it.Session.ptr
		citems[i].tokens = ct
		citems[i].n_tokens = C.size_t(len(it.Tokens))
		citems[i].all_logits = C.bool(it.AllLogits)
	}
	stops := make([]func(), 0, n)
	for _, it := range items {
		stops = append(stops, it.Session.watch(ctx, it.Session.ptr))
	}
	err := call(func() C.llm4all_status { return C.llm4all_decode_batch(arr, C.size_t(n)) })
	for _, stop := range stops {
		stop()
	}
	return cancelled(ctx, err)
}

func sortSessions(s []*Session) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && uintptr(unsafe.Pointer(s[j])) < uintptr(unsafe.Pointer(s[j-1])); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
