/*  curlinit: libcurl set up once per process; see curlinit.h. */
#include "curlinit.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_rc = -1;

static void
s_cleanup (void)
{
    curl_global_cleanup ();
}

static void
s_init (void)
{
    if (sodium_init () < 0 || curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    atexit (s_cleanup);
    s_rc = 0;
}

int
curlinit_once (void)
{
    pthread_once (&s_once, s_init);
    return s_rc;
}
