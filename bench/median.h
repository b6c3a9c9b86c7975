/*  median: the one statistic every benchmark prints, so runs that the
    machine disturbed do not move the figure.
*/
#ifndef MEDIAN_H_INCLUDED
#define MEDIAN_H_INCLUDED

//  Median of count values (sorts them in place).
double median_of (double *values, int count);

#endif
