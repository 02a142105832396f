// embed_test.go — embeddings of all-MiniLM-L6-v2 (the catalogue's minilm, converted to
// <cache>/models/minilm-f16.gguf by the Python package on first use) against
// sentence-transformers 6.2.0 on the same model's Hugging Face checkpoint:
// SentenceTransformer(minilm).encode(sentences, normalize_embeddings=True) gives these
// first components of the first sentence and these cosine similarities.
package llm4all

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var sentences = []string{"The cat sits on the mat.", "A cat is sitting on a mat.", "Stock markets fell sharply."}
var refFirst8 = []float64{0.13418, -0.0329, -0.0248, 0.04144, -0.03635, 0.04181, 0.03122, 0.0372}

const refCos01, refCos02 = 0.971758, 0.039533

func dot(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestEmbedMatchesSentenceTransformers(t *testing.T) {
	cache := os.Getenv("LLM4ALL_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "llm4all")
	}
	p := filepath.Join(cache, "models", "minilm-f16.gguf")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s absent (python3 -c \"from llm4all.embeddings import embedding_model_path as e; e('minilm')\")", p)
	}
	m := load(t, p)
	if m.EmbeddingDim() != 384 {
		t.Fatalf("dim %d", m.EmbeddingDim())
	}
	ctx := context.Background()
	var plans [][]int32
	o := DefaultEmbedOptions()
	o.OnBatch = func(c []int32) bool { plans = append(plans, c); return true }
	v, n, err := m.EmbedCount(ctx, sentences, &o)
	if err != nil || len(v) != 3 || len(v[0]) != 384 || n < 9 || len(plans) == 0 {
		t.Fatalf("embed: %v %d vectors, %d tokens, %d plans", err, len(v), n, len(plans))
	}
	for i, want := range refFirst8 {
		if math.Abs(float64(v[0][i])-want) > 2e-3 {
			t.Fatalf("component %d: %v, sentence-transformers %v", i, v[0][i], want)
		}
	}
	if math.Abs(dot(v[0], v[1])-refCos01) > 2e-3 || math.Abs(dot(v[0], v[2])-refCos02) > 2e-3 {
		t.Fatalf("cosines %v %v", dot(v[0], v[1]), dot(v[0], v[2]))
	}
	toks, _ := m.Tokenize(sentences[0], true, false)
	w, err := m.EmbedTokens(ctx, [][]int32{toks}, nil)
	if err != nil || math.Abs(dot(w[0], v[0])-1) > 1e-5 {
		t.Fatalf("tokens: %v %v", err, dot(w[0], v[0]))
	}
	o = DefaultEmbedOptions()
	o.Dimensionality = 128
	if c, err := m.Embed(ctx, sentences[:1], &o); err != nil || len(c[0]) != 128 {
		t.Fatalf("dimensionality: %v", err)
	}
	o = DefaultEmbedOptions()
	o.OnBatch = func([]int32) bool { return false }
	if _, err := m.Embed(ctx, sentences, &o); !errors.Is(err, &Error{Status: ErrCancelled}) {
		t.Fatalf("cancel from OnBatch: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Embed(cctx, sentences, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestDecoderIsNotAnEmbeddingModel(t *testing.T) {
	m := load(t, stories(t))
	if m.EmbeddingDim() != 0 {
		t.Fatal("stories260K has an embedding dim")
	}
	if _, err := m.Embed(context.Background(), []string{"x"}, nil); !errors.Is(err, &Error{Status: ErrUnsupported}) {
		t.Fatalf("want ErrUnsupported, got %v", err)
	}
}
