/*  notice: what mail and webhooks share to say a notice, and the key that
    names an alert at PagerDuty and Opsgenie; see notice.h.

    One copy of each rule, so that an email and a webhook for the same
    notice agree: the same timestamps, the same delivery ids refused, text
    cut at the same kind of boundary, and the same failed transfer retried
    or given up whichever carried it.
*/
#include "notice.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void
notice_iso8601 (int64_t time_us, char *out, size_t size)
{
    //  A receiver parses this: a valid time even in the case that cannot
    //  happen (gmtime_r covers every int64 of microseconds), never prose.
    time_t seconds = (time_t) (time_us / 1000000);
    struct tm tm;
    if (!gmtime_r (&seconds, &tm) || !strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (out, size, "1970-01-01T00:00:00Z");
}

bool
notice_delivery_id_ok (const char *id)
{
    if (!id || !*id || strlen (id) > NOTICE_DELIVERY_ID_MAX)
        return false;
    for (const char *byte = id; *byte; byte++)
        if (!((*byte >= 'a' && *byte <= 'z') || (*byte >= 'A' && *byte <= 'Z')
        ||    (*byte >= '0' && *byte <= '9') || *byte == '.' || *byte == '-'))
            return false;
    return true;
}

size_t
notice_utf8_cut (const char *text, size_t limit)
{
    //  A continuation byte is 10xxxxxx: step back over them to the byte
    //  that starts the character the limit falls in.
    size_t length = limit;
    while (length > 0 && ((unsigned char) text [length] & 0xC0) == 0x80)
        length--;
    return length;
}

bool
notice_tls_untrusted (CURLcode code)
{
    switch (code) {
        case CURLE_PEER_FAILED_VERIFICATION:   // chain or name does not verify
        case CURLE_SSL_CACERT_BADFILE:         // the CA file given cannot be read
        case CURLE_SSL_CERTPROBLEM:            // a local certificate cannot be used
        case CURLE_SSL_CRL_BADFILE:            // the CRL file given cannot be read
        case CURLE_SSL_ISSUER_ERROR:           // the issuer check failed
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:   // not the pinned key
        case CURLE_SSL_INVALIDCERTSTATUS:      // OCSP says the certificate is not good
            return true;
        default:
            return false;
    }
}

//  Each code decided once, for mail and webhooks alike. Mail used to retry
//  the last five TLS codes above and webhooks to give up on them; they are
//  all permanent now: each says the certificate (or the file to check it
//  with) is wrong, which no retry fixes and the operator must see at once
//  as the channel's error rather than as retries that cannot succeed (and
//  would mark the channel's breaker as a flaky server instead). CURLE_SSL_CONNECT_ERROR (the
//  handshake broke) stays transient: a reset or a server restarting looks
//  the same, and a real mismatch still shows in the channel's last error.
send_result_t
notice_curl_result (CURLcode code)
{
    if (code == CURLE_OK)
        return SEND_OK;
    if (notice_tls_untrusted (code))
        return SEND_PERMANENT;
    switch (code) {
        case CURLE_URL_MALFORMAT:              // the channel's URL is wrong
        case CURLE_UNSUPPORTED_PROTOCOL:       // or names a scheme we do not speak
        case CURLE_LOGIN_DENIED:               // the credentials are wrong
        case CURLE_USE_SSL_FAILED:             // TLS required and the server will not
            return SEND_PERMANENT;
        default:                               // refused, reset, timed out, not resolved
            return SEND_TRANSIENT;
    }
}

void
notice_alert_key (const char *tenant, const char *stack, const char *subject, char *key)
{
    //  NUL-separated, so ("a", "bc") and ("ab", "c") are different alerts.
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 16);
    const char *parts [] = { tenant, stack, subject };
    for (size_t index = 0; index < 3; index++) {
        const char *part = parts [index] ? parts [index] : "";
        crypto_generichash_update (&state, (const unsigned char *) part, strlen (part) + 1);
    }
    unsigned char hash [16];
    crypto_generichash_final (&state, hash, sizeof hash);
    memcpy (key, "drift-", 6);
    sodium_bin2hex (key + 6, NOTICE_ALERT_KEY_SIZE - 6, hash, sizeof hash);
}

const char *
notice_check_subject (notice_check_state_t state)
{
    return state == NOTICE_CHECK_FAILED || state == NOTICE_CHECK_RECOVERED ? "check-failed"
                                                                          : "check-silent";
}

bool
notice_check_raises (notice_check_state_t state)
{
    return state == NOTICE_CHECK_FAILED || state == NOTICE_CHECK_SILENT;
}
