/*  error: the dashboard API's error answer, {"error": {code, message,
    field?}} (docs/API.md), used by the server (api/server.c) and by every
    handler and helper (api/params.c, api/resource.c, ...). Its own file so
    that answering an error depends on nothing else of the API.
*/
#ifndef API_ERROR_H_INCLUDED
#define API_ERROR_H_INCLUDED

#include <jansson.h>

//  An error reply: sets *reply to {"error": {code, message, field?}} and
//  returns status. code is derived from status (400 bad_request, 401
//  unauthorized, 403 forbidden, 404 not_found, 405 method_not_allowed, 409
//  conflict, 413 payload_too_large, 415 unsupported_media_type, 421
//  misdirected_request, 429 too_many_requests, 502 bad_gateway, 503
//  unavailable, 500 internal).
int api_error (json_t **reply, int status, const char *message, const char *field);

#endif
