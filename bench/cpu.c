/*  cpu: CPU time used by processes, from /proc/PID/stat (see cpu.h). */
#define _GNU_SOURCE
#include "cpu.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  utime + stime of /proc/PID/stat in seconds (stime alone if
//  system_only), and its comm into name (size bytes) when name is not
//  NULL; 0 if unreadable.
static double
s_stat (const char *pid, char *name, size_t size, bool system_only)
{
    char path [64], line [1024];
    snprintf (path, sizeof path, "/proc/%s/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    size_t length = fread (line, 1, sizeof line - 1, file);
    fclose (file);
    line [length] = 0;
    //  comm is in parentheses and may hold spaces: the fields go on after
    //  the last ')'.
    char *open = strchr (line, '('), *close = strrchr (line, ')');
    if (!open || !close || close < open)
        return 0;
    if (name)
        snprintf (name, size, "%.*s", (int) (close - open - 1), open + 1);
    unsigned long utime = 0, stime = 0;
    //  After ')': state (3), then fields 4..13, utime (14), stime (15).
    if (sscanf (close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                &utime, &stime) != 2)
        return 0;
    return (double) ((system_only ? 0 : utime) + stime) / (double) sysconf (_SC_CLK_TCK);
}

double
cpu_seconds (pid_t pid)
{
    char text [32];
    snprintf (text, sizeof text, "%d", (int) pid);
    return pid > 0 ? s_stat (text, NULL, 0, false) : 0;
}

double
cpu_system_seconds (pid_t pid)
{
    char text [32];
    snprintf (text, sizeof text, "%d", (int) pid);
    return pid > 0 ? s_stat (text, NULL, 0, true) : 0;
}

double
cpu_seconds_named (const char *name)
{
    DIR *proc = opendir ("/proc");
    if (!proc)
        return 0;
    double total = 0;
    struct dirent *entry;
    while ((entry = readdir (proc)))
        if (entry->d_name [0] >= '0' && entry->d_name [0] <= '9') {
            char comm [64] = "";
            double seconds = s_stat (entry->d_name, comm, sizeof comm, false);
            if (strcmp (comm, name) == 0)
                total += seconds;
        }
    closedir (proc);
    return total;
}

int
cpu_schedstat (pid_t pid, double *running, double *waiting)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/schedstat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    unsigned long long on_cpu = 0, queued = 0;
    int fields = fscanf (file, "%llu %llu", &on_cpu, &queued);
    fclose (file);
    if (fields != 2)
        return -1;
    *running += (double) on_cpu / 1e9;
    *waiting += (double) queued / 1e9;
    return 0;
}
