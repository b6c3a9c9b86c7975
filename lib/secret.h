/*  secret: the one reader of secret files (keys, tokens, passwords).

    Every file drift reads a secret from goes through secret_read, so every
    secret has the same rules and the same errors:

    - the file is opened with O_NOFOLLOW | O_CLOEXEC: a symbolic link is
      refused (whoever can swap a link chooses what we trust), and no child
      process inherits the descriptor;
    - the checks are made on the open descriptor (fstat), so the file
      checked is the file read: it must be a regular file (not a directory,
      fifo or device, which could block or never end), owned by the
      process's effective uid, with no permission for group or others
      (mode & 077 == 0, i.e. 0600 or 0400);
    - root gets no exception: a root process refuses a file of another user
      too. A file someone else owns can be replaced by them at any time, and
      the compose images run every role as their own user (uid 10001),
      owner of the files scripts/install.sh hands over; the host-side
      commands run as root read files root owns (install.sh takes the keys
      back before `drift keys init` and hands them over again after);
    - it reads in a loop (EINTR retried) at most the caller's cap, refuses
      an empty file and one larger than the cap, and wipes the buffer
      (sodium_memzero) on every refusal.

    The error names the file and the reason, and what to do where there is
    one thing to do ("chmod 600 FILE").

    secret_cert_load reads a CURVE certificate file with a secret key
    (zcert's ZPL text) the same way and builds the zcert from the text,
    rather than handing the path to zcert_load (which would open the file
    itself with no check).
*/
#ifndef SECRET_H_INCLUDED
#define SECRET_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

//  The largest CURVE certificate file read (ZPL text: the keys and some
//  metadata come to well under 1 KiB).
#define SECRET_CERT_MAX 8192

//  Read the secret file at path into buffer, which holds capacity bytes:
//  the file may hold 1 to capacity - 1 bytes, and a NUL is put after them
//  (text secrets are strings at once). On 0, *size is the bytes read.
//  -1 with the file and the reason in error (which may be NULL) and the
//  whole buffer wiped.
int secret_read (const char *path, uint8_t *buffer, size_t capacity, size_t *size,
                 char *error, size_t error_size);

//  The CURVE certificate with its secret key from path, read by
//  secret_read: path_secret if that exists, else path (zcert_load's
//  choice). NULL with the reason in error if the file is refused, is not
//  a certificate or holds no secret key. Destroy it with
//  secret_cert_destroy, which wipes the keys first.
zcert_t *secret_cert_load (const char *path, char *error, size_t error_size);

//  Wipe the certificate's secret key and destroy it; nulls *cert_p.
void secret_cert_destroy (zcert_t **cert_p);

#endif
