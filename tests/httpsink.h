/*  httpsink: a real HTTP receiver for tests that send webhooks: a
    libmicrohttpd daemon in the test process on 127.0.0.1, which records
    every request (headers and whole body) and answers from a script of
    status codes (e.g. 500 then 200), the last one repeating.
*/
#ifndef HTTPSINK_H_INCLUDED
#define HTTPSINK_H_INCLUDED

#include <stddef.h>

#define HTTPSINK_MAX_REQUESTS 64

typedef struct {
    char *signature;         // X-Drift-Signature, or NULL
    char *delivery;          // X-Drift-Delivery, or NULL
    char *event;             // X-Drift-Event, or NULL
    char *authorization;     // Authorization, or NULL
    char *path;              // the request's path, without its query
    char *identifier_type;   // the query's identifierType (Opsgenie), or NULL
    char *body;              // the whole body, NUL-terminated
    size_t size;             // its size
    int status;              // what was answered
} httpsink_request_t;

typedef struct _httpsink_t httpsink_t;

//  A receiver on a free port answering statuses (count of them, the last
//  repeating; NULL: always 200). Its URL in url [64].
httpsink_t *httpsink_start (const int *statuses, int count, char *url);
void httpsink_stop (httpsink_t **self_p);

//  Requests received so far; a copy of request index (fields owned by the
//  sink, valid until it stops). -1 if there is no such request.
int httpsink_count (httpsink_t *self);
int httpsink_request (httpsink_t *self, int index, httpsink_request_t *request);

#endif
