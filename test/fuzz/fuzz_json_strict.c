/*
 * libFuzzer target for the strict parse of SPEC §4 (protocol/json.c json_parse_strict) and the
 * UTF-8 module (core/utf8.c). Built by `make fuzz`, run by `make fuzz-run` (docs/fuzzing.md).
 *
 * Invariants (any break aborts): an accepted tree holds only valid UTF-8 strings and keys and
 * prints to valid UTF-8; a refusal names 1..JSON_STRICT_MAX_DETAILS fields, each valid UTF-8;
 * invalid_json leaves no tree; utf8_repair() output is always valid text, equals its input
 * exactly when the input was valid text, and repairing twice changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "protocol/json.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tree(const cJSON *n)
{
    if (n->string != NULL && !utf8_text_valid(n->string, strlen(n->string)))
        abort();
    if (cJSON_IsString(n) && !utf8_text_valid(n->valuestring, strlen(n->valuestring)))
        abort();
    for (const cJSON *c = n->child; c != NULL; c = c->next)
        check_tree(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct json_details d;
    cJSON *j = NULL;

    json_details_init(&d);
    int rc = json_parse_strict(buf, size, &j, &d);
    if (rc == 0) {
        check_tree(j);
        char *s = cJSON_PrintUnformatted(j);
        if (s != NULL && !utf8_text_valid(s, strlen(s)))
            abort();
        free(s);
    } else if (rc == PB_EVALIDATION) {
        const cJSON *e;
        if (j == NULL || d.count < 1 || d.count > JSON_STRICT_MAX_DETAILS)
            abort();
        cJSON_ArrayForEach(e, d.details) {
            const char *f = cJSON_GetObjectItem(e, "field")->valuestring;
            if (!utf8_text_valid(f, strlen(f)))
                abort();
        }
    } else if (rc != PB_EINVALID_JSON || j != NULL || d.count > 1) {
        abort();
    }
    cJSON_Delete(j);
    json_details_cleanup(&d);

    char *out = malloc(utf8_repair_max(size) + 1), *again = malloc(utf8_repair_max(size) + 1);
    if (out == NULL || again == NULL)
        abort();
    size_t m = utf8_repair(buf, size, out);
    if (!utf8_text_valid(out, m))
        abort();
    if (utf8_text_valid(buf, size) != (m == size && memcmp(out, buf, size) == 0))
        abort();
    if (utf8_repair(out, m, again) != m || memcmp(again, out, m) != 0)
        abort();
    free(out);
    free(again);
    return 0;
}
