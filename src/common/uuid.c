/* uuid.c - UUIDv4 and UUIDv7 (see uuid.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "poky/crypto.h"
#include "poky/str.h"
#include "poky/uuid.h"

static void
format(const unsigned char b[16], char out[UUID_STR_LEN + 1])
{
	char hex[33];

	str_hex(hex, b, 16);
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[36] = '\0';
}

enum poky_err
uuid_v4(char out[UUID_STR_LEN + 1])
{
	unsigned char b[16];

	if (crypto_random(b, sizeof(b)) != POKY_OK)
		return POKY_ERR_CRYPTO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	format(b, out);
	return POKY_OK;
}

static pthread_mutex_t v7_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t v7_last_ms;
static uint16_t v7_seq;

enum poky_err
uuid_v7(char out[UUID_STR_LEN + 1])
{
	unsigned char b[16];
	struct timespec ts;
	uint64_t ms;
	uint16_t seq;

	if (crypto_random(b, sizeof(b)) != POKY_OK)
		return POKY_ERR_CRYPTO;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	/* A 12-bit counter in rand_a keeps ids from one process ordered
	 * within a millisecond (RFC 9562, method 1); if it runs out, borrow
	 * the next millisecond. */
	pthread_mutex_lock(&v7_lock);
	if (ms <= v7_last_ms) {
		if (++v7_seq > 0x0fff) {
			v7_last_ms++;
			v7_seq = 0;
		}
		ms = v7_last_ms;
	} else {
		v7_last_ms = ms;
		v7_seq = 0;
	}
	seq = v7_seq;
	pthread_mutex_unlock(&v7_lock);
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | ((seq >> 8) & 0x0f));
	b[7] = (unsigned char)(seq & 0xff);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	format(b, out);
	return POKY_OK;
}

int
uuid_valid(const char *s)
{
	for (int i = 0; i < UUID_STR_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return s[UUID_STR_LEN] == '\0';
}
