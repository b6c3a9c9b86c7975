/*  error: the one shape of an error answer of the dashboard API; see
    error.h. Apart from the server, so the handlers and their helpers
    (params, resource) that answer errors do not depend on the server that
    calls them.
*/
#include "error.h"

int
api_error (json_t **reply, int status, const char *message, const char *field)
{
    const char *code;
    switch (status) {
        case 400: code = "bad_request"; break;
        case 401: code = "unauthorized"; break;
        case 403: code = "forbidden"; break;
        case 404: code = "not_found"; break;
        case 405: code = "method_not_allowed"; break;
        case 409: code = "conflict"; break;
        case 413: code = "payload_too_large"; break;
        case 415: code = "unsupported_media_type"; break;
        case 421: code = "misdirected_request"; break;
        case 429: code = "too_many_requests"; break;
        case 502: code = "bad_gateway"; break;
        case 503: code = "unavailable"; break;
        default: code = "internal"; break;
    }
    json_t *error = json_pack ("{s:s, s:s}", "code", code, "message", message);
    if (field)
        json_object_set_new (error, "field", json_string (field));
    *reply = json_pack ("{s:o}", "error", error);
    return status;
}
