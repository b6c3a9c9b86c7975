/*  engineutil: what the agent's tests share to run the real terraform on a
    throwaway stack that needs no provider download (terraform_data), kept
    entirely under the test's own directory.
*/
#ifndef ENGINEUTIL_H_INCLUDED
#define ENGINEUTIL_H_INCLUDED

//  The path of name on PATH (caller frees), NULL if none is executable.
char *eu_which (const char *name);

//  Run argv in directory with stdout and stderr appended to log_path; its
//  exit code (128 + signal if killed).
int eu_run_tool (const char *directory, const char *log_path, char *const argv []);

//  The last 400 bytes of a file on one line, for a message (caller frees).
char *eu_tail (const char *path);

//  Write text to path (replacing it), asserting it can be written.
void eu_write_file (const char *path, const char *text);

//  Point HOME, the CLI configuration and TF_DATA_DIR under root and clear
//  the TF_ settings that would change a run, so Terraform reads and writes
//  nothing outside root.
void eu_isolate (const char *root);

//  Make root/stack with main_tf, `terraform init` and `terraform apply` it;
//  the stack's path (caller frees). When terraform is not installed or init
//  fails (offline) the test is skipped, saying why, after teardown (a
//  skipped test's .fini does not run). A failed apply fails the test.
char *eu_real_stack (const char *root, const char *main_tf, void (*teardown) (void));

#endif
