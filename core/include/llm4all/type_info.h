/* type_info.h — the block facts of every tensor type backend.h names (name, values per
 * block, bytes per block, as GGUF stores them): the one table the core and every backend
 * plugin read. Header-only C, so any plugin can include it without linking the core. */
#ifndef LLM4ALL_TYPE_INFO_H
#define LLM4ALL_TYPE_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "llm4all/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm4all_type_info {
    int32_t type;       /* enum llm4all_type */
    const char *name;   /* "Q4_0", as GGUF tools print it */
    int64_t block_size; /* values per block (1 for F32, F16, BF16) */
    size_t type_size;   /* bytes per block, e.g. Q4_0: fp16 scale + 16 bytes of nibbles = 18 */
    int32_t weight;     /* 1 for a weight type the backends multiply by; 0 for Q8_1 and Q8_K,
                           which exist only as quantized activations */
} llm4all_type_info;

/* The facts of a type id, or NULL for one that is unknown or not a storage type. */
static inline const llm4all_type_info *llm4all_type_info_of(int32_t type) {
    static const llm4all_type_info table[] = {
        {LLM4ALL_TYPE_F32, "F32", 1, 4, 1},         {LLM4ALL_TYPE_F16, "F16", 1, 2, 1},
        {LLM4ALL_TYPE_BF16, "BF16", 1, 2, 1},       {LLM4ALL_TYPE_Q4_0, "Q4_0", 32, 18, 1},
        {LLM4ALL_TYPE_Q4_1, "Q4_1", 32, 20, 1},     {LLM4ALL_TYPE_Q5_0, "Q5_0", 32, 22, 1},
        {LLM4ALL_TYPE_Q5_1, "Q5_1", 32, 24, 1},     {LLM4ALL_TYPE_Q8_0, "Q8_0", 32, 34, 1},
        {LLM4ALL_TYPE_Q8_1, "Q8_1", 32, 36, 0},     {LLM4ALL_TYPE_Q2_K, "Q2_K", 256, 84, 1},
        {LLM4ALL_TYPE_Q3_K, "Q3_K", 256, 110, 1},   {LLM4ALL_TYPE_Q4_K, "Q4_K", 256, 144, 1},
        {LLM4ALL_TYPE_Q5_K, "Q5_K", 256, 176, 1},   {LLM4ALL_TYPE_Q6_K, "Q6_K", 256, 210, 1},
        {LLM4ALL_TYPE_Q8_K, "Q8_K", 256, 292, 0},   {LLM4ALL_TYPE_IQ4_NL, "IQ4_NL", 32, 18, 1},
        {LLM4ALL_TYPE_IQ4_XS, "IQ4_XS", 256, 136, 1},
    };
    size_t i;
    for (i = 0; i < sizeof table / sizeof table[0]; ++i)
        if (table[i].type == type) return &table[i];
    return NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* LLM4ALL_TYPE_INFO_H */
