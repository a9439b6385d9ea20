/* clock.h - the one clock of libpoky and pokyd (L0), in seconds as doubles.
 *
 * clock_mono: CLOCK_MONOTONIC, for durations, deadlines and timeouts (a
 * wall-clock step neither stretches nor cuts them).  clock_real: the wall
 * clock, for times stored and shown; clock_real_ms the same truncated to
 * the millisecond, as the API shows record times (a record's time then
 * reads back exactly as it was written). */
#ifndef POKY_CLOCK_H
#define POKY_CLOCK_H

double clock_mono(void);
double clock_real(void);
double clock_real_ms(void);

#endif
