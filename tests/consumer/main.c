/* Uses the installed lazyllm library from C: load a model, greedy-generate, print the text. */
#include <stdio.h>
#include <string.h>

#include "lazyllm/lazyllm_c.h"

int main(int argc, char** argv) {
  lazyllm_model* model = NULL;
  lazyllm_engine* engine = NULL;
  lazyllm_session* session = NULL;
  if (argc != 2 || lazyllm_model_load(argv[1], 0, &model) != LAZYLLM_OK ||
      lazyllm_engine_create(model, NULL, &engine) != LAZYLLM_OK ||
      lazyllm_session_create(engine, NULL, &session) != LAZYLLM_OK) {
    fprintf(stderr, "c_consumer: %s\n", lazyllm_last_error());
    return 1;
  }
  const char* prompt = "Once upon a time";
  int32_t ids[16], out[16];
  const int64_t n = lazyllm_tokenize(model, prompt, strlen(prompt), 1, 0, ids, 16);
  lazyllm_generate_options go = lazyllm_generate_default_options();
  go.max_new_tokens = 16;
  go.temperature = 0;
  int64_t n_out = 0;
  char text[512];
  if (lazyllm_generate(session, ids, n, &go, out, 16, &n_out, NULL) != LAZYLLM_OK ||
      lazyllm_detokenize(model, out, n_out, text, sizeof text) < 0) {
    fprintf(stderr, "c_consumer: %s\n", lazyllm_last_error());
    return 1;
  }
  printf("%s\n", text);
  lazyllm_session_free(session);
  lazyllm_engine_free(engine);
  lazyllm_model_free(model);
  return 0;
}
