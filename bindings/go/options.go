// options.go — GenerateOptions and SamplerOptions: every field of llm4all_generate_options
// and llm4all_sampler_options. Defaults come from the C ABI (the _init functions), the one
// place they live; this file only copies fields across.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
*/
import "C"

import "unsafe"

// SeedRandom asks for a fresh random seed per call (llama.cpp's --seed -1).
const SeedRandom = ^uint64(0)

// SamplerOptions are llm4all_sampler_options. Start from DefaultSamplerOptions():
// a zero Temp means greedy decoding, not "default".
type SamplerOptions struct {
	Temp             float32 // <= 0: greedy
	TopK             int     // <= 0: off
	TopP             float32 // >= 1: off
	MinP             float32 // <= 0: off
	RepeatPenalty    float32 // 1: off
	RepeatLastN      int     // tokens the penalties look back on
	Seed             uint64  // same seed + same inputs = same tokens; SeedRandom draws one
	PresencePenalty  float32 // 0: off
	FrequencyPenalty float32 // 0: off
}

// GenerateOptions are llm4all_generate_options; the sampler fields are promoted
// (opts.Temp). Start from DefaultGenerateOptions().
type GenerateOptions struct {
	MaxTokens    int
	AddSpecial   bool     // add BOS where the model wants it
	ParseSpecial bool     // parse special-token text in the prompt
	StopAtEOG    bool     // stop at an end-of-generation token
	Stop         []string // generation stops before any of these (never emitted)
	SamplerOptions
}

func samplerFromC(o *C.llm4all_sampler_options) SamplerOptions {
	return SamplerOptions{
		Temp: float32(o.temp), TopK: int(o.top_k), TopP: float32(o.top_p), MinP: float32(o.min_p),
		RepeatPenalty: float32(o.repeat_penalty), RepeatLastN: int(o.repeat_last_n), Seed: uint64(o.seed),
		PresencePenalty: float32(o.presence_penalty), FrequencyPenalty: float32(o.frequency_penalty),
	}
}

func (s *SamplerOptions) fill(o *C.llm4all_sampler_options) {
	o.temp = C.float(s.Temp)
	o.top_k = C.int32_t(s.TopK)
	o.top_p = C.float(s.TopP)
	o.min_p = C.float(s.MinP)
	o.repeat_penalty = C.float(s.RepeatPenalty)
	o.repeat_last_n = C.int32_t(s.RepeatLastN)
	o.seed = C.uint64_t(s.Seed)
	o.presence_penalty = C.float(s.PresencePenalty)
	o.frequency_penalty = C.float(s.FrequencyPenalty)
}

// DefaultSamplerOptions returns the C library's sampling defaults.
func DefaultSamplerOptions() SamplerOptions {
	var o C.llm4all_sampler_options
	C.llm4all_sampler_options_init(&o)
	return samplerFromC(&o)
}

// DefaultGenerateOptions returns the C library's generation defaults.
func DefaultGenerateOptions() GenerateOptions {
	var o C.llm4all_generate_options
	C.llm4all_generate_options_init(&o)
	return GenerateOptions{
		MaxTokens:      int(o.max_tokens),
		AddSpecial:     bool(o.add_special),
		ParseSpecial:   bool(o.parse_special),
		StopAtEOG:      bool(o.stop_at_eog),
		SamplerOptions: samplerFromC(&o.sampling),
	}
}

// toC builds the C struct in C memory (it points at C copies of the stop strings);
// free releases all of it. A nil receiver gives the C defaults.
func (g *GenerateOptions) toC() (*C.llm4all_generate_options, func()) {
	o := (*C.llm4all_generate_options)(C.calloc(1, C.size_t(unsafe.Sizeof(C.llm4all_generate_options{}))))
	C.llm4all_generate_options_init(o)
	if g == nil {
		return o, func() { C.free(unsafe.Pointer(o)) }
	}
	o.max_tokens = C.int32_t(g.MaxTokens)
	o.add_special = C.bool(g.AddSpecial)
	o.parse_special = C.bool(g.ParseSpecial)
	o.stop_at_eog = C.bool(g.StopAtEOG)
	g.SamplerOptions.fill(&o.sampling)
	var stops []*C.char
	if len(g.Stop) > 0 {
		arr := (**C.char)(C.malloc(C.size_t(len(g.Stop)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		stops = unsafe.Slice(arr, len(g.Stop))
		for i, s := range g.Stop {
			stops[i] = C.CString(s)
		}
		o.stop = arr
		o.n_stop = C.int32_t(len(g.Stop))
	}
	return o, func() {
		for _, p := range stops {
			C.free(unsafe.Pointer(p))
		}
		if len(stops) > 0 {
			C.free(unsafe.Pointer(&stops[0]))
		}
		C.free(unsafe.Pointer(o))
	}
}
