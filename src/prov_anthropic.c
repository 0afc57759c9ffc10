/* prov_anthropic.c: placeholder until the translation lands; serves no operation yet. */
#include "config.h"

#include "provider.h"

const struct provider prov_anthropic = {
    .name = "anthropic",
    .own = DIALECT_NONE,
};
