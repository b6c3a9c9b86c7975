/*  cpu: CPU time used by processes, read from /proc, for benches that say
    which process was the limit (a process near 100 % of a core is).
*/
#ifndef BENCH_CPU_H_INCLUDED
#define BENCH_CPU_H_INCLUDED

#include <sys/types.h>

//  CPU seconds (user + system) process pid has used so far; 0 if it is gone.
double cpu_seconds (pid_t pid);

//  The part of cpu_seconds spent in the kernel (system time): a process
//  whose share here grows is held up by its system calls, not its code.
double cpu_system_seconds (pid_t pid);

//  CPU seconds used so far by every process whose name (comm) is name, such
//  as "postgres" (the server and its backends, including ended ones' share
//  only while they live: sample around a pass whose connections persist).
double cpu_seconds_named (const char *name);

//  Seconds process pid has spent on a CPU and waiting in the run queue for
//  one (/proc/PID/schedstat), added to *running and *waiting: how much a
//  busy process was held back by others. -1 if unreadable.
int cpu_schedstat (pid_t pid, double *running, double *waiting);

#endif
