/*  secret: the one reader of secret files; see secret.h for the rules.

    The descriptor is opened once and every check is made on it, so a file
    swapped between the check and the read cannot be read unchecked. The
    bytes go straight into the caller's buffer: there is no copy to wipe.
*/
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  The reason a file of this kind cannot be a secret file.
static const char *
s_kind (mode_t mode)
{
    if (S_ISDIR (mode))
        return "a directory";
    if (S_ISFIFO (mode))
        return "a fifo";
    if (S_ISSOCK (mode))
        return "a socket";
    if (S_ISCHR (mode) || S_ISBLK (mode))
        return "a device";
    return "not a regular file";
}

//  The checks on the open descriptor; 0, or -1 with the reason.
static int
s_check (int fd, const char *path, char *error, size_t error_size)
{
    struct stat info;
    if (fstat (fd, &info) == -1) {
        snprintf (error, error_size, "secret file %s: cannot stat it: %s", path,
                  strerror (errno));
        return -1;
    }
    if (!S_ISREG (info.st_mode)) {
        snprintf (error, error_size, "secret file %s is %s: a secret is a regular file", path,
                  s_kind (info.st_mode));
        return -1;
    }
    if (info.st_uid != geteuid ()) {
        snprintf (error, error_size,
                  "secret file %s is owned by uid %u, not by the running user (uid %u): "
                  "chown it to the user the role runs as", path, (unsigned) info.st_uid,
                  (unsigned) geteuid ());
        return -1;
    }
    if (info.st_mode & 077) {
        snprintf (error, error_size,
                  "secret file %s has mode %04o: others may read it (chmod 600 %s)", path,
                  (unsigned) (info.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

int
secret_read (const char *path, uint8_t *buffer, size_t capacity, size_t *size,
             char *error, size_t error_size)
{
    char ignored [1];
    if (!error) {
        error = ignored;
        error_size = sizeof ignored;
    }
    *size = 0;
    if (capacity < 2) {
        snprintf (error, error_size, "secret file %s: no room to read it into", path);
        return -1;
    }
    //  O_NONBLOCK: opening a fifo for reading would otherwise wait for a
    //  writer, before fstat could refuse it.
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd == -1) {
        if (errno == ELOOP)
            snprintf (error, error_size, "secret file %s is a symbolic link: name the file "
                      "itself", path);
        else
            snprintf (error, error_size, "cannot open secret file %s: %s", path,
                      strerror (errno));
        sodium_memzero (buffer, capacity);
        return -1;
    }
    int rc = s_check (fd, path, error, error_size);
    size_t got = 0;
    //  capacity bytes at most: reading the last one means the file is too
    //  large, and one byte is kept for the NUL.
    while (rc == 0 && got < capacity) {
        ssize_t n = read (fd, buffer + got, capacity - got);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf (error, error_size, "cannot read secret file %s: %s", path,
                      strerror (errno));
            rc = -1;
        }
        else
            got += (size_t) n;
    }
    close (fd);
    if (rc == 0 && got == capacity) {
        snprintf (error, error_size, "secret file %s is larger than %zu bytes", path,
                  capacity - 1);
        rc = -1;
    }
    else
    if (rc == 0 && got == 0) {
        snprintf (error, error_size, "secret file %s is empty", path);
        rc = -1;
    }
    if (rc) {
        sodium_memzero (buffer, capacity);
        return -1;
    }
    buffer [got] = 0;
    *size = got;
    return 0;
}
