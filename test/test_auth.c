/*
 * Unit tests for server/auth.c — SPEC §4 "Auth": argon2id passwords, HS256 access tokens,
 * SHA-256 / random hex helpers and the JWT secret file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <argon2.h>
#include <cJSON.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "server/auth.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEY_LEN (sizeof(KEY) - 1)
#define NOW 1700000000LL

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int is_lower_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; malloc'd */
static char *b64url_encode(const char *in)
{
    size_t n = strlen(in), o = 0;
    char *out = malloc(n * 4 / 3 + 4);
    const unsigned char *p = (const unsigned char *)in;

    assert_non_null(out);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = B64URL[(v >> 18) & 63];
        out[o++] = B64URL[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = B64URL[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = B64URL[v & 63];
    }
    out[o] = '\0';
    return out;
}

/* base64url (no padding) to a malloc'd string */
static char *b64url_decode(const char *in, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        const char *c = strchr(B64URL, in[i]);
        assert_non_null(c);
        acc = (acc << 6) | (uint32_t)(c - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

/* The decoded payload (middle part) of a token, parsed; caller deletes. */
static cJSON *payload_of(const char *token)
{
    const char *a = strchr(token, '.');
    const char *b = a ? strchr(a + 1, '.') : NULL;
    char *json;
    cJSON *root;

    assert_non_null(b);
    json = b64url_decode(a + 1, (size_t)(b - a - 1));
    root = cJSON_Parse(json);
    free(json);
    assert_non_null(root);
    return root;
}

/* Token signed by libjwt with `alg` and `key` over the grants in `json`. malloc'd. */
static char *make_token(jwt_alg_t alg, const unsigned char *key, size_t key_len,
                        const char *grants_json)
{
    jwt_t *jwt = NULL;
    char *tok;

    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, grants_json), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, key, (int)key_len), 0);
    tok = jwt_encode_str(jwt);
    assert_non_null(tok);
    jwt_free(jwt);
    return tok;
}

/* Hand-made token with the given header and payload JSON and a literal signature part. */
static char *hand_token(const char *header, const char *payload, const char *sig)
{
    char *h = b64url_encode(header), *p = b64url_encode(payload);
    size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
    char *tok = malloc(n);

    assert_non_null(tok);
    snprintf(tok, n, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return tok;
}

static struct auth_claims sample_claims(void)
{
    struct auth_claims c;

    memset(&c, 0, sizeof(c));
    c.user_id = 42;
    c.tenant_id = 7;
    c.role = ROLE_SCHEDULER;
    c.iat = NOW;
    c.exp = NOW + 900;
    return c;
}

#define GOOD_GRANTS(sub, role) \
    "{\"sub\":" sub ",\"tid\":7,\"role\":" role ",\"iat\":1700000000,\"exp\":1700000900," \
    "\"jti\":\"0123456789abcdef0123456789abcdef\"}"

static void assert_verify_fails(const char *token)
{
    struct auth_claims out;

    memset(&out, 0x5a, sizeof(out));
    assert_int_equal(auth_token_verify(KEY, KEY_LEN, token, NOW, &out), PB_EUNAUTHORIZED);
}

/* ------------------------------------------------------------------------------------------ */
/* Passwords                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void test_password_hash_is_argon2id_with_configured_params_and_verifies(void **state)
{
    char h1[PB_HASH_MAX], h2[PB_HASH_MAX];

    (void)state;
    assert_int_equal(auth_password_hash("correct horse", h1), 0);
    assert_true(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_int_equal(auth_password_verify(h1, "correct horse"), 0);
    assert_int_equal(auth_password_verify(h1, "correct hors"), PB_EUNAUTHORIZED);
    assert_int_equal(auth_password_verify(h1, ""), PB_EUNAUTHORIZED);
    /* fresh salt each time */
    assert_int_equal(auth_password_hash("correct horse", h2), 0);
    assert_string_not_equal(h1, h2);
    assert_int_equal(auth_password_verify(h2, "correct horse"), 0);
}

static void test_password_verify_rejects_malformed_or_other_variant(void **state)
{
    char h[PB_HASH_MAX];

    (void)state;
    assert_int_equal(auth_password_verify("", "x"), PB_EUNAUTHORIZED);
    assert_int_equal(auth_password_verify("plaintext", "plaintext"), PB_EUNAUTHORIZED);
    assert_int_equal(auth_password_verify("$argon2id$v=19$m=19456,t=2,p=1$garbage", "x"),
                     PB_EUNAUTHORIZED);
    assert_int_equal(auth_password_verify(NULL, "x"), PB_EUNAUTHORIZED);
    /* an argon2i hash of the right password is not accepted as argon2id */
    assert_int_equal(argon2i_hash_encoded(1, 64, 1, "pw", 2, "saltsaltsaltsalt", 16, 32, h,
                                          sizeof(h)), 0);
    assert_int_equal(auth_password_verify(h, "pw"), PB_EUNAUTHORIZED);
}

/* ------------------------------------------------------------------------------------------ */
/* Hex helpers                                                                                */
/* ------------------------------------------------------------------------------------------ */

static void test_random_hex_gives_2n_lowercase_hex_chars_and_differs(void **state)
{
    char a[201], b[201], z[1] = { 'x' };

    (void)state;
    assert_int_equal(auth_random_hex(a, 16), 0);
    assert_true(is_lower_hex(a, 32));
    assert_int_equal(auth_random_hex(b, 16), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(auth_random_hex(a, 100), 0);    /* more than one internal chunk */
    assert_true(is_lower_hex(a, 200));
    assert_int_equal(auth_random_hex(z, 0), 0);
    assert_int_equal(z[0], '\0');
}

static void test_sha256_hex_matches_known_vectors(void **state)
{
    char out[65];

    (void)state;
    auth_sha256_hex("", out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    auth_sha256_hex("abc", out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void test_token_round_trip_fills_jti_and_claims(void **state)
{
    struct auth_claims c = sample_claims(), out;
    char *tok = NULL;
    cJSON *p;

    (void)state;
    assert_int_equal(auth_token_issue(KEY, KEY_LEN, &c, &tok), 0);
    assert_non_null(tok);
    assert_true(is_lower_hex(c.jti, 32));

    memset(&out, 0, sizeof(out));
    assert_int_equal(auth_token_verify(KEY, KEY_LEN, tok, NOW, &out), 0);
    assert_int_equal(out.user_id, 42);
    assert_int_equal(out.tenant_id, 7);
    assert_int_equal(out.role, ROLE_SCHEDULER);
    assert_int_equal(out.iat, NOW);
    assert_int_equal(out.exp, NOW + 900);
    assert_string_equal(out.jti, c.jti);

    /* wire format of SPEC §4: sub is a string, tid a number, role a name */
    p = payload_of(tok);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(p, "sub")));
    assert_string_equal(cJSON_GetObjectItem(p, "sub")->valuestring, "42");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "tid")));
    assert_int_equal(cJSON_GetObjectItem(p, "tid")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(p, "role")->valuestring, "scheduler");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "iat")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "exp")));
    assert_string_equal(cJSON_GetObjectItem(p, "jti")->valuestring, c.jti);
    cJSON_Delete(p);
    free(tok);
}

static void test_token_keeps_caller_jti_and_all_roles_round_trip(void **state)
{
    (void)state;
    for (int r = 0; r < ROLE__COUNT; r++) {
        struct auth_claims c = sample_claims(), out;
        char *tok = NULL;

        c.role = (enum role)r;
        strcpy(c.jti, "ffffffffffffffffffffffffffffffff");
        assert_int_equal(auth_token_issue(KEY, KEY_LEN, &c, &tok), 0);
        assert_int_equal(auth_token_verify(KEY, KEY_LEN, tok, NOW, &out), 0);
        assert_int_equal(out.role, r);
        assert_string_equal(out.jti, "ffffffffffffffffffffffffffffffff");
        free(tok);
    }
}

static void test_token_two_issues_get_different_jti(void **state)
{
    struct auth_claims a = sample_claims(), b = sample_claims();
    char *ta = NULL, *tb = NULL;

    (void)state;
    assert_int_equal(auth_token_issue(KEY, KEY_LEN, &a, &ta), 0);
    assert_int_equal(auth_token_issue(KEY, KEY_LEN, &b, &tb), 0);
    assert_string_not_equal(a.jti, b.jti);
    assert_string_not_equal(ta, tb);
    free(ta);
    free(tb);
}

static void test_token_verify_refuses_alg_none(void **state)
{
    char *tok;

    (void)state;
    tok = hand_token("{\"alg\":\"none\"}", GOOD_GRANTS("\"42\"", "\"admin\""), "");
    assert_verify_fails(tok);
    free(tok);
    tok = hand_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_GRANTS("\"42\"", "\"admin\""),
                     "");
    assert_verify_fails(tok);
    free(tok);
    /* "none" with a made-up signature part too */
    tok = hand_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_GRANTS("\"42\"", "\"admin\""),
                     "AAAA");
    assert_verify_fails(tok);
    free(tok);
    /* and the same payload, properly signed, is accepted: the failure above is the alg */
    tok = make_token(JWT_ALG_HS256, KEY, KEY_LEN, GOOD_GRANTS("\"42\"", "\"admin\""));
    struct auth_claims out;
    assert_int_equal(auth_token_verify(KEY, KEY_LEN, tok, NOW, &out), 0);
    assert_int_equal(out.role, ROLE_ADMIN);
    free(tok);
}

static void test_token_verify_refuses_other_hmac_algs_with_same_key(void **state)
{
    char *tok;

    (void)state;
    tok = make_token(JWT_ALG_HS512, KEY, KEY_LEN, GOOD_GRANTS("\"42\"", "\"admin\""));
    assert_verify_fails(tok);
    free(tok);
    tok = make_token(JWT_ALG_HS384, KEY, KEY_LEN, GOOD_GRANTS("\"42\"", "\"admin\""));
    assert_verify_fails(tok);
    free(tok);
}

static void test_token_verify_refuses_other_secret(void **state)
{
    static const unsigned char other[] = "another-secret-another-secret-another";
    struct auth_claims c = sample_claims();
    char *tok = NULL;

    (void)state;
    assert_int_equal(auth_token_issue(other, sizeof(other) - 1, &c, &tok), 0);
    assert_verify_fails(tok);
    free(tok);
}

static void test_token_verify_refuses_expired(void **state)
{
    struct auth_claims c = sample_claims(), out;
    char *tok = NULL;

    (void)state;
    c.exp = NOW;
    assert_int_equal(auth_token_issue(KEY, KEY_LEN, &c, &tok), 0);
    assert_verify_fails(tok);                                   /* exp == now */
    assert_int_equal(auth_token_verify(KEY, KEY_LEN, tok, NOW - 1, &out), 0);
    assert_int_equal(auth_token_verify(KEY, KEY_LEN, tok, NOW + 3600, &out), PB_EUNAUTHORIZED);
    free(tok);
}

static void test_token_verify_refuses_tampered_payload(void **state)
{
    struct auth_claims c = sample_claims();
    char *tok = NULL, *forged, *payload;
    const char *a, *b;
    size_t n;

    (void)state;
    assert_int_equal(auth_token_issue(KEY, KEY_LEN, &c, &tok), 0);
    a = strchr(tok, '.');
    b = strchr(a + 1, '.');
    /* same header and signature, payload promoted to admin */
    payload = b64url_encode("{\"sub\":\"42\",\"tid\":7,\"role\":\"admin\",\"iat\":1700000000,"
                            "\"exp\":1700000900,\"jti\":\"0123456789abcdef0123456789abcdef\"}");
    n = strlen(tok) + strlen(payload) + 1;
    forged = malloc(n);
    assert_non_null(forged);
    snprintf(forged, n, "%.*s.%s%s", (int)(a - tok), tok, payload, b);
    assert_verify_fails(forged);
    free(forged);
    free(payload);

    /* flip one character of the signature */
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
    assert_verify_fails(tok);
    free(tok);
}

static void test_token_verify_refuses_bad_claims(void **state)
{
    static const char *const bad[] = {
        /* missing sub */
        "{\"tid\":7,\"role\":\"admin\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"ab\"}",
        GOOD_GRANTS("\"abc\"", "\"admin\""),        /* sub not a number */
        GOOD_GRANTS("\"42x\"", "\"admin\""),
        GOOD_GRANTS("\"\"", "\"admin\""),
        GOOD_GRANTS("\"-1\"", "\"admin\""),
        GOOD_GRANTS("42", "\"admin\""),             /* sub a JSON number, not a string */
        GOOD_GRANTS("\"42\"", "\"root\""),          /* unknown role */
        GOOD_GRANTS("\"42\"", "\"Admin\""),
        GOOD_GRANTS("\"42\"", "1"),
        /* missing / mistyped tid, exp, jti */
        "{\"sub\":\"42\",\"role\":\"admin\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"ab\"}",
        "{\"sub\":\"42\",\"tid\":\"7\",\"role\":\"admin\",\"iat\":1700000000,\"exp\":1700000900,"
        "\"jti\":\"ab\"}",
        "{\"sub\":\"42\",\"tid\":7,\"role\":\"admin\",\"iat\":1700000000,\"jti\":\"ab\"}",
        "{\"sub\":\"42\",\"tid\":7,\"role\":\"admin\",\"iat\":1700000000,\"exp\":\"1700000900\","
        "\"jti\":\"ab\"}",
        "{\"sub\":\"42\",\"tid\":7,\"role\":\"admin\",\"iat\":1700000000,\"exp\":1700000900}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *tok = make_token(JWT_ALG_HS256, KEY, KEY_LEN, bad[i]);
        struct auth_claims out;

        if (auth_token_verify(KEY, KEY_LEN, tok, NOW, &out) != PB_EUNAUTHORIZED)
            fail_msg("accepted claims #%zu: %s", i, bad[i]);
        free(tok);
    }
}

static void test_token_verify_refuses_garbage(void **state)
{
    (void)state;
    assert_verify_fails("");
    assert_verify_fails("abc");
    assert_verify_fails("a.b.c");
    assert_verify_fails("....");
    assert_int_equal(auth_token_verify(KEY, KEY_LEN, NULL, NOW, &(struct auth_claims){ 0 }),
                     PB_EUNAUTHORIZED);
}

/* ------------------------------------------------------------------------------------------ */
/* Secret file                                                                                */
/* ------------------------------------------------------------------------------------------ */

struct tmp {
    char dir[64];
    char path[128];
};

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    strcpy(t->dir, "/tmp/pb_auth_XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/jwt.secret", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;

    unlink(t->path);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void test_secret_load_creates_0600_file_and_reloads_same_bytes(void **state)
{
    struct tmp *t = *state;
    unsigned char k1[64], k2[64];
    size_t l1 = 0, l2 = 0;
    struct stat st;

    assert_int_equal(access(t->path, F_OK), -1);
    assert_int_equal(auth_secret_load(t->path, k1, &l1), 0);
    assert_int_equal(l1, 64);
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 64);
    assert_int_equal(auth_secret_load(t->path, k2, &l2), 0);
    assert_int_equal(l2, 64);
    assert_memory_equal(k1, k2, 64);
    /* not all zero: it is random */
    unsigned char zero[64] = { 0 };
    assert_memory_not_equal(k1, zero, 64);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_secret_load_rejects_file_shorter_than_32_bytes(void **state)
{
    struct tmp *t = *state;
    unsigned char k[64];
    size_t len = 99;

    write_file(t->path, "short-secret", 12);
    assert_int_equal(auth_secret_load(t->path, k, &len), PB_EINTERNAL);
    write_file(t->path, "0123456789abcdef0123456789abcde", 31);
    assert_int_equal(auth_secret_load(t->path, k, &len), PB_EINTERNAL);
    /* exactly 32 is enough, and is what gets used */
    write_file(t->path, "0123456789abcdef0123456789abcdef", 32);
    assert_int_equal(auth_secret_load(t->path, k, &len), 0);
    assert_int_equal(len, 32);
    assert_memory_equal(k, "0123456789abcdef0123456789abcdef", 32);
}

static void test_secret_load_fails_when_directory_missing(void **state)
{
    struct tmp *t = *state;
    char path[200];
    unsigned char k[64];
    size_t len;

    snprintf(path, sizeof(path), "%s/no/such/dir/secret", t->dir);
    assert_int_equal(auth_secret_load(path, k, &len), PB_EINTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_is_argon2id_with_configured_params_and_verifies),
        cmocka_unit_test(test_password_verify_rejects_malformed_or_other_variant),
        cmocka_unit_test(test_random_hex_gives_2n_lowercase_hex_chars_and_differs),
        cmocka_unit_test(test_sha256_hex_matches_known_vectors),
        cmocka_unit_test(test_token_round_trip_fills_jti_and_claims),
        cmocka_unit_test(test_token_keeps_caller_jti_and_all_roles_round_trip),
        cmocka_unit_test(test_token_two_issues_get_different_jti),
        cmocka_unit_test(test_token_verify_refuses_alg_none),
        cmocka_unit_test(test_token_verify_refuses_other_hmac_algs_with_same_key),
        cmocka_unit_test(test_token_verify_refuses_other_secret),
        cmocka_unit_test(test_token_verify_refuses_expired),
        cmocka_unit_test(test_token_verify_refuses_tampered_payload),
        cmocka_unit_test(test_token_verify_refuses_bad_claims),
        cmocka_unit_test(test_token_verify_refuses_garbage),
        cmocka_unit_test_setup_teardown(test_secret_load_creates_0600_file_and_reloads_same_bytes,
                                        tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_secret_load_rejects_file_shorter_than_32_bytes,
                                        tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_secret_load_fails_when_directory_missing, tmp_setup,
                                        tmp_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
