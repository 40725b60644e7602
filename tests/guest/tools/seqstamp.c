// SPDX-License-Identifier: GPL-2.0
/*
 * seqstamp write DEV OFF N: write 4 KiB blocks to DEV from byte OFF, one
 * after the other (O_DIRECT, each done before the next), block
 * (k - 1) mod N for k = 1, 2, 3..., each stamped with k all over, until
 * SIGTERM or SIGINT; then print the last k written.
 *
 * seqstamp check DEV OFF N: DEV (a checkpoint of the device written, or
 * the device) must show the N blocks as they were at one moment of the
 * writing: with T the largest stamp found, every block holds the last
 * stamp written to it up to T (0 if none was), whole.  Prints "T", or
 * names the first block that does not and exits 1; 2 on a usage or I/O
 * error.  A checkpoint taken while the device is written must pass.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLK	4096
#define WORDS	(BLK / sizeof(uint64_t))

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int do_write(int fd, off_t off, uint64_t n, uint64_t *buf)
{
	uint64_t k, i;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (k = 1; !stop; k++) {
		for (i = 0; i < WORDS; i++)
			buf[i] = k;
		if (pwrite(fd, buf, BLK, off + (off_t)((k - 1) % n) * BLK) !=
		    BLK) {
			if (errno == EINTR && stop)
				break;
			perror("seqstamp: write");
			return 2;
		}
	}
	printf("%llu\n", (unsigned long long)(k - 1));
	return 0;
}

static int do_check(int fd, off_t off, uint64_t n, uint64_t *buf)
{
	uint64_t *stamp = calloc(n, sizeof(*stamp)), b, i, t = 0, want;

	if (!stamp) {
		perror("seqstamp");
		return 2;
	}
	for (b = 0; b < n; b++) {
		if (pread(fd, buf, BLK, off + (off_t)b * BLK) != BLK) {
			perror("seqstamp: read");
			return 2;
		}
		for (i = 1; i < WORDS; i++) {
			if (buf[i] != buf[0]) {
				printf("block %llu torn: stamps %llu and %llu\n",
				       (unsigned long long)b,
				       (unsigned long long)buf[0],
				       (unsigned long long)buf[i]);
				return 1;
			}
		}
		stamp[b] = buf[0];
		if (stamp[b] > t)
			t = stamp[b];
	}
	for (b = 0; b < n; b++) {
		want = t >= b + 1 ? b + 1 + n * ((t - b - 1) / n) : 0;
		if (stamp[b] != want) {
			printf("block %llu holds stamp %llu, not %llu (the last "
			       "written to it up to %llu)\n",
			       (unsigned long long)b,
			       (unsigned long long)stamp[b],
			       (unsigned long long)want, (unsigned long long)t);
			return 1;
		}
	}
	printf("%llu\n", (unsigned long long)t);
	free(stamp);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t *buf;
	int fd, w;

	if (argc != 5 || (strcmp(argv[1], "write") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: seqstamp write|check DEV OFF N\n");
		return 2;
	}
	w = !strcmp(argv[1], "write");
	fd = open(argv[2], (w ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&buf, BLK, BLK)) {
		perror(argv[2]);
		return 2;
	}
	if (w)
		return do_write(fd, strtoll(argv[3], NULL, 0),
				strtoull(argv[4], NULL, 0), buf);
	return do_check(fd, strtoll(argv[3], NULL, 0),
			strtoull(argv[4], NULL, 0), buf);
}
