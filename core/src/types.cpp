// types.cpp — the table behind type_info(). Layouts follow the GGUF format's
// block definitions (e.g. Q4_0: fp16 scale + 16 bytes of nibbles per 32 values).
#include "types.h"

namespace llm4all {

const TypeInfo *type_info(int32_t type) {
    static const TypeInfo f32{"F32", 1, 4}, f16{"F16", 1, 2}, bf16{"BF16", 1, 2},
        q4_0{"Q4_0", 32, 18}, q4_1{"Q4_1", 32, 20}, q5_0{"Q5_0", 32, 22}, q5_1{"Q5_1", 32, 24},
        q8_0{"Q8_0", 32, 34}, q8_1{"Q8_1", 32, 36}, q2_k{"Q2_K", 256, 84}, q3_k{"Q3_K", 256, 110},
        q4_k{"Q4_K", 256, 144}, q5_k{"Q5_K", 256, 176}, q6_k{"Q6_K", 256, 210},
        q8_k{"Q8_K", 256, 292}, iq4_nl{"IQ4_NL", 32, 18}, iq4_xs{"IQ4_XS", 256, 136};
    switch (type) {
    case LLM4ALL_TYPE_F32: return &f32;
    case LLM4ALL_TYPE_F16: return &f16;
    case LLM4ALL_TYPE_BF16: return &bf16;
    case LLM4ALL_TYPE_Q4_0: return &q4_0;
    case LLM4ALL_TYPE_Q4_1: return &q4_1;
    case LLM4ALL_TYPE_Q5_0: return &q5_0;
    case LLM4ALL_TYPE_Q5_1: return &q5_1;
    case LLM4ALL_TYPE_Q8_0: return &q8_0;
    case LLM4ALL_TYPE_Q8_1: return &q8_1;
    case LLM4ALL_TYPE_Q2_K: return &q2_k;
    case LLM4ALL_TYPE_Q3_K: return &q3_k;
    case LLM4ALL_TYPE_Q4_K: return &q4_k;
    case LLM4ALL_TYPE_Q5_K: return &q5_k;
    case LLM4ALL_TYPE_Q6_K: return &q6_k;
    case LLM4ALL_TYPE_Q8_K: return &q8_k;
    case LLM4ALL_TYPE_IQ4_NL: return &iq4_nl;
    case LLM4ALL_TYPE_IQ4_XS: return &iq4_xs;
    default: return nullptr;
    }
}

} // namespace llm4all
