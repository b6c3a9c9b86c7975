/*  runner: one refresh-only check by Terraform or OpenTofu; see runner.h.

    How a command is started, bounded and drained is agent/process.c, shared
    with remediation; this file holds what the check runs and makes of it.
*/
#define _GNU_SOURCE                 // asprintf
#include "runner.h"
#include "process.h"
#include "../lib/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  The three commands

//  A JSON string of text that may not be UTF-8: then its non-ASCII bytes
//  become '?', since a report must be valid JSON.
static json_t *
s_json_text (const char *text, size_t size)
{
    json_t *string = json_stringn (text, size);
    if (!string) {
        char *copy = (char *) malloc (size + 1);
        assert (copy);
        for (size_t index = 0; index < size; index++)
            copy [index] = (unsigned char) text [index] < 0x80 ? text [index] : '?';
        string = json_stringn (copy, size);
        free (copy);
    }
    return string;
}

//  A failed plan's stream is the report; make sure it says why. When it
//  holds no error (the engine died, or failed before it could speak JSON),
//  append one diagnostic line in Terraform's own shape: the summary says how
//  the plan ended, the detail is the end of its stderr.
static void
s_explain_failure (const process_t *self, process_capture_t *out, const process_capture_t *err, int status)
{
    if (out->data && strstr (out->data, "\"@level\":\"error\""))
        return;
    char *ending = process_ending (status);
    char *summary;
    if (asprintf (&summary, "%s plan %s", self->engine_name, ending ? ending : "failed") < 0)
        summary = NULL;
    char *message;
    if (asprintf (&message, "Error: %s", summary ? summary : "plan failed") < 0)
        message = NULL;
    //  The detail: the last 4 KiB of stderr, starting on a character.
    const char *detail = err->data ? err->data : "";
    size_t detail_size = err->size;
    if (detail_size > 4096) {
        detail += detail_size - 4096;
        detail_size = 4096;
        while (detail_size && ((unsigned char) *detail & 0xC0) == 0x80) {
            detail++;
            detail_size--;
        }
    }
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r (&now.tv_sec, &utc);
    char timestamp [64];
    size_t length = strftime (timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf (timestamp + length, sizeof timestamp - length, ".%06ldZ", now.tv_nsec / 1000);
    json_t *line = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:o}}",
                              "@level", "error",
                              "@message", message ? message : "Error: plan failed",
                              "@module", "drift-agent",
                              "@timestamp", timestamp,
                              "type", "diagnostic",
                              "diagnostic",
                                  "severity", "error",
                                  "summary", summary ? summary : "plan failed",
                                  "detail", s_json_text (detail, detail_size));
    char *text = line ? json_dumps (line, JSON_COMPACT) : NULL;
    if (text) {
        if (out->size && out->data [out->size - 1] != '\n')
            process_capture_add (out, "\n", 1);
        process_capture_add (out, text, strlen (text));
        process_capture_add (out, "\n", 1);
    }
    free (text);
    json_decref (line);
    free (message);
    free (summary);
    free (ending);
}

//  `ENGINE version -json`'s terraform_version (OpenTofu uses the same key);
//  "" when it cannot be had: the report goes out without it.
static char *
s_engine_version (process_t *self)
{
    if (self->deadline_ms <= process_now_ms ())
        return strdup ("");
    char *argv [] = { (char *) self->engine_name, (char *) "version", (char *) "-json", NULL };
    process_capture_t out = process_capture (65536, false);
    process_capture_t err = process_capture (PROCESS_STDERR_TAIL, true);
    char *error = NULL;
    int status;
    char *version = NULL;
    if (process_run (self, argv, &out, &err, &status, &error) == 0
    &&  WIFEXITED (status) && WEXITSTATUS (status) == 0) {
        json_t *root = json_loadb (out.data ? out.data : "", out.size, 0, NULL);
        const char *value = json_string_value (json_object_get (root, "terraform_version"));
        if (value)
            version = strdup (value);
        json_decref (root);
    }
    free (error);
    process_capture_reset (&out);
    process_capture_reset (&err);
    return version ? version : strdup ("");
}

//  Plan into the private directory, then show the plan (or keep the stream
//  of a failed plan), then ask the version.
static int
s_check (process_t *self, const char *temporary, runner_result_t *result)
{
    char *plan_file, *out_option;
    if (asprintf (&plan_file, "%s/plan.bin", temporary) < 0)
        return process_fail (&result->error, "runner: out of memory");
    if (asprintf (&out_option, "-out=%s", plan_file) < 0) {
        free (plan_file);
        return process_fail (&result->error, "runner: out of memory");
    }
    char *plan_argv [] = {
        (char *) self->engine_name, (char *) "plan", (char *) "-refresh-only",
        (char *) "-lock=false", (char *) "-input=false", (char *) "-no-color",
        (char *) "-json", out_option, NULL
    };
    char *show_argv [] = {
        (char *) self->engine_name, (char *) "show", (char *) "-json", plan_file, NULL
    };
    process_capture_t out = process_capture (RUNNER_MAX_OUTPUT, false);
    process_capture_t err = process_capture (PROCESS_STDERR_TAIL, true);
    int status;
    int rc = process_run (self, plan_argv, &out, &err, &status, &result->error);
    //  Terraform 1.11 answers 2 for a refresh-only plan even without
    //  -detailed-exitcode; either way the plan file is written.
    bool planned = rc == 0 && WIFEXITED (status)
                && (WEXITSTATUS (status) == 0 || WEXITSTATUS (status) == 2);
    if (rc == 0 && !planned) {
        s_explain_failure (self, &out, &err, status);
        result->format = RUNNER_PLAN_STREAM;
    }
    if (planned) {
        process_capture_reset (&out);
        process_capture_reset (&err);
        rc = process_run (self, show_argv, &out, &err, &status, &result->error);
    }
    if (planned && rc == 0 && (!WIFEXITED (status) || WEXITSTATUS (status) != 0)) {
        char reason [PROCESS_REASON_MAX + 1];
        char *ending = process_ending (status);
        rc = process_fail (&result->error, "%s show -json of the plan of '%s' %s: %s",
                     self->engine_name, self->directory, ending ? ending : "failed",
                     process_reason (&err, reason, sizeof reason));
        free (ending);
    }
    else
    if (planned && rc == 0) {
        json_error_t json_error;
        json_t *plan = json_loadb (out.data ? out.data : "", out.size, 0, &json_error);
        if (json_is_object (plan))
            result->format = RUNNER_PLAN_JSON;
        else
            rc = process_fail (&result->error, "%s show -json of the plan of '%s' printed no "
                         "JSON object: %s", self->engine_name, self->directory,
                         plan ? "not an object" : json_error.text);
        json_decref (plan);
    }
    if (rc == 0) {
        result->payload = out.data ? out.data : strdup ("");
        result->size = out.size;
        out.data = NULL;
        result->engine_version = s_engine_version (self);
    }
    process_capture_reset (&out);
    process_capture_reset (&err);
    free (out_option);
    free (plan_file);
    return rc;
}

//  Remove the private directory and whatever the engine left in it.
static void
s_remove_temporary (const char *path)
{
    DIR *directory = opendir (path);
    if (directory) {
        struct dirent *entry;
        while ((entry = readdir (directory)))
            if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, ".."))
                unlinkat (dirfd (directory), entry->d_name, 0);
        closedir (directory);
    }
    if (rmdir (path))
        log_warn ("runner could not remove its plan directory, which may hold secrets",
                  "path", path, "error", strerror (errno));
}

//  --------------------------------------------------------------------------
//  Public

int
runner_check (const runner_config_t *config, runner_result_t *result)
{
    assert (config && config->engine && config->directory && result);
    memset (result, 0, sizeof *result);
    if (config->timeout_s <= 0)
        return process_fail (&result->error, "check of '%s': timeout must be positive, not %d s",
                       config->directory, config->timeout_s);
    struct stat info;
    if (stat (config->directory, &info))
        return process_fail (&result->error, "cannot check stack directory '%s': %s",
                       config->directory, strerror (errno));
    if (!S_ISDIR (info.st_mode))
        return process_fail (&result->error, "cannot check stack directory '%s': not a directory",
                       config->directory);
    process_t self;
    if (process_open (&self, config->engine, config->directory, "check", config->timeout_s,
                      &result->error)) {
        process_close (&self);
        return -1;
    }
    const char *tmpdir = getenv ("TMPDIR");
    char *temporary;
    int rc = -1;
    if (asprintf (&temporary, "%s/drift-runner-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") < 0)
        process_fail (&result->error, "runner: out of memory");
    else {
        if (!mkdtemp (temporary))
            process_fail (&result->error, "cannot make a private directory for the plan of '%s' "
                    "(%s): %s", config->directory, temporary, strerror (errno));
        else {
            rc = s_check (&self, temporary, result);
            s_remove_temporary (temporary);
        }
        free (temporary);
    }
    process_close (&self);
    return rc;
}

void
runner_result_free (runner_result_t *result)
{
    free (result->payload);
    free (result->engine_version);
    free (result->error);
    memset (result, 0, sizeof *result);
}
