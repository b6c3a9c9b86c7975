/*  params: the query parameters and body fields of a dashboard API request,
    checked and converted before a handler uses them (api/api.h).

    Everything here is untrusted input: a value is accepted only when it is
    exactly what the contract says (docs/API.md), never "close enough", so
    `limit=1e9`, `limit=-1`, `limit= 5`, `severity=x'; drop` and
    `since=yesterday` are each a 400 that names the parameter, before any
    of them gets near SQL (where values are parameters anyway). Numbers are
    plain decimal digits; times are ISO 8601 UTC as the API writes them.
*/
#define _GNU_SOURCE             // timegm
#include "resource.h"
#include "../lib/agent_link.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A 400 naming the parameter: "limit must be ..." with field set.
static int
s_refuse (json_t **reply, const char *name, const char *what)
{
    char message [256];
    snprintf (message, sizeof message, "%s %s", name, what);
    return api_error (reply, 400, message, name);
}

//  The query parameter's text, or NULL when absent. A parameter given as
//  anything but a string (the server builds strings only) counts as given
//  and wrong: "" never matches what a handler wants.
static const char *
s_query_text (api_call_t *call, const char *name)
{
    json_t *value = call->query ? json_object_get (call->query, name) : NULL;
    if (!value)
        return NULL;
    return json_is_string (value) ? json_string_value (value) : "";
}

int
api_query_int (api_call_t *call, const char *name, long low, long high, long fallback,
               long *value, json_t **reply)
{
    const char *text = s_query_text (call, name);
    if (!text) {
        *value = fallback;
        return 0;
    }
    char what [128];
    snprintf (what, sizeof what, "must be an integer from %ld to %ld", low, high);
    //  Digits only (a leading '-' only where negatives are allowed): strtol
    //  alone would take blanks, '+', and stop quietly at "1e9"'s 'e'.
    const char *digits = text [0] == '-' && low < 0 ? text + 1 : text;
    size_t length = strlen (digits);
    if (length == 0 || length > 18)
        return s_refuse (reply, name, what);
    for (size_t i = 0; i < length; i++)
        if (!isdigit ((unsigned char) digits [i]))
            return s_refuse (reply, name, what);
    errno = 0;
    long number = strtol (text, NULL, 10);
    if (errno || number < low || number > high)
        return s_refuse (reply, name, what);
    *value = number;
    return 0;
}

int
api_query_enum (api_call_t *call, const char *name, const char *const *allowed,
                const char *fallback, const char **value, json_t **reply)
{
    const char *text = s_query_text (call, name);
    if (!text) {
        *value = fallback;
        return 0;
    }
    char what [256] = "must be one of";
    size_t used = strlen (what);
    for (size_t i = 0; allowed [i]; i++) {
        if (strcmp (text, allowed [i]) == 0) {
            *value = allowed [i];
            return 0;
        }
        int written = snprintf (what + used, sizeof what - used, "%s %s", i ? "," : "",
                                allowed [i]);
        if (written > 0 && (size_t) written < sizeof what - used)
            used += (size_t) written;
    }
    return s_refuse (reply, name, what);
}

int
api_query_time (api_call_t *call, const char *name, const char **value, json_t **reply)
{
    const char *text = s_query_text (call, name);
    *value = NULL;
    if (!text)
        return 0;
    if (!resource_time (text, NULL))
        return s_refuse (reply, name, "must be a time in ISO 8601 UTC, e.g. 2026-11-27T10:00:00Z");
    *value = text;
    return 0;
}

int
api_json_string (json_t *body, const char *name, bool required, size_t max_length,
                 const char **value, json_t **reply)
{
    json_t *field = body ? json_object_get (body, name) : NULL;
    *value = NULL;
    if (!field || json_is_null (field)) {
        if (required)
            return s_refuse (reply, name, "is required");
        return 0;
    }
    char what [96];
    snprintf (what, sizeof what, "must be a string of 1 to %zu bytes", max_length);
    if (!json_is_string (field))
        return s_refuse (reply, name, what);
    const char *text = json_string_value (field);
    size_t length = json_string_length (field);
    //  "\u0000" inside a JSON string would cut the text short in C and SQL.
    if (length == 0 || length > max_length || strlen (text) != length)
        return s_refuse (reply, name, what);
    *value = text;
    return 0;
}

int
api_json_only (json_t *body, const char *const *known, json_t **reply)
{
    if (!body)
        return 0;
    if (!json_is_object (body))
        return api_error (reply, 400, "the body must be a JSON object", NULL);
    const char *key;
    json_t *field;
    json_object_foreach (body, key, field) {
        (void) field;
        bool found = false;
        for (size_t i = 0; known [i] && !found; i++)
            found = strcmp (key, known [i]) == 0;
        if (!found) {
            char message [160];
            snprintf (message, sizeof message, "unknown field %.100s", key);
            return api_error (reply, 400, message, key);
        }
    }
    return 0;
}

bool
api_is_uuid (const char *text)
{
    return agent_link_valid_uuid (text);
}
