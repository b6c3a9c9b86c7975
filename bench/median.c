/*  median: see median.h. */
#include "median.h"

#include <stdlib.h>

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double
median_of (double *values, int count)
{
    qsort (values, (size_t) count, sizeof *values, s_compare);
    return count % 2 ? values [count / 2] : (values [count / 2 - 1] + values [count / 2]) / 2;
}
