/*  csv: the text of the API's CSV exports (GET /api/v1/drift?format=csv,
    GET /api/v1/history?format=csv), written as RFC 4180 says: CRLF after
    every record, a field quoted when it holds a comma, a double quote, CR
    or LF, and a double quote inside a quoted field doubled.

    Exports are opened in spreadsheets, where a cell that starts with =, +,
    -, @, TAB or CR is read as a formula (OWASP's "CSV injection"): a value
    that came from an agent or a user (a resource address, a stack name)
    is written with a leading apostrophe in that case, so it shows as the
    text it is. Values the API itself makes (numbers, times) are written as
    they are.
*/
#ifndef API_CSV_H_INCLUDED
#define API_CSV_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _csv_t csv_t;

//  A new, empty document; NULL when out of memory.
csv_t *csv_new (void);
void csv_destroy (csv_t **self_p);

//  One field of the current record: text from outside (formula-guarded),
//  or a value the API made (numbers, times). NULL is an empty field.
void csv_text (csv_t *self, const char *value);
void csv_value (csv_t *self, const char *value);
//  End the current record.
void csv_end_record (csv_t *self);

//  The document (malloc'd, the caller's; *size its length); NULL if memory
//  ran out on the way. Nothing more can be written afterwards.
char *csv_take (csv_t *self, size_t *size);

#endif
