/*  test_notice: the notice core mail and webhooks share (actors/notify/
    notice.c) and the severity names of lib/severity: one answer each, so
    an email and a webhook for the same notice never disagree.
*/
#include "../actors/notify/notice.h"
#include "../lib/severity.h"

#include <criterion/criterion.h>
#include <string.h>

Test (notice, severity_names_cover_the_enum_and_call_anything_else_none)
{
    const char *names [] = { "none", "info", "low", "medium", "high", "critical" };
    for (int severity = 0; severity < 6; severity++) {
        cr_assert_str_eq (severity_name (severity), names [severity]);
        Drift__Severity parsed;
        cr_assert_eq (severity_parse (names [severity], &parsed), 0);
        cr_assert_eq ((int) parsed, severity);
    }
    //  A notice read from a row may carry any integer.
    cr_assert_str_eq (severity_name (-1), "none");
    cr_assert_str_eq (severity_name (6), "none");
    cr_assert_str_eq (severity_name (1 << 30), "none");
    Drift__Severity parsed = DRIFT__SEVERITY__SEVERITY_HIGH;
    cr_assert_eq (severity_parse (NULL, &parsed), -1);
    cr_assert_eq (severity_parse ("", &parsed), -1);
    cr_assert_eq (parsed, DRIFT__SEVERITY__SEVERITY_HIGH, "a refused name leaves the value");
}

Test (notice, one_classification_of_curl_outcomes_for_mail_and_webhooks)
{
    cr_assert_eq (notice_curl_result (CURLE_OK), SEND_OK);
    //  The certificate, or what to check it with, is wrong: the operator's to fix.
    CURLcode untrusted [] = {
        CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
        CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
        CURLE_SSL_INVALIDCERTSTATUS
    };
    for (size_t i = 0; i < sizeof untrusted / sizeof untrusted [0]; i++) {
        cr_assert (notice_tls_untrusted (untrusted [i]), "code %d", untrusted [i]);
        cr_assert_eq (notice_curl_result (untrusted [i]), SEND_PERMANENT, "code %d", untrusted [i]);
    }
    CURLcode permanent [] = {
        CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_LOGIN_DENIED, CURLE_USE_SSL_FAILED
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent [0]; i++) {
        cr_assert_not (notice_tls_untrusted (permanent [i]), "code %d", permanent [i]);
        cr_assert_eq (notice_curl_result (permanent [i]), SEND_PERMANENT, "code %d", permanent [i]);
    }
    //  What may pass by itself: the network, the server, a broken handshake.
    CURLcode transient [] = {
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
        CURLE_SSL_CONNECT_ERROR, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING,
        CURLE_WRITE_ERROR
    };
    for (size_t i = 0; i < sizeof transient / sizeof transient [0]; i++) {
        cr_assert_not (notice_tls_untrusted (transient [i]), "code %d", transient [i]);
        cr_assert_eq (notice_curl_result (transient [i]), SEND_TRANSIENT, "code %d", transient [i]);
    }
}

Test (notice, delivery_ids_are_short_and_safe_for_a_header)
{
    cr_assert (notice_delivery_id_ok ("acme.r-0123.ch-9"));
    char longest [NOTICE_DELIVERY_ID_MAX + 2];
    memset (longest, 'a', NOTICE_DELIVERY_ID_MAX);
    longest [NOTICE_DELIVERY_ID_MAX] = 0;
    cr_assert (notice_delivery_id_ok (longest));
    longest [NOTICE_DELIVERY_ID_MAX] = 'a';
    longest [NOTICE_DELIVERY_ID_MAX + 1] = 0;
    cr_assert_not (notice_delivery_id_ok (longest));
    const char *refused [] = {
        "", "a b", "a\r\nBcc: victim@example.com", "a_b", "a/b", "<a>", "a@b", "caf\xC3\xA9"
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++)
        cr_assert_not (notice_delivery_id_ok (refused [i]), "\"%s\"", refused [i]);
    cr_assert_not (notice_delivery_id_ok (NULL));
}

Test (notice, times_are_iso8601_in_utc)
{
    char text [32];
    notice_iso8601 (0, text, sizeof text);
    cr_assert_str_eq (text, "1970-01-01T00:00:00Z");
    notice_iso8601 (1795781375999999LL, text, sizeof text);
    cr_assert_str_eq (text, "2026-11-27T12:09:35Z");
    notice_iso8601 (-1000000, text, sizeof text);
    cr_assert_str_eq (text, "1969-12-31T23:59:59Z");
    //  Too small a buffer still ends in a valid, if cut, string.
    char tiny [8];
    notice_iso8601 (0, tiny, sizeof tiny);
    cr_assert_eq (strlen (tiny), sizeof tiny - 1);
}

Test (notice, text_is_cut_between_utf8_characters)
{
    //  "ab" then "é" (C3 A9) then "€" (E2 82 AC) then "c".
    const char *text = "ab\xC3\xA9\xE2\x82\xAC" "c";
    cr_assert_eq (notice_utf8_cut (text, 2), 2);
    cr_assert_eq (notice_utf8_cut (text, 3), 2, "not between C3 and A9");
    cr_assert_eq (notice_utf8_cut (text, 4), 4);
    cr_assert_eq (notice_utf8_cut (text, 5), 4);
    cr_assert_eq (notice_utf8_cut (text, 6), 4);
    cr_assert_eq (notice_utf8_cut (text, 7), 7);
    //  Bytes that are all continuations: nowhere to cut but the start.
    cr_assert_eq (notice_utf8_cut ("\x80\x80\x80\x80", 3), 0);
}
