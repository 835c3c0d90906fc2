/* choose.c — the one place that chooses a backend, and the only code that
 * names one: the core asks for the backend of a configuration here and
 * never learns what it is (src/backend.h). */
#include "../src/core.h"

extern const weft__backend weft__backend_sim WEFT_HIDDEN;
extern const weft__backend weft__backend_threads WEFT_HIDDEN;

const weft__backend *weft__backend_for(const weft_config *cfg)
{
    return cfg->mode == WEFT_MODE_SIM ? &weft__backend_sim : &weft__backend_threads;
}
