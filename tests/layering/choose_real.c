/* choose_real.c — a chooser that knows only the real backend: linked with
 * src/ and backends/ and nothing of sim/, it proves the core names no symbol
 * of the simulator (the link fails if it does). */
#include "../../src/core.h"

extern const weft__backend weft__backend_threads WEFT_HIDDEN;

const weft__backend *weft__backend_for(const weft_config *cfg)
{
    (void)cfg;
    return &weft__backend_threads;
}
