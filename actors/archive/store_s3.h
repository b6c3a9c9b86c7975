/*  store_s3: the S3-compatible backend of actors/archive/store.

    Objects live in one bucket of an S3-compatible server (AWS S3, MinIO,
    s3rver in the tests), under an optional key prefix. Each call is one
    HTTP request over libcurl, signed with AWS Signature Version 4 by
    libcurl itself (CURLOPT_AWS_SIGV4); we add the x-amz-content-sha256
    header that libcurl leaves to the caller. A PUT is atomic on S3: the
    object is the old one or the new one, never half, and once the server
    answers 200 it is durable, which is the promise of store_put.

    The store keeps one curl handle (one kept-alive connection) and is used
    by one thread at a time, like every store_t.
*/
#ifndef STORE_S3_H_INCLUDED
#define STORE_S3_H_INCLUDED

#include "store.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *endpoint;     // scheme://host[:port], no path: "http://127.0.0.1:9000"
    const char *region;       // signing region, "us-east-1"
    const char *bucket;       // the bucket that holds every object
    const char *access_key;   // access key id
    const char *secret_key;   // secret access key (copied; never logged)
    bool path_style;          // true: ENDPOINT/BUCKET/KEY; false: BUCKET.HOST/KEY
    const char *prefix;       // key prefix inside the bucket, "" or NULL for none
    long timeout_ms;          // per request, connect and transfer; 0 means 10000
} store_s3_config_t;

//  The largest object store_get fetches; a bigger one is an error.
#define STORE_S3_MAX_OBJECT (1024L * 1024 * 1024)

//  A store over the bucket config names. NULL with the reason in error when
//  a setting is missing or malformed; nothing is sent to the server yet.
//  Never puts the secret key in error.
store_t *store_new_s3 (const store_s3_config_t *config, char *error, size_t error_size);

#endif
