// SPDX-License-Identifier: GPL-2.0
/*
 * sectors-either DEV OFF A B: each 512-byte sector of DEV from byte OFF
 * (as many as file A holds, read with O_DIRECT) must be that sector of A
 * or that of B (a range discarded, or not yet flushed: old data or new,
 * nothing else).  Prints how many are B's and not A's; exits 1 when a
 * sector is neither (naming the first), 2 on a usage or I/O error.  What
 * cowlib.sh's sectors_either did with od and awk, at native speed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define SECTOR	512

static void *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(2);
	}
	*len = st.st_size;
	buf = malloc(*len ? *len : 1);
	if (!buf || pread(fd, buf, *len, 0) != (ssize_t)*len) {
		perror(path);
		exit(2);
	}
	close(fd);
	return buf;
}

int main(int argc, char **argv)
{
	size_t la, lb, i, nb = 0, bad = 0;
	char *a, *b, *d;
	off_t off;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: sectors-either DEV OFF A B\n");
		return 2;
	}
	off = strtoll(argv[2], NULL, 0);
	a = slurp(argv[3], &la);
	b = slurp(argv[4], &lb);
	la -= la % SECTOR;
	if (lb < la || posix_memalign((void **)&d, 4096, la ? la : SECTOR)) {
		fprintf(stderr, "sectors-either: %s shorter than %s\n",
			argv[4], argv[3]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || pread(fd, d, la, off) != (ssize_t)la) {
		perror(argv[1]);
		return 2;
	}
	for (i = 0; i < la; i += SECTOR) {
		int is_a = !memcmp(d + i, a + i, SECTOR);
		int is_b = !memcmp(d + i, b + i, SECTOR);

		if (!is_a && !is_b) {
			if (!bad++)
				fprintf(stderr, "sectors-either: %s sector %lld (byte %lld) is neither %s's nor %s's\n",
					argv[1], (long long)(off + i) / SECTOR,
					(long long)(off + i), argv[3], argv[4]);
		} else if (!is_a) {
			nb++;
		}
	}
	printf("%zu\n", nb);
	return bad ? 1 : 0;
}
