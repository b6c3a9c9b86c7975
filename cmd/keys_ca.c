/*  keys_ca: the install's local X.509 certificate authority, for agents
    that reach ingest over HTTPS through Caddy (issue 18).

    `drift keys init` makes it once: KEYS-DIR/ca.key (P-256, PEM, mode 0600,
    created with O_EXCL, never replaced) and KEYS-DIR/ca.crt (public: Caddy's
    trusted_ca_cert_file). `drift keys issue` and `renew` sign an agent's
    client certificate with it: a fresh P-256 key, CN the agent, O the
    tenant, a SAN URI drift://TENANT/AGENT, extended key usage clientAuth, a
    random 127-bit serial (recorded in agent_certs, schema 0018, which is how
    ingest's HTTPS face finds the agent), valid from now for `days`.
    All the ASN.1 is OpenSSL's (libcrypto); nothing here encodes a byte.
*/
#include "keys_ca.h"
#include "../lib/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_KEY_MAX 8192          // largest ca.key read
#define CA_DAYS 3650             // the CA's own validity

//  Say what OpenSSL said last.
static void
s_openssl_error (char *error, size_t size, const char *what)
{
    char detail [256];
    ERR_error_string_n (ERR_get_error (), detail, sizeof detail);
    snprintf (error, size, "%s: %s", what, detail);
}

//  Write a PEM object to path, created with O_EXCL in mode; 0 or -1 (errno).
static int
s_write_pem (const char *path, mode_t mode, int (*write_pem) (BIO *, const void *),
             const void *object)
{
    BIO *memory = BIO_new (BIO_s_mem ());
    if (!memory || !write_pem (memory, object)) {
        BIO_free (memory);
        errno = EINVAL;
        return -1;
    }
    char *data;
    long size = BIO_get_mem_data (memory, &data);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, mode);
    int rc = fd == -1 || write (fd, data, (size_t) size) != size || fsync (fd) ? -1 : 0;
    int saved = errno;
    if (fd != -1)
        close (fd);
    if (rc && fd != -1)
        unlink (path);
    //  The key's PEM text is wiped before the buffer goes back.
    OPENSSL_cleanse (data, (size_t) size);
    BIO_free (memory);
    errno = saved;
    return rc;
}

static int
s_write_key (BIO *bio, const void *key)
{
    return PEM_write_bio_PrivateKey (bio, (EVP_PKEY *) key, NULL, NULL, 0, NULL, NULL);
}

static int
s_write_cert (BIO *bio, const void *cert)
{
    return PEM_write_bio_X509 (bio, (X509 *) cert);
}

static bool
s_add_extension (X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX context;
    X509V3_set_ctx_nodb (&context);
    X509V3_set_ctx (&context, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid (NULL, &context, nid, value);
    bool added = extension && X509_add_ext (cert, extension, -1);
    X509_EXTENSION_free (extension);
    return added;
}

//  A certificate for key, named by subject entries (pairs, NULL ended),
//  valid from now for days, with a random positive serial.
static X509 *
s_cert_new (EVP_PKEY *key, const char *const *subject, int days)
{
    X509 *cert = X509_new ();
    X509_NAME *name = X509_NAME_new ();
    uint8_t random [16];
    BIGNUM *serial = RAND_bytes (random, sizeof random) == 1
                   ? BN_bin2bn (random, sizeof random, NULL) : NULL;
    bool ok = cert && name && serial && X509_set_version (cert, 2);
    if (ok) {
        //  127 bits: positive, and never more than 20 octets (RFC 5280).
        BN_clear_bit (serial, 127);
        ok = BN_to_ASN1_INTEGER (serial, X509_get_serialNumber (cert)) != NULL;
    }
    for (int i = 0; ok && subject [i]; i += 2)
        ok = X509_NAME_add_entry_by_txt (name, subject [i], MBSTRING_UTF8,
                                         (const unsigned char *) subject [i + 1], -1, -1, 0);
    ok = ok && X509_set_subject_name (cert, name)
         && X509_gmtime_adj (X509_getm_notBefore (cert), -300)
         && X509_gmtime_adj (X509_getm_notAfter (cert), (long) days * 86400)
         && X509_set_pubkey (cert, key);
    BN_free (serial);
    X509_NAME_free (name);
    if (!ok)
        X509_free (cert);
    return ok ? cert : NULL;
}

void
keys_ca_paths (const char *dir, char *key_path, char *cert_path, size_t size)
{
    snprintf (key_path, size, "%s/ca.key", dir);
    snprintf (cert_path, size, "%s/ca.crt", dir);
}

int
keys_ca_init (const char *dir, char *error, size_t error_size)
{
    char key_path [1024], cert_path [1024];
    keys_ca_paths (dir, key_path, cert_path, sizeof key_path);
    struct stat st;
    if (stat (key_path, &st) == 0)
        return stat (cert_path, &st) == 0 ? 1
             : (snprintf (error, error_size, "%s exists without ca.crt: move it away to make "
                          "a new CA (every agent certificate then needs issuing again)",
                          key_path), -1);
    EVP_PKEY *key = EVP_EC_gen ("P-256");
    const char *subject [] = { "O", "drift", "CN", "drift local agent CA", NULL };
    X509 *cert = key ? s_cert_new (key, subject, CA_DAYS) : NULL;
    int rc = -1;
    if (!cert)
        s_openssl_error (error, error_size, "making the CA certificate");
    else
    if (!X509_set_issuer_name (cert, X509_get_subject_name (cert))
    ||  !s_add_extension (cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
    ||  !s_add_extension (cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign")
    ||  !s_add_extension (cert, cert, NID_subject_key_identifier, "hash")
    ||  !X509_sign (cert, key, EVP_sha256 ()))
        s_openssl_error (error, error_size, "signing the CA certificate");
    else
    if (s_write_pem (key_path, 0600, s_write_key, key))
        snprintf (error, error_size, "cannot write %s: %s", key_path, strerror (errno));
    else
    if (s_write_pem (cert_path, 0644, s_write_cert, cert))
        snprintf (error, error_size, "wrote %s but cannot write %s: %s", key_path, cert_path,
                  strerror (errno));
    else
        rc = 0;
    X509_free (cert);
    EVP_PKEY_free (key);
    return rc;
}

//  The CA's key (read as every secret is) and certificate; -1 said in error.
static int
s_ca_load (const char *dir, EVP_PKEY **key, X509 **cert, char *error, size_t error_size)
{
    char key_path [1024], cert_path [1024];
    keys_ca_paths (dir, key_path, cert_path, sizeof key_path);
    uint8_t buffer [CA_KEY_MAX];
    size_t size;
    if (secret_read (key_path, buffer, sizeof buffer, &size, error, error_size))
        return -1;
    BIO *bio = BIO_new_mem_buf (buffer, (int) size);
    *key = bio ? PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL) : NULL;
    BIO_free (bio);
    OPENSSL_cleanse (buffer, sizeof buffer);
    FILE *file = fopen (cert_path, "r");
    *cert = file ? PEM_read_X509 (file, NULL, NULL, NULL) : NULL;
    if (file)
        fclose (file);
    if (*key && *cert)
        return 0;
    snprintf (error, error_size, "cannot read the local CA (%s, %s): run drift keys init",
              key_path, cert_path);
    EVP_PKEY_free (*key);
    X509_free (*cert);
    return -1;
}

int
keys_ca_issue (const char *dir, const char *tenant, const char *agent, int days,
               const char *cert_path, const char *key_path, keys_ca_cert_t *issued,
               char *error, size_t error_size)
{
    EVP_PKEY *ca_key, *key = NULL;
    X509 *ca_cert, *cert = NULL;
    if (s_ca_load (dir, &ca_key, &ca_cert, error, error_size))
        return -1;
    char san [200];
    snprintf (san, sizeof san, "URI:drift://%s/%s", tenant, agent);
    const char *subject [] = { "O", tenant, "CN", agent, NULL };
    key = EVP_EC_gen ("P-256");
    cert = key ? s_cert_new (key, subject, days) : NULL;
    int rc = -1;
    if (!cert
    ||  !X509_set_issuer_name (cert, X509_get_subject_name (ca_cert))
    ||  !s_add_extension (cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE")
    ||  !s_add_extension (cert, ca_cert, NID_key_usage, "critical,digitalSignature")
    ||  !s_add_extension (cert, ca_cert, NID_ext_key_usage, "clientAuth")
    ||  !s_add_extension (cert, ca_cert, NID_subject_alt_name, san)
    ||  !s_add_extension (cert, ca_cert, NID_authority_key_identifier, "keyid")
    ||  !X509_sign (cert, ca_key, EVP_sha256 ()))
        s_openssl_error (error, error_size, "making the client certificate");
    else
    if (s_write_pem (key_path, 0600, s_write_key, key))
        snprintf (error, error_size, "cannot write %s: %s%s", key_path, strerror (errno),
                  errno == EEXIST ? " (not overwriting it)" : "");
    else
    if (s_write_pem (cert_path, 0644, s_write_cert, cert)) {
        snprintf (error, error_size, "cannot write %s: %s%s", cert_path, strerror (errno),
                  errno == EEXIST ? " (not overwriting it)" : "");
        unlink (key_path);
    }
    else {
        BIGNUM *serial = ASN1_INTEGER_to_BN (X509_get0_serialNumber (cert), NULL);
        char *text = serial ? BN_bn2dec (serial) : NULL;
        snprintf (issued->serial, sizeof issued->serial, "%s", text ? text : "");
        OPENSSL_free (text);
        BN_free (serial);
        //  The validity as Unix seconds, from the certificate itself.
        struct tm when;
        ASN1_TIME_to_tm (X509_get0_notBefore (cert), &when);
        issued->not_before = (int64_t) timegm (&when);
        ASN1_TIME_to_tm (X509_get0_notAfter (cert), &when);
        issued->not_after = (int64_t) timegm (&when);
        rc = *issued->serial ? 0 : -1;
    }
    X509_free (cert);
    EVP_PKEY_free (key);
    X509_free (ca_cert);
    EVP_PKEY_free (ca_key);
    return rc;
}
