/* prov_gemini.c: placeholder until the translation lands; serves no operation yet. */
#include "config.h"

#include "provider.h"

const struct provider prov_gemini = {
    .name = "gemini",
    .own = DIALECT_NONE,
};
