/*  httpsink: an HTTP receiver in the test process; see httpsink.h. */
#include "httpsink.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct _httpsink_t {
    struct MHD_Daemon *daemon;          // the server
    pthread_mutex_t lock;               // guards what follows (MHD's thread writes it)
    int statuses [16];                  // answers, in order, the last repeating
    int status_count;                   // how many
    httpsink_request_t requests [HTTPSINK_MAX_REQUESTS]; // what came
    int count;                          // how many
};

//  A request being received: its body grows chunk by chunk.
typedef struct {
    char *body;                         // so far
    size_t size;                        // bytes in it
} s_upload_t;

static char *
s_header (struct MHD_Connection *connection, const char *name)
{
    const char *value = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, name);
    return value ? strdup (value) : NULL;
}

static enum MHD_Result
s_handle (void *argument, struct MHD_Connection *connection, const char *url,
          const char *method, const char *version, const char *data, size_t *data_size,
          void **state)
{
    (void) method;
    (void) version;
    httpsink_t *self = (httpsink_t *) argument;
    s_upload_t *upload = (s_upload_t *) *state;
    if (!upload) {
        *state = calloc (1, sizeof (s_upload_t));
        return MHD_YES;
    }
    if (*data_size) {
        upload->body = (char *) realloc (upload->body, upload->size + *data_size + 1);
        memcpy (upload->body + upload->size, data, *data_size);
        upload->size += *data_size;
        upload->body [upload->size] = 0;
        *data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock (&self->lock);
    int index = self->count;
    int status = self->statuses [index < self->status_count ? index : self->status_count - 1];
    if (index < HTTPSINK_MAX_REQUESTS) {
        httpsink_request_t *request = &self->requests [index];
        request->signature = s_header (connection, "X-Drift-Signature");
        request->delivery = s_header (connection, "X-Drift-Delivery");
        request->event = s_header (connection, "X-Drift-Event");
        request->authorization = s_header (connection, "Authorization");
        request->path = strdup (url);
        const char *identifier_type = MHD_lookup_connection_value (connection,
                                                                   MHD_GET_ARGUMENT_KIND,
                                                                   "identifierType");
        request->identifier_type = identifier_type ? strdup (identifier_type) : NULL;
        request->body = upload->body ? upload->body : strdup ("");
        request->size = upload->size;
        request->status = status;
        upload->body = NULL;
        self->count++;
    }
    pthread_mutex_unlock (&self->lock);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        2, (void *) "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result queued = MHD_queue_response (connection, (unsigned int) status, response);
    MHD_destroy_response (response);
    return queued;
}

static void
s_completed (void *argument, struct MHD_Connection *connection, void **state,
             enum MHD_RequestTerminationCode code)
{
    (void) argument;
    (void) connection;
    (void) code;
    s_upload_t *upload = (s_upload_t *) *state;
    if (upload) {
        free (upload->body);
        free (upload);
        *state = NULL;
    }
}

httpsink_t *
httpsink_start (const int *statuses, int count, char *url)
{
    httpsink_t *self = (httpsink_t *) calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->statuses [0] = 200;
    self->status_count = 1;
    for (int i = 0; statuses && i < count && i < 16; i++)
        self->statuses [i] = statuses [i];
    if (statuses && count > 0)
        self->status_count = count < 16 ? count : 16;
    int port = tu_free_port ();
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    self->daemon = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t) port, NULL, NULL,
                                     s_handle, self, MHD_OPTION_SOCK_ADDR, &address,
                                     MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                                     MHD_OPTION_END);
    cr_assert (self->daemon, "the HTTP receiver did not start on port %d", port);
    snprintf (url, 64, "http://127.0.0.1:%d/hook", port);
    return self;
}

void
httpsink_stop (httpsink_t **self_p)
{
    httpsink_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon (self->daemon);
    for (int i = 0; i < self->count; i++) {
        free (self->requests [i].signature);
        free (self->requests [i].delivery);
        free (self->requests [i].event);
        free (self->requests [i].authorization);
        free (self->requests [i].path);
        free (self->requests [i].identifier_type);
        free (self->requests [i].body);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
httpsink_count (httpsink_t *self)
{
    pthread_mutex_lock (&self->lock);
    int count = self->count;
    pthread_mutex_unlock (&self->lock);
    return count;
}

int
httpsink_request (httpsink_t *self, int index, httpsink_request_t *request)
{
    pthread_mutex_lock (&self->lock);
    int rc = index >= 0 && index < self->count ? 0 : -1;
    if (rc == 0)
        *request = self->requests [index];
    pthread_mutex_unlock (&self->lock);
    return rc;
}
