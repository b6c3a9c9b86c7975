/*  bench/mail: emails a second through actors/notify/mail to a real SMTP
    server, a connection per message against one kept connection (a
    channel's mail_session_t), and the CPU each costs the sender and the
    server.

    usage: bench_mail URL CA-FILE|- SERVER-PID [messages] [runs]
           (scripts/bench mail starts the SMTP sink, aiosmtpd, plain and with
           STARTTLS, and runs this once for each)

    Each run sends `messages` notices of 3 drift items to two recipients,
    first each on its own connection (mail_send without a session: connect,
    EHLO, STARTTLS and EHLO again when asked, MAIL, RCPT, DATA, QUIT), then
    all through one session. Printed, median of `runs`: messages/s, and
    milliseconds of CPU per message in this process (rendering, libcurl,
    TLS) and in the server's; and the session's ratios to the connection per
    message.
*/
#include "cpu.h"
#include "median.h"
#include "../actors/notify/mail.h"
#include "../lib/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUNS_MAX 15

static const notice_item_t s_items [] = {
    { .address = "aws_security_group.web", .type = "aws_security_group", .kind = "modified",
      .severity = 4, .score = 80, .fingerprint = "fp-1",
      .changes = "[{\"path\":\"ingress[0].cidr_blocks[0]\",\"before\":\"10.0.0.0/8\","
                 "\"after\":\"0.0.0.0/0\"}]",
      .reasons = "[{\"rule\":\"sg-open-to-world\",\"severity\":4}]" },
    { .address = "aws_s3_bucket.logs", .type = "aws_s3_bucket", .kind = "modified",
      .severity = 3, .score = 60, .fingerprint = "fp-2",
      .changes = "[{\"path\":\"versioning[0].enabled\",\"before\":true,\"after\":false}]",
      .reasons = "[]" },
    { .address = "aws_instance.api", .type = "aws_instance", .kind = "modified",
      .severity = 2, .score = 30, .fingerprint = "fp-3",
      .changes = "[{\"path\":\"instance_type\",\"before\":\"t3.small\",\"after\":\"t3.large\"}]",
      .reasons = "[]" },
};

static const char *s_to [] = { "ops@example.com", "oncall@example.com" };

typedef struct {
    double rate;            // messages/s
    double own_ms;          // this process's CPU per message
    double server_ms;       // the server's CPU per message
} s_result_t;

//  count messages through config (its session or none); exits on a failure.
static s_result_t
s_send (const mail_config_t *config, pid_t server, int count, const char *mode)
{
    notice_t notice = {
        .delivery_id = "bench-mail", .tenant = "acme", .stack = "payments",
        .report_id = "rep-1", .received_us = 1795781375000000LL, .severity = 4, .score = 80,
        .items = s_items, .item_count = 3, .digest = false
    };
    double own = cpu_seconds (getpid ()), served = cpu_seconds (server);
    int64_t start = clock_mono_us ();
    for (int i = 0; i < count; i++) {
        char error [512];
        if (mail_send (config, &notice, error, sizeof error) != SEND_OK) {
            fprintf (stderr, "bench_mail: %s: message %d not sent: %s\n", mode, i, error);
            exit (1);
        }
    }
    double seconds = (double) (clock_mono_us () - start) / 1e6;
    return (s_result_t) {
        .rate = count / seconds,
        .own_ms = (cpu_seconds (getpid ()) - own) * 1000.0 / count,
        .server_ms = (cpu_seconds (server) - served) * 1000.0 / count
    };
}

int
main (int argc, char **argv)
{
    if (argc < 4) {
        fprintf (stderr, "usage: bench_mail URL CA-FILE|- SERVER-PID [messages] [runs]\n");
        return 2;
    }
    const char *url = argv [1], *ca = argv [2];
    pid_t server = (pid_t) atoi (argv [3]);
    int count = argc > 4 ? atoi (argv [4]) : 500;
    int runs = argc > 5 ? atoi (argv [5]) : 5;
    if (count < 1 || runs < 1 || runs > RUNS_MAX) {
        fprintf (stderr, "bench_mail: messages >= 1, runs 1 to %d\n", RUNS_MAX);
        return 2;
    }
    bool tls = strcmp (ca, "-") != 0;
    mail_config_t config = {
        .url = url, .starttls = tls, .ca_file = tls ? ca : NULL,
        .from = "drift <drift@example.com>", .to = s_to, .to_count = 2,
        .timeout_ms = 10000, .allow_hosts = "127.0.0.1"     // the sink is on loopback
    };
    double rate [2][RUNS_MAX], own [2][RUNS_MAX], served [2][RUNS_MAX];
    for (int run = 0; run < runs; run++) {
        for (int kept = 0; kept < 2; kept++) {
            config.session = kept ? mail_session_new () : NULL;
            s_result_t result = s_send (&config, server, count,
                                        kept ? "one session" : "a connection each");
            mail_session_destroy (&config.session);
            rate [kept][run] = result.rate;
            own [kept][run] = result.own_ms;
            served [kept][run] = result.server_ms;
        }
        printf ("  run %d: a connection each %.0f/s, one session %.0f/s\n", run + 1,
                rate [0][run], rate [1][run]);
    }
    double median_rate [2], median_own [2], median_served [2];
    for (int kept = 0; kept < 2; kept++) {
        median_rate [kept] = median_of (rate [kept], runs);
        median_own [kept] = median_of (own [kept], runs);
        median_served [kept] = median_of (served [kept], runs);
    }
    printf ("mail to %s%s, %d messages a run, median of %d:\n", url, tls ? " (STARTTLS)" : "",
            count, runs);
    for (int kept = 0; kept < 2; kept++)
        printf ("  %-19s %6.0f messages/s; CPU per message: sender %.2f ms, server %.2f ms\n",
                kept ? "one session:" : "a connection each:", median_rate [kept],
                median_own [kept], median_served [kept]);
    printf ("  the session: %.2f times the rate; sender CPU %.2f, server CPU %.2f of a "
            "connection each\n", median_rate [1] / median_rate [0],
            median_own [1] / median_own [0], median_served [1] / median_served [0]);
    return 0;
}
