/* header_c11.c — proves the public headers are clean C11: compiled with
 * -std=c11 -Wall -Wextra -pedantic -Werror, and exercises each options init and the
 * type table plugins read. */
#include "llm4all/llm4all.h"
#include "llm4all/type_info.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    llm4all_model_options mo;
    llm4all_session_options so;
    llm4all_generate_options go;
    llm4all_model *model = NULL;
    int failures = 0;

    llm4all_model_options_init(&mo);
    llm4all_session_options_init(&so);
    llm4all_generate_options_init(&go);
    failures += !llm4all_type_info_of(LLM4ALL_TYPE_Q4_K) || llm4all_type_info_of(LLM4ALL_TYPE_Q4_K)->type_size != 144;
    failures += llm4all_type_info_of(LLM4ALL_TYPE_Q8_K)->weight != 0 || llm4all_type_info_of(4) != NULL;
    failures += mo.size != sizeof mo;
    failures += so.size != sizeof so;
    failures += go.size != sizeof go || go.sampling.size != sizeof go.sampling;
    failures += llm4all_abi_version() != LLM4ALL_ABI_VERSION;
    /* A missing file is an error with a message, never a crash. */
    failures += llm4all_model_load("/nonexistent/model.gguf", &mo, &model) != LLM4ALL_ERR_IO;
    failures += model != NULL;
    failures += strstr(llm4all_last_error(), "/nonexistent/model.gguf") == NULL;
    failures += llm4all_model_load(NULL, NULL, &model) != LLM4ALL_ERR_INVALID_ARGUMENT;
    failures += strcmp(llm4all_status_name(LLM4ALL_ERR_BAD_GGUF), "LLM4ALL_ERR_BAD_GGUF") != 0;
    llm4all_free(NULL);
    printf("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
    return failures != 0;
}
