/*  bench/e2e: the whole path, from an agent's send to the archived row and
    to the email, with every role a real process: `drift broker`, `ingest`,
    `normalize`, `score`, `archive`, `notify` and `replayer` (one each), on
    the durable PostgreSQL, Redis and SMTP sink that scripts/bench starts.

    usage: bench_e2e DATABASE_URL REDIS_URL SMTP_PORT MAIL_DIR [reports] [runs]

    Agents are the agent link on threads (lib/agent_link, CURVE as deployed,
    one connection per tenant, each agent's certificate issued by `drift
    keys issue`), not `drift-agent` processes: the agent's spool and plan
    runner are outside what is measured, and ten processes would take CPU
    the server needs on a small machine. The mix is the issue's: 10 tenants,
    1 000 stacks; 80 % of stacks are clean, 15 % carry 1–5 drifted resources
    and 5 % 20–50, so reports come in about that mix. Drift recurs as in
    life: a stack's drift persists from one check to the next; each
    resource's value moves now and then (its old fingerprint resolves, a new
    one opens), and 1 check in 20 of a drifted stack comes back clean (all
    resolved; they reopen at the next). The first drifted resource of a
    stack opens SSH to the world (high): the tenants' email channel (minimum
    medium) is told when it opens.

    Printed, median of `runs`, after a first pass (2 000 reports, printed
    apart) that creates the stacks and their first drift, a cold start.
    Every measured pass (and each floor) starts with the database vacuumed,
    analyzed and checkpointed; a checkpoint or autovacuum run that still
    lands in a pass is printed under it:
    - saturated: `reports` sent as fast as ingest acks them (64 in flight
      per agent), timed from the first send until every report's row is
      committed and the journal is empty (notify acked them all);
    - the database-only floor, in the same run: one C loop writing the same
      journal entries (ingest's accept) and the same archive rows
      (drift_archive_batch over the same documents, batches of 64) and
      acking them (pgmq archive), without ZeroMQ, sealing or store; and the
      ratio of the two;
    - the same reports through the design the product replaced, in the
      same run: the four stages connected by pgmq queues at every hop
      (bench/hops.c runs each stage's own code between two queues; agent
      link, ingest and journal unchanged), and the broker's design's ratio
      to it;
    - latency at 25 % and 50 % of the saturated rate (agents paced), from
      each report's send to its row's commit (track_commit_timestamp) and to
      the email's acceptance by the sink (the message file's time): p50,
      p99 and max, and the row's time cut at each stage's stamp (ingest's
      receipt, normalized, scored, committed). Notify runs without its
      per-channel rate limit, and each pass starts once notify's outbox is
      empty, so the emails of earlier passes do not queue ahead (how long
      that took is printed); a short unmeasured pass first warms the stages
      started again after the hops pass;
    - the resident memory (VmRSS) of every role after each phase, so growth
      with the number of reports shows;
    - journal lag (entries not finished) every 250 ms of the first saturated
      run, as CSV in DRIFT_BENCH_CSV (default bench-e2e-lag.csv);
    - for each run, the share of the pass the archive's PostgreSQL backends
      spent on a CPU and waiting in the run queue for one, beside the
      floor's backend (/proc/PID/schedstat): whether the archive's database
      work is held back by the other processes on the machine;
    - the CPU of every role, PostgreSQL, Redis, the SMTP sink and the agent
      threads over each saturated and each paced pass, and the machine's
      total in cores: how close to its two cores a paced pass runs;
    - with DRIFT_BENCH_E2E_STATEMENTS=1, PostgreSQL's execution time by
      statement in the last saturated pass, in its floor and in the 50 %
      pass (pg_stat_statements, which scripts/bench then loads);
    - with DRIFT_BENCH_E2E_LATENCY_CSV=path, every latency pass's reports
      (pass, send time and send -> row latency in µs) appended to path;
    - scaling out: one saturated pass with normalize and archive at 1, 2 and
      4 workers each (DRIFT_BENCH_E2E_SCALE, "1,2,4"; "" skips it), with each
      role's, PostgreSQL's and the agent threads' CPU over the pass, so the
      limit shows. Run as root, each extra normalize and archive pair runs
      on a host of its own (bench/hosts: a network namespace linked to this
      machine's bridge, as in the multihost test), reaching the broker over
      its link and PostgreSQL through its Unix socket
      (DRIFT_BENCH_PG_SOCKET); otherwise on this host, and the output says
      why. The hosts share this machine's two cores: the passes show the
      workers spread and the limit, not more capacity.
*/
#define _GNU_SOURCE
#include "agents.h"
#include "cpu.h"
#include "hosts.h"
#include "median.h"
#include "../lib/clock.h"
#include "../lib/db.h"
#include "../lib/drp.h"
#include "../lib/journal.h"
#include "../lib/kv.h"
#include "../lib/link.h"
#include "../lib/log.h"

#include <czmq.h>
#include <dirent.h>
#include <jansson.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TENANTS 10
#define STACKS 1000
#define STACKS_PER_AGENT (STACKS / TENANTS)
#define ITEMS_MAX 50
#define WINDOW 64
#define FLOOR_BATCH 64
#define RUNS_MAX 9
#define PLAN_MAX (64 * 1024)

//  One stack's drift, as its checks see it.
typedef struct {
    int items;                       // drifted resources (0: a clean stack)
    int version [ITEMS_MAX];         // each one's current value
    int checks;                      // checks so far
    int drifted;                     // resources drifted in the last check
} s_stack_t;

//  A tenant: its name, id, agent certificate and key.
typedef struct {
    char name [32];                  // e2e-N
    char id [37];                    // uuid
    char agent_key [41];             // its agent's public key
    char certificate [640];          // the agent's certificate file
} s_tenant_t;

//  One agent thread's orders and results.
typedef struct {
    const char *endpoint;            // ingest's agent endpoint
    const char *server_key;          // ingest's public key
    s_tenant_t *tenant;              // whose agent
    int tenant_index;                // 0 .. TENANTS - 1
    const char *prefix;              // report id prefix of this pass
    int count;                       // reports to send
    double rate;                     // reports/s, 0: as fast as the window allows
    int64_t *sent_us;                // send time of report i
    s_stack_t *stacks;               // this tenant's stacks
    int acked;                       // reports acked
    int refused;                     // reports refused for good
} s_agent_t;

static const char *s_drift;          // the drift executable
static char s_dir [512];             // scratch: keys, certificates, store
static const char *s_roles [] = { "broker", "ingest", "normalize", "score", "archive", "notify",
                                  "replayer" };
#define ROLES ((int) (sizeof s_roles / sizeof s_roles [0]))
static pid_t s_pids [ROLES];
#define STAGE_FIRST 2                // normalize .. notify in s_roles
#define STAGE_LAST 5
static const char *s_hops;           // bench_hops: the pgmq-at-every-hop stages
static pid_t s_hop_pids [STAGE_LAST - STAGE_FIRST + 2];  // the bridge and the four stages
static char s_broker [64];           // the broker's endpoint
static char s_log_path [700];        // every role's log
#define SCALE_MAX 4                  // most workers of a stage in the scaling passes
static pid_t s_extra_pids [2][SCALE_MAX];  // normalize's and archive's extra workers
//  The extra workers' hosts: network namespaces (bench/hosts), when this
//  runs as root and knows PostgreSQL's socket; else they run on this one.
static hosts_t s_hosts;
static bool s_hosts_up;
static char s_broker_remote [64];    // the broker from the hosts: its bridge address
static char *s_socket_url;           // the database through its Unix socket

static void
s_die (const char *what, const char *detail)
{
    fprintf (stderr, "bench_e2e: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    //  The roles' log goes with the bench's directory: its end, here.
    if (*s_log_path) {
        char command [800];
        snprintf (command, sizeof command, "tail -n 20 '%s' >&2", s_log_path);
        if (system (command) != 0)
            fprintf (stderr, "bench_e2e: no log at %s\n", s_log_path);
    }
    for (int i = ROLES - 1; i >= 0; i--)
        if (s_pids [i] > 0)
            kill (s_pids [i], SIGTERM);
    for (size_t i = 0; i < sizeof s_hop_pids / sizeof s_hop_pids [0]; i++)
        if (s_hop_pids [i] > 0)
            kill (s_hop_pids [i], SIGTERM);
    for (int stage = 0; stage < 2; stage++)
        for (int i = 0; i < SCALE_MAX; i++)
            if (s_extra_pids [stage][i] > 0)
                kill (s_extra_pids [stage][i], SIGTERM);
    hosts_remove (&s_hosts);
    exit (1);
}

//  --------------------------------------------------------------------------
//  Processes

//  Start `program argv...`; it dies with this process. Quiet unless log.
static pid_t
s_spawn_program (const char *program, char **argv, const char *log_path)
{
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (1);
        int out = open (log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2 (out, 1);
        dup2 (out, 2);
        execvp (program, argv);
        _exit (127);
    }
    return pid;
}

//  Start `drift argv...`.
static pid_t
s_spawn (char **argv, const char *log_path)
{
    return s_spawn_program (s_drift, argv, log_path);
}

//  Run `drift argv...` to its end; its exit code.
static int
s_run (char **argv)
{
    pid_t pid = s_spawn (argv, NULL);
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t length = sizeof address;
    if (bind (fd, (struct sockaddr *) &address, length)
    ||  getsockname (fd, (struct sockaddr *) &address, &length))
        s_die ("no free port", NULL);
    close (fd);
    return ntohs (address.sin_port);
}

static long
s_rss_kib (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kib = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = atol (line + 6);
    if (file)
        fclose (file);
    return kib;
}

static void
s_print_rss (const char *when)
{
    printf ("  RSS %-28s", when);
    for (int i = 0; i < ROLES; i++)
        printf (" %s %ld", s_roles [i], s_rss_kib (s_pids [i]) / 1024);
    printf (" (MiB)\n");
}

//  --------------------------------------------------------------------------
//  The reports

//  Stack s's drift profile: 5 % large, 15 % small, the rest clean.
static void
s_stacks_init (s_stack_t *stacks)
{
    for (int s = 0; s < STACKS; s++) {
        memset (&stacks [s], 0, sizeof stacks [s]);
        if (s % 20 == 0)
            stacks [s].items = 20 + (s / 20) % 31;
        else
        if (s % 20 <= 3)
            stacks [s].items = 1 + (s / 20) % 5;
    }
}

//  The next check of a stack: values move now and then; 1 in 20 is clean.
//  How many resources drift in it (0: clean).
static int
s_check (s_stack_t *stack, uint64_t *random)
{
    stack->checks++;
    if (stack->items == 0)
        return 0;
    for (int i = 0; i < stack->items; i++) {
        *random = *random * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((*random >> 33) % 10 == 0)
            stack->version [i]++;
    }
    *random = *random * 6364136223846793005ULL + 1442695040888963407ULL;
    stack->drifted = (*random >> 33) % 20 == 0 ? 0 : stack->items;
    return stack->drifted;
}

//  The plan an agent sends for a check with drifted resources 0 .. items-1.
static size_t
s_plan (char *plan, const s_stack_t *stack, int items)
{
    size_t length = (size_t) snprintf (plan, PLAN_MAX,
        "{\"format_version\":\"1.2\",\"terraform_version\":\"1.11.4\",\"resource_drift\":[");
    for (int i = 0; i < items; i++) {
        bool ssh = i == 0;
        length += (size_t) snprintf (plan + length, PLAN_MAX - length,
            "%s{\"address\":\"aws_security_group.sg_%d\",\"mode\":\"managed\","
            "\"type\":\"aws_security_group\",\"name\":\"sg_%d\","
            "\"provider_name\":\"registry.terraform.io/hashicorp/aws\",\"change\":{"
            "\"actions\":[\"update\"],"
            "\"before\":{\"ingress\":[{\"cidr_blocks\":[\"10.0.0.0/8\"],\"from_port\":%d,"
            "\"to_port\":%d,\"protocol\":\"tcp\"}],\"tags\":{\"Name\":\"sg-%d\",\"Rev\":\"0\"}},"
            "\"after\":{\"ingress\":[{\"cidr_blocks\":[\"%s\"],\"from_port\":%d,"
            "\"to_port\":%d,\"protocol\":\"tcp\"}],\"tags\":{\"Name\":\"sg-%d\",\"Rev\":\"%d\"}}}}",
            i ? "," : "", i, i, ssh ? 22 : 8000 + i, ssh ? 22 : 8000 + i, i,
            ssh ? "0.0.0.0/0" : "10.1.0.0/16", ssh ? 22 : 8000 + i, ssh ? 22 : 8000 + i, i,
            stack->version [i]);
    }
    length += (size_t) snprintf (plan + length, PLAN_MAX - length,
        "],\"applyable\":false,\"complete\":true,\"errored\":false}");
    return length;
}

//  --------------------------------------------------------------------------
//  Agents

//  Which of an agent's stacks its report i checks. Each agent goes round
//  its stacks from its own place: tenants check their stacks independently,
//  and paced agents send in step, so with one starting place for all,
//  every agent's large report (every 20th) was sent in the same
//  millisecond, and one archive batch in 20 carried ten of them.
static int
s_stack_slot (const s_agent_t *agent, int i)
{
    return (i + 7 * agent->tenant_index) % STACKS_PER_AGENT;
}

//  Report i of an agent: its id and its stack's name.
static void
s_report_names (const s_agent_t *agent, int i, char *id, char *stack)
{
    snprintf (id, 64, "%s-t%d-%d", agent->prefix, agent->tenant_index, i);
    snprintf (stack, 32, "stack-%04d", agent->tenant_index + TENANTS * s_stack_slot (agent, i));
}

static void
s_agent (zsock_t *pipe, void *args)
{
    s_agent_t *agent = (s_agent_t *) args;
    zsock_t *dealer = agents_connect (agent->tenant->certificate, agent->server_key,
                                      agent->endpoint);
    zsock_signal (pipe, 0);
    char *go = zstr_recv (pipe);
    zstr_free (&go);

    char *plan = (char *) malloc (PLAN_MAX);
    char id [64], stack [32];
    uint64_t random = (uint64_t) agent->tenant_index * 7919 + 1;
    int64_t start = clock_wall_us ();
    int sent = 0, answered = 0;
    zpoller_t *poller = zpoller_new (dealer, NULL);
    while (dealer && answered < agent->count) {
        int64_t now = clock_wall_us ();
        while (sent < agent->count && sent - answered < WINDOW
           &&  (agent->rate <= 0 || start + (int64_t) (sent * 1e6 / agent->rate) <= now)) {
            s_report_names (agent, sent, id, stack);
            s_stack_t *state = &agent->stacks [s_stack_slot (agent, sent)];
            size_t length = s_plan (plan, state, s_check (state, &random));
            agent->sent_us [sent] = clock_wall_us ();
            agents_send_plan (dealer, id, stack, plan, length);
            sent++;
        }
        int wait_ms = 50;
        if (agent->rate > 0 && sent < agent->count) {
            //  Rounded up: rounded down, the last millisecond before each
            //  send was spent polling with no wait, a sixth of a core of
            //  the machine being measured at the 50 % pass. A send up to
            //  1 ms late is measured from when it went (sent_us).
            int64_t next = start + (int64_t) (sent * 1e6 / agent->rate);
            wait_ms = next > now ? (int) ((next - now + 999) / 1000) : 0;
        }
        if (!zpoller_wait (poller, wait_ms))
            continue;
        agents_answer_t answer = agents_answer (dealer, id, sizeof id);
        if (answer == AGENTS_GONE)
            break;
        if (answer == AGENTS_RESEND) {
            //  Ingest was busy: the same report again, as an agent does
            //  (its plan is the stack's latest).
            int i = atoi (strrchr (id, '-') + 1);
            s_stack_t *state = &agent->stacks [s_stack_slot (agent, i)];
            s_report_names (agent, i, id, stack);
            agents_send_plan (dealer, id, stack, plan, s_plan (plan, state, state->drifted));
            continue;
        }
        agent->acked += answer == AGENTS_ACKED;
        agent->refused += answer == AGENTS_REFUSED;
        answered++;
    }
    zpoller_destroy (&poller);
    free (plan);
    zsock_signal (pipe, 0);
    char *end = zstr_recv (pipe);
    zstr_free (&end);
    zsock_destroy (&dealer);
}

//  --------------------------------------------------------------------------
//  Watching the database

static long
s_long (PGconn *conn, const char *sql, const char *param)
{
    const char *params [] = { param };
    PGresult *result = PQexecParams (conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        s_die (sql, PQresultErrorMessage (result));
    long value = PQntuples (result) ? atol (PQgetvalue (result, 0, 0)) : 0;
    PQclear (result);
    return value;
}

//  PostgreSQL's own work that can still land in a pass: checkpoints and
//  autovacuum's runs, counted before and after it, printed with it.
typedef struct {
    long checkpoints;
    long autovacuums;
} s_background_t;

static s_background_t
s_background (PGconn *conn)
{
    s_background_t now = {
        s_long (conn, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter", NULL),
        s_long (conn, "SELECT sum (autovacuum_count + autoanalyze_count) FROM pg_stat_all_tables",
                NULL)
    };
    return now;
}

//  Every pass starts from the same state: the database vacuumed and
//  analyzed, then a checkpoint. A pass lasts 3 to 20 s; autovacuum's first
//  round over every table and a checkpoint forced by the WAL volume had
//  landed in whichever pass was running then (in one invocation all of
//  them in the 50 % pass, whose p99 ranged from 42 to 214 ms across
//  invocations), so which pass they hit decided a figure more than the
//  code did. The floor gets the same. Returns the background counters the
//  pass starts from (for s_background_print after it).
static s_background_t
s_settle (PGconn *conn)
{
    const char *steps [] = { "VACUUM (ANALYZE)", "CHECKPOINT" };
    for (int i = 0; i < 2; i++) {
        PGresult *result = PQexec (conn, steps [i]);
        if (PQresultStatus (result) != PGRES_COMMAND_OK)
            s_die (steps [i], PQresultErrorMessage (result));
        PQclear (result);
    }
    return s_background (conn);
}

//  The checkpoints and autovacuum runs since before, if any, under pass.
static void
s_background_print (PGconn *conn, const char *pass, s_background_t before)
{
    s_background_t after = s_background (conn);
    if (after.checkpoints > before.checkpoints || after.autovacuums > before.autovacuums)
        printf ("    during %s: %ld checkpoint(s), %ld autovacuum run(s)\n", pass,
                after.checkpoints - before.checkpoints, after.autovacuums - before.autovacuums);
}

//  Where PostgreSQL backends spent a pass: on a CPU, or waiting in the run
//  queue for one, read from /proc (PostgreSQL runs on this host).
typedef struct {
    double running;
    double waiting;
} s_sched_t;

//  Backend pid's seconds so far.
static s_sched_t
s_sched_of (pid_t pid)
{
    s_sched_t now = { 0, 0 };
    cpu_schedstat (pid, &now.running, &now.waiting);
    return now;
}

//  The archive's backends' (pg_stat_activity names them drift-archive).
static s_sched_t
s_sched_archive (PGconn *conn)
{
    s_sched_t now = { 0, 0 };
    PGresult *result = PQexec (conn, "SELECT pid FROM pg_stat_activity "
                                     "WHERE application_name = 'drift-archive'");
    for (int row = 0; PQresultStatus (result) == PGRES_TUPLES_OK && row < PQntuples (result);
         row++)
        cpu_schedstat ((pid_t) atoi (PQgetvalue (result, row, 0)), &now.running, &now.waiting);
    PQclear (result);
    return now;
}

//  Rows of this pass's reports committed (prefix%). Counted per tenant, so
//  the primary key's range serves it: a scan of every report the database
//  holds, four times a second, had been 2.5 % of PostgreSQL's time in a
//  saturated pass, load the bench put on what it measures.
static long
s_archived (PGconn *conn, const char *prefix)
{
    char pattern [80];
    snprintf (pattern, sizeof pattern, "%s-%%", prefix);
    return s_long (conn, "SELECT coalesce (sum (c.n), 0) FROM tenants t, LATERAL ("
                         "  SELECT count (*) AS n FROM reports r"
                         "   WHERE r.tenant_id = t.id AND r.report_id LIKE $1) c", pattern);
}

//  --------------------------------------------------------------------------
//  The broker's stages, as `drift status` sees them

#define WATCHED_STAGES 4             // normalize .. notify
static zsock_t *s_stats;             // DEALER to the broker, as the operator

//  Queued and in-flight envelopes of each stage (normalize .. notify) into
//  queued and in_flight; -1 when the broker did not answer in 500 ms.
static int
s_stage_queues (long *queued, long *in_flight)
{
    drp_header_t request = { .command = DRP_STATS };
    drp_send (zsock_resolve (s_stats), NULL, &request, NULL, 0);
    zpoller_t *poller = zpoller_new (s_stats, NULL);
    json_t *root = NULL;
    int64_t until = zclock_mono () + 500;
    while (!root && zclock_mono () < until && zpoller_wait (poller, 100)) {
        zmq_msg_t frames [2];
        int count = drp_recv_frames (zsock_resolve (s_stats), frames, 2, ZMQ_DONTWAIT);
        drp_header_t header;
        const char *reason;
        if (count == 2
        &&  drp_decode ((const uint8_t *) zmq_msg_data (&frames [0]), zmq_msg_size (&frames [0]),
                        &header, &reason) == 0
        &&  header.command == DRP_STATS)
            root = json_loadb ((const char *) zmq_msg_data (&frames [1]),
                               zmq_msg_size (&frames [1]), 0, NULL);
        drp_close_frames (frames, count, 2);
    }
    zpoller_destroy (&poller);
    if (!root)
        return -1;
    size_t index;
    json_t *stage;
    json_array_foreach (json_object_get (root, "stages"), index, stage) {
        const char *name = json_string_value (json_object_get (stage, "name"));
        for (int i = 0; name && i < WATCHED_STAGES; i++)
            if (streq (name, s_roles [STAGE_FIRST + i])) {
                queued [i] = (long) json_integer_value (json_object_get (stage, "queued"));
                in_flight [i] = (long) json_integer_value (json_object_get (stage, "in_flight"));
            }
    }
    json_decref (root);
    return 0;
}

static void
s_watch_start (const char *broker)
{
    char cert [700], broker_key [700], error [256];
    snprintf (cert, sizeof cert, "%s/keys/roles/operator.key", s_dir);
    snprintf (broker_key, sizeof broker_key, "%s/keys/broker.key", s_dir);
    if (link_curve_set (cert, broker_key, error, sizeof error))
        s_die ("no operator key for the broker's stats", error);
    s_stats = zsock_new (ZMQ_DEALER);
    zsock_set_linger (s_stats, 0);
    link_curve_apply (s_stats);
    zsock_connect (s_stats, "%s", broker);
}

//  One pass: every agent sends count / TENANTS reports at rate / TENANTS
//  (0: saturated); returns seconds from the first send until every row is
//  committed and the journal is empty. Send times into sent_us [tenant].
//  With watch (the broker's stages running), a saturated pass prints each
//  stage's mean queue, and csv gets each stage's queue every 250 ms.
static double
s_pass (PGconn *conn, journal_t *journal, const char *endpoint, const char *server_key,
        s_tenant_t *tenants, s_stack_t *stacks, const char *prefix, int count, double rate,
        int64_t **sent_us, FILE *csv, bool watch)
{
    s_agent_t agents [TENANTS];
    zactor_t *threads [TENANTS];
    for (int t = 0; t < TENANTS; t++) {
        agents [t] = (s_agent_t) { endpoint, server_key, &tenants [t], t, prefix, count / TENANTS,
                                   rate / TENANTS, sent_us [t], stacks + t * STACKS_PER_AGENT,
                                   0, 0 };
        threads [t] = zactor_new (s_agent, &agents [t]);
    }
    int64_t start = clock_wall_us ();
    for (int t = 0; t < TENANTS; t++)
        zstr_send (threads [t], "GO");
    int total = count / TENANTS * TENANTS;
    //  Agents whose every report ingest has acked: their reports are in the
    //  journal, so once it is empty, notify has finished them all.
    zpoller_t *finished = zpoller_new (NULL);
    for (int t = 0; t < TENANTS; t++)
        zpoller_add (finished, threads [t]);
    int agents_done = 0;
    bool empty = false;
    long archived = 0;
    int64_t length = -1, dead = 0;
    //  Where the work waits: each stage's queue summed over the samples.
    long queued_sum [WATCHED_STAGES] = { 0 }, flight_sum [WATCHED_STAGES] = { 0 };
    int samples = 0;
    int64_t next_sample = start;
    while (!empty) {
        //  Every 250 ms while agents send, then every 20 ms for the last
        //  acks, so the pass's end is not rounded up by a sample.
        void *which = zpoller_wait (finished, agents_done < TENANTS ? 250 : 20);
        while (which) {
            zsock_wait (which);
            zpoller_remove (finished, which);
            agents_done++;
            which = agents_done < TENANTS ? zpoller_wait (finished, 0) : NULL;
        }
        //  The journal's head by its key: a cheap look, where counting this
        //  pass's rows (35 ms a call) had been load the bench put on the
        //  database it measures, 4 % of the machine in a saturated pass.
        if (agents_done == TENANTS)
            empty = s_long (conn, "SELECT count (*) FROM (SELECT 1 FROM pgmq.q_" JOURNAL_QUEUE
                                  " ORDER BY msg_id LIMIT 1) head", NULL) == 0;
        if (clock_wall_us () < next_sample && !empty)
            continue;
        next_sample = clock_wall_us () + 250000;
        long queued [WATCHED_STAGES] = { 0 }, in_flight [WATCHED_STAGES] = { 0 };
        if (watch && s_stage_queues (queued, in_flight) == 0) {
            for (int i = 0; i < WATCHED_STAGES; i++) {
                queued_sum [i] += queued [i];
                flight_sum [i] += in_flight [i];
            }
            samples++;
        }
        //  pgmq.metrics counts the queue's table, dead rows included (65 ms
        //  a call in a saturated pass): only for the first run's CSV.
        if (csv) {
            archived = s_archived (conn, prefix);
            if (journal_lengths (journal, &length, &dead))
                s_die ("cannot read the journal's length", NULL);
            fprintf (csv, "%.2f,%ld,%lld", (double) (clock_wall_us () - start) / 1e6, archived,
                     (long long) length);
            for (int i = 0; i < WATCHED_STAGES; i++)
                fprintf (csv, ",%ld,%ld", queued [i], in_flight [i]);
            fprintf (csv, "\n");
        }
        if (clock_wall_us () - start > 600 * 1000000LL)
            s_die ("the pass did not finish in 10 minutes", prefix);
    }
    double seconds = (double) (clock_wall_us () - start) / 1e6;
    zpoller_destroy (&finished);
    //  An empty journal with a row missing is a report that failed for good
    //  (dead-lettered), not one that is late.
    archived = s_archived (conn, prefix);
    if (archived < total)
        s_die ("the journal is empty but reports are not archived (see the dead letters)",
               prefix);
    int refused = 0;
    for (int t = 0; t < TENANTS; t++) {
        refused += agents [t].refused;
        zactor_destroy (&threads [t]);
    }
    if (refused)
        s_die ("ingest refused reports", prefix);
    if (watch && samples && rate <= 0) {
        printf ("    %s: mean queued / in flight at the broker:", prefix);
        for (int i = 0; i < WATCHED_STAGES; i++)
            printf (" %s %.0f/%.0f", s_roles [STAGE_FIRST + i], (double) queued_sum [i] / samples,
                    (double) flight_sum [i] / samples);
        printf ("\n");
    }
    return seconds;
}

//  --------------------------------------------------------------------------
//  Latency

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static void
s_print_latency (const char *what, int64_t *latency, int count)
{
    if (count == 0) {
        printf ("    %-22s no samples\n", what);
        return;
    }
    qsort (latency, (size_t) count, sizeof *latency, s_compare);
    printf ("    %-22s p50 %6.1f ms  p99 %7.1f ms  max %7.1f ms  (%d reports)\n", what,
            latency [count / 2] / 1e3, latency [(int) (count * 0.99)] / 1e3,
            latency [count - 1] / 1e3, count);
}

//  Which report of the pass an id names: tenant and index, or -1.
static int
s_parse_id (const char *id, const char *prefix, int *tenant)
{
    size_t length = strlen (prefix);
    if (strncmp (id, prefix, length) || strncmp (id + length, "-t", 2))
        return -1;
    char *end;
    *tenant = (int) strtol (id + length + 2, &end, 10);
    if (*end != '-' || *tenant < 0 || *tenant >= TENANTS)
        return -1;
    return atoi (end + 1);
}

//  Send → committed row, from each row's commit time.
static void
s_row_latency (PGconn *conn, const char *prefix, int64_t **sent_us, int per_agent)
{
    char pattern [80];
    snprintf (pattern, sizeof pattern, "%s-%%", prefix);
    const char *params [] = { pattern };
    PGresult *result = PQexecParams (conn,
        "SELECT report_id, (extract (epoch FROM pg_xact_commit_timestamp (xmin)) * 1e6)::bigint,"
        "       (extract (epoch FROM received_at) * 1e6)::bigint,"
        "       (extract (epoch FROM normalized_at) * 1e6)::bigint,"
        "       (extract (epoch FROM scored_at) * 1e6)::bigint "
        "FROM reports WHERE report_id LIKE $1", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        s_die ("commit times", PQresultErrorMessage (result));
    size_t size = (size_t) PQntuples (result) * sizeof (int64_t) + 1;
    int64_t *latency = (int64_t *) malloc (size);
    //  The same time cut at each stage's stamp: where a tail comes from.
    int64_t *to_ingest = (int64_t *) malloc (size), *to_normalize = (int64_t *) malloc (size);
    int64_t *to_score = (int64_t *) malloc (size), *to_commit = (int64_t *) malloc (size);
    int count = 0;
    //  DRIFT_BENCH_E2E_LATENCY_CSV: every report's send time and latency, to
    //  see whether a tail is spread out or one stall.
    const char *csv_path = getenv ("DRIFT_BENCH_E2E_LATENCY_CSV");
    FILE *csv = csv_path && *csv_path ? fopen (csv_path, "a") : NULL;
    for (int row = 0; row < PQntuples (result); row++) {
        int tenant, i = s_parse_id (PQgetvalue (result, row, 0), prefix, &tenant);
        if (i >= 0 && i < per_agent) {
            int64_t committed = atoll (PQgetvalue (result, row, 1));
            int64_t received = atoll (PQgetvalue (result, row, 2));
            int64_t normalized = atoll (PQgetvalue (result, row, 3));
            int64_t scored = atoll (PQgetvalue (result, row, 4));
            latency [count] = committed - sent_us [tenant][i];
            to_ingest [count] = received - sent_us [tenant][i];
            to_normalize [count] = normalized - received;
            to_score [count] = scored - normalized;
            to_commit [count] = committed - scored;
            if (csv)
                fprintf (csv, "%s,%lld,%lld\n", prefix, (long long) sent_us [tenant][i],
                         (long long) latency [count]);
            count++;
        }
    }
    if (csv)
        fclose (csv);
    PQclear (result);
    s_print_latency ("send -> archived row", latency, count);
    s_print_latency ("  of which to ingest", to_ingest, count);
    s_print_latency ("  then to normalized", to_normalize, count);
    s_print_latency ("  then to scored", to_score, count);
    s_print_latency ("  then to committed", to_commit, count);
    free (latency);
    free (to_ingest);
    free (to_normalize);
    free (to_score);
    free (to_commit);
}

//  Send → email accepted: every message of the sink naming a report of the
//  pass, at its file's time (written before the sink answers 250).
static void
s_mail_latency (const char *mail_dir, const char *prefix, int64_t **sent_us, int per_agent)
{
    DIR *dir = opendir (mail_dir);
    if (!dir)
        s_die ("cannot read the mail directory", mail_dir);
    size_t capacity = 1024;
    int64_t *latency = (int64_t *) malloc (capacity * sizeof *latency);
    int count = 0;
    struct dirent *entry;
    char pattern [80];
    snprintf (pattern, sizeof pattern, "%s-t", prefix);
    while ((entry = readdir (dir))) {
        if (!strstr (entry->d_name, ".eml"))
            continue;
        char path [1024];
        snprintf (path, sizeof path, "%s/%s", mail_dir, entry->d_name);
        struct stat info;
        FILE *file = fopen (path, "r");
        if (!file || fstat (fileno (file), &info)) {
            if (file)
                fclose (file);
            continue;
        }
        int64_t accepted = (int64_t) info.st_mtim.tv_sec * 1000000 + info.st_mtim.tv_nsec / 1000;
        char line [1024];
        int64_t earliest = -1;
        while (fgets (line, sizeof line, file)) {
            char *at = strstr (line, pattern);
            if (!at)
                continue;
            int tenant, i = s_parse_id (at, prefix, &tenant);
            //  A digest or a message naming several reports: its first.
            if (i >= 0 && i < per_agent && (earliest < 0 || sent_us [tenant][i] < earliest))
                earliest = sent_us [tenant][i];
        }
        fclose (file);
        if (earliest < 0)
            continue;
        if ((size_t) count == capacity)
            latency = (int64_t *) realloc (latency, (capacity *= 2) * sizeof *latency);
        latency [count++] = accepted - earliest;
    }
    closedir (dir);
    s_print_latency ("send -> email accepted", latency, count);
    free (latency);
}

//  Wait until notify's outbox is empty (every email of the passes before
//  sent), so a latency pass does not queue behind them; print how many
//  were waiting and how fast they went.
static void
s_outbox_drain (const char *redis)
{
    kv_t *kv = kv_new (redis, 2000);
    if (!kv)
        s_die ("bad Redis URL", redis);
    int64_t started = clock_mono_ms ();
    long long first = -1, left = 0;
    do {
        redisReply *reply = kv_command (kv, "ZCARD drift:outbox:due");
        if (!reply || reply->type != REDIS_REPLY_INTEGER)
            s_die ("cannot read notify's outbox", redis);
        left = reply->integer;
        freeReplyObject (reply);
        if (first < 0)
            first = left;
        if (left)
            zclock_sleep (100);
    } while (left && clock_mono_ms () - started < 600000);
    double seconds = (clock_mono_ms () - started) / 1e3;
    if (first > 0)
        printf ("  notify's outbox: %lld emails of the passes before sent in %.1f s "
                "(%.0f emails/s)%s\n", first, seconds, first / (seconds > 0 ? seconds : 1),
                left ? ", NOT empty after 10 minutes" : "");
    kv_destroy (&kv);
}

//  DRIFT_BENCH_E2E_STATEMENTS=1 (scripts/bench loads pg_stat_statements):
//  PostgreSQL's execution time by statement, so where the database's time
//  goes shows beside the rates. Reset before a pass, printed after it.
static bool
s_statements_on (void)
{
    const char *on = getenv ("DRIFT_BENCH_E2E_STATEMENTS");
    return on && streq (on, "1");
}

static void
s_statements_reset (PGconn *conn)
{
    if (!s_statements_on ())
        return;
    PGresult *result = PQexec (conn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    PQclear (result);
    result = PQexec (conn, "SELECT pg_stat_statements_reset ()");
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        s_die ("pg_stat_statements is not loaded", PQerrorMessage (conn));
    PQclear (result);
}

static void
s_statements_print (PGconn *conn, const char *pass, int reports)
{
    if (!s_statements_on ())
        return;
    PGresult *result = PQexec (conn,
        "WITH s AS (SELECT query, calls, total_exec_time, rows FROM pg_stat_statements"
        "           WHERE query NOT LIKE '%pg_stat_statements%' AND toplevel)"
        " SELECT round (total_exec_time)::bigint, calls, rows,"
        "        round ((100 * total_exec_time / sum (total_exec_time) OVER ())::numeric, 1),"
        "        left (regexp_replace (query, '\\s+', ' ', 'g'), 100),"
        "        round ((sum (total_exec_time) OVER ())::numeric)"
        " FROM s ORDER BY total_exec_time DESC LIMIT 12");
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        s_die ("cannot read pg_stat_statements", PQerrorMessage (conn));
    printf ("  PostgreSQL's execution time in %s (%d reports): %s ms in all, by statement:\n",
            pass, reports, PQntuples (result) ? PQgetvalue (result, 0, 5) : "0");
    for (int row = 0; row < PQntuples (result); row++)
        printf ("    %7s ms %5s%% %7s calls %8s rows  %s\n", PQgetvalue (result, row, 0),
                PQgetvalue (result, row, 3), PQgetvalue (result, row, 1),
                PQgetvalue (result, row, 2), PQgetvalue (result, row, 4));
    PQclear (result);
    //  Inside the functions (drift_archive_batch's statements, ...): part
    //  of their callers' time above.
    result = PQexec (conn,
        "SELECT round (total_exec_time)::bigint, calls, rows,"
        "       left (regexp_replace (query, '\\s+', ' ', 'g'), 100)"
        " FROM pg_stat_statements WHERE NOT toplevel"
        " ORDER BY total_exec_time DESC LIMIT 8");
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result)) {
        printf ("    inside those functions, the costliest statements:\n");
        for (int row = 0; row < PQntuples (result); row++)
            printf ("    %7s ms        %7s calls %8s rows  %s\n", PQgetvalue (result, row, 0),
                    PQgetvalue (result, row, 1), PQgetvalue (result, row, 2),
                    PQgetvalue (result, row, 3));
    }
    PQclear (result);
}

//  --------------------------------------------------------------------------
//  The database-only floor

//  The archive's document for a check (what archive_doc makes of it after
//  normalize and score), without object or key.
static char *
s_floor_doc (const s_tenant_t *tenant, const char *id, const char *stack,
             const s_stack_t *state, int items, int64_t received_us)
{
    json_t *list = json_array ();
    for (int i = 0; i < items; i++) {
        char fingerprint [96], address [64];
        snprintf (fingerprint, sizeof fingerprint, "%s-sg_%d-%d", stack, i, state->version [i]);
        snprintf (address, sizeof address, "aws_security_group.sg_%d", i);
        json_array_append_new (list, json_pack (
            "{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}], s:i, s:i, s:[], s:b}",
            "fingerprint", fingerprint, "address", address, "type", "aws_security_group",
            "kind", "modified", "class", "real", "changes", "path", "ingress[0].cidr_blocks[0]",
            "op", "changed", "before", "\"10.0.0.0/8\"", "after", "\"10.1.0.0/16\"",
            "severity", i == 0 ? 4 : 2, "score", i == 0 ? 4 : 2, "reasons", "suppressed", false));
    }
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:{}, s:o}",
                             "tenant", tenant->id, "report_id", id, "stack", stack,
                             "engine", "terraform", "agent_key", tenant->agent_key,
                             "status", "ok", "received_us", (json_int_t) received_us,
                             "normalized_us", (json_int_t) received_us,
                             "scored_us", (json_int_t) received_us,
                             "severity", items ? 4 : 0, "score", items ? 4 : 0, "counts",
                             "items", list);
    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    return text;
}

//  count reports in batches of 64: journal accept, drift_archive_batch,
//  journal archive. Reports/s.
static double
s_floor (PGconn *app, journal_t *journal, s_tenant_t *tenants, s_stack_t *stacks,
         const char *prefix, int count)
{
    char *plan = (char *) malloc (PLAN_MAX);
    uint64_t random = 42;
    Drift__Envelope envelopes [FLOOR_BATCH], *pointers [FLOOR_BATCH];
    char ids [FLOOR_BATCH][64], names [FLOOR_BATCH][32];
    char *plans [FLOOR_BATCH], *docs [FLOOR_BATCH];
    int64_t journal_ids [FLOOR_BATCH];
    bool duplicates [FLOOR_BATCH];
    int64_t start = clock_wall_us ();
    for (int first = 0; first < count; first += FLOOR_BATCH) {
        int batch = count - first < FLOOR_BATCH ? count - first : FLOOR_BATCH;
        size_t joined_size = 3;
        for (int b = 0; b < batch; b++) {
            int n = first + b, t = n % TENANTS, i = n / TENANTS;
            int s = t + TENANTS * (i % STACKS_PER_AGENT);
            snprintf (ids [b], sizeof ids [b], "%s-t%d-%d", prefix, t, i);
            snprintf (names [b], sizeof names [b], "floor-stack-%04d", s);
            int items = s_check (&stacks [s], &random);
            size_t length = s_plan (plan, &stacks [s], items);
            plans [b] = strndup (plan, length);
            drift__envelope__init (&envelopes [b]);
            envelopes [b].tenant = tenants [t].id;
            envelopes [b].report_id = ids [b];
            envelopes [b].agent_key = tenants [t].agent_key;
            envelopes [b].stack = names [b];
            envelopes [b].received_us = clock_wall_us ();
            envelopes [b].body_case = DRIFT__ENVELOPE__BODY_RAW;
            envelopes [b].raw.data = (uint8_t *) plans [b];
            envelopes [b].raw.len = length;
            pointers [b] = &envelopes [b];
            docs [b] = s_floor_doc (&tenants [t], ids [b], names [b], &stacks [s], items,
                                    envelopes [b].received_us);
            joined_size += strlen (docs [b]) + 1;
        }
        if (journal_accept_begin (journal, pointers, batch, 30)
        ||  journal_accept_end (journal, journal_ids, duplicates))
            s_die ("floor: journal accept failed", NULL);
        char *joined = (char *) malloc (joined_size), *cursor = joined;
        *cursor++ = '[';
        for (int b = 0; b < batch; b++) {
            cursor += sprintf (cursor, "%s%s", b ? "," : "", docs [b]);
            free (docs [b]);
            free (plans [b]);
        }
        strcpy (cursor, "]");
        const char *params [] = { joined };
        PGresult *result = PQexecParams (app, "SELECT count (*) FROM drift_archive_batch ($1::jsonb)",
                                         1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_TUPLES_OK)
            s_die ("floor: drift_archive_batch failed", PQresultErrorMessage (result));
        PQclear (result);
        free (joined);
        if (journal_archive (journal, journal_ids, batch) < 0)
            s_die ("floor: journal archive failed", NULL);
    }
    free (plan);
    return count / ((double) (clock_wall_us () - start) / 1e6);
}

//  --------------------------------------------------------------------------
//  Setting up

//  url with its user replaced by user (caller frees).
static char *
s_url_as (const char *url, const char *user)
{
    const char *at = strchr (strstr (url, "://") + 3, '@');
    if (!at)
        s_die ("the database URL names no user", url);
    return zsys_sprintf ("postgresql://%s%s", user, at);
}

static void
s_setup (const char *url, const char *redis, int smtp_port, s_tenant_t *tenants)
{
    char keys [600];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    setenv ("DRIFT_KEYS_DIR", keys, 1);
    setenv ("DRIFT_EGRESS_ALLOW_HOSTS", "127.0.0.1", 1);
    char *migrate [] = { "drift", "migrate", "--database", (char *) url, NULL };
    char *init [] = { "drift", "keys", "init", "--keys-dir", keys, NULL };
    if (s_run (migrate) || s_run (init))
        s_die ("set-up failed (migrate, keys init)", NULL);
    char settings [256];
    snprintf (settings, sizeof settings, "{\"url\":\"smtp://127.0.0.1:%d\",\"starttls\":false,"
              "\"from\":\"drift@localhost\",\"to\":[\"ops@localhost\"]}", smtp_port);
    for (int t = 0; t < TENANTS; t++) {
        snprintf (tenants [t].name, sizeof tenants [t].name, "e2e-%d", t);
        snprintf (tenants [t].certificate, sizeof tenants [t].certificate, "%s/agent-%d.cert",
                  s_dir, t);
        char *tenant [] = { "drift", "tenant", "create", tenants [t].name, "--database",
                            (char *) url, NULL };
        char *issue [] = { "drift", "keys", "issue", "--tenant", tenants [t].name, "--name",
                           "agent", "--out", tenants [t].certificate, "--keys-dir", keys,
                           "--database", (char *) url, "--redis", (char *) redis, NULL };
        char *channel [] = { "drift", "channel", "add", tenants [t].name, "mail", "--kind",
                             "email", "--min-severity", "medium", "--settings", settings,
                             "--database", (char *) url, NULL };
        if (s_run (tenant) || s_run (issue) || s_run (channel))
            s_die ("set-up failed (tenant create, keys issue, channel add)", tenants [t].name);
    }
    PGconn *conn = db_connect (url, 10000);
    if (!conn)
        s_die ("cannot connect", url);
    for (int t = 0; t < TENANTS; t++) {
        const char *params [] = { tenants [t].name };
        PGresult *result = PQexecParams (conn,
            "SELECT t.id, a.public_key FROM tenants t JOIN agents a ON a.tenant_id = t.id "
            "WHERE t.name = $1", 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1)
            s_die ("no tenant and agent", tenants [t].name);
        snprintf (tenants [t].id, sizeof tenants [t].id, "%s", PQgetvalue (result, 0, 0));
        snprintf (tenants [t].agent_key, sizeof tenants [t].agent_key, "%s",
                  PQgetvalue (result, 0, 1));
        PQclear (result);
    }
    PGresult *result = PQexec (conn, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE "
                                     "rolname = 'drift_bench_e2e') THEN CREATE ROLE "
                                     "drift_bench_e2e LOGIN IN ROLE drift_app; END IF; END $$");
    if (PQresultStatus (result) != PGRES_COMMAND_OK)
        s_die ("cannot make the services' login", PQresultErrorMessage (result));
    PQclear (result);
    PQfinish (conn);
}


//  Role i of s_roles as a broker client (ingest with its agent endpoint).
static pid_t
s_start_role (int i, const char *broker, const char *agent_endpoint, const char *stats)
{
    char cert [700];
    snprintf (cert, sizeof cert, "%s/keys/roles/%s.key", s_dir, s_roles [i]);
    char *argv [24] = { "drift", (char *) s_roles [i], "--broker", (char *) broker,
                        "--broker-cert", cert, "--log-level", "warn" };
    int argc = 8;
    if (streq (s_roles [i], "ingest")) {
        const char *extra [] = { "--endpoint", agent_endpoint, "--stats", stats,
                                 "--rate", "100000000", "--burst", "100000000" };
        for (size_t e = 0; e < sizeof extra / sizeof extra [0]; e++)
            argv [argc++] = (char *) extra [e];
    }
    if (streq (s_roles [i], "notify")) {
        //  No per-channel rate limit (60 a minute by default): it would
        //  queue the passes' emails behind each other, and the latency to
        //  the email is the pipeline's, not the limiter's.
        const char *extra [] = { "--channel-rate", "0" };
        for (size_t e = 0; e < sizeof extra / sizeof extra [0]; e++)
            argv [argc++] = (char *) extra [e];
    }
    argv [argc] = NULL;
    return s_spawn (argv, s_log_path);
}

//  Every role, one process each, as the services' login.
static void
s_start_roles (const char *app_url, const char *redis, const char *broker,
               const char *agent_endpoint, const char *stats)
{
    char keys [600], path [700];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    setenv ("DRIFT_DATABASE", app_url, 1);
    setenv ("DRIFT_REDIS", redis, 1);
    snprintf (path, sizeof path, "%s/broker.key", keys);
    setenv ("DRIFT_BROKER_KEY", path, 1);
    setenv ("DRIFT_CURVE_CERT", path, 1);
    snprintf (path, sizeof path, "%s/broker-roles", keys);
    setenv ("DRIFT_CURVE_ROLES", path, 1);
    snprintf (path, sizeof path, "%s/mask.key", keys);
    setenv ("DRIFT_MASK_KEY_FILE", path, 1);
    snprintf (path, sizeof path, "%s/archive.key", keys);
    setenv ("DRIFT_SEAL_KEY", path, 1);
    snprintf (path, sizeof path, "%s/store", s_dir);
    mkdir (path, 0700);
    setenv ("DRIFT_STORE_ROOT", path, 1);
    snprintf (s_log_path, sizeof s_log_path, "%s/roles.log", s_dir);
    //  The hosts reach the broker on this machine's bridge address.
    char bind [160];
    snprintf (bind, sizeof bind, "%s%s%s", broker, s_hosts_up ? "," : "",
              s_hosts_up ? s_broker_remote : "");
    char *broker_argv [] = { "drift", "broker", "--bind", bind, "--log-level", "warn", NULL };
    s_pids [0] = s_spawn (broker_argv, s_log_path);
    zclock_sleep (500);
    for (int i = 1; i < ROLES; i++)
        s_pids [i] = s_start_role (i, broker, agent_endpoint, stats);
    zclock_sleep (2000);
    for (int i = 0; i < ROLES; i++)
        if (waitpid (s_pids [i], NULL, WNOHANG) != 0)
            s_die ("a role did not start; its log", s_log_path);
}

//  Role i as a worker on host h (bench/hosts): `ip netns exec`, the
//  broker at its bridge address, PostgreSQL through its Unix socket (the
//  one way from a namespace to a server that listens on loopback).
static pid_t
s_start_remote_role (int i, int h)
{
    char cert [700];
    snprintf (cert, sizeof cert, "%s/keys/roles/%s.key", s_dir, s_roles [i]);
    char *argv [] = { "ip", "netns", "exec", s_hosts.names [h], (char *) s_drift,
                      (char *) s_roles [i], "--broker", s_broker_remote, "--broker-cert", cert,
                      "--database", s_socket_url, "--log-level", "warn", NULL };
    return s_spawn_program ("ip", argv, s_log_path);
}

//  The extra workers' hosts, when the scaling passes need some: 0 when they
//  are up, else why not in why.
static int
s_hosts_start (const char *app_url, int port, char *why, size_t size)
{
    const char *socket = getenv ("DRIFT_BENCH_PG_SOCKET");
    if (!socket || !*socket) {
        snprintf (why, size, "PostgreSQL's socket directory is not known "
                  "(DRIFT_BENCH_PG_SOCKET, set by scripts/bench)");
        return -1;
    }
    if (hosts_make (&s_hosts, SCALE_MAX - 1, 214, why, size))
        return -1;
    char address [32];
    hosts_address (&s_hosts, -1, address, sizeof address);
    snprintf (s_broker_remote, sizeof s_broker_remote, "tcp://%s:%d", address, port);
    //  The same login, database and port, by the socket (host=DIR).
    PQconninfoOption *options = PQconninfoParse (app_url, NULL);
    const char *user = "", *database = "", *port_text = "";
    for (PQconninfoOption *option = options; option && option->keyword; option++) {
        const char *value = option->val ? option->val : "";
        if (streq (option->keyword, "user"))
            user = value;
        else
        if (streq (option->keyword, "dbname"))
            database = value;
        else
        if (streq (option->keyword, "port"))
            port_text = value;
    }
    s_socket_url = zsys_sprintf ("postgresql://%s@/%s?host=%s&port=%s", user, database,
                                 socket, port_text);
    PQconninfoFree (options);
    s_hosts_up = true;
    return 0;
}

//  Stop the four stages (broker workers, or bench_hops processes).
static void
s_stop (pid_t *pids, int count)
{
    for (int i = 0; i < count; i++)
        if (pids [i] > 0) {
            kill (pids [i], SIGTERM);
            waitpid (pids [i], NULL, 0);
            pids [i] = 0;
        }
}

//  The four stages as the broker's workers, as deployed.
static void
s_start_broker_stages (void)
{
    for (int i = STAGE_FIRST; i <= STAGE_LAST; i++)
        s_pids [i] = s_start_role (i, s_broker, NULL, NULL);
    zclock_sleep (1000);
    for (int i = STAGE_FIRST; i <= STAGE_LAST; i++)
        if (waitpid (s_pids [i], NULL, WNOHANG) != 0)
            s_die ("a stage did not start again; the roles' log", s_log_path);
}

//  The four stages between pgmq queues, and the bridge from the broker
//  into the first (bench/hops.c).
static void
s_start_hop_stages (void)
{
    char cert [700], broker_key [700];
    snprintf (cert, sizeof cert, "%s/keys/roles/normalize.key", s_dir);
    snprintf (broker_key, sizeof broker_key, "%s/keys/broker.key", s_dir);
    char *bridge [] = { "bench_hops", "bridge", s_broker, cert, broker_key, "hop_normalize",
                        NULL };
    s_hop_pids [0] = s_spawn_program (s_hops, bridge, s_log_path);
    for (int i = STAGE_FIRST; i <= STAGE_LAST; i++) {
        char input [32], output [32];
        snprintf (input, sizeof input, "hop_%s", s_roles [i]);
        snprintf (output, sizeof output, i < STAGE_LAST ? "hop_%s" : "-", s_roles [i + 1]);
        char *argv [] = { "bench_hops", (char *) s_roles [i], input, output, NULL };
        s_hop_pids [i - STAGE_FIRST + 1] = s_spawn_program (s_hops, argv, s_log_path);
    }
    zclock_sleep (1000);
    for (size_t i = 0; i < sizeof s_hop_pids / sizeof s_hop_pids [0]; i++)
        if (waitpid (s_hop_pids [i], NULL, WNOHANG) != 0)
            s_die ("a bench_hops process did not start; its log", s_log_path);
}

//  The queues between the stages of the old design, made by the owner.
static void
s_make_hop_queues (PGconn *owner)
{
    for (int i = STAGE_FIRST; i <= STAGE_LAST; i++) {
        char sql [128];
        snprintf (sql, sizeof sql, "SELECT pgmq.create ('hop_%s')", s_roles [i]);
        PGresult *result = PQexec (owner, sql);
        if (PQresultStatus (result) != PGRES_TUPLES_OK)
            s_die ("cannot make a hop queue", PQresultErrorMessage (result));
        PQclear (result);
    }
}

//  --------------------------------------------------------------------------
//  Scaling out: normalize and archive at several workers each

#define ROLE_NORMALIZE 2             // in s_roles
#define ROLE_ARCHIVE 4

//  CPU seconds used so far by role i's processes (its extra workers too),
//  in the kernel only if system.
static double
s_role_cpu (int i, bool system)
{
    double (*used) (pid_t) = system ? cpu_system_seconds : cpu_seconds;
    double seconds = used (s_pids [i]);
    int stage = i == ROLE_NORMALIZE ? 0 : i == ROLE_ARCHIVE ? 1 : -1;
    for (int w = 0; stage >= 0 && w < SCALE_MAX; w++)
        seconds += used (s_extra_pids [stage][w]);
    return seconds;
}

//  The CPU every process group has used so far: each role, PostgreSQL's
//  processes, Redis, the SMTP sink (DRIFT_BENCH_SINK_PID, from
//  scripts/bench) and the bench's agents (this process).
typedef struct {
    double role [ROLES];
    double archive_system;          // the archive's part in the kernel
    double postgres, redis, sink, agents;
} s_cpu_t;

static s_cpu_t
s_cpu_now (void)
{
    s_cpu_t now;
    for (int i = 0; i < ROLES; i++)
        now.role [i] = s_role_cpu (i, false);
    now.archive_system = s_role_cpu (ROLE_ARCHIVE, true);
    now.postgres = cpu_seconds_named ("postgres");
    now.redis = cpu_seconds_named ("redis-server");
    const char *sink = getenv ("DRIFT_BENCH_SINK_PID");
    now.sink = sink ? cpu_seconds ((pid_t) atoi (sink)) : 0;
    now.agents = cpu_seconds (getpid ());
    return now;
}

//  Each group's share of one core from before to after, over seconds, and
//  the machine's whole use in cores: a paced pass that keeps both cores
//  busy is at its knee whatever its share of the saturated rate.
static void
s_cpu_print (const char *pass, s_cpu_t before, s_cpu_t after, double seconds)
{
    double total = 0;
    printf ("    CPU in %s (%% of one core):", pass);
    for (int i = 0; i < ROLES; i++) {
        printf (" %s %.0f", s_roles [i], 100 * (after.role [i] - before.role [i]) / seconds);
        if (i == ROLE_ARCHIVE)
            printf (" (%.0f in the kernel)",
                    100 * (after.archive_system - before.archive_system) / seconds);
        total += after.role [i] - before.role [i];
    }
    printf (" postgres %.0f redis %.0f smtp-sink %.0f agents(bench) %.0f; in all %.2f cores\n",
            100 * (after.postgres - before.postgres) / seconds,
            100 * (after.redis - before.redis) / seconds,
            100 * (after.sink - before.sink) / seconds,
            100 * (after.agents - before.agents) / seconds,
            (total + after.postgres - before.postgres + after.redis - before.redis
             + after.sink - before.sink + after.agents - before.agents) / seconds);
    fflush (stdout);
}

//  The worker counts of DRIFT_BENCH_E2E_SCALE ("1,2,4"), those from 1 to
//  SCALE_MAX, into counts (SCALE_LIST_MAX at most); how many.
#define SCALE_LIST_MAX 8
static int
s_scale_list (const char *scale, int *counts)
{
    int count = 0;
    char *list = strdup (scale), *rest = list, *item;
    while ((item = strsep (&rest, ",")) && count < SCALE_LIST_MAX)
        if (atoi (item) >= 1 && atoi (item) <= SCALE_MAX)
            counts [count++] = atoi (item);
    free (list);
    return count;
}

//  One saturated pass with workers processes of normalize and of archive
//  (the others one each), printing the rate and each process group's share
//  of a core over the pass: the one near 100 % of its cores, or PostgreSQL,
//  is the limit.
static void
s_scale_pass (PGconn *conn, journal_t *journal, const char *endpoint, const char *server_key,
              s_tenant_t *tenants, s_stack_t *stacks, int count, int64_t **sent_us, int workers)
{
    //  Each extra pair on a host of its own when there are hosts.
    for (int w = 0; w < workers - 1; w++) {
        s_extra_pids [0][w] = s_hosts_up ? s_start_remote_role (ROLE_NORMALIZE, w)
                                         : s_start_role (ROLE_NORMALIZE, s_broker, NULL, NULL);
        s_extra_pids [1][w] = s_hosts_up ? s_start_remote_role (ROLE_ARCHIVE, w)
                                         : s_start_role (ROLE_ARCHIVE, s_broker, NULL, NULL);
    }
    zclock_sleep (1000);
    for (int w = 0; w < workers - 1; w++)
        for (int stage = 0; stage < 2; stage++)
            if (waitpid (s_extra_pids [stage][w], NULL, WNOHANG) != 0)
                s_die ("an extra worker did not start; the roles' log", s_log_path);
    s_settle (conn);
    s_cpu_t before = s_cpu_now ();
    char prefix [32];
    snprintf (prefix, sizeof prefix, "scale%d", workers);
    double seconds = s_pass (conn, journal, endpoint, server_key, tenants, stacks, prefix,
                             count, 0, sent_us, NULL, true);
    printf ("  normalize and archive at %d worker%s%s: %.0f reports/s\n",
            workers, workers > 1 ? "s" : "",
            workers > 1 && s_hosts_up ? " (the extra ones on other hosts)" : "",
            count / seconds);
    s_cpu_print ("it", before, s_cpu_now (), seconds);
    s_stop (s_extra_pids [0], SCALE_MAX);
    s_stop (s_extra_pids [1], SCALE_MAX);
}

int
main (int argc, char **argv)
{
    if (argc < 5) {
        fprintf (stderr, "usage: bench_e2e DATABASE_URL REDIS_URL SMTP_PORT MAIL_DIR "
                         "[reports] [runs]\n");
        return 2;
    }
    const char *url = argv [1], *redis = argv [2], *mail_dir = argv [4];
    int smtp_port = atoi (argv [3]);
    int count = argc > 5 ? atoi (argv [5]) : 20000;
    int runs = argc > 6 ? atoi (argv [6]) : 3;
    if (count < 1000)
        count = 1000;
    if (runs < 1 || runs > RUNS_MAX)
        runs = 3;
    count = count / TENANTS * TENANTS;
    char beside [4096];
    snprintf (beside, sizeof beside, "%s/drift", dirname (strdup (argv [0])));
    s_drift = getenv ("DRIFT_BIN") ? getenv ("DRIFT_BIN") : beside;
    static char hops_beside [4096];
    snprintf (hops_beside, sizeof hops_beside, "%s/bench_hops", dirname (strdup (argv [0])));
    s_hops = hops_beside;
    zsys_handler_set (NULL);
    log_init ("bench", "logfmt", "warn");
    const char *base = getenv ("DRIFT_BENCH_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/bench-e2e-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp (s_dir))
        s_die ("cannot make a directory", s_dir);

    s_tenant_t tenants [TENANTS];
    s_setup (url, redis, smtp_port, tenants);
    char *app_url = s_url_as (url, "drift_bench_e2e");
    char agent_endpoint [64], stats [64], server_key [41], path [700];
    const char *broker = s_broker;
    snprintf (s_broker, sizeof s_broker, "tcp://127.0.0.1:%d", s_free_port ());
    snprintf (agent_endpoint, sizeof agent_endpoint, "tcp://127.0.0.1:%d", s_free_port ());
    snprintf (stats, sizeof stats, "tcp://127.0.0.1:%d", s_free_port ());
    snprintf (path, sizeof path, "%s/keys/server.key", s_dir);
    zcert_t *server = zcert_load (path);
    if (!server)
        s_die ("no server key", path);
    snprintf (server_key, sizeof server_key, "%s", zcert_public_txt (server));
    zcert_destroy (&server);
    //  DRIFT_BENCH_E2E_SCALE: the worker counts to measure, "1,2,4" unless
    //  set ("" skips it). Extra workers go on other hosts when they can.
    const char *scale = getenv ("DRIFT_BENCH_E2E_SCALE") ? getenv ("DRIFT_BENCH_E2E_SCALE")
                                                         : "1,2,4";
    int scales [SCALE_LIST_MAX];
    int scale_count = s_scale_list (scale, scales), most = 0;
    for (int i = 0; i < scale_count; i++)
        most = scales [i] > most ? scales [i] : most;
    char hosts_why [256] = "";
    if (most > 1) {
        char reason [200];
        if (s_hosts_start (app_url, atoi (strrchr (s_broker, ':') + 1), reason, sizeof reason))
            snprintf (hosts_why, sizeof hosts_why, "every worker on this host: %s", reason);
    }
    s_start_roles (app_url, redis, broker, agent_endpoint, stats);
    s_watch_start (broker);

    PGconn *conn = db_connect (url, 10000), *app = db_connect (app_url, 10000);
    journal_t *journal = journal_new (app_url, 10000);
    if (!conn || !app || !journal)
        s_die ("cannot connect", app_url);
    PGresult *setting = PQexec (conn, "SELECT current_setting ('synchronous_commit'), "
                                      "current_setting ('track_commit_timestamp')");
    printf ("end to end on PostgreSQL %d, synchronous_commit=%s, track_commit_timestamp=%s: "
            "%d reports a run over %d stacks of %d tenants, median of %d\n",
            PQserverVersion (conn), PQgetvalue (setting, 0, 0), PQgetvalue (setting, 0, 1),
            count, STACKS, TENANTS, runs);
    fflush (stdout);
    PQclear (setting);

    s_stack_t *stacks = (s_stack_t *) malloc (STACKS * sizeof *stacks);
    s_stack_t *floor_stacks = (s_stack_t *) malloc (STACKS * sizeof *floor_stacks);
    s_stacks_init (stacks);
    s_stacks_init (floor_stacks);
    int per_agent = count / TENANTS;
    int64_t *sent_us [TENANTS];
    for (int t = 0; t < TENANTS; t++)
        sent_us [t] = (int64_t *) calloc ((size_t) per_agent, sizeof (int64_t));

    const char *csv_path = getenv ("DRIFT_BENCH_CSV") ? getenv ("DRIFT_BENCH_CSV")
                                                      : "bench-e2e-lag.csv";
    FILE *csv = fopen (csv_path, "w");
    if (csv)
        fprintf (csv, "seconds,archived,journal_length,normalize_queued,normalize_in_flight,"
                      "score_queued,score_in_flight,archive_queued,archive_in_flight,"
                      "notify_queued,notify_in_flight\n");
    double saturated [RUNS_MAX], floor [RUNS_MAX], hops [RUNS_MAX];
    char prefix [32];
    s_make_hop_queues (conn);
    //  A first pass creates the stacks and their first drift: every stack
    //  new, every item seen for the first time, an email for each drifted
    //  stack. That is a cold start, once per stack in a server's life, not
    //  the saturated steady state the runs measure: printed, not in the
    //  medians (it had been the first run, the slowest of three, so the
    //  median was the slower of the other two). The floor gets the same on
    //  its own stacks.
    int cold_count = count < 2 * STACKS ? count / TENANTS * TENANTS : 2 * STACKS;
    double cold = cold_count / s_pass (conn, journal, agent_endpoint, server_key, tenants,
                                       stacks, "cold", cold_count, 0, sent_us, NULL, true);
    double cold_floor = s_floor (app, journal, tenants, floor_stacks, "floorcold", cold_count);
    printf ("  first pass (%d reports, every stack new; not in the medians): end to end %.0f "
            "reports/s, database-only floor %.0f reports/s\n", cold_count, cold, cold_floor);
    fflush (stdout);
    s_outbox_drain (redis);
    for (int run = 0; run < runs; run++) {
        snprintf (prefix, sizeof prefix, "sat%d", run);
        bool last = run == runs - 1;
        s_background_t before = s_settle (conn);
        if (last)
            s_statements_reset (conn);
        s_sched_t sched = s_sched_archive (conn);
        s_cpu_t cpu = s_cpu_now ();
        double seconds = s_pass (conn, journal, agent_endpoint, server_key, tenants, stacks,
                                 prefix, count, 0, sent_us, run == 0 ? csv : NULL, true);
        saturated [run] = count / seconds;
        s_cpu_t cpu_after = s_cpu_now ();
        s_sched_t sched_after = s_sched_archive (conn);
        double busy [2] = { (sched_after.running - sched.running) / seconds,
                            (sched_after.waiting - sched.waiting) / seconds };
        s_background_print (conn, "the end-to-end pass", before);
        if (last)
            s_statements_print (conn, "the last saturated pass", count);
        snprintf (prefix, sizeof prefix, "floor%d", run);
        before = s_settle (conn);
        if (last)
            s_statements_reset (conn);
        sched = s_sched_of (PQbackendPID (app));
        floor [run] = s_floor (app, journal, tenants, floor_stacks, prefix, count);
        sched_after = s_sched_of (PQbackendPID (app));
        double floor_seconds = count / floor [run];
        s_background_print (conn, "the floor", before);
        if (last)
            s_statements_print (conn, "its database-only floor", count);
        //  The same reports through the old design: pgmq at every hop.
        s_stop (s_pids + STAGE_FIRST, STAGE_LAST - STAGE_FIRST + 1);
        s_start_hop_stages ();
        snprintf (prefix, sizeof prefix, "hops%d", run);
        before = s_settle (conn);
        seconds = s_pass (conn, journal, agent_endpoint, server_key, tenants, stacks, prefix,
                          count, 0, sent_us, NULL, false);
        hops [run] = count / seconds;
        s_background_print (conn, "the pgmq-at-every-hop pass", before);
        s_stop (s_hop_pids, (int) (sizeof s_hop_pids / sizeof s_hop_pids [0]));
        s_start_broker_stages ();
        printf ("  run %d: end to end %.0f reports/s, database-only floor %.0f reports/s, "
                "pgmq at every hop %.0f reports/s\n",
                run + 1, saturated [run], floor [run], hops [run]);
        printf ("    the archive's backends: %.0f %% of the pass on a CPU, %.0f %% waiting for "
                "one; the floor's: %.0f %%, %.0f %%\n", 100 * busy [0], 100 * busy [1],
                100 * (sched_after.running - sched.running) / floor_seconds,
                100 * (sched_after.waiting - sched.waiting) / floor_seconds);
        s_cpu_print ("the end-to-end pass", cpu, cpu_after, count / saturated [run]);
        if (run == 0)
            s_print_rss ("after the first run");
    }
    if (csv) {
        fclose (csv);
        printf ("  journal lag of the first run (every 250 ms): %s\n", csv_path);
    }
    double rate = median_of (saturated, runs), floor_rate = median_of (floor, runs);
    printf ("  saturated end to end: %.0f reports/s archived; database-only floor %.0f "
            "reports/s; ratio %.2f\n", rate, floor_rate, rate / floor_rate);
    double hops_rate = median_of (hops, runs);
    printf ("  the same through pgmq at every hop (the design replaced): %.0f reports/s; "
            "the broker's design %.2f times that\n", hops_rate, rate / hops_rate);
    s_print_rss ("after every saturated run");

    //  The stages were started again after the last hops pass. A started
    //  stage's first batches plan its statements and fill its caches, which
    //  held the first reports of a latency pass about 0.4 s (every one sent
    //  in its first 0.4 s archived at once, at the end of that stall): a
    //  short unmeasured pass first, so the latency passes measure a running
    //  pipeline.
    s_pass (conn, journal, agent_endpoint, server_key, tenants, stacks, "warm", 20 * TENANTS, 0,
            sent_us, NULL, true);
    for (int share = 25; share <= 50; share += 25) {
        double paced = rate * share / 100.0;
        //  About 20 seconds of sending.
        int paced_count = (int) (paced * 20) / TENANTS * TENANTS;
        if (paced_count < 10 * TENANTS)
            paced_count = 10 * TENANTS;
        if (paced_count > count)
            paced_count = count;
        snprintf (prefix, sizeof prefix, "lat%d", share);
        s_outbox_drain (redis);
        s_background_t before = s_settle (conn);
        if (share == 50)
            s_statements_reset (conn);
        s_cpu_t cpu = s_cpu_now ();
        double seconds = s_pass (conn, journal, agent_endpoint, server_key, tenants, stacks,
                                 prefix, paced_count, paced, sent_us, NULL, true);
        s_cpu_t cpu_after = s_cpu_now ();
        printf ("  at %d %% of saturation (%.0f reports/s, %d reports):\n", share, paced,
                paced_count);
        s_background_print (conn, "it", before);
        s_cpu_print ("it", cpu, cpu_after, seconds);
        if (share == 50)
            s_statements_print (conn, "the 50 % pass", paced_count);
        //  The sink may still be writing the last messages.
        zclock_sleep (2000);
        s_row_latency (conn, prefix, sent_us, paced_count / TENANTS);
        s_mail_latency (mail_dir, prefix, sent_us, paced_count / TENANTS);
    }
    if (scale_count)
        printf ("  scaling out (one saturated pass of %d reports each; %s):\n", count,
                s_hosts_up ? "each extra pair of workers on a host of its own, a network "
                             "namespace linked to this one's bridge" : hosts_why);
    for (int i = 0; i < scale_count; i++)
        s_scale_pass (conn, journal, agent_endpoint, server_key, tenants, stacks, count,
                      sent_us, scales [i]);
    s_print_rss ("at the end");
    //  What the journal had to replay: a stage's failure is recorded per entry.
    PGresult *failures = PQexec (conn, "SELECT stage, count (*), min (reason) FROM drift_failures "
                                       "GROUP BY stage ORDER BY stage");
    for (int row = 0; PQresultStatus (failures) == PGRES_TUPLES_OK
                      && row < PQntuples (failures); row++)
        printf ("  entries failed at %s and replayed: %s (e.g. %.120s)\n",
                PQgetvalue (failures, row, 0), PQgetvalue (failures, row, 1),
                PQgetvalue (failures, row, 2));
    PQclear (failures);

    for (int i = ROLES - 1; i >= 0; i--) {
        kill (s_pids [i], SIGTERM);
        waitpid (s_pids [i], NULL, 0);
    }
    zsock_destroy (&s_stats);
    journal_destroy (&journal);
    PQfinish (conn);
    PQfinish (app);
    for (int t = 0; t < TENANTS; t++)
        free (sent_us [t]);
    free (stacks);
    free (floor_stacks);
    hosts_remove (&s_hosts);
    zstr_free (&s_socket_url);
    zstr_free (&app_url);
    char *remove = zsys_sprintf ("rm -rf '%s'", s_dir);
    if (system (remove) != 0)
        fprintf (stderr, "bench_e2e: could not remove %s\n", s_dir);
    zstr_free (&remove);
    return 0;
}
