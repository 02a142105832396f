// chat.go — Chat: a conversation over a session, rendered with the model's chat template
// (or one given) by the core's llm4all_chat_* calls, with prefix reuse of the KV cache.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
extern bool llm4allGoOnToken(char *piece, int32_t token, void *user);
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"unsafe"
)

// What a chat does when the conversation no longer fits the context (ChatOptions.Overflow).
const (
	ChatDropOldest = C.LLM4ALL_CHAT_DROP_OLDEST // drop the oldest turns after the system message
	ChatError      = C.LLM4ALL_CHAT_ERROR       // fail with ErrContextFull
)

// ChatOptions are llm4all_chat_options; the zero value uses the model's template.
type ChatOptions struct {
	Template      string         // Jinja chat template ("" = the model's tokenizer.chat_template)
	SystemMessage string         // "" = none
	Variables     map[string]any // extra template variables, e.g. {"enable_thinking": false}
	Overflow      int            // ChatDropOldest (default) or ChatError
}

// Message is one chat message; every field reaches the template.
type Message map[string]any

// Chat is a conversation over a session (which must stay open while the chat is).
type Chat struct {
	s   *Session
	ptr *C.llm4all_chat
}

// ChatResult is a reply and how it was produced.
type ChatResult struct {
	Text            string // the answer, without reasoning
	Reasoning       string // <think> content, "" when none
	StopReason      string
	PromptTokens    int
	ReusedTokens    int
	DecodedTokens   int
	GeneratedTokens int
	DroppedMessages int
	PromptMillis    float64
	GenerateMillis  float64
}

// NewChat starts a conversation over the session; opts may be nil.
func (s *Session) NewChat(opts *ChatOptions) (*Chat, error) {
	var o C.llm4all_chat_options
	C.llm4all_chat_options_init(&o)
	if opts != nil {
		if opts.Template != "" {
			o.template_src = C.CString(opts.Template)
			defer C.free(unsafe.Pointer(o.template_src))
		}
		if opts.SystemMessage != "" {
			o.system_message = C.CString(opts.SystemMessage)
			defer C.free(unsafe.Pointer(o.system_message))
		}
		if opts.Variables != nil {
			b, err := json.Marshal(opts.Variables)
			if err != nil {
				return nil, err
			}
			o.variables_json = C.CString(string(b))
			defer C.free(unsafe.Pointer(o.variables_json))
		}
		o.overflow = C.int32_t(opts.Overflow)
	}
	p, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var ptr *C.llm4all_chat
	if err := call(func() C.llm4all_status { return C.llm4all_chat_new(p, &o, &ptr) }); err != nil {
		return nil, err
	}
	s.chats++
	c := &Chat{s: s, ptr: ptr}
	runtime.SetFinalizer(c, func(c *Chat) { c.Close() })
	return c, nil
}

// Close frees the chat (not its session). Closing twice is a no-op.
func (c *Chat) Close() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.ptr == nil {
		return nil
	}
	C.llm4all_chat_free(c.ptr)
	c.ptr = nil
	c.s.chats--
	runtime.SetFinalizer(c, nil)
	return nil
}

// with runs f with the chat's pointer while holding its session.
func (c *Chat) with(f func(*C.llm4all_chat) error) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.ptr == nil || c.s.ptr == nil {
		return ErrClosed
	}
	return f(c.ptr)
}

// AddMessage appends one message, e.g. Message{"role": "tool", "content": "..."}.
func (c *Chat) AddMessage(msg Message) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	cs := C.CString(string(b))
	defer C.free(unsafe.Pointer(cs))
	return c.with(func(p *C.llm4all_chat) error {
		return call(func() C.llm4all_status { return C.llm4all_chat_add_message(p, cs) })
	})
}

// SetMessages replaces the whole conversation (the system message too, if any).
func (c *Chat) SetMessages(msgs []Message) error {
	if msgs == nil {
		msgs = []Message{}
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return err
	}
	cs := C.CString(string(b))
	defer C.free(unsafe.Pointer(cs))
	return c.with(func(p *C.llm4all_chat) error {
		return call(func() C.llm4all_status { return C.llm4all_chat_set_messages(p, cs) })
	})
}

// Messages is the conversation so far (reasoning in "reasoning_content").
func (c *Chat) Messages() ([]Message, error) {
	var out *C.char
	err := c.with(func(p *C.llm4all_chat) error {
		return call(func() C.llm4all_status { return C.llm4all_chat_messages(p, &out) })
	})
	if err != nil {
		return nil, err
	}
	var msgs []Message
	return msgs, json.Unmarshal([]byte(takeString(out)), &msgs)
}

// Render is the prompt the next reply would be generated from.
func (c *Chat) Render() (string, error) {
	var out *C.char
	err := c.with(func(p *C.llm4all_chat) error {
		return call(func() C.llm4all_status { return C.llm4all_chat_render(p, &out) })
	})
	return takeString(out), err
}

// Reset forgets every message except the system message (the KV cache is kept for reuse).
func (c *Chat) Reset() error {
	return c.with(func(p *C.llm4all_chat) error {
		return call(func() C.llm4all_status { return C.llm4all_chat_reset(p) })
	})
}

// Send adds a user message and generates the reply (see Respond).
func (c *Chat) Send(ctx context.Context, text string, opts *GenerateOptions, fn func(piece string) bool) (ChatResult, error) {
	ct := C.CString(text)
	defer C.free(unsafe.Pointer(ct))
	return c.respond(ctx, opts, fn, func(p *C.llm4all_chat, o *C.llm4all_generate_options, user unsafe.Pointer,
		text, reasoning **C.char, st *C.llm4all_chat_stats) C.llm4all_status {
		return C.llm4all_chat_send(p, ct, o, C.llm4all_on_token(C.llm4allGoOnToken), user, text, reasoning, st)
	})
}

// Respond generates the assistant's reply to the conversation so far and appends it.
// fn (may be nil) sees every piece, reasoning included; returning false stops. Cancelling
// ctx stops too (the partial result comes with ctx.Err()).
func (c *Chat) Respond(ctx context.Context, opts *GenerateOptions, fn func(piece string) bool) (ChatResult, error) {
	return c.respond(ctx, opts, fn, func(p *C.llm4all_chat, o *C.llm4all_generate_options, user unsafe.Pointer,
		text, reasoning **C.char, st *C.llm4all_chat_stats) C.llm4all_status {
		return C.llm4all_chat_respond(p, o, C.llm4all_on_token(C.llm4allGoOnToken), user, text, reasoning, st)
	})
}

func (c *Chat) respond(ctx context.Context, opts *GenerateOptions, fn func(string) bool,
	f func(*C.llm4all_chat, *C.llm4all_generate_options, unsafe.Pointer, **C.char, **C.char,
		*C.llm4all_chat_stats) C.llm4all_status) (ChatResult, error) {
	if err := ctx.Err(); err != nil {
		return ChatResult{}, err
	}
	o, free := opts.toC()
	defer free()
	var res ChatResult
	err := c.with(func(p *C.llm4all_chat) error {
		user, release := newSink(fn)
		var text, reasoning *C.char
		var st C.llm4all_chat_stats
		st.size = C.uint32_t(unsafe.Sizeof(st))
		stop := c.s.watch(ctx, c.s.ptr)
		err := call(func() C.llm4all_status { return f(p, o, user, &text, &reasoning, &st) })
		stop()
		release()
		res = ChatResult{
			Text: takeString(text), Reasoning: takeString(reasoning), StopReason: stopReasonName(st.stop_reason),
			PromptTokens: int(st.prompt_tokens), ReusedTokens: int(st.reused_tokens),
			DecodedTokens: int(st.decoded_tokens), GeneratedTokens: int(st.generated_tokens),
			DroppedMessages: int(st.dropped_messages), PromptMillis: float64(st.prompt_ms),
			GenerateMillis: float64(st.generate_ms),
		}
		return err
	})
	if err == nil && ctx.Err() != nil && res.StopReason == "aborted" {
		err = ctx.Err()
	}
	return res, err
}

// RenderChatTemplate renders a Jinja chat template with a context of template variables
// (e.g. {"messages": [...], "add_generation_prompt": true}) as transformers'
// apply_chat_template(tokenize=False) would.
func RenderChatTemplate(template string, context map[string]any) (string, error) {
	b, err := json.Marshal(context)
	if err != nil {
		return "", err
	}
	ct, cc := C.CString(template), C.CString(string(b))
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cc))
	var out *C.char
	var n C.size_t
	err = call(func() C.llm4all_status { return C.llm4all_chat_template_render(ct, cc, &out, &n) })
	return string(takeBytes(out, n)), err
}
