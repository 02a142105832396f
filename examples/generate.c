/* generate.c — the smallest complete use of the llm4all C ABI: load a GGUF
 * model, open a session, stream a completion to stdout.
 * usage: generate MODEL.gguf "prompt" [max_tokens] */
#include <stdio.h>
#include <stdlib.h>

#include "llm4all/llm4all.h"

static bool print_piece(const char *piece, int32_t token, void *user) {
    (void)token;
    (void)user;
    fputs(piece, stdout);
    fflush(stdout);
    return true; /* keep going */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf \"prompt\" [max_tokens]\n", argv[0]);
        return 2;
    }
    llm4all_model *model = NULL;
    if (llm4all_model_load(argv[1], NULL, &model) != LLM4ALL_OK) {
        fprintf(stderr, "error: %s\n", llm4all_last_error());
        return 1;
    }
    llm4all_session *session = NULL;
    if (llm4all_session_new(model, NULL, &session) != LLM4ALL_OK) {
        fprintf(stderr, "error: %s\n", llm4all_last_error());
        llm4all_model_free(model);
        return 1;
    }
    llm4all_generate_options options;
    llm4all_generate_options_init(&options);
    options.max_tokens = argc > 3 ? atoi(argv[3]) : 64;
    options.sampling.temp = 0.0f; /* greedy: the same text every run */

    fputs(argv[2], stdout);
    llm4all_status status = llm4all_session_generate(session, argv[2], &options, print_piece, NULL, NULL, NULL);
    putchar('\n');
    if (status != LLM4ALL_OK) fprintf(stderr, "error: %s\n", llm4all_last_error());

    llm4all_session_free(session);
    llm4all_model_free(model);
    return status == LLM4ALL_OK ? 0 : 1;
}
