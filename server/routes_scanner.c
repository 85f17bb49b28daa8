/*
 * routes_scanner — REST routes of SPEC §4 (see the table below; filled in by its issue).
 */
#include "server/server_int.h"

const struct route pb_routes_scanner[] = {
    { M_OTHER, NULL, 0, 0, NULL },
};
