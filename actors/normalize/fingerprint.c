/*  fingerprint: BLAKE2b over a drift's identity; see fingerprint.h. */
#include "fingerprint.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Changes the fingerprint of everything if the recipe ever changes.
#define FINGERPRINT_CONTEXT "drift-fingerprint-1"

static void
s_field (crypto_generichash_state *state, const char *text)
{
    if (!text)
        text = "";
    uint64_t length = strlen (text);
    uint8_t prefix [8];
    for (int index = 0; index < 8; index++)
        prefix [index] = (uint8_t) (length >> (8 * index));
    crypto_generichash_update (state, prefix, sizeof prefix);
    crypto_generichash_update (state, (const uint8_t *) text, length);
}

static int
s_compare (const void *a, const void *b)
{
    const fingerprint_part_t *left = (const fingerprint_part_t *) a;
    const fingerprint_part_t *right = (const fingerprint_part_t *) b;
    int order = strcmp (left->path ? left->path : "", right->path ? right->path : "");
    if (order)
        return order;
    return strcmp (left->after ? left->after : "", right->after ? right->after : "");
}

int
fingerprint_compute (const char *tenant, const char *stack, const char *address,
                     fingerprint_part_t *parts, size_t count,
                     char text [FINGERPRINT_TEXT_SIZE])
{
    if (count)
        qsort (parts, count, sizeof *parts, s_compare);
    uint8_t values [FINGERPRINT_BYTES];
    crypto_generichash_state state;
    if (crypto_generichash_init (&state, NULL, 0, sizeof values))
        return -1;
    for (size_t index = 0; index < count; index++)
        s_field (&state, parts [index].after);
    crypto_generichash_final (&state, values, sizeof values);

    uint8_t hash [FINGERPRINT_BYTES];
    if (crypto_generichash_init (&state, NULL, 0, sizeof hash))
        return -1;
    s_field (&state, FINGERPRINT_CONTEXT);
    s_field (&state, tenant);
    s_field (&state, stack);
    s_field (&state, address);
    for (size_t index = 0; index < count; index++)
        s_field (&state, parts [index].path);
    crypto_generichash_update (&state, values, sizeof values);
    crypto_generichash_final (&state, hash, sizeof hash);
    sodium_bin2hex (text, FINGERPRINT_TEXT_SIZE, hash, sizeof hash);
    return 0;
}
