/*
 * auth — passwords (argon2id), access tokens (HS256 JWT via libjwt 1.10), hashing and random
 * helpers, and the JWT secret file: SPEC §4 "Auth".
 *
 * Pure code: no sockets, no loop; it is part of libpb_core. The password functions are slow on
 * purpose (argon2id, ~19 MiB per call) and must run on a uv work thread.
 */
#include "server/auth.h"

#include <argon2.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jwt.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"

#define SALT_LEN     16                 /* bytes of random salt per password */
#define HASH_LEN     32                 /* bytes of argon2id output */
#define SECRET_LEN   64                 /* bytes written to a new secret file */
#define SECRET_MIN   32                 /* shortest secret accepted (HS256 wants >= 256 bits) */

/* ------------------------------------------------------------------------------------------ */
/* Random, hex, SHA-256                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Fill buf with n cryptographically random bytes. 0 or PB_EINTERNAL. */
static int random_bytes(unsigned char *buf, size_t n)
{
    while (n > 0) {
        int chunk = n > 4096 ? 4096 : (int)n;

        if (RAND_bytes(buf, chunk) != 1)
            return PB_EINTERNAL;
        buf += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int auth_random_hex(char *out, size_t nbytes)
{
    unsigned char buf[64];

    out[0] = '\0';
    for (size_t done = 0; done < nbytes;) {
        size_t n = nbytes - done < sizeof(buf) ? nbytes - done : sizeof(buf);

        if (random_bytes(buf, n) < 0) {
            out[0] = '\0';
            return PB_EINTERNAL;
        }
        to_hex(buf, n, out + 2 * done);
        done += n;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

void auth_sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) != 1 || len != 32) {
        /* Only on a broken libcrypto; an empty string never matches a stored hash. */
        out[0] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Passwords                                                                                  */
/* ------------------------------------------------------------------------------------------ */

int auth_password_hash(const char *password, char out[PB_HASH_MAX])
{
    unsigned char salt[SALT_LEN];
    int rc;

    out[0] = '\0';
    if (password == NULL || random_bytes(salt, sizeof(salt)) < 0)
        return PB_EINTERNAL;
    rc = argon2id_hash_encoded(PB_ARGON2_T_COST, PB_ARGON2_M_COST, PB_ARGON2_PARALLEL, password,
                               strlen(password), salt, sizeof(salt), HASH_LEN, out, PB_HASH_MAX);
    if (rc != ARGON2_OK) {
        fprintf(stderr, "auth: argon2id_hash_encoded: %s\n", argon2_error_message(rc));
        out[0] = '\0';
        return PB_EINTERNAL;
    }
    return 0;
}

int auth_password_verify(const char *encoded, const char *password)
{
    if (encoded == NULL || password == NULL || strncmp(encoded, "$argon2id$", 10) != 0)
        return PB_EUNAUTHORIZED;
    return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK ? 0
                                                                             : PB_EUNAUTHORIZED;
}

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * See auth.h. Fills claims->jti with 32 random hex chars when it is empty. On success *out is a
 * malloc'd NUL-terminated token (free with free()). PB_EINTERNAL on a bad key, an out-of-range
 * role or a libjwt/RNG failure (*out is then NULL).
 */
int auth_token_issue(const unsigned char *key, size_t key_len, struct auth_claims *claims,
                     char **out)
{
    jwt_t *jwt = NULL;
    char sub[24];
    const char *role = role_name(claims->role);
    int rc = PB_EINTERNAL;

    *out = NULL;
    if (key == NULL || key_len == 0 || key_len > INT32_MAX || role == NULL)
        return PB_EINTERNAL;
    if (claims->jti[0] == '\0' && auth_random_hex(claims->jti, (PB_JTI_LEN - 1) / 2) < 0)
        return PB_EINTERNAL;
    snprintf(sub, sizeof(sub), "%" PRId64, claims->user_id);

    if (jwt_new(&jwt) != 0)
        goto done;
    if (jwt_add_grant(jwt, "sub", sub) != 0 ||
        jwt_add_grant_int(jwt, "tid", (long)claims->tenant_id) != 0 ||
        jwt_add_grant(jwt, "role", role) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)claims->iat) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)claims->exp) != 0 ||
        jwt_add_grant(jwt, "jti", claims->jti) != 0)
        goto done;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)key_len) != 0)
        goto done;
    *out = jwt_encode_str(jwt);
    if (*out != NULL)
        rc = 0;
done:
    jwt_free(jwt);
    return rc;
}

/* An integral JSON number that fits in int64 (JSON has no integer type; libjwt writes them
 * without a fraction). */
static bool json_int64(const cJSON *item, int64_t *v)
{
    double d;

    if (!cJSON_IsNumber(item))
        return false;
    d = item->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
        return false;
    *v = (int64_t)d;
    return true;
}

/* "sub": a decimal user id > 0 in a string, nothing else (no sign, spaces or leading zero). */
static bool parse_sub(const cJSON *item, int64_t *v)
{
    const char *s = cJSON_GetStringValue(item);
    int64_t n = 0;
    size_t len;

    if (s == NULL)
        return false;
    len = strlen(s);
    if (len == 0 || len > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (s[i] - '0');
    }
    *v = n;
    return true;
}

/*
 * See auth.h. The signature is checked by jwt_decode() with our key; the algorithm is checked
 * afterwards because libjwt would accept whatever the token's header names. The claims are then
 * read from the JSON of the grants so that types are checked exactly (jwt_get_grant_int() cannot
 * tell a missing claim from 0). *out is only written on success.
 */
int auth_token_verify(const unsigned char *key, size_t key_len, const char *token,
                      int64_t now_s, struct auth_claims *out)
{
    jwt_t *jwt = NULL;
    char *json = NULL;
    cJSON *root = NULL;
    struct auth_claims c;
    const char *role, *jti;
    int rc = PB_EUNAUTHORIZED;

    if (key == NULL || key_len == 0 || key_len > INT32_MAX || token == NULL)
        return PB_EUNAUTHORIZED;
    if (jwt_decode(&jwt, token, key, (int)key_len) != 0 || jwt == NULL) {
        jwt = NULL;
        goto done;
    }
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto done;
    json = jwt_get_grants_json(jwt, NULL);
    if (json == NULL || (root = cJSON_Parse(json)) == NULL || !cJSON_IsObject(root))
        goto done;

    memset(&c, 0, sizeof(c));
    if (!parse_sub(cJSON_GetObjectItemCaseSensitive(root, "sub"), &c.user_id) ||
        !json_int64(cJSON_GetObjectItemCaseSensitive(root, "tid"), &c.tenant_id) ||
        c.tenant_id <= 0 ||
        !json_int64(cJSON_GetObjectItemCaseSensitive(root, "iat"), &c.iat) ||
        !json_int64(cJSON_GetObjectItemCaseSensitive(root, "exp"), &c.exp) || c.exp <= now_s)
        goto done;
    role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "role"));
    if (role == NULL || role_parse(role) < 0)
        goto done;
    c.role = (enum role)role_parse(role);
    jti = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "jti"));
    if (jti == NULL || jti[0] == '\0' || strlen(jti) >= PB_JTI_LEN)
        goto done;
    memcpy(c.jti, jti, strlen(jti) + 1);

    *out = c;
    rc = 0;
done:
    cJSON_Delete(root);
    free(json);
    jwt_free(jwt);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Secret file                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Create `path` with SECRET_LEN random bytes, mode 0600. 0, 1 when it already exists (someone
 * else created it first), or PB_EINTERNAL (message on stderr; no partial file left behind). */
static int secret_create(const char *path)
{
    unsigned char buf[SECRET_LEN];
    size_t done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        if (errno == EEXIST)
            return 1;
        fprintf(stderr, "auth: cannot create JWT secret %s: %s\n", path, strerror(errno));
        return PB_EINTERNAL;
    }
    if (random_bytes(buf, sizeof(buf)) < 0) {
        fprintf(stderr, "auth: system RNG failed creating %s\n", path);
        goto fail;
    }
    /* The umask can only take bits away, but be explicit. */
    if (fchmod(fd, 0600) != 0)
        goto fail_errno;
    while (done < sizeof(buf)) {
        ssize_t w = write(fd, buf + done, sizeof(buf) - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail_errno;
        done += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail_errno;
    OPENSSL_cleanse(buf, sizeof(buf));
    if (close(fd) != 0) {
        fprintf(stderr, "auth: cannot write JWT secret %s: %s\n", path, strerror(errno));
        unlink(path);
        return PB_EINTERNAL;
    }
    return 0;
fail_errno:
    fprintf(stderr, "auth: cannot write JWT secret %s: %s\n", path, strerror(errno));
fail:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    unlink(path);
    return PB_EINTERNAL;
}

/*
 * See auth.h. At most 64 bytes are read: a longer file is used by its first 64 bytes. A file
 * readable by group or others is used but warned about on stderr.
 */
int auth_secret_load(const char *path, unsigned char key[64], size_t *len)
{
    struct stat st;
    size_t got = 0;
    int fd;

    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (secret_create(path) < 0)
            return PB_EINTERNAL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        fprintf(stderr, "auth: cannot open JWT secret %s: %s\n", path, strerror(errno));
        return PB_EINTERNAL;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        fprintf(stderr, "auth: warning: JWT secret %s is readable by others (chmod 600)\n", path);
    while (got < 64) {
        ssize_t r = read(fd, key + got, 64 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "auth: cannot read JWT secret %s: %s\n", path, strerror(errno));
            close(fd);
            OPENSSL_cleanse(key, 64);
            return PB_EINTERNAL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got < SECRET_MIN) {
        fprintf(stderr, "auth: JWT secret %s is too short (%zu bytes, need at least %d)\n", path,
                got, SECRET_MIN);
        OPENSSL_cleanse(key, 64);
        return PB_EINTERNAL;
    }
    *len = got;
    return 0;
}
