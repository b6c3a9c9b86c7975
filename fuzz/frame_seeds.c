/*  frame_seeds: writes the starting corpora of drp_fuzz and agent_link_fuzz,
    made by the encoders themselves (drp_encode, agent_link_encode), so the
    seeds are valid frames of the protocol as it is today and never drift
    from it: one header of every DRP command (batches of one and many
    items, every DONE status, the optional version present and absent), and
    one AgentMessage of every kind (a plain report, a zstd report with a
    .driftignore, each NACK code the agent acts on). Run by scripts/fuzz.

    Usage: frame_seeds DRP-DIR AGENT-LINK-DIR
*/
#include "../lib/agent_link.h"
#include "../lib/drp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static int s_failed;             // a seed could not be encoded or written

static void
s_write (const char *dir, const char *name, const uint8_t *data, size_t size)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (data, 1, size, file) != size) {
        fprintf (stderr, "frame_seeds: cannot write %s\n", path);
        s_failed = 1;
    }
    if (file)
        fclose (file);
}

static void
s_drp (const char *dir, const char *name, const drp_header_t *header)
{
    uint8_t frame [DRP_HEADER_MAX];
    int size = drp_encode (header, frame);
    if (size < 0) {
        fprintf (stderr, "frame_seeds: drp_encode refused %s\n", name);
        s_failed = 1;
        return;
    }
    s_write (dir, name, frame, (size_t) size);
}

static void
s_drp_seeds (const char *dir)
{
    s_drp (dir, "ready", &(drp_header_t) { .command = DRP_READY, .count = 64, .name = "normalize",
                                           .instance = "host-a/4242", .version = "0.1.0" });
    s_drp (dir, "ready-before-versions",
           &(drp_header_t) { .command = DRP_READY, .count = 1, .name = "score",
                             .instance = "h/1" });
    s_drp (dir, "open", &(drp_header_t) { .command = DRP_OPEN, .count = 256, .name = "normalize",
                                          .instance = "ingest-1/77", .version = "0.1.0" });
    drp_header_t work = { .command = DRP_WORK, .count = 3 };
    for (uint32_t i = 0; i < work.count; i++)
        work.items [i] = (drp_item_t) { .id = 1000 + i, .attempt = 1 + i, .size = 512 * (i + 1) };
    s_drp (dir, "work", &work);
    drp_header_t full = { .command = DRP_WORK, .count = DRP_BATCH_MAX };
    for (uint32_t i = 0; i < full.count; i++)
        full.items [i] = (drp_item_t) { .id = UINT64_C (0x0102030405060708) + i, .attempt = 1,
                                        .size = 65536 };
    s_drp (dir, "work-full", &full);
    drp_header_t done = { .command = DRP_DONE, .count = 3 };
    done.items [0] = (drp_item_t) { .id = 1000, .status = DRP_DONE_FORWARD, .size = 700 };
    done.items [1] = (drp_item_t) { .id = 1001, .status = DRP_DONE_END };
    done.items [2] = (drp_item_t) { .id = 1002, .status = DRP_DONE_FAILED };
    s_drp (dir, "done", &done);
    s_drp (dir, "heartbeat", &(drp_header_t) { .command = DRP_HEARTBEAT });
    s_drp (dir, "disconnect", &(drp_header_t) { .command = DRP_DISCONNECT,
                                                .name = "unknown peer, register again" });
    s_drp (dir, "disconnect-bare", &(drp_header_t) { .command = DRP_DISCONNECT });
    s_drp (dir, "grant", &(drp_header_t) { .command = DRP_GRANT, .count = 32 });
    s_drp (dir, "submit", &(drp_header_t) { .command = DRP_SUBMIT, .count = 2 });
    s_drp (dir, "log", &(drp_header_t) { .command = DRP_LOG, .status = 2, .shed = 3,
                                         .name = "archive", .instance = "h/9" });
    s_drp (dir, "subscribe", &(drp_header_t) { .command = DRP_SUBSCRIBE, .status = 1,
                                               .name = "" });
    s_drp (dir, "line", &(drp_header_t) { .command = DRP_LINE, .status = 3, .shed = 1,
                                          .broker_shed = 5, .name = "notify",
                                          .instance = "h/2" });
    s_drp (dir, "stats", &(drp_header_t) { .command = DRP_STATS });
}

static void
s_link (const char *dir, const char *name, const Drift__AgentMessage *message)
{
    size_t size;
    uint8_t *frame = agent_link_encode (message, &size);
    s_write (dir, name, frame, size);
    free (frame);
}

static void
s_report (const char *dir, const char *name, Drift__Report *report)
{
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_REPORT;
    message.report = report;
    s_link (dir, name, &message);
}

static void
s_link_seeds (const char *dir)
{
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    Drift__Hello hello = DRIFT__HELLO__INIT;
    hello.protocol = AGENT_LINK_PROTOCOL;
    hello.agent_version = "0.1.0";
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_HELLO;
    message.hello = &hello;
    s_link (dir, "hello", &message);

    Drift__Welcome welcome = DRIFT__WELCOME__INIT;
    welcome.protocol = AGENT_LINK_PROTOCOL;
    welcome.server_version = "0.1.0";
    welcome.tenant = "acme";
    welcome.agent = "web";
    welcome.max_report_bytes = AGENT_LINK_MAX_REPORT_BYTES / 4;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_WELCOME;
    message.welcome = &welcome;
    s_link (dir, "welcome", &message);

    const char *plan = "{\"format_version\":\"1.2\",\"terraform_version\":\"1.11.4\","
                       "\"resource_drift\":[]}";
    Drift__Report report = DRIFT__REPORT__INIT;
    report.report_id = "r-2026-12-05.0001";
    report.stack = "payments/prod";
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report.compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    report.payload.data = (uint8_t *) plan;
    report.payload.len = strlen (plan);
    report.uncompressed_size = report.payload.len;
    report.produced_us = INT64_C (1795780800000000);
    report.engine = "terraform";
    report.engine_version = "1.11.4";
    s_report (dir, "report", &report);

    uint8_t compressed [512];
    size_t compressed_size = ZSTD_compress (compressed, sizeof compressed, plan, strlen (plan), 3);
    if (ZSTD_isError (compressed_size)) {
        fprintf (stderr, "frame_seeds: zstd: %s\n", ZSTD_getErrorName (compressed_size));
        s_failed = 1;
        return;
    }
    report.report_id = "r-zstd";
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_STREAM;
    report.compression = DRIFT__COMPRESSION__COMPRESSION_ZSTD;
    report.payload.data = compressed;
    report.payload.len = compressed_size;
    report.driftignore = "aws_security_group.web  # opened on purpose\n!aws_s3_bucket.*\n";
    s_report (dir, "report-zstd", &report);

    Drift__Ack ack = DRIFT__ACK__INIT;
    ack.report_id = "r-2026-12-05.0001";
    ack.duplicate = 1;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_ACK;
    message.ack = &ack;
    s_link (dir, "ack", &message);

    Drift__Nack nack = DRIFT__NACK__INIT;
    nack.report_id = "r-2026-12-05.0001";
    nack.code = DRIFT__NACK_CODE__NACK_RATE_LIMITED;
    nack.message = "rate limited, retry later";
    nack.retry_after_ms = 1500;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_NACK;
    message.nack = &nack;
    s_link (dir, "nack-rate-limited", &message);
    nack.code = DRIFT__NACK_CODE__NACK_REVOKED;
    nack.report_id = "";
    nack.message = "the agent's key is revoked";
    nack.retry_after_ms = 0;
    s_link (dir, "nack-revoked", &message);
    nack.code = DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
    nack.message = "no such command of this agent";
    nack.command_id = "0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b";
    nack.seq = 3;
    s_link (dir, "nack-update", &message);

    Drift__Ping ping = DRIFT__PING__INIT;
    ping.nonce = UINT64_C (0xfeedfacecafebeef);
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_PING;
    message.ping = &ping;
    s_link (dir, "ping", &message);
    Drift__Pong pong = DRIFT__PONG__INIT;
    pong.nonce = ping.nonce;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_PONG;
    message.pong = &pong;
    s_link (dir, "pong", &message);

    //  The command channel (AGENT-LINK.md section 7), the HTTPS poll too.
    const char *command_id = "0b0e2a4c-6f7e-4d2a-9a55-3c1e8f2b9d10";
    char *targets [] = { "aws_security_group.web", "aws_s3_bucket.logs" };
    Drift__Command command = DRIFT__COMMAND__INIT;
    command.command_id = (char *) command_id;
    command.kind = DRIFT__COMMAND_KIND__COMMAND_KIND_PLAN;
    command.stack = "payments/prod";
    command.n_targets = sizeof targets / sizeof targets [0];
    command.targets = targets;
    command.timeout_s = 600;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND;
    message.command = &command;
    s_link (dir, "command", &message);
    //  Its RECEIVED update, and ingest's ack of it.
    Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
    Drift__CommandAck command_ack = DRIFT__COMMAND_ACK__INIT;
    update.command_id = command_ack.command_id = (char *) command_id;
    update.seq = command_ack.seq = 1;
    update.state = DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE;
    message.command_update = &update;
    s_link (dir, "command-update", &message);
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK;
    message.command_ack = &command_ack;
    s_link (dir, "command-ack", &message);
    Drift__CommandPoll poll = DRIFT__COMMAND_POLL__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_POLL;
    message.command_poll = &poll;
    s_link (dir, "command-poll", &message);
    Drift__NoCommand none = DRIFT__NO_COMMAND__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_NO_COMMAND;
    message.no_command = &none;
    s_link (dir, "no-command", &message);
}

int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: frame_seeds DRP-DIR AGENT-LINK-DIR\n");
        return 2;
    }
    s_drp_seeds (argv [1]);
    s_link_seeds (argv [2]);
    return s_failed;
}
