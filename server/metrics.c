/*
 * metrics — GET /metrics, Prometheus text (SPEC §4).
 */
#include "server/server_int.h"

const struct route pb_routes_metrics[] = {
    { M_OTHER, NULL, 0, 0, NULL },
};
