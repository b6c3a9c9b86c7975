/*  curlinit: libcurl's global set-up, once per process, and its clean-up at
    exit.

    curl_global_init is not thread-safe and counts its calls: three modules
    (mail, webhook, the S3 store) each calling it once would need three
    clean-ups, and without one OpenSSL's global state is reported as leaked
    when the process ends. So every module asks here: the first call
    initialises libcurl (and libsodium) and registers one curl_global_cleanup
    with atexit; later calls only read the result.
*/
#ifndef CURLINIT_H_INCLUDED
#define CURLINIT_H_INCLUDED

//  0 when libcurl and libsodium are ready, -1 if either failed to start.
int curlinit_once (void);

#endif
