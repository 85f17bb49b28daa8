/*
 * protocol/client_msg — parse and validate one WebSocket client frame of SPEC §5
 * ({"event", "ref"?, "data"?}) into a struct, without sockets (so it has a fuzz target,
 * test/fuzz/fuzz_ws_message.c). server/ws.c acts on the result.
 */
#ifndef PB_CLIENT_MSG_H
#define PB_CLIENT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#define PB_CLIENT_REF_MAX 128           /* bytes of "ref" echoed back; longer refs are cut */

enum client_event {
    CLIENT_PING,
    CLIENT_JOIN,                        /* join_planning_board {sinceSeq?, epoch?} */
    CLIENT_LEAVE,                       /* leave_planning_board */
    CLIENT_START_DRAG,                  /* start_drag {orderId} */
    CLIENT_END_DRAG,                    /* end_drag {orderId, completed} */
    CLIENT_MOVE_ORDER,                  /* move_order {orderId, ...}: data read by op_move */
    CLIENT_PREVIEW_MOVE,                /* preview_move {orderId, ...} (SPEC §9): the same
                                         * data, read by op_preview_move */
};

struct client_msg {
    cJSON *root;                        /* owned: the parsed frame; NULL if it did not parse */
    enum client_event event;            /* valid when client_msg_parse returned 0 */
    const char *ref;                    /* NULL, or refbuf: the "ref" as a string */
    char refbuf[PB_CLIENT_REF_MAX + 1];
    const cJSON *data;                  /* borrowed from root: "data" (object or null), or NULL */
    int64_t order_id;                   /* start_drag, end_drag, move_order: > 0 */
    bool has_since;                     /* join: sinceSeq was given */
    int64_t since_seq;                  /* join: >= 0 (0 when absent) */
    const char *epoch;                  /* join: borrowed from root, or NULL */
    const char *error;                  /* why parsing failed (static storage), or NULL */
    cJSON *details;                     /* owned: {"details": [{field, message}]} (SPEC §4) of
                                         * a failed parse, or NULL; take it (set NULL) to keep */
};

/*
 * Parse the frame text[0..len) into *m (caller storage; always call client_msg_cleanup after).
 * The parse is json_parse_strict's (SPEC §4 input rules). Returns 0 with m->event and its
 * fields set, or an error code with m->error set (a sentence, static storage) and m->ref set
 * when the frame had a readable, valid "ref" (so the error reply can carry it):
 *   PB_EINVALID_JSON  data after the JSON value (m->details names `body`);
 *   PB_EVALIDATION    a string or key that is not valid UTF-8 or holds NUL (m->details names
 *                     its JSON path), or (SPEC §5) a malformed frame or an unknown event
 *                     (m->details NULL).
 * A string ref longer than PB_CLIENT_REF_MAX bytes is cut at a character boundary, so the echo
 * stays valid UTF-8 (SPEC §4); a number ref is echoed as an integer.
 */
int client_msg_parse(const char *text, size_t len, struct client_msg *m);

/* Free what client_msg_parse allocated; m's borrowed pointers become invalid. */
void client_msg_cleanup(struct client_msg *m);

#endif
