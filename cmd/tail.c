/*  drift tail: print the live log lines of every role connected to the given
    brokers, from every host, as they happen.

    Lines may be shed under load (at the sender's log queue or at the broker's
    queue toward this tail) but are never silently lost: every line carries
    its sender's running count of shed lines and the broker's count toward
    this tail, and the tail prints the total whenever it grows and at exit.

    Role and level are filtered at the broker (SUBSCRIBE carries them), tenant
    and report id here: those are fields inside the line, which the broker
    passes on as opaque bytes. Reading every line's fields on the broker's one
    thread for every tail would slow the pipeline for a convenience, and
    needs no protocol change here. A line filtered out still carries its shed
    counts, so the shed total stays right whatever is shown.
*/
#include "commands.h"
#include "../lib/clock.h"
#include "../lib/config.h"
#include "../lib/drp.h"
#include "../lib/link.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#define TAIL_MAX_BROKERS 8

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_BROKER_OPTIONS,
    { "role", CONFIG_STRING, "", "only lines of this role (default: all)" },
    { "level", CONFIG_STRING, "debug", "lowest level shown: debug, info, warn, error" },
    { "tenant", CONFIG_STRING, "", "only lines whose tenant field is this (default: all)" },
    { "report", CONFIG_STRING, "", "only lines whose report_id field is this (default: all)" },
    CONFIG_END
};

//  Shed counts are running totals per sender; the tail keeps the last seen.
typedef struct {
    zhashx_t *sender_shed;   // instance -> uint64_t * last running total
    uint64_t broker_shed [TAIL_MAX_BROKERS]; // last total from each broker
    uint64_t reported;       // total last printed
} shed_t;

static void
s_free_count (void **item)
{
    free (*item);
    *item = NULL;
}

static uint64_t
s_shed_total (shed_t *shed)
{
    uint64_t total = 0;
    for (uint64_t *count = (uint64_t *) zhashx_first (shed->sender_shed); count;
         count = (uint64_t *) zhashx_next (shed->sender_shed))
        total += *count;
    for (int i = 0; i < TAIL_MAX_BROKERS; i++)
        total += shed->broker_shed [i];
    return total;
}

//  Field filters applied to each line ("" = any).
typedef struct {
    const char *tenant;      // the line's tenant field must be this
    const char *report;      // the line's report_id field must be this
} filter_t;

static bool
s_field_is (const char *line, const char *key, const char *wanted)
{
    char value [1024];
    return log_line_field (line, key, value, sizeof value) == 0 && streq (value, wanted);
}

static bool
s_wanted (const filter_t *filter, zmq_msg_t *line)
{
    if (!*filter->tenant && !*filter->report)
        return true;
    char *text = strndup ((const char *) zmq_msg_data (line), zmq_msg_size (line));
    bool wanted = (!*filter->tenant || s_field_is (text, "tenant", filter->tenant))
               && (!*filter->report || s_field_is (text, "report_id", filter->report));
    free (text);
    return wanted;
}

static void
s_on_line (shed_t *shed, const filter_t *filter, int broker, drp_header_t *header,
           zmq_msg_t *line)
{
    if (s_wanted (filter, line)) {
        fwrite (zmq_msg_data (line), 1, zmq_msg_size (line), stdout);
        fputc ('\n', stdout);
        fflush (stdout);
    }
    uint64_t *count = (uint64_t *) zhashx_lookup (shed->sender_shed, header->instance);
    if (!count) {
        count = (uint64_t *) zmalloc (sizeof *count);
        zhashx_insert (shed->sender_shed, header->instance, count);
    }
    if (header->shed > *count)
        *count = header->shed;
    if (header->broker_shed > shed->broker_shed [broker])
        shed->broker_shed [broker] = header->broker_shed;
    uint64_t total = s_shed_total (shed);
    if (total > shed->reported) {
        fprintf (stderr, "drift tail: %llu log lines shed so far\n", (unsigned long long) total);
        shed->reported = total;
    }
}

int
cmd_tail (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("tail", "Print the live log lines of every role.",
                                 s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    int level = log_level_parse (config_get (config, "level"));
    if (level < 0) {
        fprintf (stderr, "drift tail: level must be one of debug, info, warn, error\n");
        config_destroy (&config);
        return 2;
    }
    shutdown_install ();
    drp_header_t subscribe = { .command = DRP_SUBSCRIBE, .status = (uint8_t) level };
    snprintf (subscribe.name, sizeof subscribe.name, "%s", config_get (config, "role"));
    link_t *links [TAIL_MAX_BROKERS] = { NULL };
    int count = link_new_all (config_get (config, "broker"), &subscribe,
                              (int) config_get_int (config, "heartbeat-ms"),
                              (int) config_get_int (config, "liveness"), links, TAIL_MAX_BROKERS);
    if (count < 0) {
        fprintf (stderr, "drift tail: no usable broker endpoint\n");
        config_destroy (&config);
        return 2;
    }
    filter_t filter = { config_get (config, "tenant"), config_get (config, "report") };
    shed_t shed = { .sender_shed = zhashx_new () };
    zhashx_set_destructor (shed.sender_shed, s_free_count);
    while (!shutdown_requested ()) {
        zmq_pollitem_t items [TAIL_MAX_BROKERS];
        int link_of [TAIL_MAX_BROKERS];
        int polled = 0;
        int64_t timeout = 1000;
        for (int i = 0; i < count; i++) {
            int64_t next = link_next_timer (links [i]);
            if (next < timeout)
                timeout = next;
            if (links [i]->socket) {
                items [polled] = (zmq_pollitem_t) { links [i]->handle, 0, ZMQ_POLLIN, 0 };
                link_of [polled++] = i;
            }
        }
        if (zmq_poll (items, polled, timeout) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < polled; i++) {
            if (!(items [i].revents & ZMQ_POLLIN))
                continue;
            link_t *link = links [link_of [i]];
            zmq_msg_t frames [2];
            int frame_count;
            while (link->socket
               &&  (frame_count = drp_recv_frames (link->handle, frames, 2, ZMQ_DONTWAIT)) > 0) {
                drp_header_t header;
                const char *reason;
                if (drp_decode ((const uint8_t *) zmq_msg_data (&frames [0]),
                                zmq_msg_size (&frames [0]), &header, &reason) == 0) {
                    link_heard (link);
                    if (header.command == DRP_LINE && frame_count == 2)
                        s_on_line (&shed, &filter, link_of [i], &header, &frames [1]);
                    else
                    if (header.command == DRP_DISCONNECT)
                        link_reset (link, header.name);
                }
                drp_close_frames (frames, frame_count, 2);
            }
        }
        for (int i = 0; i < count; i++)
            link_tick (links [i]);
    }
    fprintf (stderr, "drift tail: stopped, %llu log lines shed in all\n",
             (unsigned long long) s_shed_total (&shed));
    for (int i = 0; i < count; i++)
        link_destroy (&links [i]);
    zhashx_destroy (&shed.sender_shed);
    config_destroy (&config);
    return 0;
}
